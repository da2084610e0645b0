"""The risk-signal interface and registry.

A signal is a small class with a `name`, a `score(context)` method returning per-row columns (scores in [0, 1]
and boolean flags, one row per example in table order) and a summary of plain numbers. The score stage runs
the signals that params.yaml enables, in registry order; signals that need something a table lacks (annotator
columns, gold audit labels, a test set) say so in their summary instead of inventing a value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from labelgate.contract import LabelTable

SIGNALS: dict[str, type[RiskSignal]] = {}


def register(cls: type[RiskSignal]) -> type[RiskSignal]:
    """Class decorator: make a signal available by its `name` in params.yaml (score.signals)."""
    SIGNALS[cls.name] = cls
    return cls


@dataclass
class SignalResult:
    name: str
    rows: pd.DataFrame  # per-row columns, prefixed with the signal name; empty frame when not applicable
    summary: dict[str, Any]  # plain JSON-able values; "available": False when the signal could not run
    metrics: dict[str, float | None] = field(default_factory=dict)  # flat figures the gate checks


@dataclass
class ScoringContext:
    """What signals may read: the validated table, the gold test labels and shared, lazily computed inputs."""

    table: LabelTable
    params: Any  # labelgate.score.ScoreParams (kept untyped here to avoid an import cycle)
    test_labels: pd.Series | None = None

    @cached_property
    def given_labels(self) -> np.ndarray:
        return self.table.label_codes()

    @cached_property
    def pred_probs(self) -> np.ndarray:
        """Out-of-fold predicted probabilities of a cheap text model: what cleanlab needs, computed once."""
        from labelgate.signals.text_model import out_of_fold_probabilities

        return out_of_fold_probabilities(
            self.table.frame["text"].tolist(), self.given_labels, n_classes=len(self.table.labels),
            model=self.params.text_model, folds=self.params.cv_folds, seed=self.params.seed,
            max_features=self.params.max_features, regularisation=self.params.text_model_c,
            max_train_rows=self.params.max_train_rows, n_jobs=self.params.n_jobs,
        )

    @cached_property
    def label_issues(self) -> np.ndarray:
        """cleanlab's label-issue flags over `pred_probs` (prune by noise rate), computed once."""
        from cleanlab.filter import find_label_issues

        return find_label_issues(self.given_labels, self.pred_probs, filter_by="prune_by_noise_rate", n_jobs=1)


class RiskSignal:
    name: ClassVar[str]
    description: ClassVar[str]
    #: Per-row columns and summary figures the signal can produce: the names the gate's suites may check.
    columns: ClassVar[tuple[str, ...]] = ()
    metrics: ClassVar[tuple[str, ...]] = ()

    def score(self, context: ScoringContext) -> SignalResult:  # pragma: no cover - interface
        raise NotImplementedError

    def unavailable(self, reason: str, metric_names: tuple[str, ...] | None = None) -> SignalResult:
        """The signal could not run on this table: its figures are None (not measured), never invented."""
        names = self.metrics if metric_names is None else metric_names
        return SignalResult(self.name, pd.DataFrame(), {"available": False, "reason": reason},
                            {name: None for name in names})


def signal_columns() -> set[str]:
    """Every per-row column a registered signal can write (what the label_risk suite may check)."""
    return {column for cls in SIGNALS.values() for column in cls.columns}


def signal_metrics() -> set[str]:
    """Every summary figure a registered signal can report (what the label_summary suite may check)."""
    return {metric for cls in SIGNALS.values() for metric in cls.metrics}


def entropy(probabilities: np.ndarray, *, chunk_rows: int = 100_000) -> np.ndarray:
    """Shannon entropy (nats) per row; 0 log 0 counts as 0. Above `chunk_rows` rows, computed a chunk at a time
    (the same values: each row's terms are summed alone), so the temporaries stay small on large tables."""
    if len(probabilities) > chunk_rows:
        return np.concatenate([entropy(probabilities[start:start + chunk_rows], chunk_rows=chunk_rows)
                               for start in range(0, len(probabilities), chunk_rows)])
    p = np.clip(probabilities, 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    return terms.sum(axis=1)


def vote_distribution(codes: np.ndarray, n_classes: int) -> np.ndarray:
    """Rows of label codes (annotators in columns, -1 missing) -> per-row share of votes per class."""
    counts = np.zeros((codes.shape[0], n_classes))
    for k in range(n_classes):
        counts[:, k] = (codes == k).sum(axis=1)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=counts, where=totals > 0)  # in place: a row without votes stays all 0
