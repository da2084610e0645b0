"""Fault injection: each bad input, config or environment, tried as a careless or hostile user would. Every one must
end in exit 1 (blocked, with the reason) or exit 2 (bad input or configuration, one line naming file and key), never
exit 0, never a traceback, and never a partial output file.
"""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pandas as pd
import pytest

from labelgate.gate import GateParams
from assertions import one_error_line
from synthetic import label_table, make_texts

LABELS = ["negative", "neutral", "positive"]


def good_table(n: int = 240, *, seed: int = 7) -> pd.DataFrame:
    """A clean label table that passes `check`: probabilities, one annotator column, gold audit rows."""
    texts, truth = make_texts(n, 3, seed=seed)
    frame = label_table(texts, truth, LABELS, truth=truth, audit_share=0.3)
    probs = np.full((n, 3), 0.05)
    probs[np.arange(n), truth] = 0.9
    for k, label in enumerate(LABELS):
        frame[f"llm_prob_{label}"] = probs[:, k]
    frame["annotator_variant"] = frame["llm_label"]
    return frame


def gate_verdict(path) -> dict:
    verdict = json.loads(path.read_text())
    assert verdict["blocked"] is True and verdict["status"] == "block"
    return verdict


@pytest.fixture()
def good_csv(workdir):
    good_table().to_csv(workdir / "labels.csv", index=False)
    return workdir / "labels.csv"


@pytest.mark.slow
def test_the_good_table_passes(workdir, cli, good_csv):
    """The control: the faults below differ from a table that really passes."""
    result = cli("check", good_csv, "--out", workdir / "v.json")
    assert result.exit_code == 0, result.output
    verdict = json.loads((workdir / "v.json").read_text())
    assert verdict["status"] in ("pass", "warn") and verdict["missing_required"] == []


# ------------------------------------------------------------------------------------ 1. nothing measured


@pytest.mark.parametrize("label_risk", [
    {},
    {"metrics": {}},
    {"metrics": {"estimated_noise_rate": None, "audit_accuracy_lower": None, "annotator_alpha": None,
                 "class_balance_tvd": None}},
    {"metrics": {"estimated_noise_rate": float("nan"), "audit_accuracy_lower": float("nan")}},
    {"metrics": "not a mapping"},
], ids=["empty", "no-metrics", "all-null", "all-nan", "metrics-not-a-mapping"])
def test_label_risk_without_figures_blocks(workdir, cli, label_risk):
    (workdir / "label_risk.json").write_text(json.dumps(label_risk))
    result = cli("gate", "--label-risk", workdir / "label_risk.json", "--out", workdir / "gate.json")
    assert result.exit_code == 1, result.output
    verdict = gate_verdict(workdir / "gate.json")
    assert "label_error_rate_upper or audit_accuracy_lower" in verdict["missing_required"]
    assert "nothing measured by suite(s) label_summary" in verdict["reason"]
    assert "BLOCKED" in result.stdout


def test_cleanlab_estimate_without_an_audit_is_no_evidence(workdir, cli):
    """Every audit-free figure measured and passing, no audit rows: blocked, and the verdict says how to get one."""
    metrics = {"estimated_noise_rate": 0.05, "annotator_alpha": 0.9, "class_balance_tvd": 0.02,
               "label_error_rate_upper": None, "audit_accuracy_lower": None}
    (workdir / "label_risk.json").write_text(json.dumps({"metrics": metrics}))
    result = cli("gate", "--label-risk", workdir / "label_risk.json", "--out", workdir / "gate.json")
    assert result.exit_code == 1, result.output
    verdict = gate_verdict(workdir / "gate.json")
    assert verdict["missing_required"][:2] == ["accuracy_loss_upper", "label_error_rate_upper or audit_accuracy_lower"]
    assert "labelgate audit sample" in verdict["reason"]
    assert {o["column"] for o in verdict["outcomes"] if o["status"] == "pass"} == {
        "estimated_noise_rate", "annotator_alpha", "class_balance_tvd"}


