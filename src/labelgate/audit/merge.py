"""`audit merge`: the annotated sheet's gold labels into the table, with the audit design recorded (design.py) and the
weights derived from it; a sheet that does not match the wave it came from is refused, naming the row and column.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from labelgate.audit.annotations import CANCELLED, UNRESOLVED
from labelgate.audit.design import (
    LEGACY_WAVE,
    TOLERANCE,
    Design,
    _fail_if,
    _numbers,
    design_weights,
    recorded_design,
)
from labelgate.contract import AUDIT_WEIGHT, GOLD, ID, LLM_LABEL, TEXT, stable_id
from labelgate.errors import BadInputError
from labelgate.vocabulary import AUDIT_INCLUSION, AUDIT_WAVE


# ----------------------------------------------------------------------------------------------- reading sheets


# ---------------------------------------------------------------------------------------------------- the design


# ----------------------------------------------------------------------------------------------------- merging


def merge_audit(frame: pd.DataFrame, annotations: pd.DataFrame, labels: list[str], *, gold_column: str = GOLD,
                source: str = "annotations", table_source: str = "table") -> tuple[pd.DataFrame, dict[str, Any]]:
    """Put the annotated gold labels into the label table by id, record the sheet's design (every drawn row, its
    wave and inclusion probability) and derive every audited row's weight (module docstring). Returns (table,
    summary); summary["changed"] is False when the table came back identical. Raises BadInputError for an unknown
    or duplicate id, a label outside the label set, a bad weight or wave, a row drawn in another wave, a conflict
    with an existing gold label, a sheet that does not hold its whole wave, or weights that cannot be made to sum
    to the row count."""
    for column in (ID, gold_column):
        if column not in annotations.columns:
            raise BadInputError(source, "required column missing from the annotations", column=column)
    original = frame
    frame = frame.copy().reset_index(drop=True)
    inserted_id = ID not in frame.columns
    if inserted_id:
        frame.insert(0, ID, frame[TEXT].map(lambda t: stable_id(t) if isinstance(t, str) else None))
    frame[ID] = frame[ID].astype(str)
    design = recorded_design(frame, table_source)
    rows, gold, labelled, target = _sheet_rows(frame, annotations, labels, gold_column, source)
    sheet_wave, sheet_inclusion = _sheet_design(annotations, source, rows, design, target)
    existing = frame[GOLD].to_numpy(object) if GOLD in frame.columns else np.full(len(frame), None, object)
    existing = np.array([v if isinstance(v, str) else None for v in existing], object)
    conflict = labelled & np.array([e is not None and e != g for e, g in zip(existing[target], gold)], bool)
    _fail_if(source, conflict, rows, "conflicts with the label table's existing gold_label", gold_column)
    was_gold = existing != None  # noqa: E711 - elementwise
    wave, inclusion = _merged_design(design, sheet_wave, sheet_inclusion, target, rows, source, len(frame))
    new_gold = existing.copy()
    new_gold[target[labelled]] = gold[labelled].to_numpy(object)
    given = frame[LLM_LABEL].to_numpy(object)
    if sheet_wave is not None:
        _check_wave_complete(source, given, wave, inclusion, sheet_wave, target)
    has_gold = new_gold != None  # noqa: E711
    weights, measured, total = _consistent_weights(given, wave, inclusion, has_gold, table_source)
    drawn = ~np.isnan(wave)
    frame[GOLD] = pd.Series(new_gold, dtype=object).where(has_gold, None)
    frame[AUDIT_WEIGHT] = np.where(has_gold, weights, np.nan)
    frame[AUDIT_WAVE] = pd.array(np.where(drawn, wave, 0).astype(int), dtype="Int64")
    frame.loc[~drawn, AUDIT_WAVE] = pd.NA
    frame[AUDIT_INCLUSION] = np.where(drawn, inclusion, np.nan)
    changed = _differs(original, frame.drop(columns=[ID]) if inserted_id else frame)
    cancelled = int(annotations[CANCELLED].sum()) if CANCELLED in annotations.columns else 0
    unresolved = int(annotations[UNRESOLVED].sum()) if UNRESOLVED in annotations.columns else 0
    missing = drawn & ~has_gold
    summary = {
        "annotations": int(len(annotations)), "merged": int((labelled & ~was_gold[target]).sum()),
        "unlabelled": int((~labelled & ~has_gold[target]).sum()), "cancelled": cancelled, "unresolved": unresolved,
        "wave": None if sheet_wave is None else int(sheet_wave), "audited_rows": int(has_gold.sum()),
        "drawn_rows": int(drawn.sum()), "missing_rows": int(missing.sum()),
        "audit_missing_share": float(missing.sum() / drawn.sum()) if drawn.any() else None,
        "legacy_rows": int((wave == LEGACY_WAVE).sum()), "weight_sum": total, "rows": int(len(frame)),
        "unmeasured_labels": sorted(set(labels) - {str(h) for h in measured}) if has_gold.any() else list(labels),
        "weights": True, "changed": changed,
    }
    return frame, summary


def _sheet_rows(frame: pd.DataFrame, annotations: pd.DataFrame, labels: list[str], gold_column: str,
                source: str) -> tuple[np.ndarray, pd.Series, np.ndarray, np.ndarray]:
    """The sheet's rows checked against the table (every id present, once, in the table; every gold label text from
    the label set): the sheet's row numbers, its gold labels, which rows carry one, and each row's table position."""
    notes = annotations[ID].map(lambda v: None if pd.isna(v) else str(v).strip())
    rows = np.arange(1, len(annotations) + 1)
    _fail_if(source, notes.isna().to_numpy(), rows, "empty id", ID)
    _fail_if(source, notes.duplicated(keep=False).to_numpy(), rows, "duplicate id", ID)
    position = pd.Series(np.arange(len(frame)), index=frame[ID])
    _fail_if(source, ~notes.isin(position.index).to_numpy(), rows, "id not in the label table", ID)
    gold = annotations[gold_column].map(_label_text)
    _fail_if(source, gold.map(lambda v: v is _NOT_TEXT).to_numpy(), rows, "gold label must be text", gold_column)
    labelled = gold.notna().to_numpy()
    _fail_if(source, labelled & ~gold.isin(labels).to_numpy(), rows,
             f"gold label not in the label set {labels}", gold_column)
    return rows, gold, labelled, position[notes].to_numpy()


def _merged_design(design: Design, sheet_wave, sheet_inclusion, target: np.ndarray, rows: np.ndarray, source: str,
                   n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The table's recorded waves and inclusion probabilities with the sheet's rows added; a row recorded in another
    wave or with another weight is refused."""
    wave, inclusion = design.wave.copy(), design.inclusion.copy()
    if sheet_wave is None:  # a sheet without a design: more rows of the legacy simple random sample
        wave[target] = LEGACY_WAVE
        inclusion[wave == LEGACY_WAVE] = (wave == LEGACY_WAVE).sum() / n_rows
    else:
        recorded = ~np.isnan(wave[target])
        _fail_if(source, recorded & (wave[target] != sheet_wave), rows,
                 "row already drawn in another audit wave (or audited before any recorded one)", ID)
        _fail_if(source, recorded & ~np.isclose(inclusion[target], sheet_inclusion, rtol=TOLERANCE), rows,
                 "audit weight differs from the one recorded for this row", AUDIT_WEIGHT)
        wave[target] = sheet_wave
        inclusion[target] = sheet_inclusion
    return wave, inclusion


