"""The gate writes its verdict and headline all or nothing: a headline that cannot be written leaves no verdict
behind (a verdict without its headline would let DVC record a half-written stage)."""

from __future__ import annotations

import json

import pytest

from labelgate.errors import BadInputError
from labelgate.gate import GateParams, main


def evaluation() -> dict:
    return {"reference": "gold", "subsets": {"raw": {
        "accuracy_mean": 0.7, "accuracy_std": 0.01, "macro_f1_mean": 0.6, "macro_f1_std": 0.01,
        "krippendorff_alpha": 0.9, "unchanged_prediction_rate": 0.9, "accuracy_gap_to_reference": 0.01,
        "macro_f1_gap_to_reference": 0.01, "plateau": False, "audit_accuracy_gap": 0.01, "audit_macro_f1_gap": 0.01,
        "learning_curve_decline": -0.01, "seeds": {}}}}


def test_verdict_and_headline_land_together(workdir):
    (workdir / "evaluate.json").write_text(json.dumps(evaluation()))
    main(scores=None, label_risk=None, evaluation=workdir / "evaluate.json", out=workdir / "gate.json",
         headline=workdir / "headline.json", params=GateParams())
    verdict = json.loads((workdir / "gate.json").read_text())
    assert verdict["status"] == "pass"
    assert json.loads((workdir / "headline.json").read_text())["blocked"] == 0


def test_an_unwritable_headline_leaves_no_verdict(workdir):
    (workdir / "evaluate.json").write_text(json.dumps(evaluation()))
    (workdir / "taken").write_text("a file where the headline's folder should be\n")
    with pytest.raises(BadInputError, match="cannot write here"):
        main(scores=None, label_risk=None, evaluation=workdir / "evaluate.json", out=workdir / "gate.json",
             headline=workdir / "taken" / "headline.json", params=GateParams())
    assert not (workdir / "gate.json").exists()
