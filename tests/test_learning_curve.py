"""learning_curve.py: the gap to the reference and the plateau flag (the one place both are computed), the curve
summary, and when a `train` run folder may stand in for the full-data point."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest

from labelgate.learning_curve import (
    CurveParams,
    full_run_probabilities,
    gap_to_reference,
    plateau_flag,
    summarise_curve,
)
from labelgate.train import PROBS_FILE, RUN_FILE, TrainParams, texts_fingerprint

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
