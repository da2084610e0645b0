"""The label-table data contract and strict table reading.

Label table (CSV, Parquet or JSONL):
  text              required, non-empty
  llm_label         required, one of the label set
  id                optional; else a stable hash of the text
  llm_prob_<label>  optional, one per class, each in [0, 1], summing to 1 per row
  annotator_<name>  optional extra annotations (other prompts, models or samples), labels of the label set
  gold_label        optional audit labels, empty where not audited
  audit_weight      optional, on audited rows: the row's weight in the audit estimate, about 1 / its inclusion
                    probability (written by `labelgate audit merge`); every audited row needs one when the column
                    has any value
  audit_wave        optional, on every row an audit drew (labelled or not): its wave, 1, 2, ...; 0 for rows
                    audited before any recorded design (treated as a simple random sample of the table)
  audit_inclusion   optional, on every row an audit drew: its inclusion probability in its wave, given the earlier
                    waves (audit/design.py explains how the weights follow from waves and inclusion probabilities)
Gold test set (and gold pool): `text`, `label` (`id` optional).

Rows are numbered from 1 in error messages, counting data rows (the CSV header is not a row).
This module reads and normalises; `validate` checks the contract with a Great Expectations suite.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import numbers
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from labelgate.errors import BadInputError

from labelgate.vocabulary import (
    ANNOTATOR_PREFIX,
    AUDIT_WEIGHT,
    CSV,
    GOLD,
    ID,
    JSONL_SUFFIXES,
    LABEL,
    LLM_LABEL,
    LLM_PROB_PREFIX,
    PARQUET,
    TABLE_SUFFIXES,
    TEXT,
    llm_prob_column,
)


def stable_id(text: str) -> str:
    """A stable id for a row without one: the first 16 hex digits of the text's SHA-256."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def prob_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith(LLM_PROB_PREFIX)]


