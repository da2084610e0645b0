"""The gate's audit advice at its edges (found by the mutation bench): the blind-audit step at exactly the flagged-share
threshold, and no "audit incomplete" blame on a passing verdict whose rare label was audited once."""

from __future__ import annotations

import json

import pytest

from test_audit_contradiction import _label_risk


def gate(workdir, cli, **figures) -> dict:
    (workdir / "label_risk.json").write_text(json.dumps(_label_risk(**figures)))
    result = cli("gate", "--label-risk", workdir / "label_risk.json", "--out", workdir / "gate.json")
    verdict = json.loads((workdir / "gate.json").read_text())
    assert result.exit_code == (1 if verdict["blocked"] else 0), result.output
    return verdict


def test_a_flagged_share_at_the_threshold_passes_with_the_blind_audit_step(workdir, cli):
    verdict = gate(workdir, cli, audit_rubber_stamp_flag_share=0.3, audit_contradiction=0.0)
    assert not verdict["blocked"]
    assert any("audit again blind" in step and "30%" in step for step in verdict["label_error"]["next_steps"])


def test_an_unmeasured_rare_label_under_a_passing_bound_is_not_blamed(workdir, cli):
    """A rare label with one audited row is unmeasured and counted as wrong in the upper bound, which still passes:
    the verdict passes and neither its reason nor its steps call the audit incomplete."""
    verdict = gate(workdir, cli, audit_contradiction=0.0, label_error_rate_upper=0.06, unmeasured_share=0.01,
                   unmeasured_strata={"rare": {"rows": 20, "audited": 1, "label_more": 1}})
    assert not verdict["blocked"]
    assert "audit incomplete" not in verdict["reason"]
    assert not any("audit incomplete" in step for step in verdict["label_error"]["next_steps"])
    assert verdict["label_error"]["unmeasured_strata"] == {"rare": {"rows": 20, "audited": 1, "label_more": 1}}


class TestLossRowsNeeded:
    """gate.advice.loss_rows_needed: the fewest more audited rows whose projected upper bound (the calibrated form
    recomputed with the audit's half-widths shrunk) meets the limit."""

    @staticmethod
    def summary(power: float) -> dict:
        from labelgate.signals.accuracy_loss import AccuracyLossParams, combine

        params = AccuracyLossParams(loss_rate_scale=0.2, loss_learned_scale=5.0 if power == 2 else 0.5,
                                    loss_learned_power=power, loss_calibration_sd=0.004)
        error = {"label_error_rate": 0.1, "label_error_rate_lower": 0.06, "label_error_rate_upper": 0.15,
                 "n_audited": 100, "n_rows": 5000}
        learned = {"errors_learned_share": 0.8, "errors_learned_excess": 0.6, "excess_lower": 0.3, "excess_upper": 0.9}
        return combine(error, learned, params, confidence=0.95, n_classes=3)

    @pytest.mark.parametrize("power", [1.0, 2.0])
    def test_the_fewest_rows_that_meet_the_limit(self, power):
        from labelgate.gate.advice import loss_rows_needed
        from labelgate.signals.accuracy_loss import projected_upper

        out = self.summary(power)
        value, upper = out["expected_accuracy_loss"], out["expected_accuracy_loss_upper"]
        limit = (value + upper) / 2
        more = loss_rows_needed(out, value, upper, limit)
        assert 0 < more < 4900
        assert projected_upper(out, more) <= limit < projected_upper(out, more - 1)

    def test_none_when_every_row_audited_cannot_decide(self):
        from labelgate.gate.advice import loss_rows_needed

        out = self.summary(2.0)
        value, upper = out["expected_accuracy_loss"], out["expected_accuracy_loss_upper"]
        assert loss_rows_needed(out, value, upper, value + 1e-6) is None  # the calibration's sd alone is wider
        assert loss_rows_needed(out, value, upper, value - 1e-6) is None  # the point estimate is over the limit
        assert loss_rows_needed(out, value, upper, upper) is None  # nothing to decide
