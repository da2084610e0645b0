"""The gate's decision: the Verdict, which expectations were measured, and the fail-closed rule that turns
outcomes into pass, warn or block."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from labelgate.expectations import Outcome, expectation_columns, expectation_severity
from labelgate.gate.figures import SUBSET_SIZE, _not_numbers, _out_of_range
from labelgate.gate.params import GateParams, WHOLE_TABLE
from labelgate.verdict import count_outcomes
from labelgate.vocabulary import AUDIT_EVIDENCE, BLOCK, ERRORED, FAILED, PASS, WARN


@dataclass
class Verdict:
    status: str  # pass | warn | block
    outcomes: list[dict[str, Any]]
    reason: str = ""
    missing_required: list[str] = field(default_factory=list)  # required figures (or alternatives) not measured
    figures: dict[str, Any] = field(default_factory=dict)  # every figure judged, None = not measured
    label_error: dict[str, Any] | None = None  # the audit estimate, its method and the next steps
    accuracy_loss: dict[str, Any] | None = None  # the deciding accuracy loss, its source, the predicted one, advice
    blocking: list[str] = field(default_factory=list)  # one line per blocker (what the headline names)
    label_scope: dict[str, Any] | None = None  # whose rows the label-level suites checked (table or gated subset)

    @property
    def blocked(self) -> bool:
        return self.status == BLOCK

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "blocked": self.blocked, "reason": self.reason,
                "blocking": self.blocking, "label_scope": self.label_scope,
                "counts": count_outcomes(self.outcomes),
                "missing_required": self.missing_required, "figures": self.figures, "accuracy_loss": self.accuracy_loss,
                "label_error": self.label_error,
                "outcomes": self.outcomes}


def _for_rows(suite_json: dict, subset: dict[str, Any] | None) -> dict:
    """The suite as it applies to the rows checked: the gated subset's size check only when a filter subset is
    gated (the whole table keeps all its rows by definition, which is no measurement)."""
    if subset is not None:
        return suite_json
    keep = [e for e in suite_json["expectations"] if SUBSET_SIZE not in expectation_columns(e)]
    return suite_json if len(keep) == len(suite_json["expectations"]) else {**suite_json, "expectations": keep}


def _label_scope(label_risk, subset, params: GateParams, scores) -> dict[str, Any]:
    if subset is None:
        rows = (label_risk or {}).get("n_rows") if isinstance(label_risk, dict) else None
        return {"rows": "table", "subset": WHOLE_TABLE, "n_rows": rows if rows is not None else (
            None if scores is None else int(len(scores)))}
    return {"rows": "subset", "subset": params.subset, "n_rows": subset.get("rows_kept"),
            "rows_in": subset.get("rows_in"), SUBSET_SIZE: subset.get("retained_fraction")}


def _split_measured(suite_json: dict, frame: pd.DataFrame, optional: tuple[str, ...], *,
                    numbers_only: bool = False) -> tuple[dict, list[Outcome]]:
    """Expectations on columns that are absent or all-null were not measured. They are skipped, except a blocking
    one whose column gate.optional does not list: that one is an error (it blocks: no PASS without evidence).
    `numbers_only` (the one-row figure tables): a figure that is not a number errors, which blocks."""
    keep, skipped = [], []
    for expectation in suite_json["expectations"]:
        columns = expectation_columns(expectation)
        absent = [c for c in columns if c not in frame.columns or frame[c].isna().all()]
        if absent:
            meta = expectation.get("meta", {})
            severity = expectation_severity(expectation)
            error = None
            if severity == BLOCK and absent[0] not in optional:
                error = (f"blocking figure '{absent[0]}' was not measured (list it in gate.optional "
                         f"to allow that)")
            skipped.append(Outcome(expectation=expectation["type"], column=absent[0], success=error is None,
                                   severity=severity, description=meta.get("description", expectation["type"]),
                                   mitigation=meta.get("mitigation", ""), observed="not measured", error=error))
        elif (problem := _not_numbers(frame, columns) if numbers_only else None) is not None or (
                problem := _out_of_range(frame, columns)) is not None:
            meta = expectation.get("meta", {})
            skipped.append(Outcome(expectation=expectation["type"], column=columns[0], success=False,
                                   severity=expectation_severity(expectation),
                                   description=meta.get("description", expectation["type"]),
                                   mitigation=meta.get("mitigation", ""), observed=problem, error=problem))
        else:
            keep.append(expectation)
    return {**suite_json, "expectations": keep}, skipped


def _row(suite: str, outcome: Outcome, status: str) -> dict[str, Any]:
    row = outcome.as_dict()
    row.pop("rows", None)
    if outcome.error:
        status = ERRORED
    return {"suite": suite, "status": status, **row}


def _decide(outcomes: list[dict[str, Any]], params: GateParams, checked: dict[str, set[str]]) -> Verdict:
    """Fail closed: PASS needs every required figure measured, at least one measured figure per suite that ran,
    no expectation that could not be evaluated and no failed blocking expectation."""
    measured = {o["column"] for o in outcomes if o["status"] in (PASS, FAILED)}
    ran = set().union(*checked.values())
    missing = [" or ".join(entry) for entry in params.required
               if any(name in ran for name in entry) and not any(name in measured for name in entry)]
    reasons = []
    empty = [suite for suite, columns in checked.items()
             if not any(o["suite"] == suite and o["status"] in (PASS, FAILED) for o in outcomes)]
    if empty:
        reasons.append(f"nothing measured by suite(s) {', '.join(empty)}")
    if missing:
        reasons.append(f"required figure(s) not measured: {'; '.join(missing)}" + (
            " (no gold audit rows: `labelgate audit sample`, label them, `labelgate audit merge`)"
            if any(AUDIT_EVIDENCE in entry for entry in missing) else ""))
    errors = [o for o in outcomes if o["status"] == ERRORED]
    if errors:  # an expectation that could not be evaluated (or a blocking one not measured) blocks
        reasons.append(f"{len(errors)} expectation(s) could not be evaluated: "
                       f"{', '.join(sorted({str(o['column']) for o in errors}))}")
    blocking = [o for o in outcomes if o["status"] == FAILED and o["severity"] == BLOCK]
    if blocking:
        reasons.append(f"{len(blocking)} blocking expectation(s) failed")
    if reasons:
        return Verdict(BLOCK, outcomes, reason="; ".join(reasons), missing_required=missing)
    warnings = [o for o in outcomes if o["status"] == FAILED]
    if warnings:
        return Verdict(WARN, outcomes, reason=f"{len(warnings)} warning expectation(s) failed")
    return Verdict(PASS, outcomes, reason="every required figure was measured and every measured expectation passed")


def failed_gate_verdict(reason: str) -> Verdict:
    """The verdict written when the gate itself could not run: blocked, with the reason."""
    return Verdict(BLOCK, [], reason=f"gate error: {reason}", blocking=[f"gate error: {reason}"])
