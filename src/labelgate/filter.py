"""Stage `filter`: mitigations as training subsets, the paper's entropy filter and consistency ensemble plus
cleanlab pruning.

Strategies (each reads the per-example table written by `labelgate score`):
  raw        every row (the baseline the others are compared with)
  entropy    drop rows whose normalised entropy is above an absolute cut or above a quantile
  cleanlab   drop rows cleanlab flags as label issues, or whose label quality is below a cut
  consensus  keep rows where at least a share of all annotations agrees with the LLM label
  combined   rows every available one of the three keeps

A class-balance guard refuses (exit 1) a subset that would leave any class with fewer rows than
`filter.min_class_count`: training on a class the filter starved would only hide the risk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from labelgate.config import check_range
from labelgate.contract import GOLD, ID, LLM_LABEL, TEXT
from labelgate.errors import EXIT_BLOCKED, BadInputError, LabelgateError
from labelgate.estimation import DEFAULT_CONFIDENCE, MIN_AUDITED_PER_STRATUM
from labelgate.vocabulary import STRATEGIES, SUBSET_FIGURES


class FilterRefused(LabelgateError):
    """The class-balance guard refused a subset (exit 1, like a blocked gate)."""

    exit_code = EXIT_BLOCKED


@dataclass(frozen=True)
class FilterParams:
    """Cuts of the filter strategies (params.yaml section `filter`)."""

    strategies: tuple[str, ...] = ("raw", "entropy", "cleanlab", "consensus", "combined")
    entropy_max: float | None = None  # absolute cut on normalised entropy; or use entropy_quantile
    entropy_quantile: float | None = 0.7  # keep rows at or below this quantile of normalised entropy
    cleanlab_min_quality: float | None = None  # None: drop cleanlab's label-issue flags; else a quality cut
    consensus_min_agreement: float = 1.0  # share of annotations that must agree with the LLM label
    min_class_count: int = 20  # the class-balance guard

    def __post_init__(self):
        object.__setattr__(self, "strategies", tuple(self.strategies))
        unknown = [s for s in self.strategies if s not in STRATEGIES]
        if unknown:
            raise ValueError(f"unknown strategies {unknown}; known: {list(STRATEGIES)}")
        if (self.entropy_max is None) == (self.entropy_quantile is None):
            raise ValueError("set exactly one of entropy_max and entropy_quantile")
        if self.entropy_max is not None:
            check_range("entropy_max", self.entropy_max, 0.0, 1.0)
        if self.entropy_quantile is not None:
            check_range("entropy_quantile", self.entropy_quantile, 0.01, 1.0)
        if self.cleanlab_min_quality is not None:
            check_range("cleanlab_min_quality", self.cleanlab_min_quality, 0.0, 1.0)
        check_range("consensus_min_agreement", self.consensus_min_agreement, 0.0, 1.0)
        check_range("min_class_count", self.min_class_count, 0)


def keep_mask(scores: pd.DataFrame, strategy: str, params: FilterParams, *, source: str = "scores") -> np.ndarray:
    """Boolean mask of the rows `strategy` keeps."""
    if strategy == "raw":
        return np.ones(len(scores), dtype=bool)
    if strategy == "entropy":
        values = _column(scores, "entropy_normalised", strategy, source).to_numpy(float)
        cut = params.entropy_max if params.entropy_max is not None else np.quantile(values, params.entropy_quantile)
        return values <= cut
    if strategy == "cleanlab":
        if params.cleanlab_min_quality is not None:
            return _column(scores, "cleanlab_label_quality", strategy, source).to_numpy(float) >= (
                params.cleanlab_min_quality)
        return ~_column(scores, "cleanlab_is_label_issue", strategy, source).to_numpy(bool)
    if strategy == "consensus":
        share = _column(scores, "agreement_llm_label_share", strategy, source).to_numpy(float)
        return share >= params.consensus_min_agreement - 1e-9
    if strategy == "combined":
        masks = [keep_mask(scores, s, params, source=source) for s in ("entropy", "cleanlab", "consensus")
                 if _available(scores, s)]
        if not masks:
            raise BadInputError(source, "combined needs at least one of the entropy, cleanlab or agreement signals")
        return np.logical_and.reduce(masks)
    raise BadInputError(source, f"unknown strategy '{strategy}'; choose one of {', '.join(STRATEGIES)}")


_NEEDS = {"entropy": "entropy_normalised", "cleanlab": "cleanlab_is_label_issue",
          "consensus": "agreement_llm_label_share"}


def _available(scores: pd.DataFrame, strategy: str) -> bool:
    return _NEEDS[strategy] in scores.columns


# What each score column needs: a signal enabled in score.signals and, for some, columns of the label table.
_SIGNAL_NEEDS = {
    "entropy_normalised": "the entropy signal in score.signals and llm_prob_* or annotator_* columns in the table",
    "cleanlab_is_label_issue": "the cleanlab signal in score.signals",
    "cleanlab_label_quality": "the cleanlab signal in score.signals",
    "agreement_llm_label_share": "the agreement signal in score.signals and annotator_* columns in the table",
}


def _column(scores: pd.DataFrame, column: str, strategy: str, source: str) -> pd.Series:
    if column not in scores.columns:
        needs = _SIGNAL_NEEDS.get(column, "its signal in score.signals")
        raise BadInputError(source, f"strategy '{strategy}' needs this score, which takes {needs}; "
                                    "or drop it from filter.strategies", column=column)
    return scores[column]


def filter_subset(
    scores: pd.DataFrame, strategy: str, params: FilterParams, labels: list[str], *, source: str = "scores",
    noise_rate: float | None = None, confidence: float = DEFAULT_CONFIDENCE, loss_signal: dict | None = None,
    min_stratum: int = MIN_AUDITED_PER_STRATUM,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Return (training subset with id, text, label; its summary). Raises FilterRefused when a class starves.

    `noise_rate` is cleanlab's estimate for the whole table (label_risk.json), scaled per subset in the summary.
    `confidence` is the level of the subset's label_error_rate interval (score.audit_confidence), `min_stratum` the
    audited rows an LLM label of the subset needs to be measured (score.min_audited_per_stratum).
    """
    mask = keep_mask(scores, strategy, params, source=source)
    kept = scores[mask]
    summary = subset_summary(scores, mask, labels, strategy, noise_rate=noise_rate, confidence=confidence,
                             loss_signal=loss_signal, min_stratum=min_stratum)
    starved = {k: v for k, v in summary["kept_per_class"].items() if v < params.min_class_count}
    if starved:
        detail = ", ".join(f"{k}: {v}" for k, v in starved.items())
        raise FilterRefused(
            f"{source}: strategy '{strategy}' would leave class(es) below filter.min_class_count="
            f"{params.min_class_count} ({detail}); loosen the cut or relabel those classes"
        )
    subset = pd.DataFrame({ID: kept[ID].to_numpy(), TEXT: kept[TEXT].to_numpy(), "label": kept[LLM_LABEL].to_numpy()})
    return subset, summary