def _consistent_weights(given: np.ndarray, wave: np.ndarray, inclusion: np.ndarray, has_gold: np.ndarray,
                        table_source: str) -> tuple[np.ndarray, set, float]:
    """The audited rows' weights (design_weights), the LLM labels with an audit, and the weights' sum, which must
    equal those labels' row count (else the design cannot be made consistent: bad input)."""
    weights = design_weights(given, wave, inclusion, has_gold)
    measured = {h for h in np.unique(given[has_gold])}
    expected = int(np.isin(given, list(measured)).sum())
    total = float(np.nansum(weights[has_gold]))
    if has_gold.any() and abs(total - expected) > TOLERANCE * expected:
        raise BadInputError(table_source, f"the audit weights sum to {total:.3f}, not to the {expected} rows of "
                            "the audited labels: the audit design cannot be made consistent", column=AUDIT_WEIGHT)
    return weights, measured, total


_NOT_TEXT = object()


def _label_text(value):
    """A sheet's label as text: stripped strings, whole numbers as their digits (a label set "1", "2"), NaN when
    empty; anything else (a list, an object, a boolean) is _NOT_TEXT."""
    if value is None or value is pd.NA or isinstance(value, float) and math.isnan(value):
        return np.nan
    if isinstance(value, str):
        return value.strip() or np.nan
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
        return str(int(value)) if float(value).is_integer() else str(value)
    return _NOT_TEXT


