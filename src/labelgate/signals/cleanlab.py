"""cleanlab confident learning: label issues, label quality scores and the estimated noise rate and matrix,
from out-of-fold predicted probabilities of a cheap text model (see text_model.py).

The noise matrix is P(LLM label = i | true label = j), derived from cleanlab's calibrated confident joint;
the estimated noise rate is the off-diagonal mass of that joint, i.e. the expected share of wrong LLM labels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from labelgate.signals.base import RiskSignal, SignalResult, register
from labelgate.signals.context import ScoringContext


@register
class CleanlabSignal(RiskSignal):
    name = "cleanlab"
    description = "cleanlab confident learning over out-of-fold text-model probabilities"
    columns = ("cleanlab_label_quality", "cleanlab_is_label_issue", "cleanlab_suggested_label",
               "cleanlab_given_label_prob")
    metrics = ("label_issue_rate", "estimated_noise_rate")

    def score(self, context: ScoringContext) -> SignalResult:
        from cleanlab.count import estimate_joint
        from cleanlab.rank import get_label_quality_scores

        labels = context.given_labels
        if len(np.unique(labels)) < 2:
            return self.unavailable("the LLM gave every row the same label: nothing to cross-validate",
                                    ("label_issue_rate", "estimated_noise_rate"))
        pred_probs = context.pred_probs
        issues = context.label_issues
        quality = get_label_quality_scores(labels, pred_probs, method="self_confidence")
        joint = estimate_joint(labels, pred_probs)  # rows: given label, columns: true label
        noise_rate = float(1.0 - np.trace(joint))
        true_mass = joint.sum(axis=0)
        noise_matrix = np.divide(joint, true_mass, out=np.zeros_like(joint), where=true_mass > 0)
        table_labels = list(context.table.labels)
        per_class_issue_rate = {
            label: float(issues[labels == k].mean()) if np.any(labels == k) else None
            for k, label in enumerate(table_labels)
        }
        rows = pd.DataFrame({
            "cleanlab_label_quality": quality,
            "cleanlab_is_label_issue": issues,
            "cleanlab_suggested_label": np.asarray(table_labels, dtype=object)[pred_probs.argmax(axis=1)],
            "cleanlab_given_label_prob": pred_probs[np.arange(len(labels)), labels],
        })
        summary = {
            "available": True,
            "text_model": context.text.text_model,
            "label_issue_rate": float(issues.mean()),
            "label_issues": int(issues.sum()),
            "estimated_noise_rate": noise_rate,
            "per_class_issue_rate": per_class_issue_rate,
            "joint": joint.tolist(),
            "noise_matrix": noise_matrix.tolist(),
            "noise_matrix_axes": "rows: LLM label, columns: estimated true label; columns sum to 1",
            "out_of_fold_accuracy_vs_llm": float((pred_probs.argmax(axis=1) == labels).mean()),
            "mean_label_quality": float(quality.mean()),
        }
        metrics = {"label_issue_rate": summary["label_issue_rate"], "estimated_noise_rate": noise_rate}
        return SignalResult(self.name, rows, summary, metrics)
