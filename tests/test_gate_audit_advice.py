"""The gate's audit advice at its edges (issue-19 mutation bench): the blind-audit step at exactly the flagged-share
threshold, and no "audit incomplete" blame on a passing verdict whose rare label was audited once."""

from __future__ import annotations

import json

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
