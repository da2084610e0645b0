"""Entropy of the LLM's label distribution: high entropy means the LLM was unsure, and unsure labels are the
ones the paper's entropy filter drops. Uses llm_prob_* when present; with several annotations per row it also
reports the entropy of the vote distribution (llm_label + annotator_*), and uses it when no probabilities exist.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from labelgate.config import check_range
from labelgate.contract import LLM_LABEL
from labelgate.signals.base import RiskSignal, SignalParams, SignalResult, register
from labelgate.signals.context import ScoringContext
from labelgate.signals.distributions import entropy, vote_distribution

#: Normalised entropy (entropy / log of the number of classes, in [0, 1]) above which a row counts as uncertain;
#: params.yaml `score.entropy_threshold` overrides it.
DEFAULT_THRESHOLD = 0.8


@dataclass(frozen=True)
class EntropyParams(SignalParams):
    entropy_threshold: float = DEFAULT_THRESHOLD  # score.entropy_threshold

    def __post_init__(self):
        check_range("entropy_threshold", self.entropy_threshold, 0.0, 1.0)


@register
class EntropySignal(RiskSignal):
    name = "entropy"
    description = "Entropy of the LLM label distribution (probabilities, or votes of several annotations)"
    Params = EntropyParams
    params: EntropyParams
    columns = ("entropy", "entropy_normalised", "entropy_margin", "entropy_high", "entropy_votes_normalised")
    metrics = ("median_normalised_entropy", "high_entropy_rate")

    def score(self, context: ScoringContext) -> SignalResult:
        table = context.table
        n_classes = len(table.labels)
        columns: dict[str, np.ndarray] = {}
        votes = None
        if table.annotator_columns:
            codes = np.column_stack([table.label_codes(c) for c in [LLM_LABEL, *table.annotator_columns]])
            votes = vote_distribution(codes, n_classes)
            columns["entropy_votes_normalised"] = entropy(votes) / np.log(n_classes)
        if table.has_probs:
            distribution, source = table.probabilities(), "llm_prob"
        elif votes is not None:
            distribution, source = votes, "votes"
        else:
            return self.unavailable("no llm_prob_* columns and no annotator_* columns",
                                    ("median_normalised_entropy", "high_entropy_rate"))
        value = entropy(distribution)
        normalised = value / np.log(n_classes)
        ordered = np.sort(distribution, axis=1)
        high = normalised > self.params.entropy_threshold
        columns = {
            "entropy": value,
            "entropy_normalised": normalised,
            "entropy_margin": ordered[:, -1] - ordered[:, -2],
            "entropy_high": high,
            **columns,
        }
        given = context.given_labels
        per_class = {label: float(np.mean(normalised[given == k])) if np.any(given == k) else None
                     for k, label in enumerate(table.labels)}
        summary = {
            "available": True,
            "source": source,
            "threshold": self.params.entropy_threshold,
            "mean_normalised_entropy": float(np.mean(normalised)),
            "median_normalised_entropy": float(np.median(normalised)),
            "p90_normalised_entropy": float(np.quantile(normalised, 0.9)),
            "high_entropy_rate": float(np.mean(high)),
            "mean_margin": float(np.mean(columns["entropy_margin"])),
            "per_class_mean_normalised_entropy": per_class,
        }
        metrics = {
            "median_normalised_entropy": summary["median_normalised_entropy"],
            "high_entropy_rate": summary["high_entropy_rate"],
        }
        return SignalResult(self.name, pd.DataFrame(columns), summary, metrics)
