"""The annotated sheet `audit merge` reads back: the columns `audit sample` wrote, from CSV, JSONL or JSON (a JSON array
of flat objects, or Label Studio's JSON export with `data` and `annotations`); `--gold-column` names the column that
holds the human's label (Label Studio's CSV export names it after the Choices control, e.g. `sentiment`). Label
Studio tasks: cancelled (skipped) annotations do not vote; a task is labelled only when more than half of its voting
annotations agree, else it stays blank and counts as unresolved (two disagreeing annotators: unresolved); predictions
(pre-annotations) are never read as gold. Every drawn row must come back (blank if unlabelled): a sheet whose weights
do not add up to the rows its wave was drawn from is refused.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from labelgate.contract import read_table
from labelgate.errors import BadInputError
from labelgate.outputs import load_json


# ----------------------------------------------------------------------------------------------- reading sheets


# ---------------------------------------------------------------------------------------------------- the design


# ----------------------------------------------------------------------------------------------------- merging


CANCELLED = "_cancelled"  # Label Studio task whose every annotation was cancelled (skipped)


UNRESOLVED = "_unresolved"  # Label Studio task whose voting annotations have no majority


def read_annotations(path: str | os.PathLike, gold_column: str) -> pd.DataFrame:
    """The human's labels: a table with `id`, the gold column and the design columns (audit_wave, audit_weight).
    Reads CSV, Parquet, JSONL and JSON (a flat array, or Label Studio's JSON export: see `_flat_record`); Label
    Studio tasks add the boolean columns `_cancelled` and `_unresolved`."""
    path = Path(path)
    if path.suffix.lower() != ".json":
        return read_table(path)
    records = load_json(path)
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise BadInputError(path, "expected a JSON array of objects (a sheet, or Label Studio's JSON export)")
    if not records:
        raise BadInputError(path, "holds no rows")
    flat = [_flat_record(path, row, record, gold_column) for row, record in enumerate(records, start=1)]
    frame = pd.DataFrame(flat)
    for flag in (CANCELLED, UNRESOLVED):
        if flag in frame.columns:
            frame[flag] = frame[flag].fillna(False).astype(bool)
    return frame.replace({"": np.nan})


def _flat_record(path: Path, row: int, record: dict, gold_column: str) -> dict:
    """A flat object passes through; a Label Studio task ({"data": {...}, "annotations": [{"result": [{"from_name":
    ..., "value": {"choices": [...]}}], "was_cancelled": false}, ...]}) becomes its data plus the gold column.
    Cancelled annotations do not vote; the gold label is the choice of more than half of the voting annotations,
    else the task is unresolved (blank). A shape other than these is a bad input naming the task."""
    if "data" not in record and "annotations" not in record:
        flat = record
    else:
        data = record.get("data")
        if not isinstance(data, dict):
            raise BadInputError(path, "Label Studio task without a `data` object", rows=[row], column="data")
        annotations = record.get("annotations") or []
        if not isinstance(annotations, list) or not all(isinstance(a, dict) for a in annotations):
            raise BadInputError(path, "`annotations` must be a list of objects", rows=[row], column="annotations")
        votes, cancelled = [], 0
        for annotation in annotations:
            if annotation.get("was_cancelled"):
                cancelled += 1
                continue
            choice = _choice(path, row, annotation, gold_column)
            if choice is not None:
                votes.append(choice)
        flat = {k: v for k, v in data.items() if k not in (gold_column, CANCELLED, UNRESOLVED)}
        flat[gold_column] = None  # the data's own value is never the human's label
        if votes:
            top = max(set(votes), key=lambda label: (votes.count(label), label))
            if votes.count(top) * 2 > len(votes):
                flat[gold_column] = top
            else:
                flat[UNRESOLVED] = True
        elif cancelled:
            flat[CANCELLED] = True
    for column, value in flat.items():
        if not (value is None or isinstance(value, (str, int, float))):
            raise BadInputError(path, f"expected a string or a number, found {type(value).__name__}",
                                rows=[row], column=str(column))
    return flat


def _choice(path: Path, row: int, annotation: dict, gold_column: str) -> str | None:
    """The label one Label Studio annotation chose: the single choice of its Choices result (the one named
    `gold_column` when several controls answered); None when it chose nothing."""
    results = annotation.get("result") or []
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        raise BadInputError(path, "an annotation's `result` must be a list of objects", rows=[row], column="result")
    found = []
    for result in results:
        value = result.get("value")
        if not isinstance(value, dict):
            raise BadInputError(path, "an annotation result's `value` must be an object", rows=[row],
                                column="value")
        if "choices" not in value:
            continue
        choices = value["choices"]
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            raise BadInputError(path, "`choices` must be a list of labels", rows=[row], column="choices")
        if len(choices) > 1:
            raise BadInputError(path, f"an annotation chose {len(choices)} labels; the audit needs one (a single-"
                                      "choice Choices control)", rows=[row], column="choices")
        if choices:
            found.append((result.get("from_name"), choices[0].strip()))
    named = [choice for name, choice in found if name == gold_column]
    options = named or [choice for _, choice in found]
    if len(set(options)) > 1:
        raise BadInputError(path, f"an annotation answered several Choices controls ({sorted(set(options))}); "
                                  "pass --gold-column with the control's name", rows=[row], column="result")
    return options[0] if options else None
