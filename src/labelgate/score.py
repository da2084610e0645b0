"""Stage 2, score: run the enabled risk signals over a validated label table.

Output: a per-example table (the input columns plus every signal's columns) and a summary with each signal's
figures and a flat `metrics` mapping, which DVC shows as metrics and the gate checks.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from labelgate.config import check_range
from labelgate.contract import LabelTable
from labelgate.errors import LabelgateError, StageError
from labelgate.expectations import DEFAULT_EXPECTATIONS_DIR
from labelgate.signals import SIGNALS, ScoringContext
from labelgate.signals.text_model import TEXT_MODELS
from labelgate.vocabulary import LABEL

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
    stream_rows: int = 2_000_000  # Parquet tables with more rows are validated and scored in chunks (score_stream)
    chunk_rows: int = 250_000  # rows per chunk when streaming

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
        check_range("stream_rows", self.stream_rows, 1000)
        check_range("chunk_rows", self.chunk_rows, 1000)


def score_labels(
    table: LabelTable, params: ScoreParams, *, test_labels: pd.Series | None = None, progress=None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Run each enabled signal; return (per-row table, summary with per-signal results and flat metrics)."""
    context = ScoringContext(table=table, params=params, test_labels=test_labels)
    rows, summary = run_signals(context, progress=progress)
    return pd.concat([table.frame.reset_index(drop=True), *rows], axis=1), summary


def run_signals(context: ScoringContext, *, progress=None) -> tuple[list[pd.DataFrame], dict[str, Any]]:
    """Each enabled signal over `context`: (the signals' per-row frames, the summary). Shared by score_labels and
    the chunked path (score_stream)."""
    table, params = context.table, context.params
    rows: list[pd.DataFrame] = []
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
    counts = table.frame["llm_label"].value_counts().reindex(table.labels, fill_value=0)
    summary = {
        "n_rows": len(table.frame),
        "labels": list(table.labels),
        "llm_label_counts": {str(k): int(v) for k, v in counts.items()},
        "metrics": metrics,
        "signals": signals,
    }
    return rows, summary


def score_table(labels_path: str | os.PathLike, *, params: dict[str, Any], labels: str | None = None,
                test: str | os.PathLike | None = None,
                expectations_dir: str | os.PathLike = DEFAULT_EXPECTATIONS_DIR,
                frame: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Validate the label table (`frame`: already read), check the gold test set and run the signals in memory,
    with a spinner naming the running signal on a terminal. Returns (per-row scores, summary)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from labelgate.config import section
    from labelgate.validate import main as validate
    from labelgate.validate import validate_test_table

    table = validate(labels_path, params=params, labels=labels, expectations_dir=expectations_dir, frame=frame)
    test_labels = None
    if test is not None:
        test_labels = validate_test_table(test, labels=table.labels, expectations_dir=expectations_dir)[LABEL]
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  transient=True, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task("scoring", total=None)
        return score_labels(table, section(params, "score", ScoreParams), test_labels=test_labels,
                            progress=lambda name: bar.update(task, description=f"signal: {name}"))


def main(labels_path: str | os.PathLike, out: str | os.PathLike, summary: str | os.PathLike, *,
         params: dict[str, Any], labels: str | None = None, test: str | os.PathLike | None = None,
         expectations_dir: str | os.PathLike = DEFAULT_EXPECTATIONS_DIR,
         headline: str | os.PathLike | None = None, say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The score stage: scores to `out`, the summary to `summary` and its headline figures to `headline`, all or
    nothing. Parquet tables above score.stream_rows rows are validated and scored in chunks (score_stream, which
    writes scores and summary itself); `say` gets its progress lines. Returns the summary."""
    from labelgate.config import base_labels, section
    from labelgate.contract import resolve_labels
    from labelgate.headline import headline_output, label_risk_headline
    from labelgate.outputs import write_outputs
    from labelgate.score_stream import infer_labels, score_parquet_streaming, should_stream
    from labelgate.validate import ValidateParams, validate_test_table

    score_params = section(params, "score", ScoreParams)
    if should_stream(labels_path, score_params):
        label_set = resolve_labels(base_labels(params), option=labels) or infer_labels(labels_path,
                                                                                     score_params.chunk_rows)
        test_labels = None
        if test is not None:
            test_labels = validate_test_table(test, labels=label_set, expectations_dir=expectations_dir)[LABEL]
        result = score_parquet_streaming(labels_path, out, summary, labels=label_set, params=score_params,
                                         validate_params=section(params, "validate", ValidateParams),
                                         expectations_dir=expectations_dir, test_labels=test_labels, progress=say)
        write_outputs(*headline_output(headline, label_risk_headline(result)))
        return result
    rows, result = score_table(labels_path, params=params, labels=labels, test=test,
                               expectations_dir=expectations_dir)
    write_outputs((out, rows), (summary, result), *headline_output(headline, label_risk_headline(result)))
    return result
