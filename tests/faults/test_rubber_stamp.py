"""Fault injection: a rubber-stamp audit (gold_label copied from llm_label on every audited row) of a
31%-wrong set used to pass: it finds no error, so label_error_rate_upper is 0.01-0.03, and cleanlab flags only about
0.28 of the audited rows, under the lower bound gate.max_audit_rubber_stamp_flag_share needs. audit_contradiction
sets the audit's upper bound against how often the LLM label contradicts the text model on the rows the model is
most confident about: `check` exits 1 with one line that says so. Honest audits of the same texts, clean or noisy,
are not blocked by it. A rubber stamp of errors the text model learns (text-following noise) is not detectable this
way (docs/audit_integrity.md gives the measured limit).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from synthetic import flip_systematic, flip_uniform, make_texts

LABELS = ["negative", "neutral", "positive", "mixed"]
ROWS = 2000


def table(noise: str, audit: int, *, stamp: bool, seed: int = 7) -> tuple[pd.DataFrame, float]:
    """2,000 rows of 4 classes; the LLM is wrong on about 31% of them (`noise`: uniform, or class-conditional:
    each class partly relabelled as the next one; "clean": never), confident (0.9) on its label; `audit` random rows
    carry a gold label: the truth, or (`stamp`) the LLM label copied. Returns the table and its true error rate."""
    texts, truth = make_texts(ROWS, len(LABELS), seed=seed)
    if noise == "uniform":
        given = flip_uniform(truth, 0.33, len(LABELS), seed=seed + 1)
    elif noise == "class_conditional":
        given = flip_systematic(truth, {(k, (k + 1) % 4): 0.31 for k in range(4)}, seed=seed + 1)
    else:
        given = truth.copy()
    names = np.asarray(LABELS, dtype=object)
    rng = np.random.default_rng(seed + 2)
    audited = np.zeros(ROWS, bool)
    audited[rng.choice(ROWS, size=audit, replace=False)] = True
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(ROWS)], "text": texts, "llm_label": names[given]})
    frame["gold_label"] = np.where(audited, names[given] if stamp else names[truth], None)
    probs = np.full((ROWS, len(LABELS)), 0.1 / 3)
    probs[np.arange(ROWS), given] = 0.9
    for k, label in enumerate(LABELS):
        frame[f"llm_prob_{label}"] = probs[:, k]
    return frame, float((given != truth).mean())


def check(cli, workdir, frame: pd.DataFrame):
    frame.to_csv(workdir / "labels.csv", index=False)
    result = cli("check", workdir / "labels.csv", "--out", workdir / "v.json")
    assert "Traceback" not in result.output
    verdict = json.loads((workdir / "v.json").read_text())
    assert "\n" not in verdict["reason"]
    return result, verdict, {o["column"]: o for o in verdict["outcomes"]}


@pytest.mark.slow
@pytest.mark.parametrize("noise", ["uniform", "class_conditional"])
@pytest.mark.parametrize("audit", [150, 300])
def test_rubber_stamp_of_a_31_percent_wrong_set_blocks(workdir, cli, noise, audit):
    frame, truth = table(noise, audit, stamp=True)
    assert 0.29 < truth < 0.34
    result, verdict, outcome = check(cli, workdir, frame)
    assert result.exit_code == 1, result.output
    assert verdict["blocked"] and verdict["reason"].startswith("audit contradicted: it bounds the label error rate at ")
    assert "rows the model is most confident about" in verdict["reason"]
    assert outcome["audit_contradiction"]["status"] == "fail"
    # what used to pass it: the estimate certifies the set, and the flagged share stays under its threshold
    assert outcome["label_error_rate_upper"]["status"] == "pass"
    assert outcome["audit_rubber_stamp_flag_share"]["status"] == "pass"
    estimate = verdict["label_error"]
    assert estimate["label_error_rate_upper"] < 0.05 and estimate["confident_disagreement"] > 0.2
    assert estimate["audit_contradiction"] > 0.1


@pytest.mark.slow
def test_an_honest_small_audit_of_a_clean_set_passes(workdir, cli):
    """The control: the same texts labelled right, 150 random rows audited honestly (they agree with the LLM, as a
    rubber stamp would): nothing contradicts the audit, and the set passes."""
    frame, truth = table("clean", 150, stamp=False)
    assert truth == 0.0
    result, verdict, outcome = check(cli, workdir, frame)
    assert result.exit_code == 0, result.output
    assert outcome["audit_contradiction"]["status"] == "pass"
    assert verdict["label_error"]["audit_contradiction"] == 0.0


@pytest.mark.slow
@pytest.mark.parametrize("noise", ["uniform", "class_conditional"])
def test_an_honest_audit_of_the_wrong_set_blocks_on_the_error_rate_not_on_the_audit(workdir, cli, noise):
    """The 31%-wrong set audited honestly: the audit finds the errors, so it is not contradicted; the set blocks
    because its error rate is too high."""
    frame, truth = table(noise, 150, stamp=False)
    result, verdict, outcome = check(cli, workdir, frame)
    assert result.exit_code == 1, result.output
    assert outcome["audit_contradiction"]["status"] == "pass"
    assert outcome["label_error_rate_upper"]["status"] == "fail"
    assert verdict["label_error"]["label_error_rate_lower"] <= truth <= verdict["label_error"]["label_error_rate_upper"]
    assert not verdict["reason"].startswith("audit contradicted")
