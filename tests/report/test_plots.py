"""The plots (labelgate.report.plots): Figure API only, the numbers drawn are the numbers given, names stay text."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.figure import Figure

from labelgate.report import plots

SCORES = {"raw": {"accuracy": [0.66, 0.72, 0.75], "macro_f1": [0.61, 0.67, 0.70]},
          "gold": {"accuracy": [0.83], "macro_f1": []}}
CURVES = {"raw": [{"n": 60, "accuracy": 0.62, "macro_f1": 0.58}, {"n": 120, "accuracy": 0.68, "macro_f1": None},
                  {"n": 240, "accuracy": 0.7, "macro_f1": 0.66}],
          "gold": [{"n": 60, "accuracy": 0.65, "macro_f1": 0.6}]}


def _scatter(ax) -> list[list[float]]:
    return [np.asarray(c.get_offsets())[:, 1].tolist() for c in ax.collections if isinstance(c, PathCollection)]


def _bars(ax) -> list[float]:
    return [float(s[0][1]) for c in ax.collections if isinstance(c, LineCollection) for s in c.get_segments()]


class TestSeedStrip:
    def test_every_seed_and_the_mean_per_subset(self):
        fig = plots.seed_strip(SCORES)
        assert isinstance(fig, Figure)
        accuracy, macro = fig.axes
        assert _scatter(accuracy) == [[0.66, 0.72, 0.75], [0.83]]
        assert _bars(accuracy) == pytest.approx([np.mean([0.66, 0.72, 0.75]), 0.83])
        assert _scatter(macro) == [[0.61, 0.67, 0.70]] and _bars(macro) == pytest.approx([0.66])  # gold: none
        assert [t.get_text() for t in accuracy.get_xticklabels()] == ["raw", "gold"]
        assert [round(x) for x in np.asarray(accuracy.collections[0].get_offsets())[:, 0]] == [0, 0, 0]


class TestLearningCurves:
    def test_one_line_per_subset_on_a_log_axis(self):
        fig = plots.learning_curves(CURVES)
        accuracy, macro = fig.axes
        assert [(line.get_label(), line.get_xdata().tolist(), line.get_ydata().tolist()) for line in accuracy.lines] \
            == [("raw", [60.0, 120.0, 240.0], [0.62, 0.68, 0.7]), ("gold", [60.0], [0.65])]
        assert [line.get_ydata().tolist() for line in macro.lines] == [[0.58, 0.66], [0.6]]  # no number: left out
        assert accuracy.get_xscale() == "log"
        assert [t.get_text() for t in accuracy.get_xticklabels()] == ["60", "120", "240"]

    def test_chosen_metrics_only(self):
        fig = plots.learning_curves(CURVES, metrics=("accuracy",))
        assert len(fig.axes) == 1 and fig.axes[0].get_title() == "test accuracy"


class TestConfusionAndHeatmaps:
    def test_confusion_grid_draws_each_count(self):
        matrices = {"raw": np.array([[5, 1], [2, 7]]), "gold": np.array([[6, 0], [1, 8]])}
        fig = plots.confusion_grid(matrices, ["neg", "pos"])
        assert [ax.get_title() for ax in fig.axes] == ["raw", "gold"]
        assert np.asarray(fig.axes[0].images[0].get_array()).tolist() == [[5, 1], [2, 7]]
        assert [t.get_text() for t in fig.axes[1].texts] == ["6", "0", "1", "8"]

    def test_noise_heatmap_and_entropy_histograms(self):
        matrix = np.array([[0.9, 0.2], [0.1, 0.8]])
        fig = plots.noise_heatmap(matrix, ["neg", "pos"])
        assert np.asarray(fig.axes[0].images[0].get_array()).tolist() == matrix.tolist()
        assert [t.get_text() for t in fig.axes[0].texts] == ["0.90", "0.20", "0.10", "0.80"]
        values = {"neg": [0.1, 0.2, 0.97, 1.2], "pos": [0.5]}
        fig = plots.entropy_histograms(values, threshold=0.9)
        counts = [[p.get_height() for p in ax.patches] for ax in fig.axes if ax.get_visible()]
        assert [sum(c) for c in counts] == [4, 1] and counts[0][-1] == 2  # 1.2 clipped into the last bin
        assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == ["neg  (n=4)", "pos  (n=1)"]


class TestOutput:
    def test_names_stay_plain_text(self):
        """Mathtext off: a `$` in a name is drawn as a dollar sign, and an unbalanced one cannot fail the plot."""
        names = ["cost $5", "$x^2$"]
        fig = plots.confusion_grid({"a$b": np.eye(2, dtype=int)}, names)
        assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == names
        assert all(t.get_parse_math() is False for t in fig.axes[0].get_xticklabels())
        assert plots.png_bytes(fig)[:8] == b"\x89PNG\r\n\x1a\n"

    def test_png_without_version_metadata(self, tmp_path):
        fig = plots.seed_strip(SCORES)
        data = plots.png_bytes(fig)
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and b"matplotlib" not in data
        plots.save_png(fig, tmp_path / "scores.png")
        assert (tmp_path / "scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    @pytest.mark.slow
    def test_no_pyplot_state(self):
        code = ("import sys; from labelgate.report import plots; "
                "plots.png_bytes(plots.seed_strip({'a': {'accuracy': [0.5], 'macro_f1': [0.4]}})); "
                "print('matplotlib.pyplot' in sys.modules)")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "False"

    def test_short_names(self):
        assert plots.short("a  very\nlong   subset name indeed", 12) == "a very long…"
        assert plots.short("gold") == "gold"