def subset_summary(
    scores: pd.DataFrame, mask: np.ndarray, labels: list[str], strategy: str, *, noise_rate: float | None = None,
    confidence: float = DEFAULT_CONFIDENCE, loss_signal: dict | None = None, min_stratum: int = MIN_AUDITED_PER_STRATUM,
) -> dict[str, Any]:
    given = scores[LLM_LABEL]
    kept_counts = given[mask].value_counts().reindex(labels, fill_value=0)
    all_counts = given.value_counts().reindex(labels, fill_value=0)
    summary: dict[str, Any] = {
        "strategy": strategy,
        "rows_in": int(len(scores)),
        "rows_kept": int(mask.sum()),
        "retained_fraction": float(mask.mean()) if len(mask) else 0.0,
        "kept_per_class": {k: int(v) for k, v in kept_counts.items()},
        "retained_fraction_per_class": {k: (float(kept_counts[k] / all_counts[k]) if all_counts[k] else None)
                                        for k in labels},
    }
    if noise_rate is not None and "cleanlab_is_label_issue" in scores.columns and mask.any():
        # cleanlab's estimated noise rate, scaled by how much more (or less) often kept rows are flagged than all
        # rows. It is cleanlab's own view, so optimistic for the cleanlab filter; audit_error_rate_kept is the
        # unbiased figure where gold audit rows exist.
        flagged = scores["cleanlab_is_label_issue"].to_numpy(bool)
        ratio = flagged[mask].mean() / flagged.mean() if flagged.any() else 0.0
        summary["estimated_remaining_noise_rate"] = float(min(1.0, noise_rate * ratio))
    figures: dict[str, Any] = {"retained_fraction": summary["retained_fraction"]}
    if GOLD in scores.columns and scores[GOLD].notna().any():
        audited = scores[GOLD].notna().to_numpy()
        wrong = (scores[GOLD] != given).to_numpy()
        summary["audit_rows_kept"] = int((audited & mask).sum())
        summary["audit_error_rate_kept"] = float(wrong[audited & mask].mean()) if (audited & mask).any() else None
        summary["audit_error_rate_all"] = float(wrong[audited].mean())
        estimate = subset_error_estimate(scores, mask, labels, confidence=confidence, min_stratum=min_stratum)
        summary.update({key: estimate[key] for key in SUBSET_ESTIMATE_KEYS})
        summary["label_error"] = estimate
        figures.update({key: estimate[key] for key in SUBSET_ESTIMATE_KEYS if key != "method"})
        figures.update(subset_audit_accuracy(~wrong[audited & mask], confidence))
        figures.update(subset_accuracy_loss(scores, mask, estimate, loss_signal, confidence))
    summary[SUBSET_FIGURES] = figures
    return summary


