"""`labelgate check` anywhere: packaged defaults, the label set it infers, an 80-column verdict; `enforce`; headline
figures."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from labelgate.headline import evaluate_headline, gate_headline, label_risk_headline
from labelgate.packaged import choose_labels, default_expectations_dir, default_params, resolve_sources, table_labels
from synthetic import confident_table, make_texts

REPO_LABELS = ("negative", "neutral", "positive")


def tickets(noisy: bool, labels=("bug", "feature", "question"), n: int = 600) -> pd.DataFrame:
    return confident_table(n, labels, noisy=noisy, seed=11, audit_share=0.25)


@pytest.fixture()
def empty(tmp_path, monkeypatch):
    folder = tmp_path / "empty"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


class TestAnywhere:
    def test_empty_folder_uses_the_packaged_defaults_and_says_so(self, empty, cli):
        tickets(noisy=False).to_csv(empty / "labels.csv", index=False)
        result = cli("check", "labels.csv", "--out", "v.json")
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert lines[0] == "params: packaged defaults (no params.yaml here)"
        assert lines[1] == "suites: packaged defaults (no expectations/ here)"
        assert lines[2] == "labels: bug, feature, question (inferred from the table's llm_prob_* columns)"
        assert json.loads((empty / "v.json").read_text())["labels"] == ["bug", "feature", "question"]
        assert sorted(p.name for p in empty.iterdir()) == ["labels.csv", "v.json"]  # nothing else written

    def test_blocks_noisy_labels_in_an_empty_folder(self, empty, cli):
        tickets(noisy=True).to_csv(empty / "labels.csv", index=False)
        result = cli("check", "labels.csv")
        assert result.exit_code == 1, result.output
        assert "BLOCKED" in result.output

    def test_explicit_params_that_do_not_exist_is_bad_input(self, empty, cli):
        tickets(noisy=False).to_csv(empty / "labels.csv", index=False)
        result = cli("check", "labels.csv", "--params", "nope.yaml")
        assert result.exit_code == 2
        assert result.output.strip() == "labelgate check: error: nope.yaml: params file not found (--params)"
        result = cli("check", "labels.csv", "--expectations", "nope")
        assert result.exit_code == 2 and "nope: expectation suite folder not found" in result.output

    def test_local_params_and_suites_are_preferred(self, workdir, cli):
        tickets(noisy=False, labels=REPO_LABELS).to_csv(workdir / "labels.csv", index=False)
        result = cli("check", "labels.csv")
        assert result.exit_code == 0, result.output
        assert result.output.splitlines()[:3] == [
            "params: params.yaml", "suites: expectations/",
            f"labels: {', '.join(REPO_LABELS)} (base.labels in params.yaml)"]

    def test_other_label_set_in_this_repository_is_inferred(self, workdir, cli):
        """The demo's base.labels must not refuse a table with another consistent label set."""
        tickets(noisy=False).to_csv(workdir / "labels.csv", index=False)
        result = cli("check", "labels.csv")
        assert result.exit_code == 0, result.output
        assert result.output.splitlines()[2] == ("labels: bug, feature, question (inferred from the table's "
                                                 "llm_prob_* columns; base.labels in params differ)")

    def test_table_that_contradicts_itself_falls_back_to_base_labels(self, workdir, cli):
        frame = tickets(noisy=False)
        frame.loc[3, "llm_label"] = "praise"  # a label without a probability column: not a consistent set
        frame.to_csv(workdir / "labels.csv", index=False)
        result = cli("check", "labels.csv")
        assert result.exit_code == 2
        assert "labels.csv" in result.output and "error" in result.output

    def test_label_column_checks_another_version_of_the_pool(self, empty, cli):
        frame = tickets(noisy=True)
        texts, truth = make_texts(600, 3, seed=11)
        frame["crowd"] = np.asarray(["bug", "feature", "question"], dtype=object)[truth]
        frame = frame.drop(columns=[c for c in frame.columns if c.startswith("llm_prob_")])
        frame.to_csv(empty / "labels.csv", index=False)
        assert cli("check", "labels.csv").exit_code == 1
        result = cli("check", "labels.csv", "--label-column", "crowd")
        assert result.exit_code == 0, result.output
        assert cli("check", "labels.csv", "--label-column", "nope").exit_code == 2

    def test_no_enforce_records_a_block_and_exits_0(self, empty, cli):
        tickets(noisy=True).to_csv(empty / "labels.csv", index=False)
        result = cli("check", "labels.csv", "--out", "v.json", "--no-enforce")
        assert result.exit_code == 0
        assert json.loads((empty / "v.json").read_text())["blocked"] is True
        assert cli("enforce", "v.json").exit_code == 1