def annotator_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith(ANNOTATOR_PREFIX)]


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read CSV, Parquet or JSONL with every value of text-like columns kept as a string.

    Encoding errors, ragged rows and truncated files raise BadInputError naming file and row.
    """
    path = Path(path)
    if not path.exists():
        raise BadInputError(path, "file not found")
    if path.is_dir():
        raise BadInputError(path, "is a folder, expected a table file")
    suffix = path.suffix.lower()
    if suffix == CSV:
        return _read_csv(path)
    if suffix == PARQUET:
        return _read_parquet(path)
    if suffix in JSONL_SUFFIXES:
        return _read_jsonl(path)
    raise BadInputError(path, f"unsupported table format '{suffix}'; use {', '.join(TABLE_SUFFIXES[:-1])} or "
                              f"{TABLE_SUFFIXES[-1]}")


def _decode_utf8(path: Path) -> str:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise BadInputError(
            path, f"not valid UTF-8 at byte {exc.start} (file line {line}); re-encode the file as UTF-8"
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise BadInputError(path, f"NUL byte at file line {line}; the file is binary or UTF-16, expected UTF-8")
    return text


def _read_csv(path: Path) -> pd.DataFrame:
    text = _decode_utf8(path)
    if not text.strip():
        raise BadInputError(path, "file is empty")
    # The csv module refuses fields over 128 KiB by default; length is annotate.max_text_chars' business only.
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    # The csv module reports ragged rows and unterminated quotes exactly; pandas would guess.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise BadInputError(path, f"malformed CSV header ({exc})", rows=[0]) from None
    header = [h.strip() for h in header]
    if len(set(header)) != len(header):
        dupes = sorted({h for h in header if header.count(h) > 1})
        raise BadInputError(path, "duplicate column name in header", column=dupes[0])
    rows: list[list[str]] = []
    row_number = 0
    try:
        for row_number, row in enumerate(reader, start=1):
            if not row:
                continue  # a blank line carries no row
            if len(row) != len(header):
                raise BadInputError(
                    path, f"expected {len(header)} fields, found {len(row)} (malformed or truncated CSV)",
                    rows=[row_number],
                )
            rows.append(row)
    except csv.Error as exc:
        raise BadInputError(
            path, f"malformed CSV ({exc}); the file may be truncated", rows=[row_number + 1]
        ) from None
    if not text.endswith(("\n", "\r")) and rows and _looks_cut(rows[-1]):
        raise BadInputError(path, "last row has an empty final field and no line end: file looks truncated",
                            rows=[len(rows)])
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    return _normalise(path, frame)


def _looks_cut(last_row: list[str]) -> bool:
    return last_row[-1] == "" and len(last_row) > 1


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for corrupt or truncated files
        raise BadInputError(path, f"unreadable Parquet ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    if len(set(map(str, frame.columns))) != len(frame.columns):
        raise BadInputError(path, "duplicate column name")
    return _normalise(path, frame)


def _read_jsonl(path: Path) -> pd.DataFrame:
    text = _decode_utf8(path)
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadInputError(path, f"invalid JSON ({exc.msg}); the file may be truncated", rows=[number]) from None
        if not isinstance(record, dict):
            raise BadInputError(path, "each line must be a JSON object", rows=[number])
        records.append(record)
    if not records:
        raise BadInputError(path, "file is empty")
    return _normalise(path, pd.DataFrame.from_records(records))


def read_test_table(path: str | os.PathLike, *, complete: bool = True) -> pd.DataFrame:
    """Read a gold test set (`text`, `label`; other columns such as `id` pass through) in file order.

    A missing column is an error naming it; `complete`: so is a missing text or label (validate leaves the values to
    its `test_contract` suite, which also checks the labels against the label set)."""
    frame = read_table(path)
    for column in (TEXT, LABEL):
        if column not in frame.columns:
            raise BadInputError(path, "required column missing from the gold test set", column=column)
    if complete:
        for column in (TEXT, LABEL):
            bad = np.flatnonzero(frame[column].isna().to_numpy())
            if bad.size:
                raise BadInputError(path, "missing value", rows=(bad + 1).tolist(), column=column)
    return frame.reset_index(drop=True)


def is_label_column(column: str) -> bool:
    """Columns that hold text or labels (strings in every format): text, id, llm_label, gold_label, label,
    annotator_*."""
    return column in (TEXT, ID, LLM_LABEL, GOLD, LABEL) or column.startswith(ANNOTATOR_PREFIX)


def _normalise(path: Path, frame: pd.DataFrame) -> pd.DataFrame:
    """One normalisation for CSV, Parquet and JSONL, so every format behaves alike:
    - text and label columns hold Python strings or NaN (missing): empty or blank strings are missing, numbers
      become their decimal text (a CSV cell "5" and a JSONL 5 are the same text), anything else (a list, an
      object, a boolean) is an error naming row and column;
    - in every other string column (pandas 3 `str` dtype included) empty or blank strings are missing."""
    frame = frame.copy()
    frame.columns = [str(c).strip() for c in frame.columns]
    for column in frame.columns:
        series = frame[column]
        if is_label_column(column):
            frame[column] = _as_text(path, column, series)
        elif series.dtype == object or pd.api.types.is_string_dtype(series):
            frame[column] = series.astype(object).map(
                lambda v: np.nan if v is None or isinstance(v, str) and v.strip() == "" else v)
    return frame


def _as_text(path: Path, column: str, series: pd.Series) -> pd.Series:
    if pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty"):  # the common case, vectorised
        text = series.astype(object)
        blank = series.isna().to_numpy() | (series.astype(str).str.strip() == "").to_numpy()
        return text.where(~blank, np.nan)
    values = series.astype(object).tolist()
    out = []
    for row, value in enumerate(values, start=1):
        if value is None or isinstance(value, float) and math.isnan(value) or value is pd.NA:
            out.append(np.nan)
        elif isinstance(value, str):
            out.append(np.nan if value.strip() == "" else value)
        elif isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
            out.append(str(int(value)) if float(value).is_integer() else str(value))
        else:
            raise BadInputError(path, f"expected a string, found {type(value).__name__} {value!r:.40}",
                                rows=[row], column=column)
    return pd.Series(out, index=series.index, dtype=object)


@dataclass(frozen=True)
class LabelTable:
    """A label table that passed the contract, with its label set resolved."""

    frame: pd.DataFrame
    labels: tuple[str, ...]
    path: str

    @property
    def prob_columns(self) -> list[str]:
        return [llm_prob_column(label) for label in self.labels if llm_prob_column(label) in self.frame.columns]

    @property
    def has_probs(self) -> bool:
        return len(self.prob_columns) == len(self.labels)

    @property
    def annotator_columns(self) -> list[str]:
        """annotator_* columns holding at least one label (an entirely empty one carries no annotation)."""
        return [c for c in annotator_columns(self.frame) if self.frame[c].notna().any()]

    @property
    def has_gold(self) -> bool:
        return GOLD in self.frame.columns and self.frame[GOLD].notna().any()

    def audit_weights(self) -> np.ndarray | None:
        """Per-row audit weights (NaN off the audit), or None when the table has no audit_weight values."""
        if AUDIT_WEIGHT not in self.frame.columns or self.frame[AUDIT_WEIGHT].isna().all():
            return None
        return self.frame[AUDIT_WEIGHT].to_numpy(float)

    def label_codes(self, column: str = LLM_LABEL) -> np.ndarray:
        """Integer codes of a label column in label-set order; -1 where missing."""
        # a value that is not one of the labels (a number, a blank, an unknown label) gets the code -1
        return pd.Categorical(self.frame[column], categories=list(self.labels)).codes.astype(int)

    def probabilities(self) -> np.ndarray:
        return self.frame[[llm_prob_column(label) for label in self.labels]].to_numpy(float)


def canonical_labels(labels: Sequence[str]) -> tuple[str, ...]:
    """The label set in the one order every figure is computed in (sorted), so figures and advice do not depend
    on the order labels were given (--labels, base.labels, probability columns). Only the annotation prompt keeps
    the configured order (it is what the LLM reads)."""
    return tuple(sorted(labels))


def labels_stated(columns: Sequence[str]) -> tuple[str, ...]:
    """The labels a table's llm_prob_* column names state, in their order (resolve_labels' third rule; also the
    streamed path's, on a Parquet schema)."""
    return tuple(str(c)[len(LLM_PROB_PREFIX):] for c in columns if str(c).startswith(LLM_PROB_PREFIX))


