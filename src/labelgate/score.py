"""Stage `score`: run the enabled risk signals over a validated label table.

Output: a per-example table (the input columns plus every signal's columns) and a summary with each signal's
figures and a flat `metrics` mapping, which DVC shows as metrics and the gate checks. The stage's params and the
loop over the signals live in labelgate.signals.runner, shared with the chunked path (labelgate.score_stream).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pandas as pd

from labelgate.contract import LabelTable
from labelgate.expectations import DEFAULT_EXPECTATIONS_DIR
from labelgate.signals import ScoringContext
from labelgate.signals.context import WordsAhead
from labelgate.signals.runner import ScoreParams, run_signals
from labelgate.vocabulary import LABEL


PROGRESS_MIN_ROWS = 50_000  # smaller tables score in seconds: no progress lines
# Share of the in-memory score's wall time each signal takes on a large table (bench/score_throughput.json: 1M rows,
# the nearly idle 2-core box), for the progress's time left; the text model's time falls in the first signal that
# reads it (cleanlab)
PHASE_COSTS = {"entropy": 0.03, "cleanlab": 0.76, "agreement": 0.04, "audit": 0.01, "label_error": 0.14,
               "accuracy_loss": 0.01, "class_balance": 0.01}


def score_labels(
    table: LabelTable, params: ScoreParams, *, test_labels: pd.Series | None = None, progress=None,
    words_ahead: WordsAhead | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Run each enabled signal; return (per-row table, summary with per-signal results and flat metrics).
    The signals see the label set in canonical (sorted) order: the figures do not depend on the order given.
    `words_ahead`: the table's TF-IDF words, started before the table was validated (`check`)."""
    import dataclasses

    from labelgate.contract import canonical_labels

    table = dataclasses.replace(table, labels=canonical_labels(table.labels))
    context = ScoringContext(table, text=params.text, seed=params.seed, test_labels=test_labels,
                             words_ahead=words_ahead, **params.audit_settings())
    rows, summary = run_signals(context, params, progress=progress)
    return pd.concat([table.frame.reset_index(drop=True), *rows], axis=1), summary


def score_table(labels_path: str | os.PathLike, *, params: dict[str, Any], labels: str | None = None,
                test: str | os.PathLike | None = None,
                expectations_dir: str | os.PathLike = DEFAULT_EXPECTATIONS_DIR,
                frame: pd.DataFrame | None = None,
                words_ahead: WordsAhead | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Validate the label table (`frame`: already read; `words_ahead`: its TF-IDF words, started on it), check the
    gold test set and run the signals in memory.
    On tables of PROGRESS_MIN_ROWS rows or more, the signals' progress goes to stderr (a bar on a terminal, else a
    log line per signal) with the share done, rows per second and the time left (PHASE_COSTS). Returns (per-row
    scores, summary)."""
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from labelgate.config import section
    from labelgate.progress import OFF, PhaseProgress, progress
    from labelgate.signals.context import frozen_heap
    from labelgate.validate import main as validate
    from labelgate.validate import validate_test_table

    table = validate(labels_path, params=params, labels=labels, expectations_dir=expectations_dir, frame=frame)
    test_labels = None
    if test is not None:
        test_labels = validate_test_table(test, labels=table.labels, expectations_dir=expectations_dir)[LABEL]
    rows = len(table.frame)
    with frozen_heap(), progress(None if rows >= PROGRESS_MIN_ROWS else OFF, TextColumn("{task.description}"),
                                 BarColumn(), TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                                 TimeRemainingColumn(), transient=True, unit="rows") as bar:
        phases = PhaseProgress(bar, f"score {labels_path}", rows, PHASE_COSTS) if bar is not None else None
        result = score_labels(table, section(params, "score", ScoreParams), test_labels=test_labels,
                              progress=None if phases is None else phases.phase, words_ahead=words_ahead)
        if phases is not None:
            phases.finish()
    return result


def main(labels_path: str | os.PathLike, out: str | os.PathLike, summary: str | os.PathLike, *,
         params: dict[str, Any], labels: str | None = None, test: str | os.PathLike | None = None,
         expectations_dir: str | os.PathLike = DEFAULT_EXPECTATIONS_DIR,
         headline: str | os.PathLike | None = None, say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The score stage: scores to `out`, the summary to `summary` and its headline figures to `headline`, all or
    nothing. Parquet tables above score.stream_rows rows are validated and scored in chunks (score_stream, which
    writes scores and summary itself); `say` gets its progress lines. Returns the summary."""
    from labelgate.config import base_labels, section
    from labelgate.contract import canonical_labels, resolve_labels
    from labelgate.headline import headline_output, label_risk_headline
    from labelgate.outputs import write_outputs
    from labelgate.score_stream import infer_labels, score_parquet_streaming, should_stream
    from labelgate.validate import ValidateParams, validate_test_table

    score_params = section(params, "score", ScoreParams)
    if should_stream(labels_path, score_params):
        label_set = canonical_labels(resolve_labels(base_labels(params), option=labels)
                                     or infer_labels(labels_path, score_params.chunk_rows))
        test_labels = None
        if test is not None:
            test_labels = validate_test_table(test, labels=label_set, expectations_dir=expectations_dir)[LABEL]
        from labelgate.outputs import atomic_paths, write_json_to

        # the headline's temporary file first: an unwritable --headline fails before scores and summary are written
        with atomic_paths(*([headline] if headline is not None else [])) as headline_tmp:
            result = score_parquet_streaming(labels_path, out, summary, labels=label_set, params=score_params,
                                             validate_params=section(params, "validate", ValidateParams),
                                             expectations_dir=expectations_dir, test_labels=test_labels,
                                             progress=say)
            for tmp in headline_tmp:
                write_json_to(tmp, label_risk_headline(result))
        return result
    rows, result = score_table(labels_path, params=params, labels=labels, test=test,
                               expectations_dir=expectations_dir)
    write_outputs((out, rows), (summary, result), *headline_output(headline, label_risk_headline(result)))
    return result
