"""The report's blockers section: one entry per failed blocking expectation, expectation that could not be
evaluated or required figure not measured, with the figure, its limit and what to do."""

from __future__ import annotations

from typing import Any

from labelgate.estimation import estimate_text
from labelgate.harm import DECIDING, SOURCE, figures_text
from labelgate.report import plots
from labelgate.report.inputs import (
    ReportInputs,
    all_curves,
    blocking,
    curve_points,
    curve_series,
    eval_subsets,
    fmt,
    label_error,
    observed_text,
    ordered_outcomes,
    seeds,
    share_text,
)
from labelgate.report.sections import Missing, _input_note
from labelgate.vocabulary import AUDIT_EVIDENCE, ERRORED, FAILED, WARN


def blockers_section(inputs: ReportInputs) -> dict[str, Any]:
    """One entry per blocking figure with the numbers behind it: the audit estimate per class, the audit
    reference's gold- vs LLM-trained accuracy per seed and its curves, the gated subset's seeds and curve, the
    filter subset's size; any other blocker with its observed value and limit."""
    verdict = inputs.verdict
    if verdict is None:
        raise _input_note(inputs, "verdict", "gate verdict")
    lines = blocking(verdict)
    if not lines:
        raise Missing("Nothing blocks this label set.")
    failed = [o for o in ordered_outcomes(verdict)
              if o.get("status") == ERRORED or (o.get("status") == FAILED and o.get("severity") != WARN)]
    entries = []
    for o in failed:
        entry = _blocker(inputs, o)
        if o.get("column") == "audit_accuracy_lower" and any(e["column"] == AUDIT_EVIDENCE for e in entries):
            entry["tables"] = []  # the audit estimate is shown once, under the label error rate
        entries.append(entry)
    # blockers that are no expectation outcome (a required figure not measured, nothing measured, a gate error)
    entries += [{"title": line, "column": None, "line": line, "tables": [], "plot": None} for line in lines
                if not failed or line.startswith(("required figure", "nothing measured", "gate error"))]
    return {"lines": lines, "entries": entries}


def _blocker(inputs: ReportInputs, o: dict[str, Any]) -> dict[str, Any]:
    column = str(o.get("column") or "")
    title = str(o.get("description") or column)
    entry = {"title": title, "column": column, "line": f"{column}: {observed_text(o)} (limit {o.get('threshold')})",
             "tables": [], "plot": None}
    gated = str((inputs.verdict or {}).get("subset") or "")
    if column == f"{DECIDING}_upper":  # the lead rule: the deciding loss, where it came from, the prediction
        entry["tables"].append(_loss_table(inputs))
    if column.startswith(("audit_accuracy_gap", "audit_macro_f1_gap", "audit_curve", "audit_gold")) or (
            column == f"{DECIDING}_upper" and inputs.audit_reference is not None):
        entry["tables"].append(_audit_reference_table(inputs, gated))
        entry["plot"] = _audit_reference_plot(inputs, gated)
    elif column in ("label_error_rate_upper", "audit_accuracy_lower"):
        entry["tables"].extend(_label_error_tables(inputs))
    elif column in ("accuracy_std", "krippendorff_alpha", "macro_f1_std", "unchanged_prediction_rate",
                    "accuracy_gap_to_reference", "learning_curve_decline"):
        entry["tables"].extend(_stability_tables(inputs, column, gated))
    elif column == "retained_fraction":
        s = inputs.subsets.get(gated) or {}
        entry["tables"].append({"caption": f"Filter subset {gated}", "header": ["LLM label", "rows kept",
                                                                                  "retained"],
                                "rows": [[label, fmt(n), fmt((s.get("retained_fraction_per_class") or {}).get(label))]
                                         for label, n in sorted((s.get("kept_per_class") or {}).items())]})
    return entry


def _loss_table(inputs: ReportInputs) -> dict[str, Any]:
    """The deciding accuracy loss, its source, its limit and the prediction `check` made."""
    loss = (inputs.verdict or {}).get(DECIDING) or {}
    predicted = loss.get("predicted") or {}
    return {"caption": "The accuracy loss (what these labels cost the trained model)",
            "header": ["Figure", "Value"], "rows": [
                ["deciding figure", str(loss.get("text") or "not measured")],
                ["source", str(loss.get(SOURCE) or "—")],
                ["limit (gate.max_accuracy_loss, on the upper bound)",
                 f"{100 * loss['max_accuracy_loss']:g} points"
                 if isinstance(loss.get("max_accuracy_loss"), (int, float)) else "—"],
                ["predicted by check", figures_text(predicted, DECIDING)],
                ["more audit rows that would decide it", fmt(loss.get("rows_needed"))]]}


