"""Checks of the audit itself and shares measured on it, each with its interval: the weighted share of a flag,
the systematic-error share (audited errors cleanlab does not flag), representativeness of the audited rows on
audit-free figures (a cherry-picked audit does not look like the whole set), the rubber-stamp check (an audit that
agrees with every LLM label although cleanlab flags many), an AUC's interval."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from labelgate.estimation.error_rate import DEFAULT_CONFIDENCE, kish_n, wilson, z_value


def weighted_share(hit: np.ndarray, weights: np.ndarray, confidence: float) -> dict[str, Any]:
    """A weighted proportion with its Wilson interval at the Kish effective size (None when there are no rows)."""
    hit = np.asarray(hit, float)
    weights = np.asarray(weights, float)
    if len(hit) == 0:
        return {"value": None, "lower": None, "upper": None, "n": 0}
    value = float(np.sum(weights * hit) / weights.sum())
    lower, upper = wilson(value, kish_n(weights), z_value(confidence))
    return {"value": value, "lower": lower, "upper": upper, "n": int(len(hit))}


def systematic_share(wrong: np.ndarray, flagged: np.ndarray, *, weights: np.ndarray | None = None,
                     confidence: float = DEFAULT_CONFIDENCE) -> dict[str, Any]:
    """Of the audited rows whose LLM label is wrong, the share cleanlab does NOT flag (systematic errors that
    confident learning cannot see, because the text model learnt them), with its interval; plus the flags'
    recall and precision on the audit."""
    wrong = np.asarray(wrong, float)
    flagged = np.asarray(flagged, bool)
    audited = ~np.isnan(wrong)
    weights = np.ones(len(wrong)) if weights is None else np.asarray(weights, float)
    errors = audited & (wrong == 1.0)
    missed = weighted_share(~flagged[errors], weights[errors], confidence)
    precision = weighted_share(wrong[audited & flagged], weights[audited & flagged], confidence)
    return {
        "systematic_error_share": missed["value"],
        "systematic_error_share_lower": missed["lower"],
        "systematic_error_share_upper": missed["upper"],
        "audited_errors": missed["n"],
        "cleanlab_recall_on_audit": None if missed["value"] is None else 1.0 - missed["value"],
        "cleanlab_precision_on_audit": precision["value"],
        "audited_flagged": precision["n"],
    }


def representativeness(audited_values: np.ndarray, names: list[str], *, population_mean: np.ndarray,
                       population_var: np.ndarray, n_rows: int, weights: np.ndarray | None = None,
                       clusters: np.ndarray | None = None) -> dict[str, Any]:
    """Does the audit look like a random sample of the whole set on audit-free figures?

    audited_values: audited rows x figures (cleanlab's given-label probability, the text model's margin, the LLM's
    entropy, label indicators, text length: nothing that reads a gold label); population_mean/_var: each figure's
    mean and variance over all n_rows rows; weights: the audited rows' audit weights; clusters: their duplicate
    groups (the copies of one text are one cluster: the cluster's weighted mean, weighted by its summed weight).

    Test: for each figure, z = (weighted audited mean - whole-set mean) / SE, where SE is the design standard error
    of the Hajek mean (the linearised variance sum_c W_c^2 (x_c - xbar)^2 / (sum W)^2 over audited clusters),
    or, when larger, the whole set's variance over the audit's Kish size (known under the null, and not fooled by
    an audit whose rows all look alike), times the finite-population correction 1 - n/N. Under a random (or
    weighted random, weights = 1 / inclusion probability) audit z is about standard normal; a cherry-picked audit
    (e.g. only rows the LLM got right) differs in cleanlab's given-label probability by a fixed amount, so |z| grows
    with the square root of the audit size. The figures are tested together by Bonferroni's bound: the reported
    `audit_representativeness_p` = min(1, k * smallest two-sided p), safe under any dependence between the k
    figures (label indicators are collinear). A z-test was chosen over a standardised mean difference because
    its false-block rate does not grow as audits shrink (an SMD bound that blocks a 300-row cherry-pick would block
    many honest 50-row audits); the gate blocks under gate.min_audit_representativeness_p (0.001), and the seeded
    simulation in tests/test_representativeness.py measures the false-block rate of honest audits.
    None when no figure varies."""
    values = np.asarray(audited_values, float)
    n = values.shape[0]
    weights = np.ones(n) if weights is None else np.asarray(weights, float)
    clusters = np.arange(n) if clusters is None else np.asarray(clusters)
    codes = np.unique(clusters, return_inverse=True)[1].ravel()
    cluster_weight = np.bincount(codes, weights=weights)
    n_clusters = len(cluster_weight)
    kish = kish_n(cluster_weight)
    fpc = max(0.0, 1.0 - n / max(n_rows, 1))
    figures: dict[str, Any] = {}
    p_values = []
    for j, name in enumerate(names):
        mean_all, var_all = float(population_mean[j]), float(population_var[j])
        if not (np.isfinite(mean_all) and np.isfinite(var_all)) or var_all <= 1e-12 or n == 0:
            continue
        x = np.bincount(codes, weights=weights * values[:, j]) / cluster_weight  # cluster means
        mean_audit = float(np.sum(cluster_weight * x) / cluster_weight.sum())
        design = float(np.sum(cluster_weight ** 2 * (x - mean_audit) ** 2) / cluster_weight.sum() ** 2)
        design *= n_clusters / max(n_clusters - 1, 1)
        se = math.sqrt(max(design, var_all / kish) * fpc)
        difference = mean_audit - mean_all
        if se <= 1e-12:
            z = 0.0 if abs(difference) <= 1e-9 else math.copysign(math.inf, difference)
        else:
            z = difference / se
        p = float(2.0 * _normal_sf(abs(z)))
        p_values.append(p)
        figures[name] = {"audited_mean": mean_audit, "all_mean": mean_all,
                         "smd": difference / math.sqrt(var_all), "z": z if math.isfinite(z) else None, "p": p}
    if not figures:
        return {"audit_representativeness_p": None, "audit_imbalance": {}, "audit_imbalance_worst": None}
    worst = min(figures, key=lambda k: figures[k]["p"])
    return {"audit_representativeness_p": float(min(1.0, len(p_values) * min(p_values))),
            "audit_imbalance": figures, "audit_imbalance_worst": worst}


def _normal_sf(z: float) -> float:
    from scipy.stats import norm

    return float(norm.sf(z))


def rubber_stamp_flag_share(wrong: np.ndarray, flagged: np.ndarray, *, weights: np.ndarray | None = None,
                            confidence: float = DEFAULT_CONFIDENCE) -> float | None:
    """A rubber-stamp audit (gold label copied from llm_label) finds no wrong label, whatever the set is like. When
    the audit found none, this is the lower confidence bound (Wilson, Kish size) of the weighted share of audited
    rows that cleanlab flags as label issues: audited rows on which the audit-free evidence says "wrong" and the
    audit, every time, says "right". 0.0 when the audit found at least one wrong label; None without flags.

    Why a lower bound of the flagged share and not a plain test: an honest audit of a clean set also finds no error,
    and cleanlab also flags rows of clean sets (its text model errs: gold labels of the demo data read as 0.28
    noise, and the calibration sets the policy passes are flagged at up to 0.27). The gate blocks only when even
    the lower bound exceeds gate.max_audit_rubber_stamp_flag_share (0.3, above every clean set measured), so
    sampling noise of a small honest audit does not block, while a rubber stamp of a set cleanlab flags heavily
    does. A rubber stamp of a set cleanlab cannot see into is not detectable from the audit itself: the defence
    there is a blind audit (the LLM label hidden from the annotator)."""
    wrong = np.asarray(wrong, float)
    flagged = np.asarray(flagged)
    if flagged.shape != wrong.shape:
        return None
    audited = ~np.isnan(wrong)
    if not audited.any():
        return None
    if np.any(wrong[audited] == 1.0):
        return 0.0
    weights = np.ones(len(wrong)) if weights is None else np.asarray(weights, float)
    share = weighted_share(flagged[audited].astype(float), weights[audited], confidence)
    return share["lower"]


#: Share of the rows, the text model's most confident ones, on which `confident_disagreement` measures how often the
#: LLM label contradicts the text model (see audit_contradiction).
CONFIDENT_SHARE = 0.1


def confident_disagreement(pred_probs: np.ndarray, given: np.ndarray, *, share: float = CONFIDENT_SHARE,
                           groups: np.ndarray | None = None, confidence: float = DEFAULT_CONFIDENCE
                           ) -> dict[str, Any] | None:
    """Audit-free evidence of wrong LLM labels: of the `share` of rows on which the out-of-fold text model is most
    confident (highest top-class probability), the share whose LLM label differs from the model's prediction, with
    its Wilson interval at the number of distinct texts among them (`groups`: copies of one text count once).

    Where the text model is most confident it is rarely wrong, so disagreement there is mostly the LLM's: measured
    on gold labels (bench/audit_contradiction: the calibration corpora, 10% most confident rows) it is 0.03-0.08,
    while uniformly or class-conditionally noisy labels keep about their noise rate there (0.23-0.38 at 30% wrong).
    Errors that concentrate where the text model is unsure, or that it learns (text-following noise whose trigger
    words it picks up, an LLM that errs on the hard rows), barely show here: 0.04-0.13 at 30% wrong. None without
    two LLM labels or rows."""
    pred_probs = np.asarray(pred_probs, float)
    given = np.asarray(given)
    if pred_probs.ndim != 2 or len(pred_probs) != len(given) or len(given) == 0 or len(np.unique(given)) < 2:
        return None
    top = pred_probs.max(axis=1)
    count = max(1, int(math.ceil(share * len(given))))
    rows = np.argsort(-top, kind="stable")[:count]
    disagree = (pred_probs[rows].argmax(axis=1) != given[rows]).astype(float)
    n = len(np.unique(np.asarray(groups)[rows])) if groups is not None else count
    value = float(disagree.mean())
    lower, upper = wilson(value, n, z_value(confidence))
    return {"confident_disagreement": value, "confident_disagreement_lower": lower,
            "confident_disagreement_upper": upper, "confident_rows": count, "confident_texts": n}


def audit_contradiction(disagreement: dict[str, Any] | None, audit_upper: float | None) -> float | None:
    """How far the audit-free evidence contradicts the audit: the lower bound of `confident_disagreement` (the LLM
    label against the text model on the rows the model is most confident about) minus the audit's upper bound of the
    label error rate, floored at 0. A rubber-stamp audit (gold copied from llm_label, so its upper bound is ~0.01-
    0.03) of a set whose labels are wrong where the text is clear leaves a gap of the noise rate; an honest audit
    bounds the error rate above the disagreement the LLM's errors cause there, and the text model's own errors on
    its most confident rows (0.03-0.08 on gold labels) stay under gate.max_audit_contradiction (0.1: of 47,400
    simulated honest audits of 50-300 rows on 79 label sets, none above it, the largest 0.066).

    Assumes the LLM errs on the rows the text model finds clear no more often than on the rest, so that the
    disagreement there is a lower bound of its error rate plus the text model's own error. A rubber stamp of a set
    whose errors sit where the text model is unsure (text-following noise it learns, LLM errors on hard rows) is not
    detectable this way: measured gaps of 0.00-0.07 for stamped audits of 30%-wrong sets of those kinds (docs/
    audit_integrity.md); the defence there is the blind audit. None when either figure is missing."""
    if disagreement is None or audit_upper is None:
        return None
    return float(max(0.0, disagreement["confident_disagreement_lower"] - audit_upper))


def auc_interval(auc: float, n_pos: int, n_neg: int, confidence: float) -> tuple[float, float]:
    """Hanley & McNeil (1982) normal interval for a ROC AUC from n_pos positives and n_neg negatives."""
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc) + (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg)
    half = z_value(confidence) * math.sqrt(max(variance, 0.0))
    return max(0.0, auc - half), min(1.0, auc + half)