def labels_used(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> set[str]:
    """Every label `frame` uses in `columns` (default: llm_label, gold_label and annotator_*), as validate writes
    them (stripped; blank is no label). The streamed path takes the union over its chunks."""
    seen: set[str] = set()
    for column in columns or [LLM_LABEL, GOLD, *annotator_columns(frame)]:
        if column in frame.columns:
            seen.update(str(v).strip() for v in frame[column].dropna().unique())
    return seen - {""}


def resolve_labels(configured: Sequence[str] = (), *frames: pd.DataFrame, option: str | None = None,
                   columns: Sequence[str] | None = None, required: bool = False) -> tuple[str, ...]:
    """The label set, by the one rule every stage uses:

    1. `option` (the comma-separated `--labels a,b,c`) when given: unique, at least two (ConfigError naming --labels);
    2. else `configured` (params base.labels);
    3. else what `frames` state: the first one's llm_prob_* columns in their order, else the sorted labels used in
       `columns` (default: llm_label, gold_label and annotator_*; a gold or subset table passes `label`).

    `required`: fewer than two classes is an error (annotate and train need a label set before anything runs).
    """
    if option:
        from labelgate.config import BaseParams
        from labelgate.errors import ConfigError

        try:
            return BaseParams(labels=tuple(label.strip() for label in option.split(",") if label.strip())).labels
        except ValueError as exc:
            raise ConfigError(f"--labels: {exc}") from None
    if configured:
        return tuple(configured)
    found: tuple[str, ...] = ()
    if frames and columns is None:
        found = labels_stated(frames[0].columns)
    if frames and not found:
        found = tuple(sorted(set().union(*(labels_used(frame, columns) for frame in frames))))
    if required and len(found) < 2:
        if not frames:
            from labelgate.errors import ConfigError

            raise ConfigError("no label set: set base.labels in params.yaml or pass --labels a,b,c")
        raise BadInputError("<labels>", f"need at least two classes, found {list(found)}")
    return found
