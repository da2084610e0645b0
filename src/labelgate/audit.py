"""The gold audit round trip: choose rows for a human to label (`labelgate audit sample`), bring the labels back
(`labelgate audit merge`).

Sample design: stratified by LLM label with proportional allocation (each label's share of the audit equals its
share of the unaudited rows, at least `min_per_class` rows per label), simple random sampling without replacement
inside each stratum. With `oversample` > 1, each stratum is split into its riskiest `high_risk_share` of rows and
the rest, and the risky part gets `oversample` times its proportional share of the stratum's rows. Every chosen row
carries `audit_weight` = 1 / its inclusion probability (sub-stratum rows / rows chosen from it); the estimator
(labelgate.estimation) weights the audited rows by it, so an over-sampled audit still estimates the error rate of
the whole set without bias. Risk, in order of preference: `label_error_risk` (a previous audit's risk model),
1 - `cleanlab_label_quality`, `entropy_normalised`; without any (a plain label table), no over-sampling.

A follow-up audit samples only rows without a gold label; its weights refer to those rows. With proportional
allocation (oversample 1) two waves together are again a stratified random sample, and the weights of the two
waves are close to each other; after an over-sampled wave, keep each wave's weights as written.

Export (.csv, .jsonl, or .json = one JSON array), one row per chosen text:
  id, text       the row's id and text (Label Studio: `$text` in the labelling config; Argilla: a TextField)
  llm_label      the LLM's label (show it as a pre-annotation / suggestion, or hide it for a blind audit)
  audit_weight   1 / inclusion probability: keep it, `audit merge` brings it back
  audit_stratum  the sub-stratum the row was drawn from, e.g. "negative" or "negative/high-risk"
  audit_risk     the risk score used for over-sampling (empty without one)
  gold_label     empty: the human's label goes here
Merge reads the same columns back from CSV, JSONL or JSON (a JSON array of flat objects, or Label Studio's JSON
export with `data` and `annotations`); `--gold-column` names the column that holds the human's label (Label
Studio's CSV export names it after the Choices control, e.g. `sentiment`).
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
from labelgate.vocabulary import CSV, JSONL

EXPORT_SUFFIXES = (CSV, JSONL, ".json")
STRATUM = "audit_stratum"
RISK = "audit_risk"
RISK_SOURCES = (("label_error_risk", False), ("cleanlab_label_quality", True), ("entropy_normalised", False))


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


def risk_score(frame: pd.DataFrame) -> tuple[np.ndarray | None, str | None]:
    """Per-row risk (higher = likelier wrong) from the first score column available, and its name."""
    for column, inverted in RISK_SOURCES:
        if column in frame.columns:
            values = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
            if not np.isnan(values).any():
                return (1.0 - values if inverted else values), column
    return None, None


def sample_audit(frame: pd.DataFrame, labels: list[str],
                 params: AuditSampleParams) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Choose the rows to audit; return (export table, design summary). Rows with a gold_label are skipped."""
    rng = np.random.default_rng(params.seed)
    frame = frame.reset_index(drop=True)
    ids = frame[ID].astype(str) if ID in frame.columns else frame[TEXT].map(stable_id)
    candidates = ~frame[GOLD].notna().to_numpy() if GOLD in frame.columns else np.ones(len(frame), bool)
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
    export = pd.DataFrame({
        ID: ids.to_numpy(object)[chosen],
        TEXT: frame[TEXT].to_numpy(object)[chosen],
        LLM_LABEL: given[chosen],
        AUDIT_WEIGHT: np.asarray(weights, float)[order],
        STRATUM: np.asarray(names, object)[order],
        RISK: risk[chosen] if risk is not None else np.full(len(chosen), np.nan),
        GOLD: np.full(len(chosen), None, dtype=object),
    })
    summary = {
        "rows": int(len(frame)), "candidates": int(len(pool)), "chosen": int(len(chosen)),
        "per_stratum": export[STRATUM].value_counts().sort_index().to_dict(),
        "risk": risk_name, "oversample": oversample, "seed": params.seed,
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
    """The stratum as (name, rows, rows to draw) parts: one part, or high-risk and the rest when over-sampling."""
    if risk is None or oversample <= 1.0 or len(rows) < 2:
        return [(label, rows, n)]
    ranked = rows[np.argsort(-risk[rows], kind="stable")]
    n_high_rows = max(1, int(math.ceil(share * len(rows))))
    high, low = ranked[:n_high_rows], ranked[n_high_rows:]
    weight_high = oversample * len(high)
    n_high = int(round(n * weight_high / (weight_high + len(low))))
    n_high = min(len(high), max(n - len(low), n_high))
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
    records = json.loads(export.to_json(orient="records", force_ascii=False))
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(records, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def read_annotations(path: str | os.PathLike, gold_column: str) -> pd.DataFrame:
    """The human's labels: a table with `id`, the gold column and optionally audit_weight. Reads CSV, Parquet,
    JSONL and JSON (a flat array, or Label Studio's JSON export)."""
    path = Path(path)
    if path.suffix.lower() != ".json":
        return read_table(path)
    if not path.exists():
        raise BadInputError(path, "file not found")
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInputError(path, f"not valid JSON ({exc})") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise BadInputError(path, "expected a JSON array of objects")
    return pd.DataFrame([_flat_record(r, gold_column) for r in records]).replace({"": np.nan})


def _flat_record(record: dict, gold_column: str) -> dict:
    """A Label Studio task ({"data": {...}, "annotations": [{"result": [{"value": {"choices": [...]}}]}]}) becomes
    its data plus the first annotation's first choice as the gold column; flat objects pass through."""
    if not isinstance(record.get("data"), dict):
        return record
    flat = dict(record["data"])
    for annotation in record.get("annotations") or []:
        if annotation.get("was_cancelled"):
            continue
        for result in annotation.get("result") or []:
            choices = (result.get("value") or {}).get("choices")
            if choices:
                flat[gold_column] = choices[0]
                return flat
    return flat


def merge_audit(frame: pd.DataFrame, annotations: pd.DataFrame, labels: list[str], *, gold_column: str = GOLD,
                source: str = "annotations") -> tuple[pd.DataFrame, dict[str, Any]]:
    """Put the annotated gold labels (and audit weights) into the label table by id. Raises BadInputError for an
    unknown or duplicate id, a label outside the label set, a bad weight or a conflict with an existing gold label."""
    for column in (ID, gold_column):
        if column not in annotations.columns:
            raise BadInputError(source, "required column missing from the annotations", column=column)
    frame = frame.copy()
    if ID not in frame.columns:
        frame.insert(0, ID, frame[TEXT].map(lambda t: stable_id(t) if isinstance(t, str) else None))
    frame[ID] = frame[ID].astype(str)
    notes = annotations[ID].map(lambda v: None if pd.isna(v) else str(v).strip())
    rows = np.arange(1, len(annotations) + 1)
    _fail_if(source, notes.isna().to_numpy(), rows, "empty id", ID)
    _fail_if(source, notes.duplicated(keep=False).to_numpy(), rows, "duplicate id", ID)
    position = pd.Series(np.arange(len(frame)), index=frame[ID])
    _fail_if(source, ~notes.isin(position.index).to_numpy(), rows, "id not in the label table", ID)
    gold = annotations[gold_column].map(lambda v: v.strip() if isinstance(v, str) else v)
    labelled = gold.notna().to_numpy()
    _fail_if(source, labelled & ~gold.isin(labels).to_numpy(), rows,
             f"gold label not in the label set {labels}", gold_column)
    weights = None
    if AUDIT_WEIGHT in annotations.columns and annotations[AUDIT_WEIGHT].notna().any():
        weights = pd.to_numeric(annotations[AUDIT_WEIGHT], errors="coerce").to_numpy(float)
        _fail_if(source, labelled & ~(np.isfinite(weights) & (weights > 0)), rows,
                 "audit weight must be a number > 0", AUDIT_WEIGHT)
    target = position[notes[labelled]].to_numpy()
    if GOLD not in frame.columns:
        frame[GOLD] = None
    frame[GOLD] = frame[GOLD].astype(object)
    existing = frame[GOLD].to_numpy(object)[target]
    new = gold[labelled].to_numpy(object)
    conflict = np.array([isinstance(e, str) and e != g for e, g in zip(existing, new)], bool)
    _fail_if(source, conflict, rows[labelled], "conflicts with the label table's existing gold_label", gold_column)
    frame.loc[frame.index[target], GOLD] = new
    if weights is not None:
        if AUDIT_WEIGHT not in frame.columns:
            frame[AUDIT_WEIGHT] = np.nan
        frame[AUDIT_WEIGHT] = pd.to_numeric(frame[AUDIT_WEIGHT], errors="coerce")
        frame.loc[frame.index[target], AUDIT_WEIGHT] = weights[labelled]
    summary = {"annotations": int(len(annotations)), "merged": int(labelled.sum()),
               "unlabelled": int((~labelled).sum()), "audited_rows": int(frame[GOLD].notna().sum()),
               "weights": weights is not None}
    return frame, summary


def _fail_if(source: str, bad: np.ndarray, rows: np.ndarray, message: str, column: str) -> None:
    if np.any(bad):
        raise BadInputError(source, message, rows=rows[np.asarray(bad, bool)].tolist(), column=column)


def sample_main(table: str | os.PathLike, out: str | os.PathLike, *, params: dict[str, Any],
                labels: str | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
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
    export, summary = sample_audit(frame, list(resolve_labels(base_labels(params), frame, option=labels)),
                                   audit_params)
    write_export(out, export)
    return summary


def merge_main(table: str | os.PathLike, annotations: str | os.PathLike, out: str | os.PathLike, *,
               params: dict[str, Any], labels: str | None = None, gold_column: str = GOLD) -> dict[str, Any]:
    """`labelgate audit merge` on files: the human's labels from `annotations` into the table as gold_label (with
    the audit weights), written to `out`. Returns the merge's summary."""
    from labelgate.config import base_labels
    from labelgate.contract import resolve_labels
    from labelgate.outputs import write_table

    frame = read_table(table)
    label_set = list(resolve_labels(base_labels(params), frame, option=labels))
    merged, summary = merge_audit(frame, read_annotations(annotations, gold_column), label_set,
                                  gold_column=gold_column, source=str(annotations))
    write_table(out, merged)
    return summary
