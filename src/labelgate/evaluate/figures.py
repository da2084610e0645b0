"""The evaluation figures: per run accuracy, macro-F1 and per-class F1; per subset the seed statistics, seed
stability (alpha, unchanged predictions), the seed ensemble, the gap to the reference and the learning-curve
figures; the audit reference's figures attached to the subset it audited."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from labelgate.audit_reference import AUDIT_FIGURES, GATED_FIGURES, GOLD_VERSION
from labelgate.curves import (
    CurveParams,
    accuracy_and_macro_f1,
    compare_at_equal_size,
    curve_decline,
    gap_to_reference,
    plateau_flag,
)


#: The scalar figures evaluate.json holds per subset: what the training_stability suite may check.
STABILITY_FIGURES = (
    "n_seeds", "accuracy_mean", "accuracy_std", "macro_f1_mean", "macro_f1_std", "krippendorff_alpha",
    "unchanged_prediction_rate", "ensemble_accuracy", "ensemble_macro_f1", "accuracy_gap_to_reference",
    "macro_f1_gap_to_reference", "plateau", "learning_curve_gain_last_doubling", "learning_curve_decline",
    *AUDIT_FIGURES,
)


def run_scores(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """accuracy, macro_f1 (curves.accuracy_and_macro_f1, the one definition) and per_class_f1 of one set of
    predictions."""
    from sklearn.metrics import f1_score

    accuracy, macro = accuracy_and_macro_f1(y_true, y_pred, labels)
    per_class = f1_score(np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object), labels=list(labels),
                         average=None, zero_division=0)
    return {"accuracy": accuracy, "macro_f1": macro,
            "per_class_f1": {label: float(v) for label, v in zip(labels, per_class)}}


def seed_alpha(codes: np.ndarray, n_labels: int) -> float | None:
    """Krippendorff's alpha (nominal) of predicted label codes, shape (seeds, items); None when undefined."""
    import krippendorff

    codes = np.asarray(codes, dtype=float)
    if codes.ndim != 2 or codes.shape[0] < 2 or codes.shape[1] == 0:
        return None
    if len(np.unique(codes)) < 2:
        return None  # one class everywhere: expected disagreement is 0, alpha is undefined
    return float(krippendorff.alpha(reliability_data=codes, level_of_measurement="nominal",
                                     value_domain=list(range(n_labels))))


def unchanged_rate(codes: np.ndarray) -> float:
    """Share of items (columns) whose predicted label is identical in every run (row)."""
    codes = np.asarray(codes)
    if codes.size == 0:
        return float("nan")
    return float((codes == codes[0]).all(axis=0).mean())


def _std(values: Sequence[float]) -> float | None:
    return float(np.std(values, ddof=1)) if len(values) >= 2 else None