@pytest.mark.parametrize("evaluation", [
    {"subsets": {"raw": {}}},
    {"subsets": {"raw": {"accuracy_std": None, "krippendorff_alpha": None, "accuracy_gap_to_reference": None}}},
], ids=["empty-subset", "all-null"])
def test_evaluation_without_figures_blocks(workdir, cli, evaluation):
    (workdir / "evaluate.json").write_text(json.dumps(evaluation))
    result = cli("gate", "--evaluation", workdir / "evaluate.json", "--out", workdir / "gate.json")
    assert result.exit_code == 1, result.output
    verdict = gate_verdict(workdir / "gate.json")
    assert verdict["missing_required"] == ["krippendorff_alpha"]
    errors = {o["column"] for o in verdict["outcomes"] if o["status"] == "error"}
    assert {"accuracy_std", "krippendorff_alpha"} <= errors  # blocking figures not measured, not optional


def test_scores_given_a_raw_label_table_blocks(workdir, cli):
    good_table().to_parquet(workdir / "labels.parquet")
    result = cli("gate", "--scores", workdir / "labels.parquet", "--out", workdir / "gate.json")
    assert result.exit_code == 1, result.output
    verdict = gate_verdict(workdir / "gate.json")
    assert verdict["missing_required"] == ["entropy_normalised or audit_accuracy_lower"]
    assert "nothing measured by suite(s) label_scores" in verdict["reason"]


def test_single_seed_blocks_until_stability_is_optional(workdir, cli):
    single = {"subsets": {"raw": {"n_seeds": 1, "accuracy_std": None, "macro_f1_std": None,
                                  "krippendorff_alpha": None, "unchanged_prediction_rate": 1.0,
                                  "accuracy_gap_to_reference": 0.01, "macro_f1_gap_to_reference": 0.01,
                                  "plateau": False, "audit_accuracy_gap": 0.01, "learning_curve_decline": -0.01}}}
    (workdir / "evaluate.json").write_text(json.dumps(single))
    args = ("gate", "--evaluation", workdir / "evaluate.json", "--out", workdir / "gate.json")
    assert cli(*args).exit_code == 1
    # measured evidence elsewhere does not replace it: required figures are per suite that ran
    (workdir / "params.yaml").write_text("gate:\n  required: [[accuracy_gap_to_reference]]\n"
                                         "  optional: [accuracy_std, krippendorff_alpha]\n")
    result = cli(*args)
    assert result.exit_code == 0, result.output


# ------------------------------------------------------------------------------------ 2. broken suites


def _edit_suite(workdir, name: str, index: int, **changes) -> None:
    path = workdir / "expectations" / f"{name}.json"
    suite = json.loads(path.read_text())
    expectation = suite["expectations"][index]
    for key, value in changes.items():
        if key == "column":
            expectation["kwargs"]["column"] = value
        elif value is None:
            expectation.pop(key, None)
        else:
            expectation[key] = value
    path.write_text(json.dumps(suite))


@pytest.mark.parametrize("change, message", [
    ({"type": "expect_column_median_to_be_betwen"}, "cannot build it"),
    ({"severity": "critcal"}, "unknown severity 'critcal'"),
    ({"severity": None, "severty": "warning"}, "unknown key(s) severty"),
    ({"column": "entropy_normalized"}, "column 'entropy_normalized' is not produced here"),
    ({"kwargs": {"column": "entropy_normalised", "max_value": {"$PARAMETER": "max_median_entropi"}}},
     "$PARAMETER max_median_entropi is not defined"),
], ids=["type", "severity", "severity-key", "column", "parameter"])
def test_broken_label_suite_is_a_config_error_before_scoring(workdir, cli, good_csv, change, message):
    _edit_suite(workdir, "label_scores", 0, **change)
    result = cli("check", good_csv, "--out", workdir / "v.json")
    one_error_line(result, code=2, contains=(f"expectations{os.sep}label_scores.json: expectation 1", message))
    assert not (workdir / "v.json").exists()