class TestVerdictTable:
    def test_fits_80_columns_with_mitigations_only_for_failures(self, empty, cli):
        tickets(noisy=True).to_csv(empty / "labels.csv", index=False)
        result = cli("check", "labels.csv", "--out", "v.json")
        table = result.output.splitlines()[3:]
        assert max(len(line) for line in table) <= 80, "\n".join(line for line in table if len(line) > 80)
        verdict = json.loads((empty / "v.json").read_text())
        failed = [o for o in verdict["outcomes"] if o["status"] == "fail"]
        notes = [line for line in table if line.startswith("- ")]
        assert len(notes) == len(failed) > 0
        passed = [o for o in verdict["outcomes"] if o["status"] == "pass"]
        assert all(o["mitigation"][:30] not in result.output for o in passed if o["mitigation"])

    def test_empty_columns_are_dropped(self):
        from labelgate.verdict import verdict_rows
        from labelgate.gate import Verdict

        outcome = {"suite": "label_risk", "status": "skipped", "severity": "warn", "description": "share",
                   "observed": "not measured", "threshold": "", "mitigation": "m", "error": None}
        header, rows, notes = verdict_rows(Verdict("pass", [outcome], reason="ok"))
        assert header == ["suite", "check", "observed", "result"]  # no limit: nothing was measured
        assert rows == [["risk", "share", "n/a", "skipped"]] and notes == []


class TestEnforce:
    @pytest.mark.parametrize("verdict, code, shown", [
        ({"status": "block", "blocked": True, "reason": "3 failed"}, 1, "BLOCKED (3 failed)"),
        ({"status": "pass", "blocked": False, "reason": "ok"}, 0, "PASSED (ok)"),
        ({"status": "warn", "blocked": False, "reason": "1 warning"}, 0, "WARN (1 warning)"),
        ({"status": "maybe"}, 1, "BLOCKED (no reason given)"),  # unrecognised: fail closed
    ])
    def test_exit_codes(self, tmp_path, cli, verdict, code, shown):
        (tmp_path / "v.json").write_text(json.dumps(verdict))
        result = cli("enforce", tmp_path / "v.json")
        assert result.exit_code == code
        assert result.output.strip() == f"{tmp_path / 'v.json'}: {shown}"

    def test_missing_verdict_is_not_a_pass(self, tmp_path, cli):
        result = cli("enforce", tmp_path / "absent.json")
        assert result.exit_code == 2 and "file not found" in result.output


class TestPackagedDefaults:
    def test_defaults_build_every_params_section(self):
        from labelgate.annotate import AnnotateParams
        from labelgate.config import BaseParams, section
        from labelgate.evaluate import EvaluateParams
        from labelgate.filter import FilterParams
        from labelgate.gate import GateParams
        from labelgate.learning_curve import CurveParams
        from labelgate.score import ScoreParams
        from labelgate.train import TrainParams
        from labelgate.validate import ValidateParams

        values = default_params()
        for name, cls in [("base", BaseParams), ("annotate", AnnotateParams), ("validate", ValidateParams),
                          ("score", ScoreParams), ("filter", FilterParams), ("train", TrainParams),
                          ("learning_curve", CurveParams), ("evaluate", EvaluateParams), ("gate", GateParams)]:
            section(values, name, cls)
        assert section(values, "gate", GateParams) == GateParams()  # documented constants = packaged defaults

    def test_default_prompt_is_generic(self):
        text = (default_expectations_dir().parent / "params.yaml").read_text()
        assert "tweet" not in text.lower() and "few_shot: []" in text

    def test_demo_params_equal_the_defaults_outside_base_and_annotate(self, repo):
        """One set of thresholds: the demo's params.yaml may differ from the packaged defaults only in its data."""
        demo = yaml.safe_load((repo / "params.yaml").read_text())
        defaults = default_params()
        for name in sorted(set(demo) | set(defaults)):
            if name in ("base", "annotate"):
                continue
            assert demo.get(name) == defaults.get(name), f"section {name} differs from labelgate/defaults/params.yaml"

    def test_suites_exist_once(self, repo):
        """The packaged suites are the repository's expectations/ (a link in the source tree, files in a wheel)."""
        assert default_expectations_dir().resolve() == (repo / "expectations").resolve()
        assert sorted(p.name for p in default_expectations_dir().glob("*.json")) == sorted(
            p.name for p in (repo / "expectations").glob("*.json"))


