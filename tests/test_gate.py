"""The gate: GX suites over label-risk and stability figures, thresholds from params.yaml, fail closed."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from labelgate.gate import GateParams, run_gate
from synthetic import confident_table

LABELS = ["a", "b", "c"]


def labelled(noisy: bool) -> pd.DataFrame:
    return confident_table(900, LABELS, noisy=noisy, seed=7, audit_share=0.2)


@pytest.fixture()
def gate_dir(workdir):
    (workdir / "params.yaml").write_text("base:\n  labels: [a, b, c]\n")
    pd.DataFrame({"text": ["x"] * 90, "label": LABELS * 30}).to_csv(workdir / "test.csv", index=False)
    return workdir


@pytest.mark.slow
@pytest.mark.parametrize("noisy, code", [(False, 0), (True, 1)])
def test_check_blocks_systematic_noise_and_passes_gold(gate_dir, cli, noisy, code):
    labelled(noisy).to_csv(gate_dir / "labels.csv", index=False)
    result = cli("check", gate_dir / "labels.csv", "--test", gate_dir / "test.csv", "--out", gate_dir / "v.json")
    assert result.exit_code == code, result.output
    verdict = json.loads((gate_dir / "v.json").read_text())
    assert verdict["blocked"] is noisy
    failed = {o["column"] for o in verdict["outcomes"] if o["status"] == "fail"}
    if noisy:
        assert {"audit_accuracy_lower", "label_error_rate_upper"} <= failed
        assert "BLOCKED" in result.output
    else:
        assert failed == set()
    skipped = {o["column"] for o in verdict["outcomes"] if o["status"] == "skipped"}
    # no annotator_* columns; no audit design recorded (audit_wave): the share of drawn rows left blank is unknown
    not_measured = {"agreement_all_agree", "annotator_alpha", "audit_missing_share"}
    if not noisy:  # no audited errors: nothing to split into systematic or text-predictable ones
        not_measured |= {"systematic_error_share", "text_error_auc"}
    assert skipped == not_measured
    assert {k for k, v in verdict["figures"].items() if v is None} == not_measured
    assert verdict["figures"]["label_error_rate_upper"] == verdict["label_error"]["label_error_rate_upper"]


def evaluation(std: float, alpha: float, gap: float, plateau: bool | None = False) -> dict:
    return {"reference": "gold", "subsets": {"raw": {
        "accuracy_mean": 0.7, "accuracy_std": std, "macro_f1_mean": 0.6, "macro_f1_std": std,
        "krippendorff_alpha": alpha, "unchanged_prediction_rate": alpha, "accuracy_gap_to_reference": gap,
        "macro_f1_gap_to_reference": gap, "plateau": plateau, "audit_accuracy_gap": gap, "audit_macro_f1_gap": gap,
        "learning_curve_decline": -0.01, "seeds": {}}}}


def test_stability_suite_pass_and_block(workdir):
    ok = run_gate(scores=None, label_risk=None, evaluation=evaluation(0.01, 0.9, 0.01), params=GateParams())
    assert ok.status == "pass"
    bad = run_gate(scores=None, label_risk=None, evaluation=evaluation(0.05, 0.6, 0.1, True), params=GateParams())
    assert bad.blocked
    failed = {o["column"]: o["severity"] for o in bad.outcomes if o["status"] == "fail"}
    assert failed == {"accuracy_std": "block", "macro_f1_std": "warn", "krippendorff_alpha": "block",
                      "unchanged_prediction_rate": "warn", "accuracy_gap_to_reference": "block",
                      "macro_f1_gap_to_reference": "warn", "plateau": "warn", "audit_accuracy_gap": "block",
                      "audit_macro_f1_gap": "warn"}


def test_warnings_alone_do_not_block(workdir):
    verdict = run_gate(scores=None, label_risk=None, evaluation=evaluation(0.01, 0.9, 0.01, True),
                       params=GateParams())
    assert verdict.status == "warn" and not verdict.blocked


def test_thresholds_come_from_params(workdir):
    strict = GateParams(max_accuracy_std=0.005)
    verdict = run_gate(scores=None, label_risk=None, evaluation=evaluation(0.01, 0.9, 0.01), params=strict)
    assert verdict.blocked
    row = next(o for o in verdict.outcomes if o["column"] == "accuracy_std")
    assert row["threshold"] == "<= 0.005" and row["observed"] == 0.01


def test_unknown_subset_fails_closed(workdir, cli):
    (workdir / "evaluate.json").write_text(json.dumps(evaluation(0.01, 0.9, 0.01)))
    (workdir / "params.yaml").write_text("gate:\n  subset: combined\n")
    result = cli("gate", "--evaluation", workdir / "evaluate.json",
                 "--out", workdir / "gate.json")
    assert result.exit_code == 2  # bad input, in one line naming the file and key (it was a KeyError)
    assert result.stderr.strip().count("\n") == 0 and "key 'subsets' has no evaluation of 'combined'" in result.stderr
    assert "KeyError" not in result.stderr and "evaluate.json" in result.stderr
    assert json.loads((workdir / "gate.json").read_text())["blocked"] is True


@pytest.mark.parametrize("content", ["{not json", ""])
def test_corrupt_metrics_fail_closed(workdir, cli, content):
    (workdir / "evaluate.json").write_text(content)
    result = cli("gate", "--evaluation", workdir / "evaluate.json",
                 "--out", workdir / "gate.json")
    assert result.exit_code != 0
    verdict = json.loads((workdir / "gate.json").read_text())
    assert verdict["blocked"] is True and verdict["status"] == "block"


def test_expectation_error_blocks_even_as_warning(workdir):
    broken = evaluation(0.01, 0.9, 0.01)
    broken["subsets"]["raw"]["unchanged_prediction_rate"] = "n/a"  # not a number: GX cannot evaluate it
    verdict = run_gate(scores=None, label_risk=None, evaluation=broken, params=GateParams())
    assert verdict.blocked


def test_nothing_to_check_blocks(workdir):
    assert run_gate(scores=None, label_risk=None, evaluation=None, params=GateParams()).blocked


@pytest.mark.slow
def test_tiny_audit_blocks_with_audit_too_small(gate_dir, cli):
    frame = labelled(False)
    audited = np.flatnonzero(frame["gold_label"].notna().to_numpy())
    frame.loc[audited[30:], "gold_label"] = None  # an audit of 30 rows that saw no error
    frame.to_csv(gate_dir / "labels.csv", index=False)
    result = cli("check", gate_dir / "labels.csv", "--test", gate_dir / "test.csv", "--out", gate_dir / "v.json")
    assert result.exit_code == 1, result.output
    verdict = json.loads((gate_dir / "v.json").read_text())
    assert verdict["label_error"]["n_audited"] == 30
    loss = verdict["accuracy_loss"]
    limit = GateParams().max_accuracy_loss
    assert loss["accuracy_loss"] < limit < loss["accuracy_loss_upper"] and loss["status"] == "undecided"
    more = loss["rows_needed"]
    assert 0 < more <= 900 - 30
    assert verdict["reason"].startswith(f"audit too small: accuracy loss {loss['text']}")
    assert f"label about {more} more rows" in verdict["reason"]
    assert f"audit about {more} more rows" in loss["next_steps"][0]
    failed = [o["column"] for o in verdict["outcomes"] if o["status"] == "fail" and o["severity"] == "block"]
    assert "accuracy_loss_upper" in failed
    assert "audit too small" in result.output


@pytest.mark.slow
def test_label_error_threshold_comes_from_params(gate_dir, cli):
    labelled(True).to_csv(gate_dir / "labels.csv", index=False)
    (gate_dir / "params.yaml").write_text("base:\n  labels: [a, b, c]\ngate:\n  max_label_error: 0.9\n"
                                          "  min_audit_accuracy_lower: 0.0\n  max_accuracy_loss: 1.0\n")
    cli("check", gate_dir / "labels.csv", "--out", gate_dir / "v.json")
    verdict = json.loads((gate_dir / "v.json").read_text())
    row = next(o for o in verdict["outcomes"] if o["column"] == "label_error_rate_upper")
    assert row["status"] == "pass" and row["threshold"] == "<= 0.9"
    assert not verdict["blocked"]


@pytest.mark.parametrize("figures, code, status", [
    ((0.01, 0.9, 0.01, False), 0, "pass"),
    ((0.01, 0.9, 0.01, True), 0, "warn"),  # warnings alone never block
    ((0.05, 0.6, 0.1, True), 1, "block"),
])
def test_gate_command_exit_code(workdir, cli, figures, code, status):
    (workdir / "evaluate.json").write_text(json.dumps(evaluation(*figures)))
    result = cli("gate", "--evaluation", workdir / "evaluate.json", "--out", workdir / "gate.json")
    assert result.exit_code == code, result.output
    verdict = json.loads((workdir / "gate.json").read_text())
    assert verdict["status"] == status and verdict["blocked"] is (code == 1)
    closing = result.stdout.strip().splitlines()[-1]  # the last line names the status, a warn as WARN
    assert closing.startswith({"pass": "PASSED:", "warn": "WARN:", "block": "BLOCKED:"}[status])


def test_required_figures_are_listed_when_missing(workdir):
    params = GateParams(required=(("audit_accuracy_lower",), ("estimated_noise_rate", "annotator_alpha")),
                        optional=("audit_accuracy_lower",))
    verdict = run_gate(scores=None, label_risk={"metrics": {"annotator_alpha": 0.9, "class_balance_tvd": 0.0}},
                       evaluation=None, params=params)
    assert verdict.blocked
    assert verdict.missing_required == ["audit_accuracy_lower"]
    assert verdict.as_dict()["missing_required"] == ["audit_accuracy_lower"]
    assert verdict.reason.startswith("required figure(s) not measured: audit_accuracy_lower")


def test_unmeasured_blocking_figure_blocks_unless_optional(workdir):
    figures = {"metrics": {"estimated_noise_rate": 0.1, "annotator_alpha": 0.9, "class_balance_tvd": 0.0}}
    strict = GateParams(required=(), optional=())
    verdict = run_gate(scores=None, label_risk=figures, evaluation=None, params=strict)
    assert verdict.blocked
    row = next(o for o in verdict.outcomes if o["column"] == "audit_accuracy_lower")
    assert row["status"] == "error" and "not measured" in row["error"]
    assert next(o for o in verdict.outcomes if o["column"] == "label_error_rate_upper")["status"] == "error"
    relaxed = GateParams(required=(), optional=("audit_accuracy_lower", "label_error_rate_upper", "accuracy_loss_upper",
                                               "audit_missing_share", "audit_representativeness_p",
                                               "audit_rubber_stamp_flag_share", "audit_contradiction"))
    verdict = run_gate(scores=None, label_risk=figures, evaluation=None, params=relaxed)
    assert verdict.status == "pass"
    assert next(o for o in verdict.outcomes if o["column"] == "audit_accuracy_lower")["status"] == "skipped"
    assert verdict.figures["label_error_rate_upper"] is None  # judged, not measured: carried as null


def test_unmeasured_stability_passes_only_when_optional(workdir):
    single = evaluation(0.01, 0.9, 0.01)
    single["subsets"]["raw"].update(accuracy_std=None, macro_f1_std=None, krippendorff_alpha=None)
    relaxed = GateParams(required=(("accuracy_gap_to_reference",),), optional=("accuracy_std", "krippendorff_alpha"))
    verdict = run_gate(scores=None, label_risk=None, evaluation=single, params=relaxed)
    assert verdict.status == "pass"  # None is 'not measured', never 0.0 (which would fail the alpha check)
    skipped = {o["column"] for o in verdict.outcomes if o["status"] == "skipped"}
    assert skipped == {"accuracy_std", "macro_f1_std", "krippendorff_alpha"}
    assert run_gate(scores=None, label_risk=None, evaluation=single, params=GateParams()).blocked


def test_an_expectation_that_raised_never_passes():
    """Whatever GX says about success, an expectation with an exception is an error, never a pass."""
    from types import SimpleNamespace

    from labelgate.expectations import _outcome

    config = SimpleNamespace(meta={}, kwargs={"column": "x", "max_value": 0.5}, severity="warning",
                             type="expect_column_max_to_be_between")
    item = SimpleNamespace(expectation_config=config, result={}, success=True,
                           exception_info={"raised_exception": True, "exception_message": "boom\ntrace"})
    outcome = _outcome(item, {})
    assert outcome.success is False and outcome.error == "boom"


class TestGatedSubset:
    """gate.subset a filter: its own figures decide the label-level checks (filter.py writes them)."""

    whole = {"metrics": {"label_error_rate": 0.3, "label_error_rate_lower": 0.27, "label_error_rate_upper": 0.33,
                         "n_audited": 300, "audit_accuracy_lower": 0.65, "estimated_noise_rate": 0.1,
                         "expected_accuracy_loss": 0.08, "expected_accuracy_loss_lower": 0.06,
                         "expected_accuracy_loss_upper": 0.1, "audit_representativeness_p": 0.5},
             "signals": {"label_error": {"label_error_rate": 0.3, "label_error_rate_lower": 0.27,
                                         "label_error_rate_upper": 0.33, "n_audited": 300, "n_rows": 1000,
                                         "confidence_level": 0.95, "standard_error": 0.015, "method": "m"}}}

    def subset(self, upper=0.08, retained=0.7, accuracy_lower=0.9, loss_upper=0.02):
        return {"rows_in": 1000, "rows_kept": int(retained * 1000), "retained_fraction": retained,
                "metrics": {"retained_fraction": retained, "label_error_rate": 0.05, "label_error_rate_lower": 0.03,
                            "label_error_rate_upper": upper, "n_audited": 210, "audit_accuracy": 0.95,
                            "audit_accuracy_lower": accuracy_lower, "expected_accuracy_loss": 0.01,
                            "expected_accuracy_loss_lower": 0.0, "expected_accuracy_loss_upper": loss_upper},
                "label_error": {"label_error_rate": 0.05, "label_error_rate_lower": 0.03,
                                "label_error_rate_upper": upper, "n_audited": 210, "n_rows": 700,
                                "confidence_level": 0.95, "standard_error": 0.07, "method": "m",
                                "per_class_error": {"a": {"audited": 100, "error": 0.02},
                                                    "b": {"audited": 110, "error": 0.08}}}}

    def test_the_whole_table_blocks_and_its_clean_subset_passes(self, workdir):
        whole = run_gate(scores=None, label_risk=self.whole, evaluation=None, params=GateParams())
        assert whole.blocked and whole.label_scope == {"rows": "table", "subset": "raw", "n_rows": None}
        limits = GateParams()  # the figures lie beyond every default limit
        assert whole.blocking == [
            "accuracy loss 8.0 points [6.0, 10.0] (predicted by check (cheap models calibrated against fine-tuning)), "
            f"limit {100 * limits.max_accuracy_loss:g} points on the upper bound: above",
            f"label error too high: 0.30 [0.27, 0.33], audit of 300 rows, limit {limits.max_label_error:g} on the "
            "upper bound",
            f"Wilson lower bound of LLM accuracy on gold-audited rows: 0.650 (limit >= {limits.min_audit_accuracy_lower:g})"]
        assert "retained_fraction" not in {o["column"] for o in whole.outcomes}  # a subset's check only
        gated = run_gate(scores=None, label_risk=self.whole, evaluation=None, params=GateParams(subset="entropy"),
                         subset=self.subset())
        assert not gated.blocked and gated.blocking == []
        assert gated.figures["label_error_rate_upper"] == 0.08 and gated.figures["retained_fraction"] == 0.7
        assert gated.figures["accuracy_loss_upper"] == 0.02  # the subset's predicted loss decides
        assert gated.figures["estimated_noise_rate"] == 0.1  # not recomputed for the subset: the table's
        assert gated.label_error["label_error_rate"] == 0.05 and gated.label_scope["subset"] == "entropy"

    def test_a_subset_that_keeps_its_errors_or_too_few_rows_blocks(self, workdir):
        kept = run_gate(scores=None, label_risk=self.whole, evaluation=None, params=GateParams(subset="entropy"),
                        subset=self.subset(upper=0.35, loss_upper=0.08))
        assert kept.blocked and kept.blocking[0].startswith("accuracy loss 1.0 points [0.0, 8.0]")
        assert kept.blocking[1].startswith("audit too small: label about ")
        small = run_gate(scores=None, label_risk=self.whole, evaluation=None, params=GateParams(subset="entropy"),
                         subset=self.subset(retained=0.3))
        assert small.blocking == ["share of the table's rows the gated subset keeps (1 for the whole table): 0.300 "
                                  "(limit >= 0.5)"]

    def test_a_subset_figure_the_filter_could_not_measure_blocks(self, workdir):
        subset = self.subset()
        subset["metrics"].update(label_error_rate_upper=None, audit_accuracy_lower=None, expected_accuracy_loss=None,
                                 expected_accuracy_loss_lower=None, expected_accuracy_loss_upper=None)
        verdict = run_gate(scores=None, label_risk=self.whole, evaluation=None, params=GateParams(subset="entropy"),
                           subset=subset)
        assert verdict.blocked  # the whole table's audit does not certify a subset with no audited rows kept
        assert ("upper confidence bound of the LLM label error rate estimated from the gold audit: could not be "
                "evaluated (blocking figure 'label_error_rate_upper' was not measured (list it in gate.optional to "
                "allow that))") in verdict.blocking
        no_size = self.subset()
        del no_size["metrics"]["retained_fraction"]
        assert run_gate(scores=None, label_risk=self.whole, evaluation=None, params=GateParams(subset="entropy"),
                        subset=no_size).blocked

    def test_the_gate_stage_reads_the_subset_from_its_folder(self, workdir, cli):
        (workdir / "label_risk.json").write_text(json.dumps(self.whole))
        (workdir / "params.yaml").write_text("gate:\n  subset: entropy\n")
        (workdir / "subsets").mkdir()
        (workdir / "subsets" / "entropy.json").write_text(json.dumps(self.subset()))
        pd.DataFrame({"id": ["r1"], "text": ["t"], "label": ["a"]}).to_parquet(workdir / "subsets" / "entropy.parquet")
        result = cli("gate", "--label-risk", workdir / "label_risk.json", "--subsets", workdir / "subsets",
                     "--out", workdir / "gate.json")
        assert result.exit_code == 0, result.output
        assert json.loads((workdir / "gate.json").read_text())["label_scope"]["rows"] == "subset"
        result = cli("gate", "--label-risk", workdir / "label_risk.json", "--out", workdir / "gate.json")
        assert result.exit_code == 2 and "has no filter summary" in result.output  # never the whole table silently
        assert json.loads((workdir / "gate.json").read_text())["blocked"] is True
