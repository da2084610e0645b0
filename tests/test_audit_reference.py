"""labelgate.audit_reference and the declining-curve rule: exact values on fixed prediction tables (no training),
the gate with and without a gold pool, and one tiny real training run of the audit reference end to end."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import yaml

from labelgate.audit_reference import AuditReferenceParams, audit_gap, audit_tables, not_measured_reason
from labelgate.config import section
from labelgate.curves import CurveParams, compare_at_equal_size, curve_decline
from labelgate.errors import BadInputError, ConfigError
from labelgate.evaluate import attach_to_evaluation, evaluate_runs
from labelgate.gate import GateParams, run_gate
from labelgate.learning_curve import summarise_curve

LABELS = ("a", "b")
TRUTH = ["a", "a", "b", "b"]
Z95 = 1.959963984540054


def onehot(preds, sure=0.9):
    return np.array([[sure, 1 - sure] if p == "a" else [1 - sure, sure] for p in preds])


def points(accuracies, sizes=(250, 500, 1000, 2000)):
    return [{"fraction": n / sizes[-1], "n": n, "accuracy": a, "macro_f1": a} for n, a in zip(sizes, accuracies)]


class TestDecliningCurve:
    def test_issue_example_declines_by_eight_points(self):
        # the calibration benchmark's 15% text-following noise set: 0.64 -> 0.79 -> 0.76 -> 0.71 as data grows
        assert curve_decline(points((0.64, 0.79, 0.76, 0.71))) == pytest.approx(0.08)

    def test_rising_curve_has_a_negative_decline(self):
        # the demo's raw LLM-label curve (2026-11-25): a dip inside the curve is not a decline at the full size
        assert curve_decline(points((0.658, 0.655, 0.71, 0.733))) == pytest.approx(0.71 - 0.733)
        assert curve_decline(points((0.6, 0.7, 0.7, 0.7))) == 0.0  # flat: a plateau, not a decline

    def test_undefined_with_one_point(self):
        assert curve_decline(points((0.7,), sizes=(100,))) is None

    def test_in_the_curve_json_and_evaluate(self):
        curve = summarise_curve(points((0.64, 0.79, 0.76, 0.71)), CurveParams(), subset="raw",
                                reference_accuracy=None, reference_name=None)
        assert curve["decline"] == pytest.approx(0.08)
        result = evaluate_runs({"raw": {0: onehot("aabb")}}, TRUTH, LABELS, curves={"raw": curve})
        assert result["subsets"]["raw"]["learning_curve_decline"] == pytest.approx(0.08)
        assert result["subsets"]["raw"]["plateau"] is None  # no reference: the plateau flag is unknown ...
        no_curve = evaluate_runs({"raw": {0: onehot("aabb")}}, TRUTH, LABELS)
        assert no_curve["subsets"]["raw"]["learning_curve_decline"] is None  # ... the decline needs none


class TestAuditGap:
    # gold-trained: seed 0 [a,a,b,b] (all right), seed 1 [a,b,b,b] (item 2 wrong)
    # LLM-trained:  seed 0 [b,a,b,a] (items 1, 4 wrong), seed 1 [a,a,b,a] (item 4 wrong)
    GOLD = {0: onehot("aabb"), 1: onehot("abbb")}
    LLM = {0: onehot("baba"), 1: onehot("aaba")}

    def test_by_hand(self):
        result = audit_gap(self.GOLD, self.LLM, TRUTH, LABELS)
        assert result["seeds"]["0"]["accuracy_gap"] == 0.5 and result["seeds"]["1"]["accuracy_gap"] == 0.0
        assert result["audit_accuracy_gap"] == 0.25
        assert result["audit_accuracy_gap_std"] == pytest.approx(0.25 * math.sqrt(2))
        # per-item differences d[s, i]: seed 0 [1, 0, 0, 1], seed 1 [0, -1, 0, 1] -> mean over seeds
        # [0.5, -0.5, 0, 1]: sample variance 1.25 / 3; seed gaps (0.5, 0): sample variance 0.125
        variance = 0.125 / 2 + (1.25 / 3) / 4
        assert variance == pytest.approx(1 / 6)
        assert result["audit_accuracy_gap_lower"] == pytest.approx(0.25 - Z95 * math.sqrt(1 / 6))
        assert result["audit_accuracy_gap_upper"] == pytest.approx(0.25 + Z95 * math.sqrt(1 / 6))
        # macro-F1: gold 1 and (2/3 + 4/5) / 2; LLM (1/2 + 1/2) / 2 and (4/5 + 2/3) / 2
        assert result["seeds"]["0"]["macro_f1_gap"] == pytest.approx(0.5)
        assert result["seeds"]["1"]["macro_f1_gap"] == pytest.approx(0.0)
        assert result["audit_macro_f1_gap"] == pytest.approx(0.25)
        assert (result["gold_accuracy_mean"], result["llm_accuracy_mean"]) == (0.875, 0.625)
        json.dumps(result)

    def test_one_seed_keeps_only_the_item_term(self):
        result = audit_gap({3: self.GOLD[0]}, {3: self.LLM[0]}, TRUTH, LABELS, confidence=0.9)
        # d = [1, 0, 0, 1]: mean 0.5, sample variance 1/3, over n = 4 items
        half = 1.6448536269514722 * math.sqrt((1 / 3) / 4)
        assert result["audit_accuracy_gap"] == 0.5 and result["audit_accuracy_gap_std"] is None
        assert result["audit_accuracy_gap_lower"] == pytest.approx(0.5 - half)
        assert result["audit_accuracy_gap_upper"] == pytest.approx(0.5 + half)

    def test_identical_runs_give_zero(self):
        result = audit_gap(self.GOLD, self.GOLD, TRUTH, LABELS)
        assert result["audit_accuracy_gap"] == 0.0
        assert result["audit_accuracy_gap_lower"] == 0.0 == result["audit_accuracy_gap_upper"]

    def test_seeds_must_pair(self):
        with pytest.raises(ValueError, match="same seeds"):
            audit_gap(self.GOLD, {0: self.LLM[0]}, TRUTH, LABELS)
        with pytest.raises(ValueError, match="shape"):
            audit_gap({0: np.ones((3, 2)) / 2}, {0: self.LLM[0]}, TRUTH, LABELS)


class TestAuditTables:
    def test_audited_rows_of_the_subset(self):
        table = pd.DataFrame({"id": ["r1", "r2", "r3", "r4"], "gold_label": ["a", None, "b", "b"]})
        subset = pd.DataFrame({"id": ["r4", "r2", "r1"], "text": ["t4", "t2", "t1"], "label": ["a", "b", "a"]})
        gold, llm = audit_tables(table, subset)
        assert gold.to_dict("list") == {"id": ["r4", "r1"], "text": ["t4", "t1"], "label": ["b", "a"]}
        assert llm.to_dict("list") == {"id": ["r4", "r1"], "text": ["t4", "t1"], "label": ["a", "a"]}

    def test_no_gold_column_is_no_audit_and_no_id_is_bad_input(self):
        subset = pd.DataFrame({"id": ["r1"], "text": ["t"], "label": ["a"]})
        gold, llm = audit_tables(pd.DataFrame({"id": ["r1"]}), subset)
        assert len(gold) == 0 and len(llm) == 0  # not measured downstream (min_rows), not a crash
        with pytest.raises(BadInputError, match="column 'id'"):
            audit_tables(pd.DataFrame({"text": ["t"]}), subset, path="labels.csv")

    def test_gold_label_outside_the_label_set(self):
        table = pd.DataFrame({"id": ["r1", "r2", "r3"], "gold_label": ["a", None, "zz"]})
        subset = pd.DataFrame({"id": ["r1"], "text": ["t1"], "label": ["a"]})
        with pytest.raises(BadInputError, match=r"labels\.csv: row 3: column 'gold_label': gold label not in"):
            audit_tables(table, subset, labels=LABELS, path="labels.csv")

    def test_not_measured_reasons(self):
        params = AuditReferenceParams(min_rows=3)
        few = pd.DataFrame({"label": ["a", "b"]})
        assert not_measured_reason(few, LABELS, params) == "2 audited rows in the subset, audit_reference.min_rows is 3"
        one_class = pd.DataFrame({"label": ["a", "a", "a"]})
        assert not_measured_reason(one_class, LABELS, params) == "no audited row has the gold label b"
        assert not_measured_reason(pd.DataFrame({"label": ["a", "b", "a"]}), LABELS, params) is None

    @pytest.mark.parametrize("bad", [{"min_rows": 1}, {"confidence": 1.0}, {"typo": 1}])
    def test_params_are_checked(self, bad):
        with pytest.raises(ConfigError):
            section({"audit_reference": bad}, "audit_reference", AuditReferenceParams)


class TestEqualSize:
    def test_interpolates_in_log_size_and_never_extrapolates(self):
        llm = points((0.658, 0.655, 0.71, 0.733))
        gold = points((0.60, 0.62, 0.66, 0.70), sizes=(50, 100, 200, 400))
        compared = compare_at_equal_size(llm, gold)
        t = (math.log2(400) - math.log2(250)) / (math.log2(500) - math.log2(250))
        assert [c["n"] for c in compared] == [400]  # 50, 100, 200 lie below the LLM curve's first point
        assert compared[0]["llm_accuracy"] == pytest.approx(0.658 + t * (0.655 - 0.658))
        assert compared[0]["gap"] == pytest.approx(0.70 - compared[0]["llm_accuracy"])
        exact = compare_at_equal_size(llm, points((0.8,), sizes=(500,)))
        assert exact == [{"n": 500, "gold_accuracy": 0.8, "llm_accuracy": 0.655, "gap": pytest.approx(0.145)}]


def audit_json(gap=0.08, measured=True):
    base = {"subset": "raw", "measured": measured, "reason": "" if measured else "no audited rows"}
    if not measured:
        return base
    return {**base, "audit_accuracy_gap": gap, "audit_accuracy_gap_lower": gap - 0.03,
            "audit_accuracy_gap_upper": gap + 0.03, "audit_accuracy_gap_std": 0.01, "audit_macro_f1_gap": gap,
            "audit_macro_f1_gap_std": 0.01, "audit_rows": 400,
            "curves": {"gold": {"points": points((0.6, 0.7), sizes=(200, 400))}}}


class TestAttach:
    def test_figures_land_in_the_audited_subset(self):
        metrics = evaluate_runs({"raw": {0: onehot("aabb")}, "combined": {0: onehot("aabb")}}, TRUTH, LABELS)
        curves = {"raw": {"points": points((0.55, 0.65), sizes=(250, 500))}}
        attach_to_evaluation(metrics, audit_json(), curves)
        raw = metrics["subsets"]["raw"]
        assert raw["audit_accuracy_gap"] == 0.08 and raw["audit_rows"] == 400
        # the audit's gold curve at 400 rows against the LLM curve interpolated at 400 rows
        t = (math.log2(400) - math.log2(250)) / (math.log2(500) - math.log2(250))
        assert raw["audit_curve_gap_at_equal_size"] == pytest.approx(0.7 - (0.55 + t * 0.1))
        assert raw["audit_gold_minus_llm_full"] == pytest.approx(0.7 - 0.65)
        assert metrics["subsets"]["combined"]["audit_accuracy_gap"] is None  # not the audited subset
        assert metrics["audit_reference"] == {"subset": "raw", "measured": True, "reason": ""}

    def test_not_measured_is_null(self):
        metrics = evaluate_runs({"raw": {0: onehot("aabb")}}, TRUTH, LABELS)
        attach_to_evaluation(metrics, audit_json(measured=False))
        assert metrics["subsets"]["raw"]["audit_accuracy_gap"] is None
        assert metrics["audit_reference"]["measured"] is False
        attach_to_evaluation(metrics, None)
        assert metrics["audit_reference"]["reason"] == "no audit reference given"


def stable_but_wrong(audit_gap_value, decline, gold_gap=None):
    """The issue's 15% text-following set: seeds agree (std 0.005, alpha 0.91, unchanged 0.89)."""
    return {"reference": None, "subsets": {"raw": {
        "accuracy_mean": 0.71, "accuracy_std": 0.005, "macro_f1_mean": 0.6, "macro_f1_std": 0.005,
        "krippendorff_alpha": 0.91, "unchanged_prediction_rate": 0.89, "accuracy_gap_to_reference": gold_gap,
        "macro_f1_gap_to_reference": gold_gap, "plateau": None, "learning_curve_decline": decline,
        "audit_accuracy_gap": audit_gap_value, "audit_macro_f1_gap": audit_gap_value, "seeds": {}}}}