def test_broken_stability_suite_is_a_config_error(workdir, cli):
    _edit_suite(workdir, "training_stability", 2, type="expect_column_min_to_be_betwen")
    (workdir / "evaluate.json").write_text(json.dumps({"subsets": {"raw": {"krippendorff_alpha": 0.9}}}))
    result = cli("gate", "--evaluation", workdir / "evaluate.json", "--out", workdir / "gate.json")
    one_error_line(result, code=2, contains="training_stability.json: expectation 3")
    assert not (workdir / "gate.json").exists()


def test_contract_suite_typo_is_a_config_error(workdir, cli, good_csv):
    path = workdir / "expectations" / "label_contract.json"
    suite = json.loads(path.read_text())
    suite["expectations"][3]["type"] = "expect_column_values_to_be_in_sett"  # llm_label in the label set
    path.write_text(json.dumps(suite))
    result = cli("validate", good_csv, "--out", workdir / "out.parquet")
    one_error_line(result, code=2, contains="label_contract.json: expectation 4 (expect_column_values_to_be_in_sett")
    assert not (workdir / "out.parquet").exists()


def test_contract_suite_column_typo_is_a_config_error(workdir, cli, good_csv):
    path = workdir / "expectations" / "label_contract.json"
    suite = json.loads(path.read_text())
    suite["expectations"][2]["kwargs"]["column"] = "llm_lable"
    path.write_text(json.dumps(suite))
    one_error_line(cli("validate", good_csv), code=2, contains="column 'llm_lable' is not produced here")


def test_unknown_required_figure_is_a_config_error(workdir, cli, good_csv):
    (workdir / "params.yaml").write_text("gate:\n  required: [estimated_noise_rat]\n")
    result = cli("check", good_csv)
    one_error_line(result, code=2, contains="'estimated_noise_rat', which no suite")


# ------------------------------------------------------------------------------------ 3. typed thresholds


@pytest.mark.parametrize("line, message", [
    ("max_estimated_noise_rate: true", "max_estimated_noise_rate=True must be a number"),
    ("max_estimated_noise_rate: '0.9'", "max_estimated_noise_rate='0.9' must be a number"),
    ("max_estimated_noise_rate: 1.5", "must lie in [0.0, 1.0]"),
    ("min_audit_accuracy_lower: -0.1", "must lie in [0.0, 1.0]"),
    ("max_estimated_noise_rate: .nan", "must be a number"),
    ("required: estimated_noise_rate", "must be a list"),
    ("optional: [1]", "must be"),
], ids=["bool", "string", "above-1", "negative", "nan", "required-not-list", "optional-not-names"])
def test_bad_threshold_is_a_config_error(workdir, cli, line, message):
    (workdir / "params.yaml").write_text(f"gate:\n  {line}\n")
    (workdir / "evaluate.json").write_text(json.dumps({"subsets": {"raw": {"krippendorff_alpha": 0.9}}}))
    result = cli("gate", "--evaluation", workdir / "evaluate.json", "--out", workdir / "gate.json")
    one_error_line(result, code=2, contains=("params.yaml", message))
    assert not (workdir / "gate.json").exists()


def test_boolean_in_other_sections_is_refused(workdir, cli, good_csv):
    (workdir / "params.yaml").write_text("score:\n  cv_folds: true\n")
    one_error_line(cli("score", good_csv), code=2, contains="cv_folds=True must be an integer")


@pytest.mark.parametrize("figure, value", [("estimated_noise_rate", -0.5), ("class_balance_tvd", 1.5),
                                           ("annotator_alpha", 3.0), ("estimated_noise_rate", "0.1")])
def test_figure_outside_its_range_blocks(workdir, cli, figure, value):
    metrics = {"label_error_rate_upper": 0.08, "estimated_noise_rate": 0.1, "audit_accuracy_lower": 0.9,
               "annotator_alpha": 0.8, "class_balance_tvd": 0.05, "expected_accuracy_loss": 0.005,
               "expected_accuracy_loss_lower": -0.01, "expected_accuracy_loss_upper": 0.02,
               "audit_representativeness_p": 0.5, figure: value}
    (workdir / "label_risk.json").write_text(json.dumps({"metrics": metrics}))
    result = cli("gate", "--label-risk", workdir / "label_risk.json", "--out", workdir / "gate.json")
    assert result.exit_code == 1, result.output
    verdict = gate_verdict(workdir / "gate.json")
    assert [o["column"] for o in verdict["outcomes"] if o["status"] == "error"] == [figure]


