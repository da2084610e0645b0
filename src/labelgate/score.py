"""Stage 2, score: run the enabled risk signals over a validated label table.

Output: a per-example table (the input columns plus every signal's columns) and a summary with each signal's
figures and a flat `metrics` mapping, which DVC shows as metrics and the gate checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from labelgate.config import check_range
from labelgate.contract import LabelTable
from labelgate.errors import LabelgateError, StageError
from labelgate.signals import SIGNALS, ScoringContext
from labelgate.signals.text_model import TEXT_MODELS

DEFAULT_SIGNALS = ("entropy", "cleanlab", "agreement", "audit", "label_error", "class_balance")


@dataclass(frozen=True)
class ScoreParams:
    """Settings of the risk signals (params.yaml section `score`)."""

    signals: tuple[str, ...] = DEFAULT_SIGNALS  # which signals run, in this order
    entropy_threshold: float = 0.8  # normalised entropy above which a row counts as uncertain
    text_model: str = "tfidf_logreg"  # out-of-fold model for cleanlab: tfidf_logreg | embedding
    text_model_c: float = 0.25  # inverse L2 strength of the logistic regression; strong regularisation keeps
    # the out-of-fold probabilities calibrated enough for confident learning (bench/noise_estimation.md)
    cv_folds: int = 5
    max_features: int = 200_000  # TF-IDF vocabulary cap: bounds memory on million-row tables
    max_train_rows: int = 200_000  # rows sampled to fit the vocabulary and each fold's classifier
    n_jobs: int = 2  # processes for vectorising large tables
    audit_confidence: float = 0.95  # confidence level of the audit intervals (accuracy, label error rate)
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "signals", tuple(self.signals))
        unknown = [s for s in self.signals if s not in SIGNALS]
        if unknown:
            raise ValueError(f"unknown signal(s) {unknown}; known: {sorted(SIGNALS)}")
        if self.text_model not in TEXT_MODELS:
            raise ValueError(f"text_model must be one of {TEXT_MODELS}")
        check_range("entropy_threshold", self.entropy_threshold, 0.0, 1.0)
        check_range("cv_folds", self.cv_folds, 2, 20)
        check_range("text_model_c", self.text_model_c, 1e-4, 1e4)
        check_range("max_features", self.max_features, 10)
        check_range("max_train_rows", self.max_train_rows, 100)
        check_range("n_jobs", self.n_jobs, 1, 64)
        check_range("audit_confidence", self.audit_confidence, 0.5, 0.999)


def score_labels(
    table: LabelTable, params: ScoreParams, *, test_labels: pd.Series | None = None, progress=None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Run each enabled signal; return (per-row table, summary with per-signal results and flat metrics)."""
    context = ScoringContext(table=table, params=params, test_labels=test_labels)
    rows = [table.frame.reset_index(drop=True)]
    signals: dict[str, Any] = {}
    metrics: dict[str, float | None] = {}
    for name in params.signals:
        if progress is not None:
            progress(name)
        try:
            result = SIGNALS[name]().score(context)
        except LabelgateError:
            raise
        except Exception as exc:  # noqa: BLE001 - the stage boundary: a library failure becomes one named line
            lines = str(exc).strip().splitlines()
            raise StageError(f"{table.path}: signal '{name}' failed on this table ({type(exc).__name__}: "
                             f"{lines[0] if lines else ''}); disable it in score.signals or fix the table") from exc
        if not result.rows.empty:
            rows.append(result.rows.reset_index(drop=True))
        signals[name] = result.summary
        metrics.update(result.metrics)
    summary = {
        "n_rows": len(table.frame),
        "labels": list(table.labels),
        "llm_label_counts": table.frame["llm_label"].value_counts().reindex(table.labels, fill_value=0).to_dict(),
        "metrics": metrics,
        "signals": signals,
    }
    return pd.concat(rows, axis=1), summary
