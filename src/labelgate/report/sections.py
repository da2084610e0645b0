"""The data of each report section, prepared in Python for its template: texts, tables and inline plots. A section
whose input is missing raises `Missing` with a note the page shows instead."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from labelgate.estimation import estimate_text
from labelgate.harm import figures_text
from labelgate.report import plots
from labelgate.report.inputs import (
    METRIC_NAMES,
    ReportInputs,
    accuracy_loss,
    all_curves,
    before_after,
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
    ordered_outcomes,
    seed_scores,
    seeds,
    share_text,
    signal,
    verdict_reason,
)
from labelgate.vocabulary import ERRORED, FAILED


MAX_HISTOGRAM_CLASSES = 12  # the most frequent classes get a histogram; the rest are named


MAX_WIDE_CLASSES = 8  # the subsets table has a column per class up to this many classes


class Missing(Exception):
    """A section has nothing to show; its message says why (shown in place of the section's content)."""


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
        ["concentration of the audited errors on one confusion per class",
         f"{fmt(signal_summary.get('error_concentration'))} [{fmt(signal_summary.get('error_concentration_lower'))}, "
         f"{fmt(signal_summary.get('error_concentration_upper'))}]"],
        ["calibration (rate, concentration and learned scales; spread at zero and its slope)",
         ", ".join(fmt(calibration.get(k), 4) for k in ("rate_scale", "concentration_scale", "learned_scale",
                                                         "calibration_sd", "calibration_sd_slope"))],
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


def before_after_section(inputs: ReportInputs) -> dict[str, Any]:
    """The headline figures of the base commit next to this run's (`labelgate report --before`)."""
    if inputs.before is None:
        raise Missing("No base figures: pass the base commit's label_risk.json with `labelgate report --before`.")
    rows = before_after(inputs)
    if not rows:
        raise Missing("No headline figure to compare.")
    return {"rows": rows}
