"""Stage `validate`: check a label table against the data contract with the `label_contract` GX suite.

The header-level checks (required columns, probability columns matching the label set, numeric probabilities)
run in Python because the suite's columns must exist before GX can look at them. Row-level checks run in GX on
the table plus a few derived columns (probability sum deviation, NaN counts, invalid annotator labels), so the
suite JSON stays independent of how many classes and annotators a table has. The first failure becomes a one-line
BadInputError naming file, rows and the real column. `validate --out` stamps the Parquet table it writes
(`contract_stamp`), so `score` does not run the suite again on the very table it checked.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from labelgate import contract
from labelgate.config import check_range
from labelgate.contract import GOLD, ID, LLM_LABEL, LLM_PROB_PREFIX, TEXT, LabelTable
from labelgate.errors import BadInputError
from labelgate.vocabulary import AUDIT_INCLUSION, AUDIT_WAVE
from labelgate.expectations import (
    DEFAULT_EXPECTATIONS_DIR,
    ROW_COLUMN,
    Outcome,
    check_suite,
    load_suite_json,
    run_suite,
    suite_path,
)

CONTRACT_SUITE = "label_contract"
TEST_SUITE = "test_contract"

# Derived columns the contract suite checks; each maps back to the real columns for error messages.
PROB_SUM_DEVIATION = "_prob_sum_deviation"
PROB_MIN = "_prob_min"
PROB_MAX = "_prob_max"
PROB_MISSING = "_prob_missing"
ANNOTATOR_INVALID = "_annotator_invalid"
#: The columns each contract suite may check (what `validate` hands to GX): a suite naming any other is a typo.
CONTRACT_COLUMNS = (TEXT, LLM_LABEL, ID, GOLD, PROB_SUM_DEVIATION, PROB_MIN, PROB_MAX, PROB_MISSING,
                    ANNOTATOR_INVALID)
TEST_COLUMNS = (TEXT, contract.LABEL, ID)
#: The `$PARAMETER`s the contract suite may use.
CONTRACT_PARAMETERS = ("labels", "prob_tolerance", "min_rows")
#: Parquet metadata key of the stamp `validate --out` leaves on the table it checked (see `contract_stamp`).
STAMP_KEY = "labelgate.contract"


@dataclass(frozen=True)
class ValidateParams:
    """Tolerances of the data contract."""

    prob_tolerance: float = 1e-3  # |sum of llm_prob_* - 1| allowed per row (rounding in CSV exports)
    min_rows: int = 1

    def __post_init__(self):
        check_range("prob_tolerance", self.prob_tolerance, 0.0, 0.5)
        check_range("min_rows", self.min_rows, 1)


def validate_label_table(
    path: str | os.PathLike,
    *,
    labels: tuple[str, ...] = (),
    params: ValidateParams = ValidateParams(),
    expectations_dir: str | os.PathLike = DEFAULT_EXPECTATIONS_DIR,
    frame: pd.DataFrame | None = None,
) -> LabelTable:
    """Read and check a label table; return it normalised (ids filled, probabilities as floats).

    `frame`: the table already read from `path` (errors still name `path`)."""
    from labelgate.outputs import read_table_metadata

    stamp = read_table_metadata(path, STAMP_KEY) if frame is None else None
    if stamp is None:  # a table `validate` wrote (below) checked its suite already; any other: before reading it
        _check_contract_suite(CONTRACT_SUITE, CONTRACT_PARAMETERS, CONTRACT_COLUMNS, expectations_dir)
    frame = contract.read_table(path) if frame is None else frame
    label_set = contract.resolve_labels(labels, frame)
    frame = _check_header(path, frame, label_set, params)
    if stamp is not None and stamp == contract_stamp(frame.drop(columns=[ROW_COLUMN]), label_set, params,
                                                     expectations_dir):
        return LabelTable(frame=frame.drop(columns=[ROW_COLUMN]), labels=label_set, path=str(path))
    if stamp is not None:
        _check_contract_suite(CONTRACT_SUITE, CONTRACT_PARAMETERS, CONTRACT_COLUMNS, expectations_dir)
    outcomes = run_suite(CONTRACT_SUITE, _with_derived_columns(frame, label_set), {
        "labels": list(label_set),
        "prob_tolerance": params.prob_tolerance,
        "min_rows": params.min_rows,
    }, expectations_dir=expectations_dir, columns=CONTRACT_COLUMNS)
    _raise_first_failure(path, frame, label_set, outcomes)
    return LabelTable(frame=frame.drop(columns=[ROW_COLUMN]), labels=label_set, path=str(path))


def contract_stamp(frame: pd.DataFrame, labels: tuple[str, ...], params: ValidateParams,
                   expectations_dir: str | os.PathLike = DEFAULT_EXPECTATIONS_DIR) -> str:
    """A digest of everything a passed contract check depended on: the normalised table's columns and values, the
    label set, the tolerances, the contract suite file and labelgate's version.

    `validate --out` stores it in the Parquet table it writes; reading that table again (`score`), the suite run is
    skipped only when the digest of the table as read now is the same, so an edited table, another label set,
    other tolerances or an edited suite are checked again in full (fail closed)."""
    from labelgate import __version__

    digest = hashlib.sha256()
    digest.update(json.dumps({"version": __version__, "labels": list(labels), "params": dataclasses.asdict(params),
                              "columns": [str(c) for c in frame.columns]}, sort_keys=True).encode())
    suite = suite_path(CONTRACT_SUITE, expectations_dir)
    digest.update(suite.read_bytes() if suite.is_file() else b"")  # none: no match, the full check names it
    values = frame.astype(object).where(frame.notna(), None)
    digest.update(pd.util.hash_pandas_object(values, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def validate_test_table(
    path: str | os.PathLike,
    *,
    labels: tuple[str, ...],
    expectations_dir: str | os.PathLike = DEFAULT_EXPECTATIONS_DIR,
) -> pd.DataFrame:
    """Read and check a gold test set (`text`, `label`)."""
    _check_contract_suite(TEST_SUITE, ("labels",), TEST_COLUMNS, expectations_dir)
    frame = contract.read_test_table(path, complete=False)
    frame.insert(0, ROW_COLUMN, np.arange(1, len(frame) + 1))
    outcomes = run_suite(TEST_SUITE, frame, {"labels": list(labels)}, expectations_dir=expectations_dir,
                         columns=TEST_COLUMNS)
    _raise_first_failure(path, frame, labels, outcomes)
    return frame.drop(columns=[ROW_COLUMN]).reset_index(drop=True)


def _check_contract_suite(name: str, parameters, columns, expectations_dir) -> None:
    """A contract suite with a typo (unknown type, severity, column or parameter) is a configuration error."""
    check_suite(load_suite_json(name, expectations_dir), source=suite_path(name, expectations_dir),
                parameters=parameters, columns=columns)


def _check_header(path, frame: pd.DataFrame, labels: tuple[str, ...], params: ValidateParams, *,
                  row_offset: int = 0) -> pd.DataFrame:
    for column in (TEXT, LLM_LABEL):
        if column not in frame.columns:
            raise BadInputError(path, "required column missing", column=column)
    if len(frame) < params.min_rows:
        raise BadInputError(path, f"has {len(frame)} data rows, needs at least {params.min_rows}")
    if len(labels) < 2:
        raise BadInputError(path, f"label set {list(labels)} has fewer than two classes; set base.labels",
                            column=LLM_LABEL)
    present = contract.prob_columns(frame)
    expected = [contract.llm_prob_column(label) for label in labels]
    unknown = [c for c in present if c not in expected]
    if unknown:
        raise BadInputError(path, f"probability column for a label outside the label set {list(labels)}",
                            column=unknown[0])
    if present and len(present) != len(expected):
        missing = [c for c in expected if c not in present]
        raise BadInputError(path, "probability columns must cover every label", column=missing[0])
    frame = frame.copy()
    for column in present:
        raw = frame[column]
        numeric = pd.to_numeric(raw, errors="coerce")
        bad = raw.notna() & numeric.isna()
        if bad.any():  # a literal "NaN" is a missing probability (reported by the suite), not a malformed number
            raw = raw.map(lambda v: np.nan if isinstance(v, str) and v.strip().lower() == "nan" else v)
            numeric = pd.to_numeric(raw, errors="coerce")
            bad = raw.notna() & numeric.isna()
        if bad.any():
            rows = (np.flatnonzero(bad.to_numpy()) + 1 + row_offset).tolist()
            raise BadInputError(path, f"not a number: {frame[column][bad].iloc[0]!r}", rows=rows, column=column)
        frame[column] = numeric.astype(float)
    if contract.AUDIT_WEIGHT in frame.columns:
        frame[contract.AUDIT_WEIGHT] = _audit_weights(path, frame)
    for column, valid, rule in _AUDIT_DESIGN_COLUMNS:
        if column in frame.columns:
            frame[column] = _audit_design(path, frame, column, valid, rule)
    for column in [LLM_LABEL, GOLD, *contract.annotator_columns(frame)]:
        if column in frame.columns:
            frame[column] = frame[column].map(lambda v: v.strip() if isinstance(v, str) else v)
    if ID not in frame.columns:
        frame.insert(0, ID, [contract.stable_id(t) if isinstance(t, str) else None for t in frame[TEXT]])
    else:
        frame[ID] = frame[ID].map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    frame.insert(0, ROW_COLUMN, np.arange(row_offset + 1, row_offset + len(frame) + 1))
    return frame


#: The audit design `labelgate audit merge` records (audit/design.py): column, valid values, and the rule in words.
_AUDIT_DESIGN_COLUMNS = (
    (AUDIT_WAVE, lambda v: (v >= 0) & (v == np.round(v)), "an audit wave: 0, 1, 2, ..."),
    (AUDIT_INCLUSION, lambda v: (v > 0) & (v <= 1), "an inclusion probability in (0, 1]"),
)


def _numbers(raw: pd.Series) -> pd.Series:
    """A column's values as floats, NaN where a value is not a number; a boolean (Parquet/JSONL `true`) is not a
    number (not a weight or wave of 1)."""
    return pd.to_numeric(raw.map(lambda v: None if isinstance(v, (bool, np.bool_)) else v),
                         errors="coerce").astype(float)


def _audit_design(path, frame: pd.DataFrame, column: str, valid, rule: str) -> pd.Series:
    """audit_wave / audit_inclusion as floats (NaN off the audit); anything else is a bad input."""
    raw = frame[column]
    numeric = _numbers(raw)
    values = numeric.to_numpy()
    bad = raw.notna().to_numpy() & ~(np.isfinite(values) & valid(np.nan_to_num(values, nan=-1.0)))
    if bad.any():
        raise BadInputError(path, f"expected {rule}, found {raw[bad].iloc[0]!r}",
                            rows=(np.flatnonzero(bad) + 1).tolist(), column=column)
    return numeric


def _audit_weights(path, frame: pd.DataFrame) -> pd.Series:
    """audit_weight as floats: a number > 0 on every audited row when the column holds any value."""
    column = contract.AUDIT_WEIGHT
    raw = frame[column]
    numeric = _numbers(raw)
    bad = raw.notna() & numeric.isna()
    if bad.any():
        first = raw[bad].iloc[0]
        first = bool(first) if isinstance(first, np.bool_) else first
        raise BadInputError(path, f"audit weight is not a number: {first!r}",
                            rows=(np.flatnonzero(bad.to_numpy()) + 1).tolist(), column=column)
    if numeric.isna().all():
        return numeric
    audited = frame[GOLD].notna().to_numpy() if GOLD in frame.columns else np.zeros(len(frame), bool)
    invalid = audited & ~(np.isfinite(numeric.to_numpy()) & (numeric.to_numpy() > 0))
    if invalid.any():
        raise BadInputError(path, "every audited row (gold_label set) needs an audit weight > 0 "
                            "(1 / its inclusion probability)", rows=(np.flatnonzero(invalid) + 1).tolist(),
                            column=column)
    return numeric


def _with_derived_columns(frame: pd.DataFrame, labels: tuple[str, ...]) -> pd.DataFrame:
    derived = frame.copy()
    probs = contract.prob_columns(frame)
    if probs:
        values = frame[probs].to_numpy(float)
        derived[PROB_MISSING] = np.isnan(values).sum(axis=1)
        derived[PROB_SUM_DEVIATION] = np.abs(np.nansum(values, axis=1) - 1.0)
        derived[PROB_MIN] = np.nanmin(np.where(np.isnan(values), 0.0, values), axis=1)
        derived[PROB_MAX] = np.nanmax(np.where(np.isnan(values), 0.0, values), axis=1)
    else:  # nothing to check: neutral values keep the suite's columns present
        derived[PROB_MISSING] = 0
        derived[PROB_SUM_DEVIATION] = 0.0
        derived[PROB_MIN] = 0.0
        derived[PROB_MAX] = 1.0
    annotators = contract.annotator_columns(frame)
    label_set = set(labels)
    derived[ANNOTATOR_INVALID] = sum(
        (frame[c].notna() & ~frame[c].isin(label_set)).astype(int) for c in annotators
    ) if annotators else 0
    if GOLD not in derived.columns:
        derived[GOLD] = None
    return derived


def _raise_first_failure(path, frame: pd.DataFrame, labels, outcomes: list[Outcome]) -> None:
    for outcome in outcomes:
        if outcome.success:
            continue
        column = _blame_column(frame, outcome, labels)
        detail = outcome.description
        if outcome.error:
            detail = f"{detail} (check error: {outcome.error})"
        elif outcome.observed is not None and not outcome.rows:
            detail = f"{detail} (observed {outcome.observed})"
        raise BadInputError(path, detail, rows=outcome.rows, column=column)


def _blame_column(frame: pd.DataFrame, outcome: Outcome, labels) -> str | None:
    """Name the user's column behind a derived one, using the first failing row."""
    column = outcome.column
    if column is None or not column.startswith("_") or not outcome.rows:
        return column
    row = frame.loc[frame[ROW_COLUMN] == outcome.rows[0]].iloc[0]
    if column == ANNOTATOR_INVALID:
        for name in contract.annotator_columns(frame):
            value = row[name]
            if isinstance(value, str) and value not in labels or (pd.notna(value) and not isinstance(value, str)):
                return name
    probs = contract.prob_columns(frame)
    if column == PROB_MISSING:
        return next((c for c in probs if pd.isna(row[c])), probs[0] if probs else None)
    if column in (PROB_MIN, PROB_MAX):
        return next((c for c in probs if not 0.0 <= row[c] <= 1.0), probs[0] if probs else None)
    if column == PROB_SUM_DEVIATION:
        return f"{LLM_PROB_PREFIX}*"
    return column