def evaluate_runs(
    probabilities: Mapping[str, Mapping[int, np.ndarray]],
    y_true: Sequence[str],
    labels: Sequence[str],
    *,
    reference: str | None = None,
    curves: Mapping[str, Mapping[str, Any]] | None = None,
    curve_params: CurveParams | None = None,
    audit: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The metrics JSON (see the module docstring) from test probabilities per subset and seed; `audit`: the
    audit reference JSON (labelgate.audit_reference), whose figures go to the subset it audited."""
    labels = tuple(labels)
    y_true = np.asarray([str(v) for v in y_true], dtype=object)
    outside = sorted(set(y_true.tolist()) - set(labels))
    if outside:
        raise ValueError(f"test labels {outside} are not in the runs' label set {list(labels)}")
    for subset, seeds in probabilities.items():
        if not seeds:
            raise ValueError(f"subset {subset!r} has no runs")
        for seed, probs in seeds.items():
            if np.shape(probs) != (len(y_true), len(labels)):
                raise ValueError(f"{subset} seed {seed}: probabilities of shape {np.shape(probs)}, "
                                 f"expected {(len(y_true), len(labels))}")
    metrics = _evaluate(probabilities, y_true, labels, reference or None, dict(curves or {}),
                        curve_params or CurveParams())
    return attach_to_evaluation(metrics, audit, curves)


def attach_to_evaluation(metrics: dict[str, Any], audit: Mapping[str, Any] | None,
                         curves: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Copy the audit figures into the audited subset's row of the evaluation metrics (in place; returned); the
    other subsets get the same keys as null.

    Adds `audit_curve_gap_at_equal_size` (audit gold curve minus the subset's own LLM-label curve at the largest
    audit size both cover) and `audit_gold_minus_llm_full` (gold accuracy on the audited rows minus the subset's
    full-data curve point) when the subset has a learning curve. Every figure is null when the audit was not
    measured or is absent, so the gate says "not measured" instead of passing.
    """
    subset = (audit or {}).get("subset")
    for row in metrics.get("subsets", {}).values():
        row.update(dict.fromkeys(AUDIT_FIGURES))
    figures = dict.fromkeys(AUDIT_FIGURES)
    if audit and audit.get("measured"):
        figures.update({name: audit.get(name) for name in GATED_FIGURES})
        gold_curve = (audit.get("curves") or {}).get(GOLD_VERSION)
        own = (curves or {}).get(subset)
        if gold_curve and own and own.get("points"):
            compared = compare_at_equal_size(own["points"], gold_curve["points"])
            if compared:
                figures["audit_curve_gap_at_equal_size"] = compared[-1]["gap"]
            figures["audit_gold_minus_llm_full"] = (float(gold_curve["points"][-1]["accuracy"])
                                                    - float(own["points"][-1]["accuracy"]))
    if subset in metrics.get("subsets", {}):
        metrics["subsets"][subset].update(figures)
    metrics["audit_reference"] = {"subset": subset, "measured": bool(audit and audit.get("measured")),
                                  "reason": (audit or {}).get("reason", "no audit reference given")}
    return metrics


def _evaluate(probabilities, y_true, labels, reference, curves, curve_params) -> dict[str, Any]:
    names = np.asarray(labels, dtype=object)
    subsets: dict[str, dict[str, Any]] = {}
    for subset, seeds in probabilities.items():
        seeds = dict(sorted(seeds.items()))
        codes = np.stack([np.asarray(p).argmax(axis=1) for p in seeds.values()])
        per_seed = {str(seed): run_scores(y_true, names[c], labels) for seed, c in zip(seeds, codes)}
        accuracies = [s["accuracy"] for s in per_seed.values()]
        macros = [s["macro_f1"] for s in per_seed.values()]
        ensemble = run_scores(y_true, names[np.mean(list(seeds.values()), axis=0).argmax(axis=1)], labels)
        subsets[subset] = {
            "n_seeds": len(seeds),
            "accuracy_mean": float(np.mean(accuracies)),
            "accuracy_std": _std(accuracies),
            "macro_f1_mean": float(np.mean(macros)),
            "macro_f1_std": _std(macros),
            "per_class_f1_mean": {label: float(np.mean([s["per_class_f1"][label] for s in per_seed.values()]))
                                  for label in labels},
            "krippendorff_alpha": seed_alpha(codes, len(labels)),
            "unchanged_prediction_rate": unchanged_rate(codes),
            "ensemble_accuracy": ensemble["accuracy"],
            "ensemble_macro_f1": ensemble["macro_f1"],
            "accuracy_gap_to_reference": None,
            "macro_f1_gap_to_reference": None,
            "plateau": None,
            "learning_curve_gain_last_doubling": None,
            "learning_curve_decline": None,
            "seeds": per_seed,
        }
    has_reference = reference is not None and reference in subsets
    if has_reference:
        ref = subsets[reference]
        for figures in subsets.values():
            figures["accuracy_gap_to_reference"] = ref["accuracy_mean"] - figures["accuracy_mean"]
            figures["macro_f1_gap_to_reference"] = ref["macro_f1_mean"] - figures["macro_f1_mean"]
    reference_final = _reference_final_accuracy(curves, subsets, reference if has_reference else None)
    for subset, figures in subsets.items():
        curve = curves.get(subset)
        if not curve or not curve.get("points"):
            continue
        gain = curve.get("gain_last_doubling")
        final = curve.get("final_accuracy", curve["points"][-1]["accuracy"])
        gap = gap_to_reference(final, subset=subset, reference=reference if has_reference else None,
                               reference_accuracy=reference_final)
        figures["learning_curve_gain_last_doubling"] = gain
        figures["learning_curve_decline"] = curve_decline(curve["points"])
        figures["plateau"] = plateau_flag(gain, gap, min_gain=curve_params.plateau_min_gain,
                                          min_gap=curve_params.plateau_min_gap)
    return {"reference": reference if has_reference else None, "labels": list(labels), "subsets": subsets}


def _reference_final_accuracy(curves, subsets, reference) -> float | None:
    """The reference's accuracy for curve gaps: its own curve's final point, else its mean over seeds."""
    if reference is None:
        return None
    curve = curves.get(reference)
    if curve and curve.get("points"):
        return float(curve.get("final_accuracy", curve["points"][-1]["accuracy"]))
    return float(subsets[reference]["accuracy_mean"])
