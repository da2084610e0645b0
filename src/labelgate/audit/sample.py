"""Sample design (one wave): stratified by LLM label with proportional allocation (each label's share of the wave
equals its share of the rows not drawn yet, at least `min_per_class` rows per label), simple random sampling without
replacement inside each stratum. With `oversample` > 1, each stratum is split into its riskiest `high_risk_share` of
rows and the rest, and the risky part gets `oversample` times its proportional share of the stratum's rows (each
part at least one row when the stratum gets two or more). Risk, in order of preference: `label_error_risk` (a
previous audit's risk model), 1 - `cleanlab_label_quality`, `entropy_normalised`; without any, no over-sampling.
A wave draws only rows that no earlier wave drew and that have no gold label; rows drawn but left blank stay drawn
(they count as missing until labelled: the hard rows get skipped, so a later wave must not replace them).

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

from labelgate.audit.design import recorded_design
from labelgate.config import check_range
from labelgate.contract import AUDIT_WEIGHT, GOLD, ID, LLM_LABEL, TEXT, stable_id
from labelgate.errors import BadInputError
from labelgate.vocabulary import AUDIT_WAVE, CSV, JSONL


# ----------------------------------------------------------------------------------------------- reading sheets


# ---------------------------------------------------------------------------------------------------- the design


# ----------------------------------------------------------------------------------------------------- merging


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


def label_studio_config(labels: list[str]) -> str:
    """Label Studio's labelling config for the sheet: the text (`$text`) and one single-choice, required Choices
    control named `gold_label` (the column `audit merge` reads), one Choice per label. Nothing else of the sheet is
    shown (blind audit); an annotator can still skip a task, which `audit merge` counts as cancelled."""
    from xml.sax.saxutils import quoteattr

    choices = "\n".join(f"    <Choice value={quoteattr(label)}/>" for label in labels)
    return (f'<View>\n  <Text name="{TEXT}" value="${TEXT}"/>\n'
            f'  <Choices name="{GOLD}" toName="{TEXT}" choice="single" required="true" showInline="true">\n'
            f"{choices}\n  </Choices>\n</View>\n")