def validate_label_chunk(
    path: str | os.PathLike,
    frame: pd.DataFrame,
    *,
    labels: tuple[str, ...],
    row_offset: int,
    params: ValidateParams = ValidateParams(),
    expectations_dir: str | os.PathLike = DEFAULT_EXPECTATIONS_DIR,
) -> pd.DataFrame:
    """One chunk of a streamed label table (data rows row_offset+1 ...), checked and normalised like
    `validate_label_table` does a whole table; errors name rows of the whole file.

    The two table-wide checks cannot be made on a chunk: the row count (`params.min_rows`) and id uniqueness across
    chunks are the caller's (score_stream does both). Returns the normalised chunk without the row column.
    """
    if row_offset == 0:
        _check_contract_suite(CONTRACT_SUITE, CONTRACT_PARAMETERS, CONTRACT_COLUMNS, expectations_dir)
    frame = contract._normalise(Path(path), frame)
    frame = _check_header(path, frame, labels, dataclasses.replace(params, min_rows=1), row_offset=row_offset)
    outcomes = run_suite(CONTRACT_SUITE, _with_derived_columns(frame, labels), {
        "labels": list(labels),
        "prob_tolerance": params.prob_tolerance,
        "min_rows": 1,
    }, expectations_dir=expectations_dir, columns=CONTRACT_COLUMNS)
    _raise_first_failure(path, frame, labels, outcomes)
    return frame.drop(columns=[ROW_COLUMN])


def main(labels_path: str | os.PathLike, *, params: dict, labels: str | None = None,
         expectations_dir: str | os.PathLike = DEFAULT_EXPECTATIONS_DIR, out: str | os.PathLike | None = None,
         frame: pd.DataFrame | None = None) -> LabelTable:
    """Check the label table at `labels_path` with params' `validate:` tolerances and label set (`labels`: the
    --labels option); write the normalised table to `out` when given, stamped (Parquet) so that `score` need not
    run the suite on it again. `frame`: the table already read."""
    from labelgate.config import base_labels, section
    from labelgate.outputs import write_table

    validate_params = section(params, "validate", ValidateParams)
    table = validate_label_table(
        labels_path, labels=contract.resolve_labels(base_labels(params), option=labels), params=validate_params,
        expectations_dir=expectations_dir, frame=frame)
    if out is not None:
        stamp = contract_stamp(table.frame, table.labels, validate_params, expectations_dir)
        write_table(out, table.frame, metadata={STAMP_KEY: stamp})
    return table
