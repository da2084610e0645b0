"""Audit weights reach every figure that reads the audit. One
over-sampled audit, scored with its weights and again with them removed: every audit figure must move, and where
a figure has a reference function it must be that function with the weights. The weights are asymmetric (1 or 6,
independent of the labels), so a figure that drops them gives another value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labelgate.contract import LabelTable
from labelgate.estimation import rubber_stamp_flag_share
from labelgate.score import ScoreParams, score_labels
from labelgate.signals import ScoringContext
from synthetic import flip_uniform, label_table, make_texts

LABELS = ["a", "b", "c"]


def scored(frame: pd.DataFrame) -> dict:
    table = LabelTable(frame=frame, labels=tuple(LABELS), path="memory")
    _, summary = score_labels(table, ScoreParams(signals=("cleanlab", "label_error", "accuracy_loss")))
    return summary["signals"]


def weighted_table(*, stamp: bool = False) -> pd.DataFrame:
    texts, truth = make_texts(900, 3, seed=81, weights=[0.55, 0.3, 0.15])
    given = flip_uniform(truth, 0.25, 3, seed=82)
    frame = label_table(texts, given, LABELS, truth=truth, audit_share=0.35, seed=83)
    if stamp:  # a rubber stamp: every audited row's gold label is the LLM label
        frame["gold_label"] = frame["llm_label"].where(frame["gold_label"].notna())
    audited = frame["gold_label"].notna().to_numpy()
    rng = np.random.default_rng(84)
    frame["audit_weight"] = np.where(audited, rng.choice([1.0, 6.0], size=len(frame)), np.nan)
    return frame


@pytest.fixture(scope="module")
def both() -> tuple[dict, dict]:
    frame = weighted_table()
    return scored(frame), scored(frame.drop(columns=["audit_weight"]))


def _moves(weighted, plain, *, by: float = 1e-4) -> None:
    assert weighted is not None and plain is not None
    assert abs(weighted - plain) > by, (weighted, plain)


@pytest.mark.parametrize("figure", ["label_error_rate", "label_error_rate_upper", "systematic_error_share",
                                    "audit_representativeness_p"])
def test_label_error_figures_read_the_weights(both, figure):
    weighted, plain = both
    _moves(weighted["label_error"][figure], plain["label_error"][figure])


def test_per_class_error_and_recall_read_the_weights(both):
    weighted, plain = (s["label_error"] for s in both)
    for label in LABELS:
        _moves(weighted["per_class_error"][label]["error"], plain["per_class_error"][label]["error"])
    moved = [label for label in LABELS if abs(weighted["per_class_recall_reweighted"][label]
                                              - plain["per_class_recall_reweighted"][label]) > 1e-3]
    assert moved, "the reweighted confusion ignores the audit weights"


@pytest.mark.parametrize("figure", ["errors_learned_share", "errors_learned_chance"])
def test_accuracy_loss_reads_the_weights(both, figure):
    weighted, plain = (s["accuracy_loss"] for s in both)
    _moves(weighted[figure], plain[figure])


def test_the_rubber_stamp_share_reads_the_weights():
    frame = weighted_table(stamp=True)
    weighted = scored(frame)["label_error"]["audit_rubber_stamp_flag_share"]
    plain = scored(frame.drop(columns=["audit_weight"]))["label_error"]["audit_rubber_stamp_flag_share"]
    table = LabelTable(frame=frame, labels=tuple(LABELS), path="memory")
    context = ScoringContext(table)
    expected = rubber_stamp_flag_share(context.audit_wrong, context.label_issues, weights=context.audit_weights)
    assert weighted == pytest.approx(expected)
    _moves(weighted, plain)