def _sheet_design(annotations: pd.DataFrame, source: str, rows: np.ndarray, design: Design,
                  target: np.ndarray) -> tuple[int | None, np.ndarray | None]:
    """The sheet's wave and its rows' inclusion probabilities; (None, None) for a sheet without audit weights
    (made by hand), which a table that records audit waves refuses."""
    weights = _numbers(source, annotations, AUDIT_WEIGHT)
    if np.isnan(weights).all():
        if AUDIT_WAVE in annotations.columns and annotations[AUDIT_WAVE].notna().any():
            raise BadInputError(source, "the sheet has audit_wave but no audit_weight: keep the columns "
                                "`audit sample` wrote", column=AUDIT_WEIGHT)
        recorded = design.wave[~np.isnan(design.wave)]
        if (recorded >= 1).any():
            raise BadInputError(source, "no audit_weight: not a sheet from `labelgate audit sample`, and the table "
                                f"records audit waves up to {int(recorded.max())}; merge the sheet `audit sample` "
                                "wrote", column=AUDIT_WEIGHT)
        return None, None
    _fail_if(source, ~(np.isfinite(weights) & (weights >= 1.0 - TOLERANCE)), rows,
             "audit weight must be a number >= 1 (1 / inclusion probability) on every drawn row, labelled or not",
             AUDIT_WEIGHT)
    waves = _numbers(source, annotations, AUDIT_WAVE)
    if np.isnan(waves).all():  # a sheet of an earlier labelgate version: the wave its rows have, else the next
        known = design.wave[target]
        known = known[~np.isnan(known)]
        wave = int(known[0]) if known.size and (known == known[0]).all() and known[0] >= 1 else design.next_wave
    else:
        _fail_if(source, np.isnan(waves) | (waves < 1) | (waves != np.round(waves)), rows,
                 "audit wave must be 1, 2, ... on every row", AUDIT_WAVE)
        _fail_if(source, waves != waves[0], rows, f"one sheet holds one audit wave (row 1: {int(waves[0])})",
                 AUDIT_WAVE)
        wave = int(waves[0])
    return wave, np.minimum(1.0, 1.0 / weights)


def _check_wave_complete(source: str, given: np.ndarray, wave: np.ndarray, inclusion: np.ndarray, w: int,
                         target: np.ndarray) -> None:
    """Every label the wave drew from: its drawn rows' weights 1 / pi add up to the rows it was drawn from (the
    label's rows no earlier wave drew), else rows are missing from the sheet or it belongs to another table."""
    for h in np.unique(given[target]):
        in_h = given == h
        drawn = in_h & (wave == w)
        frame_size = int((in_h & ~(wave < w)).sum())
        total = float((1.0 / inclusion[drawn]).sum())
        if abs(total - frame_size) > TOLERANCE * frame_size:
            fix = ("rows are missing from the sheet: merge the whole sheet, unlabelled rows included (Label "
                   "Studio: export all tasks)" if total < frame_size else
                   "the sheet was drawn from another table, the table changed since `audit sample`, or the "
                   "sheet's audit_weight values were edited")
            raise BadInputError(source, f"audit wave {w}, LLM label '{h}': the weights of its {int(drawn.sum())} "
                                f"drawn rows sum to {total:.1f}, but the wave drew from {frame_size} rows; {fix}",
                                column=AUDIT_WEIGHT)


def _differs(before: pd.DataFrame, after: pd.DataFrame) -> bool:
    """Whether the merged table differs from the table as read (numbers compared as numbers, so a CSV's text
    '10.0' equals 10.0, to 1e-9: the weights recomputed from a stored inclusion probability may differ from the
    stored weights in the last digits)."""
    if list(before.columns) != list(after.columns) or len(before) != len(after):
        return True
    for column in after.columns:
        a, b = before[column].reset_index(drop=True), after[column].reset_index(drop=True)
        missing_a, missing_b = a.isna().to_numpy(), b.isna().to_numpy()
        if (missing_a != missing_b).any():
            return True
        x, y = pd.to_numeric(a, errors="coerce"), pd.to_numeric(b, errors="coerce")
        numeric = (x.notna() & y.notna()).to_numpy()
        if not np.allclose(x[numeric].to_numpy(float), y[numeric].to_numpy(float), rtol=1e-9, atol=0.0):
            return True
        rest = ~numeric & ~missing_a
        if (a[rest].astype(str).to_numpy() != b[rest].astype(str).to_numpy()).any():
            return True
    return False
