"""Stage 6, gate: check label-risk and training-stability figures against the GX suites in expectations/.

Suites and the tables they run on:
  label_risk          per-example scores (distribution checks: median entropy, label-issue rate, agreement)
  label_summary       one row of label-set figures (estimated noise rate, audit accuracy lower bound, alpha...)
  training_stability  one row: the gated subset's seed-stability figures from `labelgate evaluate`

Thresholds fill the suites' `$PARAMETER` placeholders from params.yaml `gate:`. An expectation whose figure was
not measured (its signal could not run, e.g. no annotator columns) is reported as skipped; everything else that
goes wrong blocks: a failed critical expectation, an expectation that raised, a missing input. Fail closed.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from labelgate.config import check_range
from labelgate.expectations import (
    BLOCK,
    DEFAULT_EXPECTATIONS_DIR,
    WARN,
    Outcome,
    load_suite_json,
    run_suite_json,
    suite_path,
)

LABEL_SUITES = ("label_risk", "label_summary")
STABILITY_SUITE = "training_stability"

PASS, WARNED, BLOCKED = "pass", "warn", "block"


@dataclass(frozen=True)
class GateParams:
    """Risk thresholds (params.yaml section `gate`). Each name is a `$PARAMETER` used in expectations/*.json."""

    subset: str = "raw"  # the trained subset whose stability is gated (the one you would deploy)
    max_median_entropy: float = 0.5  # median normalised entropy of the LLM label distribution
    max_high_entropy_rate: float = 0.3  # share of rows above score.entropy_threshold
    max_label_issue_rate: float = 0.3  # share of rows cleanlab flags
    max_estimated_noise_rate: float = 0.35  # cleanlab's estimated share of wrong labels
    min_audit_accuracy_lower: float = 0.75  # Wilson lower bound of LLM accuracy on gold-audited rows
    min_annotator_alpha: float = 0.6  # Krippendorff's alpha across annotations
    min_agreement_rate: float = 0.5  # share of rows where every annotation agrees
    max_class_balance_tvd: float = 0.15  # total variation distance of label shares vs the gold test set
    max_accuracy_std: float = 0.03  # std of test accuracy across seeds
    max_macro_f1_std: float = 0.04
    min_seed_alpha: float = 0.75  # Krippendorff's alpha of test predictions across seeds
    min_unchanged_rate: float = 0.8  # share of test items predicted identically by every seed
    max_accuracy_gap: float = 0.05  # accuracy below the gold-pool reference run (optional: needs a gold pool)
    max_macro_f1_gap: float = 0.08
    max_audit_accuracy_gap: float = 0.03  # gold- minus LLM-trained accuracy on the audited rows (audit reference)
    max_audit_macro_f1_gap: float = 0.08
    max_learning_curve_decline: float = 0.04  # best accuracy at a smaller fraction minus at the full size

    def __post_init__(self):
        for f in dataclasses.fields(self):
            if f.name.startswith(("max_", "min_")):
                check_range(f.name, float(getattr(self, f.name)), 0.0, 1.0)

    def thresholds(self) -> dict[str, float]:
        return {f.name: float(getattr(self, f.name)) for f in dataclasses.fields(self) if f.name != "subset"}


@dataclass
class Verdict:
    status: str  # pass | warn | block
    outcomes: list[dict[str, Any]]
    reason: str = ""

    @property
    def blocked(self) -> bool:
        return self.status == BLOCKED

    def as_dict(self) -> dict[str, Any]:
        counts = {
            "failed_block": sum(1 for o in self.outcomes if o["status"] == "fail" and o["severity"] == BLOCK),
            "failed_warn": sum(1 for o in self.outcomes if o["status"] == "fail" and o["severity"] == WARN),
            "passed": sum(1 for o in self.outcomes if o["status"] == "pass"),
            "skipped": sum(1 for o in self.outcomes if o["status"] == "skipped"),
        }
        return {"status": self.status, "blocked": self.blocked, "reason": self.reason, "counts": counts,
                "outcomes": self.outcomes}


def label_summary_frame(label_risk: dict[str, Any]) -> pd.DataFrame:
    """One row holding the label-set figures the label_summary suite checks (None where not measured)."""
    metrics = {k: (np.nan if v is None else float(v)) for k, v in label_risk.get("metrics", {}).items()}
    return pd.DataFrame([metrics])


def stability_frame(evaluation: dict[str, Any], subset: str) -> pd.DataFrame:
    """One row with the gated subset's seed-stability figures."""
    subsets = evaluation.get("subsets", {})
    if subset not in subsets:
        raise KeyError(f"gate.subset '{subset}' has no evaluation; evaluated: {sorted(subsets)}")
    figures = subsets[subset]
    # Every scalar goes in as it is: a figure that is not a number makes its expectation error, which blocks.
    row = {k: (np.nan if v is None else float(v) if isinstance(v, (bool, int, float)) else v)
           for k, v in figures.items() if not isinstance(v, (dict, list))}
    return pd.DataFrame([row])


def run_gate(
    *,
    scores: pd.DataFrame | None,
    label_risk: dict[str, Any] | None,
    evaluation: dict[str, Any] | None,
    params: GateParams,
    expectations_dir: str | os.PathLike = DEFAULT_EXPECTATIONS_DIR,
) -> Verdict:
    """Run the suites whose inputs are given; return the verdict. Never raises for a failed expectation."""
    thresholds = params.thresholds()
    outcomes: list[dict[str, Any]] = []
    plan = []
    if scores is not None:
        plan.append(("label_risk", scores))
    if label_risk is not None:
        plan.append(("label_summary", label_summary_frame(label_risk)))
    if evaluation is not None:
        plan.append((STABILITY_SUITE, stability_frame(evaluation, params.subset)))
    if not plan:
        return Verdict(BLOCKED, [], reason="nothing to check: no scores, label risk or evaluation given")
    for suite, frame in plan:
        suite_json = load_suite_json(suite, expectations_dir)
        measured, skipped = _split_measured(suite_json, frame)
        outcomes.extend(_row(suite, outcome, "skipped") for outcome in skipped)
        if measured["expectations"]:
            for outcome in run_suite_json(measured, frame, thresholds, source=suite_path(suite, expectations_dir)):
                outcomes.append(_row(suite, outcome, "pass" if outcome.success else "fail"))
    return _decide(outcomes)


def _split_measured(suite_json: dict, frame: pd.DataFrame) -> tuple[dict, list[Outcome]]:
    """Expectations on columns that are absent or all-null are skipped: that figure was not measured."""
    keep, skipped = [], []
    for expectation in suite_json["expectations"]:
        column = expectation.get("kwargs", {}).get("column")
        if column is not None and (column not in frame.columns or frame[column].isna().all()):
            meta = expectation.get("meta", {})
            skipped.append(Outcome(expectation=expectation["type"], column=column, success=True,
                                   severity=_severity(expectation), description=meta.get("description", ""),
                                   mitigation=meta.get("mitigation", ""), observed="not measured"))
        else:
            keep.append(expectation)
    return {**suite_json, "expectations": keep}, skipped


def _severity(expectation: dict) -> str:
    return WARN if str(expectation.get("severity", "critical")).lower() in ("warning", "info") else BLOCK


def _row(suite: str, outcome: Outcome, status: str) -> dict[str, Any]:
    row = outcome.as_dict()
    row.pop("rows", None)
    if outcome.error:
        status = "error"
    return {"suite": suite, "status": status, **row}


def _decide(outcomes: list[dict[str, Any]]) -> Verdict:
    errors = [o for o in outcomes if o["status"] == "error"]
    if errors:  # fail closed: an expectation that could not be evaluated blocks whatever its severity
        return Verdict(BLOCKED, outcomes, reason=f"{len(errors)} expectation(s) could not be evaluated")
    blocking = [o for o in outcomes if o["status"] == "fail" and o["severity"] == BLOCK]
    if blocking:
        return Verdict(BLOCKED, outcomes, reason=f"{len(blocking)} blocking expectation(s) failed")
    warnings = [o for o in outcomes if o["status"] == "fail"]
    if warnings:
        return Verdict(WARNED, outcomes, reason=f"{len(warnings)} warning expectation(s) failed")
    return Verdict(PASS, outcomes, reason="every measured expectation passed")


def failed_gate_verdict(reason: str) -> Verdict:
    """The verdict written when the gate itself could not run: blocked, with the reason."""
    return Verdict(BLOCKED, [], reason=f"gate error: {reason}")
