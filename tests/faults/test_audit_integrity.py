"""Fault injection: audits that used to pass a wrong label set. A partial audit (one LLM
class labelled), an audit of only correctly labelled rows (with and without weights), a rubber stamp (gold copied
from llm_label) of a set cleanlab flags heavily: each ends in exit 1 with a one-line reason that names the stratum or
the figure. Duplicated rows (2 copies of every row, audit included) keep an interval that covers the truth.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from synthetic import flip_uniform, label_table, make_texts

LABELS = ["negative", "neutral", "positive"]


def noisy_table(n: int, rate: float, *, seed: int, audit_share: float, weights=None) -> tuple[pd.DataFrame, float]:
    """A label table whose LLM is wrong on about `rate` of the rows (uniform noise), confident (0.9) on its label,
    with gold labels on a random `audit_share` of the rows; and its true error rate."""
    texts, truth = make_texts(n, 3, seed=seed, weights=weights)
    given = flip_uniform(truth, rate, 3, seed=seed + 1)
    frame = label_table(texts, given, LABELS, truth=truth, audit_share=audit_share, seed=seed + 2)
    probs = np.full((n, 3), 0.05)
    probs[np.arange(n), given] = 0.9
    for k, label in enumerate(LABELS):
        frame[f"llm_prob_{label}"] = probs[:, k]
    return frame, float((given != truth).mean())


def blocked(cli, workdir, frame: pd.DataFrame) -> dict:
    """`check` the table: exit 1, BLOCKED, no traceback; the verdict, whose reason is one line."""
    frame.to_csv(workdir / "labels.csv", index=False)
    result = cli("check", workdir / "labels.csv", "--out", workdir / "v.json")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "BLOCKED" in result.stdout
    verdict = json.loads((workdir / "v.json").read_text())
    assert verdict["blocked"] is True and "\n" not in verdict["reason"]
    return verdict


@pytest.mark.slow
def test_audit_of_one_llm_class_blocks_naming_the_unmeasured_strata(workdir, cli):
    """A 36%-wrong set whose audit labelled only rows the LLM called negative passed at
    0.00 [0.00, 0.03]; the other two LLM labels are now unmeasured and counted as wrong in the upper bound."""
    frame, truth = noisy_table(900, 0.36, seed=21, audit_share=0.3)
    assert 0.33 < truth < 0.39
    frame.loc[frame["llm_label"] != "negative", "gold_label"] = None
    verdict = blocked(cli, workdir, frame)
    assert verdict["reason"].startswith("audit incomplete: 2 LLM-label stratum/strata unmeasured")
    assert "stratum 'neutral'" in verdict["reason"] and "stratum 'positive'" in verdict["reason"]
    assert "label 2 more rows in stratum 'neutral'" in verdict["reason"]
    estimate = verdict["label_error"]
    assert estimate["unmeasured_share"] > 0.5
    assert estimate["label_error_rate_lower"] <= truth <= estimate["label_error_rate_upper"]
    assert set(estimate["unmeasured_strata"]) == {"neutral", "positive"}


@pytest.mark.slow
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_audit_of_only_correct_rows_blocks_as_not_representative(workdir, cli, weighted):
    """Only rows the LLM labelled correctly were audited (31%-wrong set); with `weighted`, each
    audited row carries a weight that makes the audit's label shares equal the set's (post-stratified), which does
    not make the rows representative."""
    frame, truth = noisy_table(1200, 0.31, seed=31, audit_share=0.25)
    assert 0.28 < truth < 0.34
    frame.loc[frame["gold_label"] != frame["llm_label"], "gold_label"] = None
    audited = frame["gold_label"].notna()
    if weighted:
        rows = frame["llm_label"].value_counts()
        audits = frame.loc[audited, "llm_label"].value_counts()
        frame["audit_weight"] = np.where(audited, frame["llm_label"].map(rows / audits), np.nan)
    verdict = blocked(cli, workdir, frame)
    assert verdict["reason"].startswith("audit not representative: the audited rows differ from the whole set in ")
    outcome = {o["column"]: o for o in verdict["outcomes"]}
    assert outcome["audit_representativeness_p"]["status"] == "fail"
    assert outcome["label_error_rate_upper"]["status"] == "pass"  # what used to pass the set on its own
    assert verdict["label_error"]["audit_representativeness_p"] < 1e-6


@pytest.mark.slow
def test_rubber_stamp_audit_of_a_heavily_flagged_set_blocks(workdir, cli):
    """gold_label copied from llm_label on every audited row of a set cleanlab flags heavily."""
    frame, truth = noisy_table(1200, 0.45, seed=41, audit_share=0.25)
    audited = frame["gold_label"].notna()
    frame.loc[audited, "gold_label"] = frame.loc[audited, "llm_label"]
    verdict = blocked(cli, workdir, frame)
    assert verdict["reason"].startswith("audit implausible: it agrees with every LLM label, although cleanlab flags")
    assert verdict["label_error"]["label_error_rate_upper"] < 0.13  # the estimate alone would have passed it
    assert verdict["label_error"]["audit_rubber_stamp_flag_share"] > 0.3


@pytest.mark.slow
def test_an_honest_audit_of_the_same_clean_set_passes(workdir, cli):
    """The control of the three cases above: a clean set, a random audit, every integrity figure passes."""
    frame, truth = noisy_table(1200, 0.0, seed=41, audit_share=0.2)
    frame["annotator_variant"] = frame["llm_label"]
    frame.to_csv(workdir / "labels.csv", index=False)
    result = cli("check", workdir / "labels.csv", "--out", workdir / "v.json")
    assert result.exit_code == 0, result.output
    outcome = {o["column"]: o for o in json.loads((workdir / "v.json").read_text())["outcomes"]}
    for column in ("audit_representativeness_p", "audit_rubber_stamp_flag_share", "label_error_rate_upper"):
        assert outcome[column]["status"] == "pass", outcome[column]


@pytest.mark.slow
def test_duplicated_rows_keep_an_interval_that_covers_the_truth(workdir, cli):
    """Every row twice (gold labels too) used to give 0.256 [0.244, 0.269] for a true 0.31."""
    frame, truth = noisy_table(1000, 0.31, seed=51, audit_share=0.25)
    twice = pd.concat([frame, frame], ignore_index=True)
    twice["id"] = [f"r{i}" for i in range(len(twice))]
    verdict = blocked(cli, workdir, twice)  # 31% wrong: blocked on the label error rate, as it should be
    estimate = verdict["label_error"]
    assert estimate["duplicate_share"] == pytest.approx(0.5)
    assert estimate["label_error_rate_lower"] <= truth <= estimate["label_error_rate_upper"]
    assert verdict["figures"]["label_error_rate_upper"] == estimate["label_error_rate_upper"]


def _label_risk(**figures) -> dict:
    """label_risk.json as `score` writes it: flat metrics, and the label_error signal's summary."""
    estimate = {"label_error_rate": 0.02, "label_error_rate_lower": 0.0, "label_error_rate_upper": 0.05,
                "n_audited": 300, "n_rows": 3000, "confidence_level": 0.95, "standard_error": 0.01,
                "method": "stratified", "unmeasured_share": 0.0, "unmeasured_strata": {},
                "min_audited_per_stratum": 2, "audit_representativeness_p": 0.4,
                "audit_imbalance": {"text_length": {"audited_mean": 4.0, "all_mean": 4.0}},
                "audit_imbalance_worst": "text_length", "audit_rubber_stamp_flag_share": 0.0,
                "duplicate_share": 0.0, **figures}
    metrics = {name: estimate[name] for name in ("label_error_rate", "label_error_rate_lower",
                                                 "label_error_rate_upper", "audit_representativeness_p",
                                                 "audit_rubber_stamp_flag_share", "unmeasured_share")}
    loss = {"expected_accuracy_loss": 0.004, "expected_accuracy_loss_lower": -0.01, "expected_accuracy_loss_upper": 0.02}
    return {"metrics": {**metrics, **loss, "audit_accuracy_lower": 0.9}, "signals": {"label_error": estimate}}


