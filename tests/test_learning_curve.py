"""labelgate.learning_curve: params, curve maths, and the `learning-curve` command on the tiny run (fixture `tiny`)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from labelgate.cli import app
from labelgate.config import section
from labelgate.errors import ConfigError
from labelgate.learning_curve import (
    CurveParams,
    gain_last_doubling,
    nested_fractions,
    plateau_flag,
    summarise_curve,
)
from labelgate.train.run import save_run


def test_curve_params():
    assert section({}, "learning_curve", CurveParams).fractions == (0.125, 0.25, 0.5, 1.0)
    for bad in ({"fractions": [0.5]}, {"fractions": [0.5, 0.25]}, {"fractions": [0.5, 1.5]},
                {"plateau_min_gap": -0.1}):
        with pytest.raises(ConfigError):
            section({"learning_curve": bad}, "learning_curve", CurveParams)


class TestCurveMaths:
    def test_nested_stratified_fractions(self):
        labels = ["a"] * 40 + ["b"] * 20 + ["c"] * 4
        parts = nested_fractions(labels, (0.125, 0.25, 0.5, 1.0), seed=0)
        counts = {f: pd.Series(np.asarray(labels)[i]).value_counts().to_dict() for f, i in parts.items()}
        assert counts[0.125] == {"a": 5, "b": 2, "c": 1}  # every class keeps a row (round(0.5) -> 0 -> 1)
        assert counts[0.5] == {"a": 20, "b": 10, "c": 2}
        assert np.array_equal(parts[1.0], np.arange(64))
        for small, large in ((0.125, 0.25), (0.25, 0.5), (0.5, 1.0)):
            assert set(parts[small]) <= set(parts[large])

    def test_gain_and_plateau(self):
        points = [{"fraction": f, "accuracy": a, "macro_f1": m}
                  for f, a, m in ((0.125, 0.50, 0.40), (0.25, 0.60, 0.50), (0.5, 0.650, 0.55), (1.0, 0.655, 0.60))]
        assert gain_last_doubling(points) == pytest.approx(0.005)
        assert gain_last_doubling(points, "macro_f1") == pytest.approx(0.05)
        assert gain_last_doubling(points[:1]) is None
        assert gain_last_doubling([points[0], points[-1]]) is None  # 1/8 -> 1 is three doublings, not one
        assert gain_last_doubling([points[1], points[-1]]) is None  # 1/4 -> 1 is two doublings, not one
        assert plateau_flag(0.005, 0.05, min_gain=0.01, min_gap=0.03) is True
        assert plateau_flag(0.005, 0.02, min_gain=0.01, min_gap=0.03) is False  # close to the reference
        assert plateau_flag(0.02, 0.05, min_gain=0.01, min_gap=0.03) is False  # still learning
        assert plateau_flag(0.005, None, min_gain=0.01, min_gap=0.03) is None
        curve = summarise_curve(points, CurveParams(), subset="raw", reference_accuracy=0.70, reference_name="gold")
        assert curve["gap_to_reference"] == pytest.approx(0.045) and curve["plateau"] is True
        own = summarise_curve(points, CurveParams(), subset="gold", reference_accuracy=None, reference_name="gold")
        assert own["gap_to_reference"] == 0.0 and own["plateau"] is False


def test_cli_curve_reuses_the_full_run(tiny, tmp_path):
    folder = tiny["folder"]
    full_run = tmp_path / "models" / "tiny" / "seed_0"
    full_run.mkdir(parents=True)
    save_run(tiny["runs"]["a"], full_run)  # what `labelgate train` writes (tests/train/test_run.py checks that)
    curve_out = tmp_path / "curve.json"
    result = CliRunner().invoke(app, [
        "learning-curve", "--subset", "tiny", "--table", str(folder / "tiny.csv"), "--test",
        str(folder / "test.csv"), "--params", str(folder / "params.yaml"), "--full-run", str(full_run),
        "--out", str(curve_out), "--no-progress",
    ])
    assert result.exit_code == 0, result.output
    curve = json.loads(curve_out.read_text())
    assert [p["n"] for p in curve["points"]] == [32, 64]
    assert [p["reused_full_run"] for p in curve["points"]] == [False, True]
    expected = tiny["runs"]["a"].probabilities
    full_accuracy = float((np.asarray(tiny["labels"])[expected.argmax(1)] == tiny["test"]["label"]).mean())
    assert curve["points"][-1]["accuracy"] == pytest.approx(full_accuracy)
    assert curve["gain_last_doubling"] == pytest.approx(curve["points"][1]["accuracy"]
                                                        - curve["points"][0]["accuracy"])
    assert curve["plateau"] is None  # no reference curve given
