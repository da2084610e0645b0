"""Every plot labelgate draws, for the report page and for `evaluate`'s PNGs: matplotlib's Figure API only.

Each function takes data already prepared by its caller and returns a `matplotlib.figure.Figure`; nothing touches
pyplot's global state, so plots can be drawn from any thread and never leak figures. Label and subset names are
drawn as plain text (mathtext off), so a name with `$` in it cannot change the plot.
"""

from __future__ import annotations

import base64
import functools
import io
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

SEED_METRICS = (("accuracy", "test accuracy"), ("macro_f1", "test macro-F1"))
MAX_ANNOTATED_CLASSES = 12  # heatmap cells carry their value up to this many classes
POINT_COLOR = "#4c72b0"


def short(label: Any, width: int = 24) -> str:
    """A name on one line, cut to `width` characters with an ellipsis."""
    text = " ".join(str(label).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _plain_text(draw):
    """Run a drawing function with mathtext off: a `$` in a label stays a dollar sign."""

    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        import matplotlib

        settings = {"text.parse_math": False} if "text.parse_math" in matplotlib.rcParams else {}
        with matplotlib.rc_context(settings):
            return draw(*args, **kwargs)

    return wrapper


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def png_bytes(fig, *, dpi: int = 96) -> bytes:
    """The figure as PNG bytes, without the matplotlib version in its metadata."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def png_base64(fig, *, dpi: int = 96) -> str:
    """The figure as base64 PNG text, for a data: URI."""
    return base64.b64encode(png_bytes(fig, dpi=dpi)).decode("ascii")


def save_png(fig, path: str | os.PathLike, *, dpi: int = 100) -> None:
    """Write the figure to `path` as a PNG."""
    with open(path, "wb") as handle:
        handle.write(png_bytes(fig, dpi=dpi))


@_plain_text
def entropy_histograms(values: Mapping[str, Sequence[float]], *, threshold: float | None):
    """Small multiples: the normalised-entropy histogram of each class (`values`: label -> its rows' entropies)."""
    bins = np.linspace(0.0, 1.0, 21)
    labels = list(values)
    cols = min(4, len(labels))
    rows = math.ceil(len(labels) / cols)
    fig = _figure(2.9 * cols + 0.5, 2.1 * rows + 0.5)
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True)
    for ax, label in zip(axes.flat, labels):
        v = np.asarray(values[label], dtype=float)
        ax.hist(np.clip(v, 0.0, 1.0), bins=bins, color=POINT_COLOR)
        if threshold is not None:
            ax.axvline(float(threshold), color="#b42318", linestyle="--", linewidth=1)
        ax.set_title(f"{short(label)}  (n={len(v)})", fontsize=9)
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(labels):]:
        ax.set_visible(False)
    fig.supxlabel("normalised entropy of the LLM label distribution"
                  + (" (dashed: score.entropy_threshold)" if threshold is not None else ""), fontsize=9)
    fig.supylabel("rows", fontsize=9)
    return fig


@_plain_text
def noise_heatmap(matrix: np.ndarray, labels: Sequence[str]):
    """cleanlab's noise matrix, P(LLM label = row | true label = column), as a heatmap."""
    k = len(labels)
    side = min(2.0 + 0.55 * k, 12.0)
    fig = _figure(side + 1.2, side)
    ax = fig.subplots()
    image = ax.imshow(matrix, cmap="Reds", vmin=0.0, vmax=1.0)
    if k <= MAX_ANNOTATED_CLASSES:
        for (r, c), v in np.ndenumerate(matrix):
            ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if v > 0.55 else "black")
    names = [short(label, 18) for label in labels]
    ax.set_xticks(range(k), names, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set_xlabel("estimated true label")
    ax.set_ylabel("LLM label")
    fig.colorbar(image, ax=ax, shrink=0.8)
    return fig


@_plain_text
def seed_strip(scores: Mapping[str, Mapping[str, Sequence[float]]]):
    """Test accuracy and macro-F1 of every seed per subset, with a bar at each subset's mean.

    `scores`: subset -> {"accuracy": [one value per seed], "macro_f1": [...]}; a subset may lack values."""
    names = list(scores)
    fig = _figure(max(6.0, 1.3 * len(names) * 2 + 1.5), 3.6)
    axes = fig.subplots(1, 2)
    for ax, (metric, title) in zip(axes, SEED_METRICS):
        for i, name in enumerate(names):
            values = np.asarray(scores[name].get(metric) or [], dtype=float)
            if values.size:
                ax.scatter(i + np.linspace(-0.12, 0.12, values.size), values, s=22, color=POINT_COLOR, zorder=3)
                ax.hlines(values.mean(), i - 0.28, i + 0.28, colors="black", linewidth=1.5)
        ax.set_xticks(range(len(names)), [short(n, 14) for n in names], rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{title} per seed (bar: mean)", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    return fig


@_plain_text
def learning_curves(curves: Mapping[str, Sequence[Mapping[str, float]]], *,
                    metrics: Sequence[str] = ("accuracy", "macro_f1")):
    """One panel per metric: test score against training-set size, one line per subset.

    `curves`: subset -> points, each with `n` (training examples) and a value per metric; a point without a
    number for a metric is left out of that panel."""
    titles = dict(SEED_METRICS)
    fig = _figure(4.5 * len(metrics), 3.6)
    axes = list(np.atleast_1d(fig.subplots(1, len(metrics))))
    for ax, metric in zip(axes, metrics):
        ticks: set[float] = set()
        for name, points in curves.items():
            points = [p for p in points if isinstance(p.get(metric), (int, float))]
            if not points:
                continue
            x = [float(p["n"]) for p in points]
            ticks.update(x)
            ax.plot(x, [p[metric] for p in points], marker="o", markersize=4, label=short(name, 18))
        if ticks and min(ticks) > 0:  # doublings are evenly spaced on a log axis; ticks at the measured sizes
            ax.set_xscale("log", base=2)
            ax.minorticks_off()
            shown = sorted(ticks)[-8:] if len(ticks) > 8 else sorted(ticks)
            ax.set_xticks(shown, [f"{v:g}" for v in shown], fontsize=8)
        ax.set_xlabel("training examples", fontsize=9)
        ax.set_title(titles.get(metric, metric), fontsize=9)
        ax.grid(alpha=0.3)
    handles, names = axes[0].get_legend_handles_labels()
    if handles:
        axes[0].legend(handles, names, fontsize=8)
    return fig


@_plain_text
def confusion_grid(matrices: Mapping[str, np.ndarray], labels: Sequence[str]):
    """One confusion matrix (rows actual, columns predicted; counts) per subset, three to a row."""
    columns = min(3, len(matrices))
    rows = -(-len(matrices) // columns)
    fig = _figure(3.4 * columns, 3.4 * rows)
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.flat[len(matrices):]:
        ax.set_visible(False)
    names = [short(label, 18) for label in labels]
    for ax, (subset, matrix) in zip(axes.flat, matrices.items()):
        ax.imshow(matrix, cmap="Blues")
        for (r, c), v in np.ndenumerate(matrix):
            ax.text(c, r, str(v), ha="center", va="center", fontsize=8)
        ax.set_xticks(range(len(labels)), names, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(len(labels)), names, fontsize=7)
        ax.set_title(short(subset), fontsize=9)
        ax.set_xlabel("predicted (seed ensemble)", fontsize=7)
        ax.set_ylabel("actual", fontsize=7)
    return fig