class TestLabels:
    def test_table_labels(self):
        frame = pd.DataFrame({"llm_label": ["b", "a"], "gold_label": [None, "c"], "llm_prob_a": [1, 0],
                              "llm_prob_b": [0, 1], "llm_prob_c": [0, 0]})
        assert table_labels(frame)[0] == ("a", "b", "c")
        assert table_labels(frame.drop(columns=["llm_prob_c"])) is None  # gold uses c, no probability for it
        assert table_labels(frame[["llm_label"]])[0] == ("a", "b")
        assert table_labels(pd.DataFrame({"llm_label": ["a", "a"]})) is None

    def test_choose(self):
        frame = pd.DataFrame({"llm_label": ["a", "b"]})
        assert choose_labels(frame, option=("x", "y"), configured=("a", "b"), params_from="p")[1] == "--labels"
        assert choose_labels(frame, option=(), configured=("a", "b", "c"), params_from="p") == (
            ("a", "b", "c"), "base.labels in p")
        labels, why = choose_labels(frame, option=(), configured=("x", "y"), params_from="p")
        assert labels == ("a", "b") and "base.labels in params differ" in why


class TestSources:
    def test_resolution_order(self, tmp_path):
        assert resolve_sources(None, None, cwd=tmp_path).params_from.startswith("packaged defaults")
        (tmp_path / "params.yaml").write_text("base:\n  labels: [a, b]\n")
        (tmp_path / "expectations").mkdir()
        sources = resolve_sources(None, None, cwd=tmp_path)
        assert sources.params == {"base": {"labels": ["a", "b"]}}
        assert sources.expectations == tmp_path / "expectations"


class TestHeadline:
    def test_label_risk(self):
        assert label_risk_headline({"n_rows": 10, "metrics": {"a": 0.5, "b": None}, "signals": {"x": {}}}) == {
            "n_rows": 10, "a": 0.5, "b": None}

    def test_evaluate_and_gate(self):
        evaluation = {"subsets": {"raw": {"accuracy_mean": 0.7, "macro_f1_mean": 0.6, "accuracy_std": 0.01,
                                          "krippendorff_alpha": 0.8, "unchanged_prediction_rate": 0.9,
                                          "accuracy_gap_to_reference": 0.1, "audit_accuracy_gap": 0.04,
                                          "learning_curve_decline": -0.02, "seeds": {"0": {}}}}}
        assert evaluate_headline(evaluation) == {"raw": {"accuracy": 0.7, "macro_f1": 0.6}}
        verdict = {"status": "block", "blocked": True, "counts": {"failed_block": 2, "passed": 3}, "outcomes": []}
        assert gate_headline(verdict, evaluation, "raw") == {
            "blocked": 1, "failed_block": 2, "passed": 3,
            "raw": {"accuracy": 0.7, "macro_f1": 0.6, "accuracy_std": 0.01, "seed_alpha": 0.8,
                    "unchanged_rate": 0.9, "accuracy_gap": 0.1, "audit_accuracy_gap": 0.04,
                    "learning_curve_decline": -0.02}}

    def test_demo_metrics_files_are_headline_files(self, repo):
        """dvc.yaml declares only the headline files as metrics: a dozen or so figures each."""
        stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
        metrics = [next(iter(m)) if isinstance(m, dict) else m
                   for stage in stages.values() for m in stage.get("metrics", [])]
        assert sorted(metrics) == ["metrics/headline/evaluate.json", "metrics/headline/gate.json",
                                   "metrics/headline/label_risk.json"]