@pytest.mark.parametrize("figures, start", [
    ({"audit_representativeness_p": 1e-5, "audit_imbalance_worst": "cleanlab_given_label_prob",
      "audit_imbalance": {"cleanlab_given_label_prob": {"audited_mean": 0.81, "all_mean": 0.62}}},
     "audit not representative: the audited rows differ from the whole set in cleanlab_given_label_prob "
     "(audited mean 0.81 vs 0.62 over all rows), p = 1e-05 < 0.001"),
    ({"audit_rubber_stamp_flag_share": 0.35},
     "audit implausible: it agrees with every LLM label, although cleanlab flags at least 35% of the audited rows"),
    ({"label_error_rate_upper": 0.4, "unmeasured_share": 0.3,
      "unmeasured_strata": {"pos": {"rows": 900, "audited": 1, "label_more": 1}}},
     "audit incomplete: 1 LLM-label stratum/strata unmeasured (fewer than 2 audited rows), 30% of the rows counted "
     "as wrong in the upper bound: label 1 more rows in stratum 'pos' (1 of 900 rows audited)"),
], ids=["not-representative", "rubber-stamp", "unmeasured"])
def test_gate_names_what_is_wrong_with_the_audit(workdir, cli, figures, start):
    (workdir / "label_risk.json").write_text(json.dumps(_label_risk(**figures)))
    result = cli("gate", "--label-risk", workdir / "label_risk.json", "--out", workdir / "gate.json")
    assert result.exit_code == 1, result.output
    verdict = json.loads((workdir / "gate.json").read_text())
    assert verdict["blocked"] and verdict["reason"].startswith(start), verdict["reason"]
    assert "\n" not in verdict["reason"]


def test_a_no_error_audit_of_flagged_rows_gets_a_blind_audit_step(workdir, cli):
    (workdir / "label_risk.json").write_text(json.dumps(_label_risk(audit_rubber_stamp_flag_share=0.22)))
    result = cli("gate", "--label-risk", workdir / "label_risk.json", "--out", workdir / "gate.json")
    assert result.exit_code == 0, result.output
    steps = json.loads((workdir / "gate.json").read_text())["label_error"]["next_steps"]
    assert any("audit again blind" in step and "22%" in step for step in steps)