class TestGateWithoutGoldPool:
    def test_audit_gap_blocks_without_a_gold_pool(self, workdir):
        verdict = run_gate(scores=None, label_risk=None, evaluation=stable_but_wrong(0.09, -0.02),
                           params=GateParams())
        assert verdict.blocked
        status = {o["column"]: (o["status"], o["severity"]) for o in verdict.outcomes}
        assert status["audit_accuracy_gap"] == ("fail", "block")
        assert status["accuracy_gap_to_reference"][0] == "skipped"  # no gold pool: not measured
        assert status["learning_curve_decline"] == ("pass", "block")

    def test_declining_curve_blocks_not_warns(self, workdir):
        verdict = run_gate(scores=None, label_risk=None, evaluation=stable_but_wrong(0.01, 0.08),
                           params=GateParams())
        assert verdict.blocked
        failed = {o["column"]: o["severity"] for o in verdict.outcomes if o["status"] == "fail"}
        assert failed == {"learning_curve_decline": "block"}

    def test_small_audit_gap_and_rising_curve_pass(self, workdir):
        verdict = run_gate(scores=None, label_risk=None, evaluation=stable_but_wrong(0.01, -0.02),
                           params=GateParams())
        assert verdict.status == "pass"

    def test_gold_pool_still_gated_when_present(self, workdir):
        verdict = run_gate(scores=None, label_risk=None, evaluation=stable_but_wrong(0.01, -0.02, gold_gap=0.14),
                           params=GateParams())
        failed = {o["column"] for o in verdict.outcomes if o["status"] == "fail"}
        assert verdict.blocked and "accuracy_gap_to_reference" in failed

    def test_no_audit_and_no_gold_pool_blocks(self, workdir):
        """Fail closed: without any training reference the audit gap is a blocking figure not measured."""
        verdict = run_gate(scores=None, label_risk=None, evaluation=stable_but_wrong(None, -0.02),
                           params=GateParams())
        assert verdict.blocked
        row = next(o for o in verdict.outcomes if o["column"] == "audit_accuracy_gap")
        assert row["status"] == "error" and "not measured" in row["error"]

    def test_thresholds_from_params(self, workdir):
        loose = GateParams(max_audit_accuracy_gap=0.1, max_learning_curve_decline=0.1)
        verdict = run_gate(scores=None, label_risk=None, evaluation=stable_but_wrong(0.09, 0.08), params=loose)
        assert not verdict.blocked


