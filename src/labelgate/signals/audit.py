"""Accuracy of the LLM labels on the audited rows (those with a gold_label), with a Wilson score interval,
and the per-class confusion. The lower bound of the interval is what the gate checks: a small audit must not
pass a label set on luck.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from labelgate.config import check_range
from labelgate.contract import GOLD
from labelgate.estimation import DEFAULT_CONFIDENCE, MIN_AUDITED_PER_STRATUM
from labelgate.signals.base import RiskSignal, SignalParams, SignalResult, register
from labelgate.signals.context import ScoringContext



@dataclass(frozen=True)
class AuditParams(SignalParams):
    """Settings of the signals estimated from the gold audit (audit, label_error)."""

    audit_confidence: float = DEFAULT_CONFIDENCE  # score.audit_confidence
    # audited rows an LLM label needs to be measured; one with fewer is unmeasured and its share of the rows is
    # bounded as all wrong (estimation.MIN_AUDITED_PER_STRATUM says why 2; `audit sample` draws audit.min_per_class)
    min_audited_per_stratum: int = MIN_AUDITED_PER_STRATUM  # score.min_audited_per_stratum

    def __post_init__(self):
        check_range("audit_confidence", self.audit_confidence, 0.5, 0.999)
        check_range("min_audited_per_stratum", self.min_audited_per_stratum, 2, 1000)


@register
class AuditSignal(RiskSignal):
    name = "audit"
    description = "LLM accuracy on gold-audited rows, Wilson interval, per-class confusion"
    Params = AuditParams
    params: AuditParams
    columns = ("audit_correct",)
    metrics = ("audit_accuracy", "audit_accuracy_lower")

    def score(self, context: ScoringContext) -> SignalResult:
        from scipy.stats import binomtest
        from sklearn.metrics import confusion_matrix

        table = context.table
        if not table.has_gold:
            return self.unavailable("no gold_label values to audit against",
                                    ("audit_accuracy", "audit_accuracy_lower"))
        gold = table.label_codes(GOLD)
        given = context.given_labels
        audited = gold >= 0
        correct = np.where(audited, (gold == given).astype(float), np.nan)
        n, hits = int(audited.sum()), int((gold == given)[audited].sum())
        interval = binomtest(hits, n).proportion_ci(confidence_level=self.params.audit_confidence,
                                                    method="wilson")
        k = len(table.labels)
        matrix = confusion_matrix(gold[audited], given[audited], labels=list(range(k)))
        recall = {label: float(matrix[i, i] / matrix[i].sum()) if matrix[i].sum() else None
                  for i, label in enumerate(table.labels)}
        summary = {
            "available": True,
            "n_audited": n,
            "audit_accuracy": hits / n,
            "audit_accuracy_lower": float(interval.low),
            "audit_accuracy_upper": float(interval.high),
            "confidence_level": self.params.audit_confidence,
            "confusion": matrix.tolist(),
            "confusion_axes": "rows: gold label, columns: LLM label",
            "per_class_recall": recall,
        }
        metrics = {"audit_accuracy": summary["audit_accuracy"],
                   "audit_accuracy_lower": summary["audit_accuracy_lower"]}
        return SignalResult(self.name, pd.DataFrame({"audit_correct": correct}), summary, metrics)
