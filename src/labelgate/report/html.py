"""The HTML report: one self-contained page rendered from the Jinja2 templates in report/templates/ (autoescape on).

Python prepares each section's data (texts and plots); the templates hold the markup, so every value taken from an
input (label names, descriptions, reasons) is HTML-escaped by Jinja2. The page loads nothing from outside: inline
CSS (templates/report.css), plots as inline base64 PNGs (labelgate.report.plots), and a Content-Security-Policy that
allows only data: images and the page's own style and script by hash. The one script (templates/report.js) marks
<body> once every image has decoded (`data-images-decoded`, `data-image-count`, `data-images-ok`), which the
browser test reads. A section whose input is missing, or that fails to render, shows a note instead.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Callable
from importlib.resources import files
from typing import Any

import numpy as np
import pandas as pd

from labelgate.estimation import estimate_text
from labelgate.harm import DECIDING, SOURCE, figures_text
from labelgate.report import plots
from labelgate.report.inputs import (
    METRIC_NAMES,
    ReportInputs,
    accuracy_loss,
    all_curves,
    before_after,
    blocking,
    counts_text,
    curve_points,
    curve_series,
    eval_subsets,
    fmt,
    label_error,
    labels,
    loss_verdict,
    mean_std,
    next_steps,
    observed_text,
    one_line,
    ordered_outcomes,
    seed_scores,
    seeds,
    share_text,
    signal,
    verdict_reason,
)
from labelgate.verdict import BANNER, verdict_status
from labelgate.vocabulary import AUDIT_EVIDENCE, ERRORED, FAILED, WARN

MAX_HISTOGRAM_CLASSES = 12  # the most frequent classes get a histogram; the rest are named
MAX_WIDE_CLASSES = 8  # the subsets table has a column per class up to this many classes
TEMPLATES = "templates"


class Missing(Exception):
    """A section has nothing to show; its message says why (shown in place of the section's content)."""


@functools.cache
def _environment():
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(loader=PackageLoader("labelgate.report", TEMPLATES), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


@functools.cache
def _static(name: str) -> str:
    return (files("labelgate.report") / TEMPLATES / name).read_text(encoding="utf-8")


def _csp_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii") + "'"


def content_security_policy() -> str:
    """Nothing from outside: data: images, and only the page's own style and script (by hash)."""
    return (f"default-src 'none'; img-src data:; style-src {_csp_hash(_static('report.css'))}; "
            f"script-src {_csp_hash(_static('report.js'))}; base-uri 'none'; form-action 'none'")


def _input_note(inputs: ReportInputs, name: str, what: str) -> Missing:
    return Missing(f"No {what}: {inputs.missing.get(name, 'not given')}.")


def verdict_section(inputs: ReportInputs) -> dict[str, Any]:
    """Every outcome, worst first."""
    if inputs.verdict is None:
        raise _input_note(inputs, "verdict", "gate verdict")
    outcomes = ordered_outcomes(inputs.verdict)
    if not outcomes:
        raise Missing("The verdict holds no expectation outcomes: " + verdict_reason(inputs.verdict))
    rows, classes = [], []
    for o in outcomes:
        status = str(o.get("status", ERRORED))
        failed = status in (FAILED, ERRORED)
        rows.append({
            "description": o.get("description") or o.get("expectation") or "",
            "where": " · ".join(str(x) for x in (o.get("suite"), o.get("column"), o.get("expectation")) if x),
            "observed": observed_text(o), "threshold": o.get("threshold") or "—", "status": status,
            "severity": o.get("severity", ""), "mitigation": o.get("mitigation") or "", "failed": failed,
        })
        classes.append(f"row-{status}" + (f" sev-{o.get('severity')}" if failed else ""))
    return {"outcomes": rows, "row_classes": classes}


def accuracy_loss_section(inputs: ReportInputs) -> dict[str, Any]:
    """The accuracy loss the gate decides on: measured or predicted, the predicted one beside it, what the model
    learns of the LLM's errors (per LLM label, words), the calibration and the next steps."""
    signal_summary = accuracy_loss(inputs)
    loss = loss_verdict(inputs)
    if not loss and signal_summary is None:
        raise _input_note(inputs, "label_risk", "label-risk summary")
    signal_summary = signal_summary or {}
    if not loss and signal_summary.get("available") is False:
        raise Missing(f"No accuracy loss: {signal_summary.get('reason', 'the signal did not run')}.")
    predicted = loss.get("predicted") or {}
    calibration = signal_summary.get("calibration") or {}
    figures = [
        ["deciding figure", f"{loss.get('text', 'not measured')} ({loss.get('accuracy_loss_source', '')})"],
        ["predicted by check (audit, calibrated against fine-tuning)",
         figures_text(predicted, "accuracy_loss") if predicted else figures_text(signal_summary)],
        ["label error rate (gold audit)", fmt(signal_summary.get("label_error_rate"))],
        ["audited wrong labels a model trained on these labels reproduces",
         f"{fmt(signal_summary.get('errors_learned_share'))} of {fmt(signal_summary.get('audited_errors'))} "
         f"(chance {fmt(signal_summary.get('errors_learned_chance'))}; beyond chance "
         f"{fmt(signal_summary.get('errors_learned_excess'))})"],
        ["calibration (rate scale, learned scale, residual sd)",
         ", ".join(fmt(calibration.get(k), 4) for k in ("rate_scale", "learned_scale", "calibration_sd"))],
        ["words most over-represented among the reproduced errors", ", ".join(signal_summary.get("loss_words") or [])
         or "—"],
    ]
    per_class = [[label, fmt(c.get("audited")), fmt(c.get("audited_errors")), fmt(c.get("reproduced_errors"))]
                 for label, c in (signal_summary.get("loss_by_llm_label") or {}).items()]
    limit = loss.get("max_accuracy_loss")
    return {"text": loss.get("text") or figures_text(signal_summary), "status": loss.get("status"),
            "limit": None if limit is None else f"{100 * limit:g} points", "figures": figures,
            "per_class": per_class, "next_steps": [str(s) for s in loss.get("next_steps") or []]}


def label_error_section(inputs: ReportInputs) -> dict[str, Any]:
    """The audit-first label error estimate: interval, method, systematic share, per class, next steps."""
    estimate = label_error(inputs)
    if estimate is None:
        raise _input_note(inputs, "label_risk", "label-risk summary")
    if estimate.get("available") is False:
        raise Missing(f"No label error estimate: {estimate.get('reason', 'the signal did not run')}.")
    metrics = (inputs.label_risk or {}).get("metrics") or {}
    confidence = estimate.get("confidence_level")
    level = f"{confidence:.0%} " if isinstance(confidence, (int, float)) else ""
    threshold = ((inputs.verdict or {}).get("label_error") or {}).get("max_label_error")
    figures = [
        [f"label error rate (gold audit, {level}interval)", estimate_text(estimate)],
        ["method", f"{estimate.get('method', '')}; {estimate.get('interval', '')}"],
        ["systematic share of audited errors (not flagged by cleanlab)",
         share_text(estimate, "systematic_error_share") + f" of {fmt(estimate.get('audited_errors'))} audited errors"],
        ["audited errors predictable from the text (cross-validated AUC; 0.5 = random)",
         share_text(estimate, "text_error_auc")],
        ["cleanlab's audit-free estimate, for comparison", fmt(metrics.get("estimated_noise_rate"))],
    ]
    classes = estimate.get("per_class_error") or {}
    per_class = [[label, fmt(c.get("llm_share")), fmt(c.get("audited")),
                  share_text({"e": c.get("error"), "e_lower": c.get("lower"), "e_upper": c.get("upper")}, "e"),
                  fmt(c.get("share_of_all_errors"))]
                 for label, c in sorted(classes.items(), key=lambda item: -(item[1].get("error") or 0))]
    return {"estimate": estimate_text(estimate), "threshold": None if threshold is None else fmt(threshold, 2),
            "figures": figures, "per_class": per_class, "next_steps": next_steps(inputs)}


def label_set_section(inputs: ReportInputs) -> dict[str, Any]:
    """label_risk.json's figures, named, in reading order; then any figure the report does not name."""
    if inputs.label_risk is None:
        raise _input_note(inputs, "label_risk", "label-risk summary")
    risk = inputs.label_risk
    metrics = risk.get("metrics") or {}
    names = [k for k in METRIC_NAMES if k in metrics] + [k for k in metrics if k not in METRIC_NAMES]
    counts = risk.get("llm_label_counts") or {}
    unavailable = [f"{name}: {s.get('reason', 'did not run')}" for name, s in (risk.get("signals") or {}).items()
                   if isinstance(s, dict) and s.get("available") is False]
    return {
        "n_rows": fmt(risk.get("n_rows")),
        "counts": ", ".join(f"{label}: {fmt(n)}" for label, n in counts.items()),
        "figures": [{"name": METRIC_NAMES.get(k, k), "key": k,
                     "value": fmt(metrics[k]) if metrics[k] is not None else "not measured"} for k in names],
        "unavailable": "; ".join(unavailable),
    }


def entropy_section(inputs: ReportInputs) -> dict[str, Any]:
    """Normalised entropy per LLM label: histograms of the most frequent classes and a row per class."""
    if inputs.scores is None:
        raise _input_note(inputs, "scores", "per-example scores")
    scores = inputs.scores
    if "entropy_normalised" not in scores.columns or "llm_label" not in scores.columns:
        why = (signal(inputs, "entropy") or {}).get("reason") or "the entropy signal did not run"
        raise Missing(f"The scores have no entropy_normalised column ({why}).")
    if scores.empty:
        raise Missing("The scores table has no rows.")
    counts = scores["llm_label"].astype(str).value_counts()
    classes = [label for label in labels(inputs) if counts.get(label, 0) > 0] or list(counts.index)
    shown = sorted(classes, key=lambda label: -counts.get(label, 0))[:MAX_HISTOGRAM_CLASSES]
    threshold = (signal(inputs, "entropy") or {}).get("threshold")
    threshold = float(threshold) if isinstance(threshold, (int, float)) else None
    values = pd.to_numeric(scores["entropy_normalised"], errors="coerce")
    given = scores["llm_label"].astype(str)
    per_class = {label: values[given == label].dropna() for label in classes}
    rows = []
    for label, v in per_class.items():
        above = fmt(float((v > threshold).mean())) if threshold is not None and len(v) else "—"
        rows.append([label, len(v), fmt(v.median() if len(v) else None), above])
    plotted = {label: per_class[label].to_numpy(float) for label in classes if label in shown}
    return {"plot": plots.png_base64(plots.entropy_histograms(plotted, threshold=threshold)),
            "n_classes": len(classes), "n_plotted": len(plotted), "rows": rows,
            "above_header": f"share above {fmt(threshold, 2)}" if threshold is not None else "share above threshold"}


def noise_matrix_section(inputs: ReportInputs) -> dict[str, Any]:
    """cleanlab's noise matrix as a heatmap, with its estimated noise rate."""
    if inputs.label_risk is None:
        raise _input_note(inputs, "label_risk", "label-risk summary")
    cleanlab = signal(inputs, "cleanlab")
    if cleanlab is None:
        raise Missing("cleanlab was not among the scored signals (params.yaml score.signals).")
    if cleanlab.get("available") is False:
        raise Missing(f"cleanlab did not run: {cleanlab.get('reason', 'no reason given')}.")
    if not cleanlab.get("noise_matrix"):
        raise Missing("The cleanlab summary holds no noise matrix.")
    matrix = np.asarray(cleanlab["noise_matrix"], dtype=float)
    names = labels(inputs)[: len(matrix)]
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or len(names) != matrix.shape[0]:
        raise Missing(f"The noise matrix has shape {matrix.shape}, which does not match the "
                      f"{len(labels(inputs))} labels.")
    noise = cleanlab.get("estimated_noise_rate", (inputs.label_risk.get("metrics") or {}).get("estimated_noise_rate"))
    return {"plot": plots.png_base64(plots.noise_heatmap(matrix, names)), "noise_rate": fmt(noise)}


def seeds_section(inputs: ReportInputs) -> dict[str, Any]:
    """Per subset: seed count, mean ± std of accuracy and macro-F1, stability and gap figures; every seed's scores."""
    if inputs.evaluation is None:
        raise _input_note(inputs, "evaluation", "evaluation (train and evaluate the subsets first)")
    subsets = eval_subsets(inputs)
    if not subsets:
        raise Missing("The evaluation holds no subsets.")
    reference = inputs.evaluation.get("reference")
    gated = (inputs.verdict or {}).get("subset")
    summary = [{
        "name": name,
        "tags": ", ".join(t for t, on in (("reference", name == reference), ("gated", name == gated)) if on),
        "figures": [fmt(f.get("n_seeds", len(seeds(f)))), mean_std(f, "accuracy"), mean_std(f, "macro_f1"),
                    fmt(f.get("krippendorff_alpha")), fmt(f.get("unchanged_prediction_rate")),
                    fmt(f.get("ensemble_accuracy")), fmt(f.get("accuracy_gap_to_reference")),
                    fmt(f.get("macro_f1_gap_to_reference")), fmt(f.get("plateau"))],
    } for name, f in subsets.items()]
    per_seed = [[name, seed, fmt(s.get("accuracy")), fmt(s.get("macro_f1"))]
                for name, f in subsets.items() for seed, s in seeds(f).items()]
    plot = plots.png_base64(plots.seed_strip(seed_scores(subsets))) if per_seed else None
    return {"subsets": summary, "per_seed": per_seed, "plot": plot}


def learning_curves_section(inputs: ReportInputs) -> dict[str, Any]:
    """Each subset's learning curve: the plot, its points, the last doubling's gain, gap and plateau flag."""
    curves = all_curves(inputs)
    if not curves:
        why = inputs.missing.get("curves") or "no curve files with points"
        raise Missing(f"No learning curves: {why}; evaluate.json holds no curve points either.")
    subsets = eval_subsets(inputs)
    rows = []
    for name, curve in curves.items():
        figures = subsets.get(name, {})
        points = ", ".join(f"{fmt(p.get('n', p.get('fraction')))}: {fmt(p.get('accuracy'))}"
                           for p in curve_points(curve))
        gain = curve.get("gain_last_doubling", figures.get("learning_curve_gain_last_doubling"))
        plateau = curve.get("plateau", figures.get("plateau"))
        rows.append([name, points, fmt(gain), fmt(curve.get("gap_to_reference")), fmt(plateau)])
    return {"plot": plots.png_base64(plots.learning_curves(curve_series(curves))), "rows": rows}


def subsets_section(inputs: ReportInputs) -> dict[str, Any]:
    """The filter subsets: rows kept overall and per class, estimated remaining noise, audit error kept vs all."""
    if not inputs.subsets:
        why = inputs.missing.get("subsets") or "no subset summaries (*.json with rows_kept)"
        raise Missing(f"No filter subsets: {why}.")
    classes = labels(inputs)
    for summary in inputs.subsets.values():
        classes += [str(k) for k in (summary.get("kept_per_class") or {}) if str(k) not in classes]
    wide = len(classes) <= MAX_WIDE_CLASSES
    rows = []
    for name, s in inputs.subsets.items():
        kept = {str(k): v for k, v in (s.get("kept_per_class") or {}).items()}
        per_class = ([fmt(kept.get(label)) for label in classes] if wide
                     else [", ".join(f"{k}: {fmt(v)}" for k, v in kept.items())])
        rows.append([name, f"{fmt(s.get('rows_kept'))} / {fmt(s.get('rows_in'))}", fmt(s.get("retained_fraction")),
                     *per_class, fmt(s.get("estimated_remaining_noise_rate")), fmt(s.get("audit_rows_kept")),
                     fmt(s.get("audit_error_rate_kept")), fmt(s.get("audit_error_rate_all")),
                     share_text(s, "label_error_rate")])
    class_header = [f"kept: {label}" for label in classes] if wide else ["kept per class"]
    header = ["Strategy", "rows kept", "retained", *class_header, "est. remaining noise", "audit rows kept",
              "audit error (kept)", "audit error (all)", "label_error_rate (kept) [interval]"]
    return {"header": header, "rows": rows}


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
    subset_figures = eval_subsets(inputs).get(gated, {})
    if column == f"{DECIDING}_upper":  # the lead rule: the deciding loss, where it came from, the prediction
        loss = (inputs.verdict or {}).get(DECIDING) or {}
        predicted = loss.get("predicted") or {}
        entry["tables"].append({"caption": "The accuracy loss (what these labels cost the trained model)",
                                "header": ["Figure", "Value"], "rows": [
                                    ["deciding figure", str(loss.get("text") or "not measured")],
                                    ["source", str(loss.get(SOURCE) or "—")],
                                    ["limit (gate.max_accuracy_loss, on the upper bound)",
                                     f"{100 * loss['max_accuracy_loss']:g} points"
                                     if isinstance(loss.get("max_accuracy_loss"), (int, float)) else "—"],
                                    ["predicted by check", figures_text(predicted, DECIDING)],
                                    ["more audit rows that would decide it", fmt(loss.get("rows_needed"))]]})
    if column.startswith(("audit_accuracy_gap", "audit_macro_f1_gap", "audit_curve", "audit_gold")) or (
            column == f"{DECIDING}_upper" and inputs.audit_reference is not None):
        ref = inputs.audit_reference or {}
        rows = [[seed, fmt(s.get("gold_accuracy")), fmt(s.get("llm_accuracy")), fmt(s.get("accuracy_gap")),
                 fmt(s.get("gold_macro_f1")), fmt(s.get("llm_macro_f1"))]
                for seed, s in seeds(ref).items()]
        if rows:
            rows.append(["mean", fmt(ref.get("gold_accuracy_mean")), fmt(ref.get("llm_accuracy_mean")),
                         share_text(ref, "audit_accuracy_gap"), "", ""])
            entry["tables"].append({
                "caption": f"Audit reference: the {fmt(ref.get('audit_rows'))} audited rows of subset "
                           f"{ref.get('subset', gated)} trained with their gold and with their LLM labels, scored on "
                           "the gold test set",
                "header": ["seed", "gold-trained accuracy", "LLM-trained accuracy", "gap", "gold macro-F1",
                           "LLM macro-F1"], "rows": rows})
        else:
            entry["tables"].append({"caption": "No audit reference file: "
                                    + inputs.missing.get("audit_reference", "not given"), "header": [], "rows": []})
        curves = {f"audit rows, {name} labels": curve_points(c) for name, c in (ref.get("curves") or {}).items()
                  if isinstance(c, dict)}
        own = all_curves(inputs).get(gated)
        if own is not None:
            curves[f"{gated} (LLM labels)"] = curve_points(own)
        if any(curves.values()):
            entry["plot"] = plots.png_base64(plots.learning_curves(curve_series(
                {name: {"points": points} for name, points in curves.items() if points})))
    elif column in ("label_error_rate_upper", "audit_accuracy_lower"):
        advice = (inputs.verdict or {}).get("label_error") or {}
        estimate = label_error(inputs) or {}
        scope = (inputs.verdict or {}).get("label_scope") or {}
        rows = [["label_error_rate", estimate_text(advice) if advice.get("label_error_rate") is not None
                 else "not measured"],
                ["limit (gate.max_label_error, on the upper bound)", fmt(advice.get("max_label_error"))],
                ["more audit rows that would settle it", fmt(advice.get("rows_needed"))
                 if advice.get("rows_needed") is not None else "none: the point estimate is over the limit"],
                ["rows checked", f"{scope.get('subset', 'raw')}: {fmt(scope.get('n_rows'))} rows"]]
        entry["tables"].append({"caption": "The audit estimate", "header": ["Figure", "Value"], "rows": rows})
        classes = estimate.get("per_class_error") or {}
        if classes and scope.get("rows") != "subset":
            entry["tables"].append({"caption": "Audited error per LLM label", "header": [
                "LLM label", "audited rows", "audited error [interval]"], "rows": [
                [label, fmt(c.get("audited")), share_text({"e": c.get("error"), "e_lower": c.get("lower"),
                                                          "e_upper": c.get("upper")}, "e")]
                for label, c in sorted(classes.items())]})
    elif column in ("accuracy_std", "krippendorff_alpha", "macro_f1_std", "unchanged_prediction_rate",
                    "accuracy_gap_to_reference", "learning_curve_decline"):
        rows = [[seed, fmt(s.get("accuracy")), fmt(s.get("macro_f1"))] for seed, s in seeds(subset_figures).items()]
        entry["tables"].append({"caption": f"Subset {gated}: test scores per seed", "header": [
            "seed", "accuracy", "macro-F1"], "rows": rows})
        own = all_curves(inputs).get(gated)
        if own is not None and column == "learning_curve_decline":
            entry["tables"].append({"caption": f"Subset {gated}: learning curve", "header": ["n", "accuracy"],
                                    "rows": [[fmt(p.get("n", p.get("fraction"))), fmt(p.get("accuracy"))]
                                             for p in curve_points(own)]})
    elif column == "retained_fraction":
        s = inputs.subsets.get(gated) or {}
        entry["tables"].append({"caption": f"Filter subset {gated}", "header": ["LLM label", "rows kept",
                                                                                  "retained"],
                                "rows": [[label, fmt(n), fmt((s.get("retained_fraction_per_class") or {}).get(label))]
                                         for label, n in sorted((s.get("kept_per_class") or {}).items())]})
    return entry


def before_after_section(inputs: ReportInputs) -> dict[str, Any]:
    """The headline figures of the base commit next to this run's (`labelgate report --before`)."""
    if inputs.before is None:
        raise Missing("No base figures: pass the base commit's label_risk.json with `labelgate report --before`.")
    rows = before_after(inputs)
    if not rows:
        raise Missing("No headline figure to compare.")
    return {"rows": rows}


# (anchor, heading, data, template): the page's sections in order.
SECTIONS: tuple[tuple[str, str, Callable[[ReportInputs], dict[str, Any]], str], ...] = (
    ("verdict", "Verdict", verdict_section, "verdict"),
    ("blockers", "What blocks, and the numbers behind it", blockers_section, "blockers"),
    ("before-after", "Before -> after (base commit)", before_after_section, "before_after"),
    ("accuracy-loss", "Accuracy loss (what these labels cost the trained model)", accuracy_loss_section,
     "accuracy_loss"),
    ("label-error", "Label error rate (gold audit)", label_error_section, "label_error"),
    ("label-set", "Label-set figures", label_set_section, "label_set"),
    ("entropy", "Entropy of the LLM labels per class", entropy_section, "entropy"),
    ("noise-matrix", "cleanlab noise matrix", noise_matrix_section, "noise_matrix"),
    ("seeds", "Seed scores per subset", seeds_section, "seeds"),
    ("learning-curves", "Learning curves", learning_curves_section, "learning_curves"),
    ("subsets", "Filter subsets", subsets_section, "subsets"),
)


def _section(inputs: ReportInputs, anchor: str, title: str, data: Callable[[ReportInputs], dict[str, Any]],
             template: str) -> str:
    section = _environment().get_template("section.html.j2")
    context = {"anchor": anchor, "title": title, "template": f"sections/{template}.html.j2", "note": None}
    try:
        return section.render(context, data=data(inputs))
    except Missing as missing:
        return section.render(context, note=str(missing))
    except Exception as exc:  # noqa: BLE001 - a malformed input costs its section, not the report
        return section.render(context, note=f"Could not render this section: {type(exc).__name__}: {one_line(exc)}")


def banner(inputs: ReportInputs) -> dict[str, str]:
    """The verdict banner: status, reason, outcome counts and the gated subset."""
    verdict = inputs.verdict
    status = verdict_status(verdict)
    extra = []
    if verdict is not None:
        extra.append(counts_text(verdict))
        if verdict.get("subset"):
            extra.append(f"gated subset: {verdict['subset']}")
    return {"css": status or "none", "status": BANNER[status], "reason": verdict_reason(verdict, inputs),
            "counts": " · ".join(extra)}


def build_html(inputs: ReportInputs) -> str:
    """The whole report page as one self-contained HTML string."""
    from markupsafe import Markup

    sections = [Markup(_section(inputs, *section)) for section in SECTIONS
                if section[0] != "before-after" or "before" in inputs.sources]  # only when asked for
    sources = ", ".join(f"{name}: {path}" for name, path in inputs.sources.items() if name not in inputs.missing)
    return _environment().get_template("page.html.j2").render(
        csp=content_security_policy(), css=Markup(_static("report.css")), script=Markup(_static("report.js")),
        banner=banner(inputs), sections=sections, version=_version(), sources=sources or "none")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("labelgate")
    except PackageNotFoundError:
        return "(not installed)"
