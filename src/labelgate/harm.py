"""The accuracy loss the gate decides on: what training on the LLM labels costs the trained model, in accuracy points
against the same model trained on gold labels, with an interval.

Two sources, one figure (`accuracy_loss`, `_lower`, `_upper`, and `accuracy_loss_source` saying which):

* **predicted** (`labelgate check`, the score stage): `expected_accuracy_loss` from the accuracy_loss signal, cheap
  text models on the gold audit calibrated against fine-tuning (signals/accuracy_loss.py);
* **measured** (the DVC pipeline, when it trained the gated subset): the pipeline's own fine-tuned models. With a
  gold reference run (evaluate.reference) it is the seed-paired accuracy gap, gold-trained minus subset-trained on
  the test set, with a t interval over the seeds; else the audit reference's gap (the audited rows trained with gold
  and with LLM labels). A measured figure decides over the predicted one; both are reported side by side.

`gate.max_accuracy_loss` is checked on `accuracy_loss_upper`.
"""

from __future__ import annotations

import math
from typing import Any

LOSS = "expected_accuracy_loss"  # the predicted figure (score stage, label_risk.json)
DECIDING = "accuracy_loss"  # the figure the gate checks: measured when the pipeline measured it, else predicted
DECIDING_FIGURES = (DECIDING, f"{DECIDING}_lower", f"{DECIDING}_upper")
SOURCE = f"{DECIDING}_source"
PREDICTED = "predicted by check (cheap models calibrated against fine-tuning)"
MEASURED_REFERENCE = "measured: fine-tuned on gold vs LLM labels (gold reference, seed-paired)"
MEASURED_AUDIT = "measured: fine-tuned on the audited rows, gold vs LLM labels (audit reference)"


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def loss_text(value: Any, lower: Any, upper: Any) -> str:
    """'4.1 points [2.3, 6.0]': an accuracy loss with its interval, as every output shows it."""
    if not all(_number(v) for v in (value, lower, upper)):
        return "not measured"
    return f"{100 * value:.1f} points [{100 * lower:.1f}, {100 * upper:.1f}]"


def figures_text(figures: dict[str, Any] | None, name: str = LOSS) -> str:
    figures = figures or {}
    return loss_text(figures.get(name), figures.get(f"{name}_lower"), figures.get(f"{name}_upper"))


def predicted(metrics: dict[str, Any]) -> dict[str, Any]:
    """The predicted loss as the deciding figure (None values when the signal did not run)."""
    return {DECIDING: metrics.get(LOSS), f"{DECIDING}_lower": metrics.get(f"{LOSS}_lower"),
            f"{DECIDING}_upper": metrics.get(f"{LOSS}_upper"), SOURCE: PREDICTED}


def measured(evaluation: dict[str, Any] | None, subset: str, reference: str | None,
             confidence: float) -> dict[str, Any] | None:
    """The pipeline's fine-tuned loss of `subset`, or None when the pipeline did not measure one."""
    subsets = (evaluation or {}).get("subsets")
    if not isinstance(subsets, dict) or not isinstance(subsets.get(subset), dict):
        return None
    figures = subsets[subset]
    if reference and isinstance(subsets.get(reference), dict) and subset != reference:
        paired = _seed_paired(subsets[reference].get("seeds"), figures.get("seeds"))
        if len(paired) >= 2:
            return {**_t_interval(paired, confidence), SOURCE: MEASURED_REFERENCE, "seeds": len(paired)}
    gap, low, high = (figures.get(k) for k in ("audit_accuracy_gap", "audit_accuracy_gap_lower",
                                                "audit_accuracy_gap_upper"))
    if all(_number(v) for v in (gap, low, high)):
        return {DECIDING: float(gap), f"{DECIDING}_lower": float(low), f"{DECIDING}_upper": float(high),
                SOURCE: MEASURED_AUDIT}
    return None


def _seed_paired(reference_seeds: Any, subset_seeds: Any) -> list[float]:
    """Per seed both runs share: reference accuracy minus subset accuracy."""
    if not isinstance(reference_seeds, dict) or not isinstance(subset_seeds, dict):
        return []
    out = []
    for seed in sorted(set(reference_seeds) & set(subset_seeds)):
        a, b = (s.get("accuracy") if isinstance(s, dict) else None for s in (reference_seeds[seed], subset_seeds[seed]))
        if _number(a) and _number(b):
            out.append(float(a) - float(b))
    return out


def _t_interval(values: list[float], confidence: float) -> dict[str, float]:
    from scipy.stats import t

    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(t.ppf(0.5 + confidence / 2.0, n - 1)) * sd / math.sqrt(n)
    return {DECIDING: mean, f"{DECIDING}_lower": mean - half, f"{DECIDING}_upper": mean + half}


def deciding(metrics: dict[str, Any], evaluation: dict[str, Any] | None, *, subset: str, reference: str | None,
             confidence: float) -> dict[str, Any]:
    """The deciding figure: measured when the pipeline measured it, else predicted; plus the predicted one."""
    chosen = measured(evaluation, subset, reference, confidence) or predicted(metrics)
    return {**chosen, "predicted": predicted(metrics)}