SUBSET_ESTIMATE_KEYS = ("label_error_rate", "label_error_rate_lower", "label_error_rate_upper", "n_audited", "method")


def subset_accuracy_loss(scores: pd.DataFrame, mask: np.ndarray, estimate: dict[str, Any], loss_signal: dict | None,
                         confidence: float) -> dict[str, Any]:
    """The subset's expected accuracy loss (signals/accuracy_loss.py) from its own rows: its audited error rate, the
    share of its audited errors the out-of-fold model reproduces (the score stage's per-row
    accuracy_loss_learned_error) and their concentration, with the table's chance level and calibration
    (label_risk.json). None when the table's accuracy_loss signal did not run."""
    from labelgate.contract import AUDIT_WEIGHT
    from labelgate.harm import LOSS
    from labelgate.signals.accuracy_loss import (
        LEARNED_ERROR,
        AccuracyLossParams,
        combine,
        concentration,
        learned_share,
    )

    names = (LOSS, f"{LOSS}_lower", f"{LOSS}_upper")
    calibration = (loss_signal or {}).get("calibration") if isinstance(loss_signal, dict) else None
    n_classes = loss_signal.get("n_classes") if isinstance(loss_signal, dict) else None
    if not isinstance(calibration, dict) or not isinstance(n_classes, int) or LEARNED_ERROR not in scores.columns:
        return dict.fromkeys(names)
    kept = scores[mask]
    wrong = (kept[GOLD].notna() & (kept[GOLD] != kept[LLM_LABEL])).to_numpy()
    weights = (kept[AUDIT_WEIGHT].to_numpy(float) if AUDIT_WEIGHT in kept.columns and kept[AUDIT_WEIGHT].notna().any()
               else np.ones(len(kept)))
    learned = learned_share(kept[LEARNED_ERROR].to_numpy(bool)[wrong], weights[wrong],
                            loss_signal.get("errors_learned_chance"), confidence=confidence)
    audited = kept[GOLD].notna().to_numpy()
    learned.update(concentration(kept[GOLD].to_numpy(object)[audited].astype(str),
                                 kept[LLM_LABEL].to_numpy(object)[audited].astype(str), weights[audited],
                                 confidence=confidence))
    params = AccuracyLossParams.from_calibration(calibration)
    result = combine(estimate, learned, params, confidence=confidence, n_classes=n_classes)
    return {name: result.get(name) for name in names}


def subset_audit_accuracy(correct: np.ndarray, confidence: float) -> dict[str, Any]:
    """audit_accuracy and its Wilson lower bound on the subset's audited rows, as the audit signal computes them for
    the whole table (None without audited rows in the subset)."""
    if not len(correct):
        return {"audit_accuracy": None, "audit_accuracy_lower": None}
    from scipy.stats import binomtest

    hits = int(np.sum(correct))
    interval = binomtest(hits, len(correct)).proportion_ci(confidence_level=confidence, method="wilson")
    return {"audit_accuracy": hits / len(correct), "audit_accuracy_lower": float(interval.low)}


