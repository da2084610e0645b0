"""Multi-wave design and the weights. `audit merge` records every drawn row (labelled or not) in the table:
`audit_wave` (1, 2, ...) and `audit_inclusion` (pi, the row's inclusion probability in its wave, given the earlier
waves), and derives `audit_weight` on the labelled rows from that record; the record never changes once written,
the weights are recomputed on every merge. Gold rows audited before any recorded design (a gold_label without
audit_wave or audit_weight) are wave 0: a simple random sample of the table as it was (pi = n0 / N), an assumption
the merge states. Gold rows with an audit_weight but no audit_wave (the sheets of earlier labelgate versions) are one
wave after wave 0 with pi = 1 / weight; if their weights add up to more than the rows they were drawn from they
come from several waves without a record, and the merge refuses (add audit_wave by hand).

The weights, per LLM label h (the strata of labelgate.estimation), wave by wave in order:
  * a wave's design weight is 1 / pi; within a class of rows drawn alike (same wave, label and pi) the rows left
    blank pass their weight on to the labelled ones (missing at random within the class: an assumption, which is
    why the share of blanks is gated), then the wave's labelled rows are scaled to carry the rows the wave was drawn
    from (F = the label's rows no earlier wave drew; without blanks the scale is 1);
  * the first wave with labelled rows in h: weight v = that design weight;
  * a later wave combines two estimators of the label's total that are each unbiased: A, the earlier waves' weights
    v (unbiased by induction), and B, the earlier drawn rows as a census (each labelled earlier row stands for
    M / n_old drawn rows, 1 without blanks) plus the new wave's design weights d, which estimate the total of F
    (unbiased given the earlier waves, hence unconditionally). With alpha = n_old / (n_old + n_new) * (1 - n_new / |F|):
        earlier rows: v <- alpha * v + (1 - alpha) * M / n_old,     new rows: v = (1 - alpha) * d.
    alpha depends on counts only, never on the labels found, so the combination is unbiased for every alpha; this
    alpha makes two proportional waves exactly one stratified random sample of n_old + n_new rows (equal weights).
Each label's weights then sum to its row count exactly (a last scale only removes rounding, or carries the mass of
a wave with no labelled row in h), so the table's audited weights sum to the rows of the labels with an audit,
which is every row when every label has one: `merge_audit` checks it and refuses a table whose weights cannot be
made consistent. With the weights summing to N_h, the Hajek mean of a stratum (estimation/error_rate.py) equals the
Horvitz-Thompson estimate divided by N_h: unbiased, whatever the number of waves or the over-sampling
(tests/test_audit.py simulates a two-wave audit whose second wave over-samples risky rows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from labelgate.contract import AUDIT_WEIGHT, GOLD
from labelgate.errors import BadInputError
from labelgate.vocabulary import AUDIT_INCLUSION, AUDIT_WAVE


# ----------------------------------------------------------------------------------------------- reading sheets


# ---------------------------------------------------------------------------------------------------- the design


# ----------------------------------------------------------------------------------------------------- merging


LEGACY_WAVE = 0  # gold rows audited before any recorded design


TOLERANCE = 1e-6  # relative: weights that should add up to a row count may differ from it by rounding only


@dataclass
class Design:
    """The audit design recorded in a table: per row the wave that drew it (NaN: never drawn) and its inclusion
    probability in that wave, with the legacy rows (wave 0 and an unrecorded weighted wave) filled in."""

    wave: np.ndarray  # float, NaN off the audit
    inclusion: np.ndarray  # float, NaN off the audit
    legacy_rows: int  # gold rows treated as a simple random sample of the table (wave 0)
    unrecorded_wave: int | None  # the wave number given to weighted gold rows without audit_wave (old sheets)

    @property
    def next_wave(self) -> int:
        recorded = self.wave[~np.isnan(self.wave)]
        return int(recorded.max()) + 1 if recorded.size and recorded.max() >= 1 else 1


def _numbers(source, frame: pd.DataFrame, column: str) -> np.ndarray:
    """A numeric column as floats (NaN where empty); a value that is not a number is a bad input."""
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    raw = frame[column]
    if raw.map(lambda v: isinstance(v, (bool, np.bool_))).any():
        bad = raw.map(lambda v: isinstance(v, (bool, np.bool_))).to_numpy()
        raise BadInputError(source, f"expected a number, found {raw[bad].iloc[0]!r}",
                            rows=(np.flatnonzero(bad) + 1).tolist(), column=column)
    values = pd.to_numeric(raw, errors="coerce").to_numpy(float)
    bad = raw.notna().to_numpy() & np.isnan(values)
    if bad.any():
        raise BadInputError(source, f"not a number: {raw[bad].iloc[0]!r}", rows=(np.flatnonzero(bad) + 1).tolist(),
                            column=column)
    return values


def recorded_design(frame: pd.DataFrame, source: str = "table") -> Design:
    """Read the design a table records (audit_wave, audit_inclusion), checking it, and bring an unrecorded audit
    into it: gold rows with neither wave nor weight are wave 0 (a simple random sample of the table, pi = n0 / N);
    gold rows with a weight but no wave (earlier labelgate versions) are one more wave, pi = 1 / weight."""
    n = len(frame)
    gold = frame[GOLD].notna().to_numpy() if GOLD in frame.columns else np.zeros(n, bool)
    wave = _numbers(source, frame, AUDIT_WAVE)
    inclusion = _numbers(source, frame, AUDIT_INCLUSION)
    weight = _numbers(source, frame, AUDIT_WEIGHT)
    rows = np.arange(1, n + 1)
    drawn = ~np.isnan(wave)
    _fail_if(source, drawn & ((wave < 0) | (wave != np.round(wave))), rows, "audit wave must be 0, 1, 2, ...",
             AUDIT_WAVE)
    _fail_if(source, drawn & ~((inclusion > 0) & (inclusion <= 1)), rows,
             "a drawn row needs an inclusion probability in (0, 1]", AUDIT_INCLUSION)
    _fail_if(source, ~drawn & ~np.isnan(inclusion), rows, "inclusion probability on a row without an audit wave",
             AUDIT_INCLUSION)
    _fail_if(source, gold & ~np.isnan(weight) & ~((weight > 0) & np.isfinite(weight)), rows,
             "audit weight must be a number > 0", AUDIT_WEIGHT)
    unweighted = gold & ~drawn & np.isnan(weight)
    weighted = gold & ~drawn & ~np.isnan(weight)
    later = drawn & (wave >= 1)
    if later.any():
        _fail_if(source, unweighted | weighted, rows, "gold label outside the recorded audit design (no "
                 "audit_wave, while the table records audit waves): bring gold labels in with `labelgate audit "
                 "merge` of an `audit sample` sheet", GOLD)
    legacy = unweighted | (drawn & (wave == LEGACY_WAVE))
    wave, inclusion = wave.copy(), inclusion.copy()
    if legacy.any():
        wave[legacy] = LEGACY_WAVE
        inclusion[legacy] = legacy.sum() / n
    unrecorded = None
    if weighted.any():
        unrecorded = LEGACY_WAVE + 1
        frame_rows = n - int(legacy.sum())
        total = float(weight[weighted].sum())
        if total > frame_rows * (1 + TOLERANCE):
            raise BadInputError(source, f"the audit weights of the {int(weighted.sum())} gold rows without an "
                                f"audit_wave sum to {total:.1f}, more than the {frame_rows} rows they were drawn "
                                "from: they come from several audit waves; add an audit_wave column (1, 2, ...) "
                                "that tells them apart", column=AUDIT_WEIGHT)
        wave[weighted] = unrecorded
        inclusion[weighted] = np.minimum(1.0, 1.0 / weight[weighted])
    return Design(wave, inclusion, int(legacy.sum()), unrecorded)


def design_weights(strata: np.ndarray, wave: np.ndarray, inclusion: np.ndarray, labelled: np.ndarray) -> np.ndarray:
    """Per-row audit weight from the recorded design (NaN on rows without a gold label): the rule of the module
    docstring, per stratum (LLM label) and wave by wave. Each stratum with a labelled row gets weights that sum
    to its row count."""
    strata, wave = np.asarray(strata), np.asarray(wave, float)
    inclusion, labelled = np.asarray(inclusion, float), np.asarray(labelled, bool)
    drawn = ~np.isnan(wave)
    labelled = labelled & drawn
    weights = np.full(len(wave), np.nan)
    waves = np.unique(wave[drawn])
    for h in np.unique(strata):
        in_h = strata == h
        n_h = int(in_h.sum())
        old = np.zeros(len(wave), bool)
        for w in waves:
            drawn_w, labelled_w = in_h & (wave == w), in_h & labelled & (wave == w)
            if not labelled_w.any():
                continue
            frame_size = int((in_h & ~(wave < w)).sum())  # NaN < w is False: never-drawn rows are in the frame
            design = _nonresponse_adjusted(inclusion, drawn_w, labelled_w)
            design *= frame_size / design[labelled_w].sum()
            if not old.any():
                weights[labelled_w] = design[labelled_w]
            else:
                n_old, n_new = int(old.sum()), int(labelled_w.sum())
                drawn_before = int((in_h & (wave < w)).sum())
                alpha = n_old / (n_old + n_new) * (1.0 - min(1.0, n_new / frame_size))
                weights[old] = alpha * weights[old] + (1.0 - alpha) * drawn_before / n_old
                weights[labelled_w] = (1.0 - alpha) * design[labelled_w]
            old |= labelled_w
        if old.any():
            weights[old] *= n_h / weights[old].sum()
    return weights


def _nonresponse_adjusted(inclusion: np.ndarray, drawn: np.ndarray, labelled: np.ndarray) -> np.ndarray:
    """Design weights 1 / pi of a wave's labelled rows, each class of rows drawn alike (same pi) carrying its
    blank rows' weight too."""
    design = np.zeros(len(inclusion))
    classes = np.round(np.log(inclusion[drawn]), 9)
    drawn_rows, base = np.flatnonzero(drawn), 1.0 / inclusion[drawn]
    for c in np.unique(classes):
        members = drawn_rows[classes == c]
        answered = members[labelled[members]]
        if answered.size:
            design[answered] = base[classes == c][labelled[members]] * (
                (1.0 / inclusion[members]).sum() / (1.0 / inclusion[answered]).sum())
    return design


def _fail_if(source: str, bad: np.ndarray, rows: np.ndarray, message: str, column: str) -> None:
    if np.any(bad):
        raise BadInputError(source, message, rows=rows[np.asarray(bad, bool)].tolist(), column=column)
