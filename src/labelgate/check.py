"""`labelgate check` (and the demo's `gold_check` stage): validate, score and run the label-level suites in one go.

It works in any folder: params, suites and the label set come from packaged.py's rules (the folder's own files,
else labelgate's packaged defaults). `--label-column` checks another column of the table as the labels, e.g. the
gold or relabelled version of a pool.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pandas as pd

from labelgate.contract import read_table
from labelgate.errors import BadInputError, LabelgateError
from labelgate.gate import Verdict
from labelgate.packaged import Sources
from labelgate.vocabulary import LLM_LABEL, TEXT

if TYPE_CHECKING:
    from labelgate.signals.context import WordsAhead


def check_table(path: str | os.PathLike, label_column: str | None = None) -> pd.DataFrame:
    """The label table, with `label_column` standing in for llm_label."""
    frame = read_table(path)
    if label_column is None:
        return frame
    if label_column not in frame.columns:
        raise BadInputError(path, "column given by --label-column is missing", column=label_column)
    return frame.drop(columns=[LLM_LABEL], errors="ignore").rename(columns={label_column: LLM_LABEL})


def check_labels(frame: pd.DataFrame, sources: Sources, option: str | None) -> tuple[tuple[str, ...], str]:
    """The label set for the check and where it came from (packaged.choose_labels)."""
    from labelgate.config import base_labels
    from labelgate.contract import resolve_labels
    from labelgate.packaged import choose_labels

    given = resolve_labels(option=option) if option else ()
    return choose_labels(frame, option=given, configured=base_labels(sources.params), params_from=sources.params_from)


def main(labels_path: str | os.PathLike, *, params: str | os.PathLike | None = None,
         expectations: str | os.PathLike | None = None, labels: str | None = None,
         test: str | os.PathLike | None = None, label_column: str | None = None,
         out: str | os.PathLike | None = None, say: Callable[[str], None] = print) -> tuple[Verdict, dict[str, Any]]:
    """Run the check on the table at `labels_path`; `say` gets where params, suites and labels came from. Writes
    the verdict JSON to `out` when given. Returns (verdict, score summary)."""
    from labelgate.config import section
    from labelgate.gate import LABEL_SUITES, GateParams, preflight, run_gate
    from labelgate.outputs import write_json
    from labelgate.packaged import resolve_sources
    from labelgate.score import score_table
    from labelgate.signals.context import frozen_heap
    from labelgate.train.params import TrainParams

    sources = resolve_sources(params, expectations)
    for line in sources.describe():
        say(line)
    gate_params = section(sources.params, "gate", GateParams)
    train_params = section(sources.params, "train", TrainParams)  # the model the loss is predicted for
    try:
        table = check_table(labels_path, label_column)
    except LabelgateError:
        preflight(gate_params, LABEL_SUITES, sources.expectations)  # a broken suite is reported first, as always
        raise
    with words_ahead(table, sources.params) as ahead:  # the TF-IDF on the other core while the table is validated
        suites = preflight(gate_params, LABEL_SUITES, sources.expectations)  # broken suite or gate.required: exit 2
        with frozen_heap():  # the libraries imported by now (GX, pandas, scipy): not walked by the collections below
            label_set, why = check_labels(table, sources, labels)
            say(f"labels: {', '.join(label_set) or '(from the table)'} ({why})")
            rows, result = score_table(labels_path, params=sources.params, labels=",".join(label_set) or None,
                                       test=test, expectations_dir=sources.expectations, frame=table,
                                       words_ahead=ahead)
            verdict = run_gate(scores=rows, label_risk=result, evaluation=None, params=gate_params,
                               expectations_dir=sources.expectations, suites=suites, train=train_params)
    if out is not None:
        write_json(out, {**verdict.as_dict(), "table": str(labels_path), "labels": list(result["labels"])})
    return verdict, result


@contextmanager
def words_ahead(frame: pd.DataFrame, params: dict[str, Any]) -> Iterator[WordsAhead | None]:
    """The table's TF-IDF words computed in a forked child from now on (signals.context.WordsAhead), killed on exit
    if still running (a bad table: nothing of it is kept). None where the score params do not parse (the score
    names the error at its usual place), the text column is missing or WordsAhead.start declines."""
    from labelgate.config import section
    from labelgate.signals.context import WordsAhead
    from labelgate.signals.runner import ScoreParams

    try:
        score = section(params, "score", ScoreParams)
    except LabelgateError:
        score = None
    ahead = None
    if score is not None and TEXT in frame.columns:
        ahead = WordsAhead.start(frame[TEXT], score.text, score.seed, score.signals)
    try:
        yield ahead
    finally:
        if ahead is not None:
            ahead.cancel()