def _audit_reference_table(inputs: ReportInputs, gated: str) -> dict[str, Any]:
    """The audit reference's gold- vs LLM-trained scores per seed (or a note that the file is missing)."""
    ref = inputs.audit_reference or {}
    rows = [[seed, fmt(s.get("gold_accuracy")), fmt(s.get("llm_accuracy")), fmt(s.get("accuracy_gap")),
             fmt(s.get("gold_macro_f1")), fmt(s.get("llm_macro_f1"))]
            for seed, s in seeds(ref).items()]
    if not rows:
        return {"caption": "No audit reference file: " + inputs.missing.get("audit_reference", "not given"),
                "header": [], "rows": []}
    rows.append(["mean", fmt(ref.get("gold_accuracy_mean")), fmt(ref.get("llm_accuracy_mean")),
                 share_text(ref, "audit_accuracy_gap"), "", ""])
    return {
        "caption": f"Audit reference: the {fmt(ref.get('audit_rows'))} audited rows of subset "
                   f"{ref.get('subset', gated)} trained with their gold and with their LLM labels, scored on "
                   "the gold test set",
        "header": ["seed", "gold-trained accuracy", "LLM-trained accuracy", "gap", "gold macro-F1",
                   "LLM macro-F1"], "rows": rows}


def _audit_reference_plot(inputs: ReportInputs, gated: str) -> str | None:
    """The audit reference's curves and the gated subset's own, as one inline plot (None without any point)."""
    ref = inputs.audit_reference or {}
    curves = {f"audit rows, {name} labels": curve_points(c) for name, c in (ref.get("curves") or {}).items()
              if isinstance(c, dict)}
    own = all_curves(inputs).get(gated)
    if own is not None:
        curves[f"{gated} (LLM labels)"] = curve_points(own)
    if not any(curves.values()):
        return None
    return plots.png_base64(plots.learning_curves(curve_series(
        {name: {"points": points} for name, points in curves.items() if points})))


def _label_error_tables(inputs: ReportInputs) -> list[dict[str, Any]]:
    """The audit estimate against its limit, and the audited error per LLM label (for the whole table)."""
    advice = (inputs.verdict or {}).get("label_error") or {}
    estimate = label_error(inputs) or {}
    scope = (inputs.verdict or {}).get("label_scope") or {}
    rows = [["label_error_rate", estimate_text(advice) if advice.get("label_error_rate") is not None
             else "not measured"],
            ["limit (gate.max_label_error, on the upper bound)", fmt(advice.get("max_label_error"))],
            ["more audit rows that would settle it", fmt(advice.get("rows_needed"))
             if advice.get("rows_needed") is not None else "none: the point estimate is over the limit"],
            ["rows checked", f"{scope.get('subset', 'raw')}: {fmt(scope.get('n_rows'))} rows"]]
    tables = [{"caption": "The audit estimate", "header": ["Figure", "Value"], "rows": rows}]
    classes = estimate.get("per_class_error") or {}
    if classes and scope.get("rows") != "subset":
        tables.append({"caption": "Audited error per LLM label", "header": [
            "LLM label", "audited rows", "audited error [interval]"], "rows": [
            [label, fmt(c.get("audited")), share_text({"e": c.get("error"), "e_lower": c.get("lower"),
                                                      "e_upper": c.get("upper")}, "e")]
            for label, c in sorted(classes.items())]})
    return tables


def _stability_tables(inputs: ReportInputs, column: str, gated: str) -> list[dict[str, Any]]:
    """The gated subset's test scores per seed, and its learning curve for a decline."""
    subset_figures = eval_subsets(inputs).get(gated, {})
    rows = [[seed, fmt(s.get("accuracy")), fmt(s.get("macro_f1"))] for seed, s in seeds(subset_figures).items()]
    tables = [{"caption": f"Subset {gated}: test scores per seed", "header": ["seed", "accuracy", "macro-F1"],
               "rows": rows}]
    own = all_curves(inputs).get(gated)
    if own is not None and column == "learning_curve_decline":
        tables.append({"caption": f"Subset {gated}: learning curve", "header": ["n", "accuracy"],
                       "rows": [[fmt(p.get("n", p.get("fraction"))), fmt(p.get("accuracy"))]
                                for p in curve_points(own)]})
    return tables