# ------------------------------------------------------------------------------------------------ real training

TINY = {"max_length": 32, "epochs": 1, "batch_size": 16, "eval_batch_size": 64, "learning_rate": 3e-4,
        "freeze_embeddings": True, "freeze_layers": 4, "num_threads": 2, "warmup_ratio": 0.0, "seeds": [0, 1]}


@pytest.mark.slow  # trains 2 x 2 runs and a curve point
def test_audit_reference_end_to_end(tmp_path, repo, cli, monkeypatch):
    """64 audited demo tweets (half their LLM labels flipped to the next class), 64 test tweets, 2 seeds, tiny
    params: the CLI trains 2 x 2 runs + the gold curve's 1/2 point, and evaluate carries the gap to the raw subset."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from sklearn.model_selection import train_test_split

    from labelgate.train.run import TrainParams, train_run

    pool = pd.read_csv(repo / "data/demo/pool_gold.csv")
    rows, _ = train_test_split(pool, train_size=64, stratify=pool["label"], random_state=0)
    rows = rows.reset_index(drop=True)
    wrong = rows.index % 2 == 0
    shifted = rows["label"].map({"negative": "neutral", "neutral": "positive", "positive": "negative"})
    llm = rows["label"].where(~wrong, shifted)
    extra = pool[~pool["id"].isin(rows["id"])].head(16)  # unaudited rows: trained by `train`, not by the audit
    labels_table = pd.concat([
        pd.DataFrame({"id": rows["id"], "text": rows["text"], "llm_label": llm, "gold_label": rows["label"]}),
        pd.DataFrame({"id": extra["id"], "text": extra["text"], "llm_label": extra["label"], "gold_label": None}),
    ])
    labels_table.to_parquet(tmp_path / "validated.parquet", index=False)
    subset = labels_table.rename(columns={"llm_label": "label"})[["id", "text", "label"]]
    subset.to_parquet(tmp_path / "raw.parquet", index=False)
    test = pd.read_csv(repo / "data/demo/test.csv").head(64)
    test.to_csv(tmp_path / "test.csv", index=False)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({
        "base": {"labels": ["negative", "neutral", "positive"]}, "train": TINY,
        "learning_curve": {"fractions": [0.5, 1.0], "seed": 0}, "audit_reference": {"min_rows": 32},
    }))
    out = tmp_path / "audit.json"
    result = cli("audit-reference", tmp_path / "validated.parquet", "--table", tmp_path / "raw.parquet",
                 "--test", tmp_path / "test.csv", "--params", tmp_path / "params.yaml", "--out", out, "--no-progress")
    assert result.exit_code == 0, result.output
    audit = json.loads(out.read_text())
    assert audit["measured"] is True and audit["audit_rows"] == 64 and audit["n_seeds"] == 2
    assert audit["llm_agreement_with_gold"] == 0.5
    # the gold-version run of seed 1 is exactly `train` on the audited rows' gold labels with seed 1
    gold_rows = pd.DataFrame({"id": rows["id"], "text": rows["text"], "label": rows["label"]})
    run = train_run(gold_rows, test, ("negative", "neutral", "positive"), TrainParams(**TINY), subset="x", seed=1)
    assert audit["seeds"]["1"]["gold_accuracy"] == pytest.approx(run.record.test_accuracy)
    gaps = [audit["seeds"][s]["gold_accuracy"] - audit["seeds"][s]["llm_accuracy"] for s in ("0", "1")]
    assert audit["audit_accuracy_gap"] == pytest.approx(np.mean(gaps))
    assert audit["audit_accuracy_gap_lower"] <= audit["audit_accuracy_gap"] <= audit["audit_accuracy_gap_upper"]
    assert set(audit["curves"]) == {"gold"}
    curve = audit["curves"]["gold"]["points"]
    assert [p["n"] for p in curve] == [32, 64] and [p["reused_full_run"] for p in curve] == [False, True]
    assert curve[-1]["accuracy"] == pytest.approx(audit["seeds"]["0"]["gold_accuracy"])

    evaluated = evaluate_runs({"raw": {0: run.probabilities}}, test["label"], run.labels, audit=audit)
    assert evaluated["subsets"]["raw"]["audit_accuracy_gap"] == audit["audit_accuracy_gap"]


def test_too_few_audited_rows_is_not_measured(tmp_path, repo, cli):
    pool = pd.read_csv(repo / "data/demo/pool_gold.csv").head(20)
    table = pd.DataFrame({"id": pool["id"], "text": pool["text"], "llm_label": pool["label"],
                          "gold_label": pool["label"]})
    table.to_parquet(tmp_path / "validated.parquet", index=False)
    table.rename(columns={"llm_label": "label"})[["id", "text", "label"]].to_parquet(tmp_path / "raw.parquet")
    pd.read_csv(repo / "data/demo/test.csv").head(8).to_csv(tmp_path / "test.csv", index=False)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"base": {"labels": ["negative", "neutral", "positive"]}}))
    out = tmp_path / "audit.json"
    result = cli("audit-reference", tmp_path / "validated.parquet", "--table", tmp_path / "raw.parquet",
                 "--test", tmp_path / "test.csv", "--params", tmp_path / "params.yaml", "--out", out)
    assert result.exit_code == 0, result.output
    audit = json.loads(out.read_text())
    assert audit["measured"] is False and audit["audit_accuracy_gap"] is None and audit["audit_rows"] == 20
    assert "20 audited rows in the subset, audit_reference.min_rows is 50" in result.output


def test_label_table_without_ids_is_bad_input(tmp_path, repo, cli):
    pool = pd.read_csv(repo / "data/demo/pool_gold.csv").head(5)
    pool.rename(columns={"label": "llm_label"}).drop(columns=["id"]).to_csv(tmp_path / "labels.csv", index=False)
    pool.to_csv(tmp_path / "raw.csv", index=False)
    out = tmp_path / "audit.json"
    result = cli("audit-reference", tmp_path / "labels.csv", "--table", tmp_path / "raw.csv",
                 "--test", repo / "data/demo/test.csv", "--params", repo / "params.yaml", "--out", out)
    assert result.exit_code == 2
    assert "labelgate audit-reference: error:" in result.output and "column 'id'" in result.output
    assert not out.exists()