def test_gate_params_dataclass_refuses_booleans():
    with pytest.raises(ValueError, match="must be a number"):
        GateParams(max_estimated_noise_rate=True)


# ------------------------------------------------------------------------------------ 4. one reader


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl", ".csv"])
@pytest.mark.parametrize("column, value", [("text", ""), ("text", "   "), ("id", "")])
def test_empty_strings_are_missing_in_every_format(workdir, cli, suffix, column, value):
    frame = good_table()
    frame.loc[4, column] = value
    path = workdir / f"labels{suffix}"
    _write(frame, path)
    result = cli("validate", path, "--out", workdir / "out.parquet")
    one_error_line(result, code=2, contains=(f"row 5: column '{column}'", "empty"))
    assert not (workdir / "out.parquet").exists()


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl", ".csv"])
def test_empty_gold_label_is_allowed_in_every_format(workdir, cli, suffix):
    frame = good_table()
    frame["gold_label"] = frame["gold_label"].map(lambda v: "" if v is None else v)
    path = workdir / f"labels{suffix}"
    _write(frame, path)
    result = cli("validate", path)
    assert result.exit_code == 0, result.output


def test_numeric_jsonl_text_is_read_as_text_like_csv(workdir, cli):
    frame = good_table()
    records = frame.to_dict(orient="records")
    records[2]["text"] = 12345
    records[3]["id"] = 7
    (workdir / "labels.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    result = cli("validate", workdir / "labels.jsonl", "--out", workdir / "out.parquet")
    assert result.exit_code == 0, result.output
    out = pd.read_parquet(workdir / "out.parquet")
    assert out.loc[2, "text"] == "12345" and out.loc[3, "id"] == "7"


def test_empty_text_next_to_a_numeric_text_is_missing(workdir, cli):
    records = good_table().to_dict(orient="records")
    records[2]["text"] = 12345
    records[6]["text"] = " "
    (workdir / "labels.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    one_error_line(cli("validate", workdir / "labels.jsonl"), code=2, contains=("row 7: column 'text'", "empty text"))


@pytest.mark.parametrize("value", [["a", "list"], {"an": "object"}, True])
def test_non_text_jsonl_text_is_one_line_error(workdir, cli, value):
    records = good_table().to_dict(orient="records")
    records[5]["text"] = value
    (workdir / "labels.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    one_error_line(cli("validate", workdir / "labels.jsonl"), code=2,
                   contains=("row 6: column 'text'", "expected a string"))


def test_long_csv_text_is_accepted(workdir, cli):
    frame = good_table()
    frame.loc[0, "text"] = "word " * 40_000  # 200 KB, over the csv module's 128 KiB default field limit
    frame.to_csv(workdir / "labels.csv", index=False)
    result = cli("validate", workdir / "labels.csv")
    assert result.exit_code == 0, result.output


def _write(frame: pd.DataFrame, path) -> None:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_json(path, orient="records", lines=True)


# ------------------------------------------------------------------------------------ 5. valid but degenerate


@pytest.mark.slow
def test_single_class_llm_labels_block_with_a_reason(workdir, cli):
    frame = good_table()
    frame["llm_label"] = "neutral"
    frame["annotator_variant"] = "neutral"
    for label in LABELS:
        frame[f"llm_prob_{label}"] = 0.9 if label == "neutral" else 0.05
    frame.to_csv(workdir / "labels.csv", index=False)
    result = cli("check", workdir / "labels.csv", "--out", workdir / "v.json")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    verdict = gate_verdict(workdir / "v.json")
    outcome = {o["column"]: o for o in verdict["outcomes"]}
    assert verdict["blocked"]
    # cleanlab is not measurable; its noise rate is only a warning (the audit estimate is the headline)
    assert outcome["estimated_noise_rate"]["status"] == "skipped"
    assert outcome["annotator_alpha"]["status"] == "skipped"  # alpha is undefined for one label value


@pytest.mark.slow
def test_all_empty_annotator_column_is_not_an_annotation(workdir, cli):
    frame = good_table()
    frame["annotator_variant"] = ""
    frame.to_csv(workdir / "labels.csv", index=False)
    result = cli("check", workdir / "labels.csv", "--out", workdir / "v.json")
    assert result.exit_code == 0, result.output
    outcome = {o["column"]: o for o in json.loads((workdir / "v.json").read_text())["outcomes"]}
    assert outcome["annotator_alpha"]["status"] == "skipped"
    assert outcome["agreement_all_agree"]["status"] == "skipped"


@pytest.mark.slow
def test_signal_crash_is_one_named_line(workdir, cli, good_csv, monkeypatch):
    from labelgate.signals.class_balance import ClassBalanceSignal

    def boom(self, context):
        raise ValueError("inner library failure\nwith a second line")

    monkeypatch.setattr(ClassBalanceSignal, "score", boom)
    result = cli("score", good_csv, "--out", workdir / "s.parquet", "--summary", workdir / "s.json")
    one_error_line(result, code=2, contains=("signal 'class_balance' failed", "inner library failure"))
    assert not (workdir / "s.parquet").exists() and not (workdir / "s.json").exists()


# ------------------------------------------------------------------------------------ 6. --params


def test_missing_explicit_params_file_is_an_error(workdir, cli, good_csv):
    result = cli("check", good_csv, "--params", workdir / "no_such_params.yaml", "--out", workdir / "v.json")
    one_error_line(result, code=2, contains="no_such_params.yaml: params file not found")
    assert not (workdir / "v.json").exists()


def test_implicit_params_may_be_absent(workdir, cli, good_csv):
    (workdir / "params.yaml").unlink()
    result = cli("validate", good_csv, "--labels", ",".join(LABELS))
    assert result.exit_code == 0, result.output


# ------------------------------------------------------------------------------------ 7. all or nothing


@pytest.mark.slow
def test_score_with_unwritable_summary_writes_nothing(workdir, cli, good_csv, monkeypatch):
    """A folder without write permission for the summary: the scores are not written either. Root may write into
    any folder, so the permission check a non-root user meets is made here by the temporary-file call the outputs
    go through; the test then runs the same way as root (CI) and as a user."""
    import tempfile

    from labelgate import outputs

    real_mkstemp = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):  # noqa: A002 - tempfile's own keyword
        if dir is not None and not os.stat(dir).st_mode & stat.S_IWUSR:
            raise PermissionError(13, "Permission denied", str(dir))
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(outputs.tempfile, "mkstemp", mkstemp)
    locked = workdir / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        result = cli("score", good_csv, "--out", workdir / "scores.parquet", "--summary", locked / "risk.json")
        one_error_line(result, code=2, contains=("risk.json", "cannot write here (Permission denied)"))
    finally:
        locked.chmod(stat.S_IRWXU)
    assert not (workdir / "scores.parquet").exists() and list(locked.iterdir()) == []
    assert [p.name for p in workdir.iterdir() if p.name.startswith(".")] == []  # no temporary files left


def test_score_with_summary_under_a_file_writes_nothing(workdir, cli, good_csv):
    (workdir / "afile").write_text("x")
    result = cli("score", good_csv, "--out", workdir / "scores.parquet", "--summary", workdir / "afile" / "r.json")
    one_error_line(result, code=2, contains="cannot write here")
    assert not (workdir / "scores.parquet").exists()
    assert [p.name for p in workdir.iterdir() if p.name.startswith(".")] == []  # no temporary files left


def test_filter_out_equal_to_input_is_refused(workdir, cli):
    good_table().to_parquet(workdir / "scores.parquet")
    before = (workdir / "scores.parquet").read_bytes()
    result = cli("filter", workdir / "scores.parquet", "--strategy", "raw", "--out", workdir / "scores.parquet")
    one_error_line(result, code=2, contains="--out is the same file as SCORES")
    assert (workdir / "scores.parquet").read_bytes() == before


@pytest.mark.parametrize("args", [
    ("validate", "{labels}", "--out", "{labels}"),
    ("score", "{labels}", "--out", "{dir}/s.parquet", "--summary", "{labels}"),
    ("score", "{labels}", "--out", "{dir}/same.json", "--summary", "{dir}/./same.json"),
    ("check", "{labels}", "--out", "{labels}"),
], ids=["validate", "score-summary", "score-out-equals-summary", "check"])
def test_output_equal_to_input_is_refused(workdir, cli, good_csv, args):
    before = good_csv.read_bytes()
    result = cli(*(a.format(labels=good_csv, dir=workdir) for a in args))
    one_error_line(result, code=2, contains="is the same file as")
    assert good_csv.read_bytes() == before
    assert not (workdir / "s.parquet").exists() and not (workdir / "same.json").exists()


def test_report_writes_both_files_or_neither(workdir, cli):
    (workdir / "gate.json").write_text(json.dumps({"status": "block", "blocked": True, "reason": "x",
                                                   "outcomes": []}))
    (workdir / "afile").write_text("x")
    result = cli("report", "--verdict", workdir / "gate.json", "--html", workdir / "r.html",
                 "--markdown", workdir / "afile" / "s.md")
    one_error_line(result, code=2, contains="cannot write here")
    assert not (workdir / "r.html").exists()


# ------------------------------------------------------------------------------------ 9. one-line errors


def test_debug_shows_the_traceback(workdir, cli, good_csv, monkeypatch):
    (workdir / "params.yaml").write_text("gate:\n  max_median_entropy: true\n")
    quiet = cli("check", good_csv)
    assert quiet.exit_code == 2 and "Traceback" not in quiet.output
    loud = cli("--debug", "check", good_csv)
    assert loud.exit_code == 2 and "Traceback" in loud.stderr
    monkeypatch.setenv("LABELGATE_DEBUG", "1")
    assert "Traceback" in cli("check", good_csv).stderr


def test_gx_failure_inside_a_stage_is_one_named_line(workdir, cli, good_csv, monkeypatch):
    import labelgate.expectations as expectations

    def broken(*args, **kwargs):
        raise RuntimeError("GX internal state\n  File x, line 1\nTraceback-like noise")

    monkeypatch.setattr(expectations, "_validate", broken)
    result = cli("validate", good_csv, "--out", workdir / "out.parquet")
    one_error_line(result, code=2, contains=("label_contract.json: Great Expectations failed", "GX internal state"))
    assert not (workdir / "out.parquet").exists()


def test_expectation_dropped_by_gx_is_caught(workdir, monkeypatch):
    """Count in = count out: an expectation GX silently drops is a configuration error, not a pass."""
    from labelgate.errors import ConfigError
    from labelgate.expectations import run_suite
    from labelgate.gate import GateParams
    import labelgate.expectations as expectations

    real = expectations._validate

    def dropping(gx, suite_json, frame, parameters):
        return real(gx, suite_json, frame, parameters)[1:]

    monkeypatch.setattr(expectations, "_validate", dropping)
    frame = pd.DataFrame([{"accuracy_loss_upper": 0.02, "label_error_rate_upper": 0.05, "systematic_error_share": 0.2,
                           "text_error_auc": 0.5, "estimated_noise_rate": 0.1, "audit_accuracy_lower": 0.9,
                           "annotator_alpha": 0.8, "class_balance_tvd": 0.1, "audit_missing_share": 0.0,
                           "audit_representativeness_p": 0.5, "audit_rubber_stamp_flag_share": 0.0,
                           "audit_contradiction": 0.0, "retained_fraction": 1.0}])
    with pytest.raises(ConfigError, match=r"13 expectation\(s\) in, 12 result\(s\) out; not evaluated: "
                                          r"expect_column_max_to_be_between on 'accuracy_loss_upper'"):
        run_suite("label_summary", frame, GateParams().thresholds(), expectations_dir=workdir / "expectations")


def test_the_repository_suites_pass_the_integrity_check(repo):
    from labelgate.gate import GATE_SUITES, preflight

    assert set(preflight(GateParams(), GATE_SUITES, repo / "expectations")) == set(GATE_SUITES)

