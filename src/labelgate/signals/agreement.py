"""Agreement between several annotations of each row (llm_label plus annotator_* columns: other prompts,
models or samples): Krippendorff's alpha over all annotations, per-row agreement with the majority, and
cleanlab.multiannotator's consensus label quality (CROWDLAB), which also weighs the text model's view, computed
chunk by chunk by signals/consensus.py (cleanlab's values, without its whole-table copies).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from labelgate.contract import LLM_LABEL
from labelgate.signals.base import RiskSignal, SignalResult, register
from labelgate.signals.consensus import crowdlab_consensus
from labelgate.signals.context import ScoringContext
from labelgate.signals.distributions import vote_counts, vote_distribution


def nominal_alpha(codes: np.ndarray, n_classes: int, *, chunk_rows: int = 200_000) -> float:
    """Krippendorff's alpha (nominal) of rows of label codes (-1 missing), the coincidence matrix summed chunk by
    chunk: o[c, k] = sum over rows with m >= 2 codes of (n_c n_k - [c = k] n_c) / (m - 1); alpha =
    1 - (n - 1) * sum_{c != k} o[c, k] / sum_{c != k} n_c n_k with n_c = sum_k o[c, k]. Same value as the
    `krippendorff` package (tests/signals), in memory bounded by the chunk."""
    coincidence = np.zeros((n_classes, n_classes))
    for start in range(0, len(codes), chunk_rows):
        counts = vote_counts(codes[start:start + chunk_rows], n_classes)
        pairable = counts.sum(axis=1)
        keep = pairable >= 2
        counts, weight = counts[keep], 1.0 / (pairable[keep] - 1.0)
        coincidence += (counts * weight[:, None]).T @ counts
        coincidence[np.diag_indices(n_classes)] -= (counts * weight[:, None]).sum(axis=0)
    totals = coincidence.sum(axis=1)
    n = totals.sum()
    observed = coincidence.sum() - np.trace(coincidence)
    expected = totals.sum() ** 2 - (totals ** 2).sum()
    if n <= 1 or expected <= 0:
        return float("nan")
    return float(1.0 - (n - 1.0) * observed / expected)


def vote_shares(codes: np.ndarray, n_classes: int, *, chunk_rows: int = 200_000) -> tuple[np.ndarray, np.ndarray]:
    """Per row the majority's share of the annotations and the LLM label's (column 0; 0 where it is missing), the
    vote distribution built a chunk of rows at a time (the same values; no rows x classes float64 array)."""
    majority, llm = np.empty(len(codes)), np.empty(len(codes))
    for start in range(0, len(codes), chunk_rows):
        chunk = codes[start:start + chunk_rows]
        votes = vote_distribution(chunk, n_classes)
        majority[start:start + len(chunk)] = votes.max(axis=1)
        llm[start:start + len(chunk)] = votes[np.arange(len(chunk)), np.maximum(chunk[:, 0], 0)]
    return majority, llm


@register
class AgreementSignal(RiskSignal):
    name = "agreement"
    description = "Agreement of several annotations per row (Krippendorff's alpha, cleanlab consensus)"
    columns = ("agreement_majority_share", "agreement_llm_label_share", "agreement_all_agree",
               "agreement_n_annotations", "agreement_consensus_label", "agreement_consensus_quality")
    metrics = ("annotator_alpha", "agreement_rate")

    def score(self, context: ScoringContext) -> SignalResult:
        table = context.table
        annotators = [LLM_LABEL, *table.annotator_columns]
        if len(annotators) < 2:
            return self.unavailable("no annotator_* columns: one annotation per row",
                                    ("annotator_alpha", "agreement_rate"))
        small = np.int8 if len(table.labels) < 128 else np.int32  # rows x annotators: 1 byte a code, not 8
        codes = np.column_stack([table.label_codes(c).astype(small, copy=False) for c in annotators])
        majority_share, llm_share = vote_shares(codes, len(table.labels))
        annotated = (codes >= 0).sum(axis=1)
        all_agree = (majority_share == 1.0) & (annotated >= 2)
        alpha = self._alpha(codes)
        consensus = self._consensus(context, codes, annotators)
        rows = pd.DataFrame({
            "agreement_majority_share": majority_share,
            "agreement_llm_label_share": llm_share,
            "agreement_all_agree": all_agree,
            "agreement_n_annotations": annotated,
            **consensus.pop("rows"),
        })
        summary = {
            "available": True,
            "annotators": annotators,
            "annotator_alpha": alpha,
            "agreement_rate": float(all_agree.mean()),
            "mean_majority_share": float(majority_share.mean()),
            **consensus,
        }
        metrics = {"annotator_alpha": alpha, "agreement_rate": summary["agreement_rate"]}
        return SignalResult(self.name, rows, summary, metrics)

    @staticmethod
    def _alpha(codes: np.ndarray) -> float | None:
        """Krippendorff's alpha (nominal_alpha: the `krippendorff` package's figure, tests/signals, without its
        rows x classes x classes arrays); None (not measurable) when it is undefined: a single label value
        throughout, or no row with two annotations."""
        given = codes[codes >= 0]
        if len(np.unique(given)) < 2 or not ((codes >= 0).sum(axis=1) >= 2).any():
            return None
        return nominal_alpha(codes, int(given.max()) + 1)

    @staticmethod
    def _consensus(context: ScoringContext, codes: np.ndarray, annotators: list[str]) -> dict:
        """cleanlab's get_label_quality_multiannotator (best-quality consensus, CROWDLAB quality) as
        consensus.crowdlab_consensus computes it a chunk of rows at a time; a row without any annotation gets no
        consensus (None, NaN) and does not count."""
        if len(np.unique(context.given_labels[context.given_labels >= 0])) < 2:
            # one LLM label throughout: no out-of-fold text model, so no consensus quality (not measurable)
            return {"rows": {"agreement_consensus_label": np.full(len(codes), None, dtype=object),
                             "agreement_consensus_quality": np.full(len(codes), np.nan)},
                    "mean_consensus_quality": None, "annotator_quality": {}}

        result = crowdlab_consensus(codes, context.pred_probs)
        names = np.asarray([*context.table.labels, None], dtype=object)  # code -1 (no annotation): None
        return {
            "rows": {"agreement_consensus_label": names[result.label],
                     "agreement_consensus_quality": result.quality},
            "mean_consensus_quality": float(np.nanmean(result.quality)),
            "annotator_quality": {str(annotators[k]): float(result.annotator_quality[k])
                                  for k in result.annotator_order},
        }
