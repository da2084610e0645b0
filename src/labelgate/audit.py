"""The gold audit round trip: choose rows for a human to label (`labelgate audit sample`), bring the labels back
(`labelgate audit merge`). docs/audit.md is the user's guide.

Sample design (one wave): stratified by LLM label with proportional allocation (each label's share of the wave
equals its share of the rows not drawn yet, at least `min_per_class` rows per label), simple random sampling without
replacement inside each stratum. With `oversample` > 1, each stratum is split into its riskiest `high_risk_share` of
rows and the rest, and the risky part gets `oversample` times its proportional share of the stratum's rows (each
part at least one row when the stratum gets two or more). Risk, in order of preference: `label_error_risk` (a
previous audit's risk model), 1 - `cleanlab_label_quality`, `entropy_normalised`; without any, no over-sampling.
A wave draws only rows that no earlier wave drew and that have no gold label; rows drawn but left blank stay drawn
(they count as missing until labelled: the hard rows get skipped, so a later wave must not replace them).

Multi-wave design and the weights. `audit merge` records every drawn row (labelled or not) in the table:
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
made consistent. With the weights summing to N_h, the Hajek mean of a stratum (estimation.py) equals the
Horvitz-Thompson estimate divided by N_h: unbiased, whatever the number of waves or the over-sampling
(tests/test_audit.py simulates a two-wave audit whose second wave over-samples risky rows).

Blind audit: the sheet shows the human the text only. The LLM's label (and the stratum and risk, which reveal it)
appear only with `show_llm_label`: a reviewer who sees the LLM's answer tends to agree with it (anchoring), and the
audit would then measure agreement with the LLM instead of its error.

Export (.csv, .jsonl, or .json = one JSON array: Label Studio imports it as tasks, Argilla as records), one row per
drawn text:
  id, text       the row's id and text (Label Studio: `$text` in the labelling config; Argilla: a TextField)
  audit_wave     the wave: keep it, `audit merge` brings it back
  audit_weight   1 / inclusion probability in this wave: keep it, `audit merge` records it
  gold_label     empty: the human's label goes here
  llm_label, audit_stratum, audit_risk   only with show_llm_label
Merge reads the same columns back from CSV, JSONL or JSON (a JSON array of flat objects, or Label Studio's JSON
export with `data` and `annotations`); `--gold-column` names the column that holds the human's label (Label
Studio's CSV export names it after the Choices control, e.g. `sentiment`). Label Studio tasks: cancelled (skipped)
annotations do not vote; a task is labelled only when more than half of its voting annotations agree, else it stays
blank and counts as unresolved (two disagreeing annotators: unresolved); predictions (pre-annotations) are never
read as gold. Every drawn row must come back (blank if unlabelled): a sheet whose weights do not add up to the rows
its wave was drawn from is refused.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelgate.config import check_range
from labelgate.contract import AUDIT_WEIGHT, GOLD, ID, LLM_LABEL, TEXT, read_table, stable_id
from labelgate.errors import BadInputError
from labelgate.vocabulary import AUDIT_INCLUSION, AUDIT_WAVE, CSV, JSONL

EXPORT_SUFFIXES = (CSV, JSONL, ".json")
STRATUM = "audit_stratum"
RISK = "audit_risk"
RISK_SOURCES = (("label_error_risk", False), ("cleanlab_label_quality", True), ("entropy_normalised", False))
LEGACY_WAVE = 0  # gold rows audited before any recorded design
TOLERANCE = 1e-6  # relative: weights that should add up to a row count may differ from it by rounding only


@dataclass(frozen=True)
class AuditSampleParams:
    """Audit sample design (params.yaml section `audit`, the `audit sample` command). Not the audit signal's
    settings: those are signals.audit.AuditParams (section `score`)."""

    size: int = 250  # rows to send to a human; about 250 certify an error rate near 0.05 under 0.10
    oversample: float = 1.0  # 1: proportional; k > 1: the riskiest rows of each label get k times their share
    high_risk_share: float = 0.2  # the riskiest share of each label's rows that `oversample` favours
    min_per_class: int = 2  # rows per LLM label at least (a stratum's variance needs two)
    seed: int = 0

    def __post_init__(self):
        check_range("size", self.size, 1)
        check_range("oversample", self.oversample, 1.0, 100.0)
        check_range("high_risk_share", self.high_risk_share, 0.01, 0.99)
        check_range("min_per_class", self.min_per_class, 0)
        check_range("seed", self.seed, 0)


def risk_score(frame: pd.DataFrame) -> tuple[np.ndarray | None, str | None]:
    """Per-row risk (higher = likelier wrong) from the first score column available, and its name."""
    for column, inverted in RISK_SOURCES:
        if column in frame.columns:
            values = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
            if not np.isnan(values).any():
                return (1.0 - values if inverted else values), column
    return None, None


def sample_audit(frame: pd.DataFrame, labels: list[str], params: AuditSampleParams, *,
                 show_llm_label: bool = False, source: str = "table") -> tuple[pd.DataFrame, dict[str, Any]]:
    """Choose the next wave's rows; return (export table, design summary). Rows with a gold_label and rows an
    earlier wave drew are not drawn again. The export hides the LLM label unless `show_llm_label`."""
    rng = np.random.default_rng(params.seed)
    frame = frame.reset_index(drop=True)
    ids = frame[ID].astype(str) if ID in frame.columns else frame[TEXT].map(stable_id)
    design = recorded_design(frame, source)
    candidates = np.isnan(design.wave)
    wave = design.next_wave
    risk, risk_name = risk_score(frame)
    oversample = params.oversample if risk is not None else 1.0
    pool = np.flatnonzero(candidates)
    size = min(params.size, len(pool))
    given = frame[LLM_LABEL].to_numpy(object)
    strata = {label: pool[given[pool] == label] for label in labels}
    allocation = _allocate({k: len(v) for k, v in strata.items()}, size, params.min_per_class)
    chosen, weights, names = [], [], []
    for label, rows in strata.items():
        n = allocation[label]
        if n == 0:
            continue
        for name, part, n_part in _split(label, rows, n, risk, oversample, params.high_risk_share):
            if n_part == 0:
                continue
            picked = rng.choice(part, size=n_part, replace=False)
            chosen.extend(picked.tolist())
            weights.extend([len(part) / n_part] * n_part)
            names.extend([name] * n_part)
    order = np.argsort(chosen, kind="stable")
    chosen = np.asarray(chosen, int)[order]
    columns = {ID: ids.to_numpy(object)[chosen], TEXT: frame[TEXT].to_numpy(object)[chosen]}
    if show_llm_label:
        columns[LLM_LABEL] = given[chosen]
    columns[AUDIT_WAVE] = np.full(len(chosen), wave, dtype=int)
    columns[AUDIT_WEIGHT] = np.asarray(weights, float)[order]
    if show_llm_label:
        columns[STRATUM] = np.asarray(names, object)[order]
        columns[RISK] = risk[chosen] if risk is not None else np.full(len(chosen), np.nan)
    columns[GOLD] = np.full(len(chosen), None, dtype=object)
    export = pd.DataFrame(columns)
    summary = {
        "rows": int(len(frame)), "candidates": int(len(pool)), "chosen": int(len(chosen)), "wave": int(wave),
        "per_stratum": pd.Series(np.asarray(names, object)[order]).value_counts().sort_index().to_dict()
        if show_llm_label else {label: int(n) for label, n in allocation.items()},
        "risk": risk_name, "oversample": oversample, "seed": params.seed, "blind": not show_llm_label,
    }
    return export, summary


def _allocate(sizes: dict[str, int], total: int, minimum: int) -> dict[str, int]:
    """Proportional allocation (largest remainder), then strata under `minimum` (or under their size, if smaller)
    are raised, taking rows from the strata with the most rows allocated."""
    population = sum(sizes.values())
    total = min(total, population)
    if total == 0:
        return {k: 0 for k in sizes}
    exact = {k: total * v / population for k, v in sizes.items()}
    allocation = {k: int(math.floor(x)) for k, x in exact.items()}
    for k in sorted(sizes, key=lambda k: exact[k] - allocation[k], reverse=True)[:total - sum(allocation.values())]:
        allocation[k] += 1
    floor = {k: min(v, minimum) for k, v in sizes.items()}
    for k in sorted(sizes, key=lambda k: sizes[k]):
        while allocation[k] < floor[k]:
            donors = [d for d in sizes if allocation[d] > floor[d]]
            if not donors:
                return allocation
            allocation[max(donors, key=lambda d: allocation[d])] -= 1
            allocation[k] += 1
    return allocation


def _split(label: str, rows: np.ndarray, n: int, risk: np.ndarray | None, oversample: float, share: float):
    """The stratum as (name, rows, rows to draw) parts: one part, or high-risk and the rest when over-sampling.
    Both parts get at least one row: a part with none would have inclusion probability 0, and no weight can
    stand for rows that could never be drawn."""
    if risk is None or oversample <= 1.0 or len(rows) < 3 or n < 2:
        return [(label, rows, n)]
    ranked = rows[np.argsort(-risk[rows], kind="stable")]
    n_high_rows = min(len(rows) - 1, max(1, int(math.ceil(share * len(rows)))))
    high, low = ranked[:n_high_rows], ranked[n_high_rows:]
    weight_high = oversample * len(high)
    n_high = int(round(n * weight_high / (weight_high + len(low))))
    n_high = min(len(high), max(n - len(low), n_high))
    n_high = min(max(n_high, 1), n - 1, len(high))
    return [(f"{label}/high-risk", high, n_high), (label, low, n - n_high)]


def write_export(path: str | os.PathLike, export: pd.DataFrame) -> None:
    """Write the audit sheet as CSV, JSONL or a JSON array (atomic)."""
    from labelgate.outputs import atomic_path, write_table

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise BadInputError(path, f"unsupported export format '{suffix}'; use one of {', '.join(EXPORT_SUFFIXES)}")
    if suffix != ".json":
        write_table(path, export)
        return
    records = json.loads(export.to_json(orient="records", force_ascii=False, double_precision=15))
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(records, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


# ----------------------------------------------------------------------------------------------- reading sheets

CANCELLED = "_cancelled"  # Label Studio task whose every annotation was cancelled (skipped)
UNRESOLVED = "_unresolved"  # Label Studio task whose voting annotations have no majority


def read_annotations(path: str | os.PathLike, gold_column: str) -> pd.DataFrame:
    """The human's labels: a table with `id`, the gold column and the design columns (audit_wave, audit_weight).
    Reads CSV, Parquet, JSONL and JSON (a flat array, or Label Studio's JSON export: see `_flat_record`); Label
    Studio tasks add the boolean columns `_cancelled` and `_unresolved`."""
    path = Path(path)
    if path.suffix.lower() != ".json":
        return read_table(path)
    if not path.exists():
        raise BadInputError(path, "file not found")
    if path.is_dir():
        raise BadInputError(path, "is a folder, expected a JSON file")
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInputError(path, f"not valid JSON ({str(exc).splitlines()[0]})") from None
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


# ---------------------------------------------------------------------------------------------------- the design

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
    target = position[notes].to_numpy()
    sheet_wave, sheet_inclusion = _sheet_design(annotations, source, rows, design, target)
    existing = frame[GOLD].to_numpy(object) if GOLD in frame.columns else np.full(len(frame), None, object)
    existing = np.array([v if isinstance(v, str) else None for v in existing], object)
    conflict = labelled & np.array([e is not None and e != g for e, g in zip(existing[target], gold)], bool)
    _fail_if(source, conflict, rows, "conflicts with the label table's existing gold_label", gold_column)
    was_gold = existing != None  # noqa: E711 - elementwise
    wave, inclusion = design.wave.copy(), design.inclusion.copy()
    if sheet_wave is None:  # a sheet without a design: more rows of the legacy simple random sample
        wave[target] = LEGACY_WAVE
        inclusion[wave == LEGACY_WAVE] = (wave == LEGACY_WAVE).sum() / len(frame)
    else:
        recorded = ~np.isnan(wave[target])
        _fail_if(source, recorded & (wave[target] != sheet_wave), rows,
                 "row already drawn in another audit wave (or audited before any recorded one)", ID)
        _fail_if(source, recorded & ~np.isclose(inclusion[target], sheet_inclusion, rtol=TOLERANCE), rows,
                 "audit weight differs from the one recorded for this row", AUDIT_WEIGHT)
        wave[target] = sheet_wave
        inclusion[target] = sheet_inclusion
    new_gold = existing.copy()
    new_gold[target[labelled]] = gold[labelled].to_numpy(object)
    given = frame[LLM_LABEL].to_numpy(object)
    if sheet_wave is not None:
        _check_wave_complete(source, given, wave, inclusion, sheet_wave, target)
    has_gold = new_gold != None  # noqa: E711
    weights = design_weights(given, wave, inclusion, has_gold)
    measured = {h for h in np.unique(given[has_gold])}
    expected = int(np.isin(given, list(measured)).sum())
    total = float(np.nansum(weights[has_gold]))
    if has_gold.any() and abs(total - expected) > TOLERANCE * expected:
        raise BadInputError(table_source, f"the audit weights sum to {total:.3f}, not to the {expected} rows of "
                            "the audited labels: the audit design cannot be made consistent", column=AUDIT_WEIGHT)
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


def _fail_if(source: str, bad: np.ndarray, rows: np.ndarray, message: str, column: str) -> None:
    if np.any(bad):
        raise BadInputError(source, message, rows=rows[np.asarray(bad, bool)].tolist(), column=column)


def sample_main(table: str | os.PathLike, out: str | os.PathLike, *, params: dict[str, Any],
                labels: str | None = None, overrides: dict[str, Any] | None = None,
                show_llm_label: bool = False) -> dict[str, Any]:
    """`labelgate audit sample` on files: params `audit:` with the command's `overrides` (size, oversample, seed),
    the audit sheet to `out`. Returns the sample's summary."""
    import dataclasses

    from labelgate.config import base_labels, build, section
    from labelgate.contract import resolve_labels

    audit_params = build(AuditSampleParams, {**dataclasses.asdict(section(params, "audit", AuditSampleParams)),
                                             **(overrides or {})}, section="audit")
    frame = read_table(table)
    for column in (TEXT, LLM_LABEL):
        if column not in frame.columns:
            raise BadInputError(table, "required column missing", column=column)
    _refuse_labelled_sheet(out)
    export, summary = sample_audit(frame, list(resolve_labels(base_labels(params), frame, option=labels)),
                                   audit_params, show_llm_label=show_llm_label, source=str(table))
    if not len(export):
        raise BadInputError(table, "no row left to draw: every row has a gold label or was drawn by an earlier "
                                   "wave (label the drawn rows left blank)")
    write_export(out, export)
    return summary


def _refuse_labelled_sheet(out: str | os.PathLike) -> None:
    """A new sheet must not replace one that holds a person's labels (an earlier wave, perhaps not merged yet)."""
    if not Path(out).is_file():
        return
    try:
        sheet = read_annotations(out, GOLD)
    except BadInputError:  # not a readable sheet: an ordinary file to replace
        return
    if GOLD in sheet.columns and sheet[GOLD].notna().any():
        raise BadInputError(out, f"holds {int(sheet[GOLD].notna().sum())} gold labels (a labelled audit sheet); "
                                 "write the new wave to another path", column=GOLD)


def merge_main(table: str | os.PathLike, annotations: str | os.PathLike, out: str | os.PathLike, *,
               params: dict[str, Any], labels: str | None = None, gold_column: str = GOLD) -> dict[str, Any]:
    """`labelgate audit merge` on files: the human's labels from `annotations` into the table as gold_label, the
    design recorded and the weights derived, written to `out`. A merge that changes nothing rewrites nothing: `out`
    is left alone when it is the table, else becomes a byte copy of it. Returns the merge's summary."""
    import shutil

    from labelgate.config import base_labels
    from labelgate.contract import resolve_labels
    from labelgate.outputs import atomic_path, table_suffix, write_table

    table_suffix(out)
    if Path(annotations).resolve() == Path(table).resolve():
        raise BadInputError(annotations, "ANNOTATIONS is the same file as TABLE; merge the sheet `audit sample` wrote")
    frame = read_table(table)
    for column in (TEXT, LLM_LABEL):
        if column not in frame.columns:
            raise BadInputError(table, "required column missing", column=column)
    label_set = list(resolve_labels(base_labels(params), frame, option=labels))
    merged, summary = merge_audit(frame, read_annotations(annotations, gold_column), label_set,
                                  gold_column=gold_column, source=str(annotations), table_source=str(table))
    same_file = Path(out).resolve() == Path(table).resolve()
    if summary["changed"]:
        write_table(out, merged)
    elif not same_file:
        if Path(out).suffix.lower() != Path(table).suffix.lower():
            write_table(out, merged)
        else:
            with atomic_path(out) as tmp:
                shutil.copyfile(table, tmp)
    return summary