def subset_error_estimate(scores: pd.DataFrame, mask: np.ndarray, labels: list[str], *,
                          confidence: float = DEFAULT_CONFIDENCE,
                          min_stratum: int = MIN_AUDITED_PER_STRATUM) -> dict[str, Any]:
    """The kept rows' label_error_rate with its interval, from their audited rows: the same audit-first estimator
    as the score stage (strata: LLM label, each needing `min_stratum` audited rows; audit weights; duplicate texts
    as one cluster, text_model.duplicate_groups; the score stage's cross-fitted label_error_risk, whose folds
    already kept copies together), with the subset's rows as the population.

    Unbiased for the subset because no filter rule reads gold_label (keep_mask uses audit-free scores only): the
    audited rows a filter keeps are still a random sample of the rows it keeps, within each LLM-label stratum."""
    from labelgate.contract import AUDIT_WEIGHT
    from labelgate.estimation import estimate_error_rate
    from labelgate.signals.label_error import RISK_COLUMN
    from labelgate.signals.text_model import duplicate_groups

    kept = scores[mask]
    audited = kept[GOLD].notna().to_numpy()
    wrong = np.where(audited, (kept[GOLD] != kept[LLM_LABEL]).to_numpy(float), np.nan)
    codes = {label: k for k, label in enumerate(labels)}
    strata = kept[LLM_LABEL].map(codes).fillna(-2).to_numpy(int)
    risk = kept[RISK_COLUMN].to_numpy(float) if RISK_COLUMN in kept.columns else None
    if risk is not None and np.isnan(risk).any():
        risk = None
    weights = None
    if AUDIT_WEIGHT in kept.columns and kept[AUDIT_WEIGHT].notna().any():
        weights = np.where(audited, kept[AUDIT_WEIGHT].to_numpy(float), 1.0)
    estimate = estimate_error_rate(wrong, strata, risk=risk, weights=weights, clusters=duplicate_groups(kept[TEXT]),
                                   confidence=confidence, min_stratum=min_stratum, stratum_names=list(labels))
    # per LLM label: the subset's audited error (weighted), for the gate's advice (which classes to fix)
    w = weights if weights is not None else np.ones(len(kept))
    per_class = {}
    for label in labels:
        rows = audited & (kept[LLM_LABEL] == label).to_numpy()
        if rows.any():
            per_class[label] = {"audited": int(rows.sum()), "error": float(np.sum(w[rows] * wrong[rows]) /
                                                                           np.sum(w[rows]))}
    estimate["per_class_error"] = per_class
    return estimate


def main(scores: str | os.PathLike, strategy: str, out: str | os.PathLike, summary: str | os.PathLike, *,
         params: dict[str, Any], labels: str | None = None,
         label_risk: str | os.PathLike | None = None) -> dict[str, Any]:
    """The filter stage on files: the subset of the scores table for `strategy` to `out` and its summary to
    `summary` (both or neither). label_risk.json's noise estimate is scaled per subset; its audit confidence
    level and strata minimum set the subset's label_error_rate interval. Returns the summary."""
    from labelgate.config import base_labels, section
    from labelgate.contract import canonical_labels, read_table, resolve_labels
    from labelgate.outputs import read_json, write_outputs

    frame = read_table(scores)
    label_set = list(canonical_labels(resolve_labels(base_labels(params), frame, option=labels)))
    risk = read_json(label_risk) if label_risk else {}
    noise_rate = risk.get("metrics", {}).get("estimated_noise_rate")
    label_error = risk.get("signals", {}).get("label_error") or {}
    confidence = label_error.get("confidence_level") or DEFAULT_CONFIDENCE
    min_stratum = label_error.get("min_audited_per_stratum", MIN_AUDITED_PER_STRATUM)
    if isinstance(min_stratum, bool) or not isinstance(min_stratum, int) or min_stratum < 1:
        raise BadInputError(str(label_risk), f"key signals.label_error.min_audited_per_stratum is {min_stratum!r}, "
                                             "not a positive integer")
    subset, result = filter_subset(frame, strategy, section(params, "filter", FilterParams), label_set,
                                   source=str(scores), noise_rate=noise_rate, confidence=confidence,
                                   loss_signal=(risk.get("signals") or {}).get("accuracy_loss"),
                                   min_stratum=min_stratum)
    write_outputs((out, subset), (summary, result))
    return result


def describe(result: dict[str, Any], strategy: str) -> str:
    """The command's one line: rows kept of the rows in, per class, and the subset's audited label error rate."""
    estimate = ""
    if result.get("label_error_rate") is not None:
        from labelgate.estimation import estimate_text

        estimate = f"; label_error_rate {estimate_text(result)}"
    return f"{strategy}: kept {result['rows_kept']}/{result['rows_in']} rows {result['kept_per_class']}{estimate}"
