"""labelgate.learning_curve and its maths (labelgate.curves): params, the gap to the reference and the plateau flag
(the one place both are computed), when a `train` run folder may stand in for the full-data point, and the
`learning-curve` command on the tiny run (fixture `tiny`)."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from labelgate.cli import app
from labelgate.config import section
from labelgate.curves import CurveParams, gain_last_doubling, gap_to_reference, plateau_flag
from labelgate.errors import ConfigError
from labelgate.learning_curve import full_run_probabilities, nested_fractions, summarise_curve
from labelgate.train.data import texts_fingerprint
from labelgate.train.params import TrainParams
from labelgate.train.run import PROBS_FILE, RUN_FILE, save_run


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


@pytest.mark.slow  # trains (the `tiny` runs)
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


LABELS = ("neg", "pos")


class TestGapAndPlateau:
    @pytest.mark.parametrize("final, subset, reference, accuracy, gap", [
        (0.7, "raw", "gold", 0.8, 0.1),
        (0.7, "gold", "gold", None, 0.0),  # the reference itself
        (0.7, "raw", None, None, None),  # no reference
        (None, "raw", "gold", 0.8, None),  # no curve point
    ])
    def test_gap(self, final, subset, reference, accuracy, gap):
        result = gap_to_reference(final, subset=subset, reference=reference, reference_accuracy=accuracy)
        assert result == pytest.approx(gap) if gap is not None else result is None

    def test_plateau_needs_both_figures(self):
        assert plateau_flag(0.0, 0.1, min_gain=0.01, min_gap=0.03) is True
        assert plateau_flag(0.05, 0.1, min_gain=0.01, min_gap=0.03) is False
        assert plateau_flag(0.0, 0.01, min_gain=0.01, min_gap=0.03) is False
        assert plateau_flag(None, 0.1, min_gain=0.01, min_gap=0.03) is None

    def test_summary_uses_them(self):
        points = [{"fraction": 0.5, "n": 5, "accuracy": 0.70, "macro_f1": 0.6},
                  {"fraction": 1.0, "n": 10, "accuracy": 0.705, "macro_f1": 0.6}]
        curve = summarise_curve(points, CurveParams(), subset="raw", reference_accuracy=0.8, reference_name="gold")
        assert curve["gap_to_reference"] == pytest.approx(0.095) and curve["plateau"] is True
        assert curve["gain_last_doubling"] == pytest.approx(0.005) and curve["decline"] == pytest.approx(-0.005)
        gold = summarise_curve(points, CurveParams(), subset="gold", reference_accuracy=None, reference_name="gold")
        assert gold["gap_to_reference"] == 0.0 and gold["plateau"] is False and gold["reference_accuracy"] == 0.705


class TestFullRun:
    @pytest.fixture()
    def run(self, tmp_path):
        train = pd.DataFrame({"id": ["1", "2"], "text": ["a", "b"], "label": ["neg", "pos"]})
        test = pd.DataFrame({"text": ["c", "d", "e"], "label": ["neg", "pos", "pos"]})
        params = TrainParams()
        record = {"seed": 0, "n_train": 2, "test_sha256": texts_fingerprint(test["text"].tolist()),
                  "labels": list(LABELS),
                  "params": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(params).items()}}
        (tmp_path / RUN_FILE).write_text(json.dumps(record))
        probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]])
        pd.DataFrame({"prob_neg": probs[:, 0], "prob_pos": probs[:, 1], "pred": ["neg", "pos", "pos"]}).to_parquet(
            tmp_path / PROBS_FILE)
        return {"dir": tmp_path, "train": train, "test": test, "params": params, "probs": probs}

    def test_matching_run_is_reused(self, run):
        probs, why = full_run_probabilities(run["dir"], seed=0, train=run["train"], test=run["test"],
                                            labels=LABELS, train_params=run["params"])
        assert why is None and np.array_equal(probs, run["probs"])

    @pytest.mark.parametrize("change, why", [
        ({"seed": 1}, "its seed is 0, the curve's is 1"),
        ({"labels": ("pos", "neg")}, "its label set differs"),
        ({"epochs": 5}, "its train params differ (epochs)"),
        ({"test": pd.DataFrame({"text": ["x", "d", "e"], "label": ["neg", "pos", "pos"]})},
         "it was scored on a different test set"),
    ])
    def test_a_run_that_differs_is_not_reused(self, run, change, why):
        from dataclasses import replace

        args = dict(seed=0, train=run["train"], test=run["test"], labels=LABELS, train_params=run["params"])
        if "epochs" in change:
            args["train_params"] = replace(run["params"], epochs=change.pop("epochs"))
        args.update(change)
        assert full_run_probabilities(run["dir"], **args) == (None, why)
