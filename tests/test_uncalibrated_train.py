"""A predicted accuracy loss is calibrated for the packaged train: settings; other settings say so and cannot PASS
(train.params.uncalibrated_settings, gate.advice.note_uncalibrated)."""

from __future__ import annotations

from dataclasses import replace

from labelgate.gate.advice import note_uncalibrated
from labelgate.gate.decision import Verdict
from labelgate.harm import MEASURED_REFERENCE, PREDICTED, SOURCE
from labelgate.train.params import TrainParams, uncalibrated_settings


def test_only_the_learning_settings_count():
    assert uncalibrated_settings(TrainParams()) == []
    assert uncalibrated_settings(replace(TrainParams(), device="cpu", precision="fp32", num_threads=2,
                                         eval_batch_size=512, seeds=(7,), bucket_pool=3)) == []
    assert uncalibrated_settings(replace(TrainParams(), epochs=3, learning_rate=5e-5, freeze_embeddings=False)) == [
        "epochs 3 (calibrated: 1)", "learning_rate 5e-05 (calibrated: 0.0004)",
        "freeze_embeddings False (calibrated: True)"]


def _verdict(status: str, source: str, text: str = "1.0 points [0.0, 2.0]") -> Verdict:
    return Verdict(status, [], reason="a warning before", accuracy_loss={SOURCE: source, "text": text,
                                                                         "next_steps": ["audit more"]})


def test_a_predicted_pass_becomes_a_warn_that_names_the_settings():
    verdict = _verdict("pass", PREDICTED)
    note_uncalibrated(verdict, ["epochs 3 (calibrated: 1)"])
    assert verdict.status == "warn"
    assert verdict.reason == ("the predicted accuracy loss is calibrated for the packaged train: settings, and params "
                              "train: differs (epochs 3 (calibrated: 1)); a warning before")
    assert verdict.accuracy_loss["uncalibrated_train_settings"] == ["epochs 3 (calibrated: 1)"]
    assert verdict.accuracy_loss["next_steps"][0] == "audit more"
    assert "re-fit the calibration" in verdict.accuracy_loss["next_steps"][1]


def test_a_block_stays_a_block_and_a_measured_or_missing_loss_needs_no_note():
    blocked = _verdict("block", PREDICTED)
    note_uncalibrated(blocked, ["epochs 3 (calibrated: 1)"])
    assert blocked.status == "block" and blocked.reason.startswith("the predicted accuracy loss is calibrated")
    for verdict, differences in ((_verdict("pass", MEASURED_REFERENCE), ["epochs 3 (calibrated: 1)"]),
                                 (_verdict("pass", PREDICTED, text="not measured"), ["epochs 3 (calibrated: 1)"]),
                                 (_verdict("pass", PREDICTED), [])):
        note_uncalibrated(verdict, differences)
        assert verdict.status == "pass" and verdict.reason == "a warning before"
        assert "uncalibrated_train_settings" not in verdict.accuracy_loss
