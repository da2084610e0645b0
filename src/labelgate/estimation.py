"""Audit-first estimation of the LLM's label error rate: the statistics, with no I/O and no model fitting.

The gold audit (rows with a `gold_label`) is the only unbiased evidence of how often the LLM is wrong. This module
turns it into an estimate of the error rate of the whole label set (or of any subset of its rows) with a
confidence interval:

* **Stratified by LLM label.** Each LLM label is a stratum, weighted by its share of all rows, so an audit whose
  label mix differs from the set's (by chance or by design) still estimates the set's error rate.
* **Sample weights.** An audited row may carry `audit_weight` = 1 / its inclusion probability (written by
  `labelgate audit sample` when it over-samples risky rows); inside a stratum the audited rows' mean is then the
  weighted (Hajek) mean, so over-sampled audits stay unbiased.
* **Model-assisted (difference / prediction-powered) estimator.** With a per-row prediction f of "the LLM label is
  wrong" made from audit-free features (cross-fitted, so an audited row's prediction never saw its own gold
  label), a stratum's error rate is

      e_h = mean over all rows of the stratum (lambda * f) + mean over its audited rows (wrong - lambda * f),

  unbiased for any f because the second term corrects the first by the audited residuals. lambda (PPI++ power
  tuning) is the pooled within-stratum regression slope of `wrong` on f, clipped to [0, 1]: a useless f (errors
  its features cannot see) gets lambda ~ 0 and the estimate
  falls back to the plain stratified audit proportion; a good f cuts the variance by the share of it that f explains.
* **Interval.** The variance is the stratified, design-based one from the audited residuals, with the finite
  population correction (the audited rows' errors are known exactly), floored where a near-perfect model's
  residuals would claim more certainty than the audit size allows (see `_variance_floor`). The interval is Wilson's
  score interval at the effective sample size p(1-p)/variance, so it stays inside [0, 1] and is not zero-width when
  the audit saw no errors.

Strata with fewer than `min_stratum` audited rows are pooled into one stratum (a variance needs two rows).
`rows_needed` turns the interval into sample-size planning: how many more audited rows would bring the upper bound
under a threshold if the point estimate stayed where it is.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: The confidence level of every interval labelgate reports where params set no other (the one place it is written).
DEFAULT_CONFIDENCE = 0.95
METHOD_STRATIFIED = "stratified audit proportion (strata: LLM label)"
METHOD_MODEL_ASSISTED = ("stratified difference estimator (prediction-powered, PPI++ power-tuned; strata: LLM label; "
                         "cross-fitted risk model on audit-free features and the words of the text)")
INTERVAL = "Wilson score interval at the effective sample size, finite-population corrected"
POOLED = -1


def estimate_text(figures: dict[str, Any] | None) -> str:
    """'0.18 [0.14, 0.23], audit of 279 rows': label_error_rate with its interval, as every output shows it."""
    figures = figures or {}
    rate, low, high = (figures.get(k) for k in ("label_error_rate", "label_error_rate_lower",
                                                  "label_error_rate_upper"))
    if not all(isinstance(v, (int, float)) for v in (rate, low, high)):
        return "not measured (no gold audit rows)"
    return f"{rate:.2f} [{low:.2f}, {high:.2f}], audit of {figures.get('n_audited')} rows"


def z_value(confidence: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + confidence / 2.0))


def wilson(p: float, n: float, z: float) -> tuple[float, float]:
    """Wilson score interval for a proportion p observed on n (possibly fractional, effective) rows."""
    if n <= 0:
        return 0.0, 1.0
    p = min(1.0, max(0.0, p))
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (0.0 if p == 0.0 else float(max(0.0, centre - half))), (1.0 if p == 1.0 else float(min(1.0, centre + half)))


def kish_n(weights: np.ndarray) -> float:
    """Kish's effective sample size of weighted rows: (sum w)^2 / sum w^2."""
    weights = np.asarray(weights, float)
    total = weights.sum()
    return float(total * total / np.square(weights).sum()) if total > 0 else 0.0


def estimate_error_rate(
    wrong: np.ndarray,
    strata: np.ndarray,
    *,
    risk: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    min_stratum: int = 2,
    stratum_names: list[str] | None = None,
) -> dict[str, Any]:
    """Estimate the share of wrong labels among all rows.

    wrong:   per row 1.0 (LLM label differs from gold), 0.0 (agrees) or NaN (not audited)
    strata:  per row integer stratum (the LLM label's code)
    risk:    optional per-row prediction of `wrong` in [0, 1] from audit-free features, cross-fitted on the audit
    weights: optional per-row audit weight (1 / inclusion probability); read on audited rows only
    Returns a JSON-able dict: label_error_rate, _lower, _upper, standard_error, n_audited, n_effective, lambda,
    method, per_stratum (rows, audited rows, audited error, estimate). label_error_rate is None without audit rows.
    """
    wrong = np.asarray(wrong, float)
    strata = np.asarray(strata)
    if wrong.shape != strata.shape or wrong.ndim != 1:
        raise ValueError("wrong and strata must be 1-D arrays of the same length")
    if not np.all(np.isnan(wrong) | (wrong == 0.0) | (wrong == 1.0)):
        raise ValueError("wrong must hold 0, 1 or NaN")
    audited = ~np.isnan(wrong)
    weights = np.ones(len(wrong)) if weights is None else np.asarray(weights, float)
    if np.any(~np.isfinite(weights[audited])) or np.any(weights[audited] <= 0):
        raise ValueError("audit weights must be finite and > 0 on audited rows")
    if risk is not None:
        risk = np.clip(np.asarray(risk, float), 0.0, 1.0)
        if risk.shape != wrong.shape or np.any(np.isnan(risk)):
            raise ValueError("risk must be a finite per-row array")
    return _estimate(wrong, strata, audited, risk, weights, confidence, min_stratum, stratum_names)


def _estimate(wrong, strata, audited, risk, weights, confidence, min_stratum, stratum_names) -> dict[str, Any]:
    n_rows, n_audited = len(wrong), int(audited.sum())
    base = {"n_rows": n_rows, "n_audited": n_audited, "confidence_level": confidence, "interval": INTERVAL}
    if n_audited == 0:
        return {**base, "label_error_rate": None, "label_error_rate_lower": None, "label_error_rate_upper": None,
                "method": "not measured: no audited rows", "reason": "no audited rows"}
    groups = _collapse(strata, audited, min_stratum)
    keys = sorted(set(groups.tolist()), key=lambda g: (g == POOLED, g))
    slope = _power_tuning(wrong, groups, keys, audited, risk, weights) if risk is not None else 0.0
    f = slope * risk if risk is not None else np.zeros(n_rows)
    estimate, variance, per_stratum = 0.0, 0.0, {}
    for key in keys:
        rows = groups == key
        sample = rows & audited
        share = rows.sum() / n_rows
        w = weights[sample]
        residual = wrong[sample] - f[sample]
        mean_residual = float(np.sum(w * residual) / w.sum())
        value = float(np.clip(f[rows].mean() + mean_residual, 0.0, 1.0))
        n_h = int(sample.sum())
        fpc = max(0.0, 1.0 - n_h / rows.sum())
        spread = float(np.sum(w * w * (residual - mean_residual) ** 2) / w.sum() ** 2) * n_h / max(n_h - 1, 1)
        var_h = max(spread, _variance_floor(wrong[sample], w)) * fpc
        estimate += share * value
        variance += share * share * var_h
        name = "pooled small strata" if key == POOLED else (
            stratum_names[key] if stratum_names is not None else str(key))
        per_stratum[name] = {"rows": int(rows.sum()), "audited": n_h,
                             "audited_error": float(np.sum(w * wrong[sample]) / w.sum()), "estimate": value}
    estimate = float(np.clip(estimate, 0.0, 1.0))
    z = z_value(confidence)
    n_kish = kish_n(weights[audited])
    n_eff = float(_effective_n(estimate, variance, n_kish))
    lower, upper = wilson(estimate, n_eff, z)
    return {
        **base,
        "label_error_rate": estimate,
        "label_error_rate_lower": lower,
        "label_error_rate_upper": upper,
        "standard_error": math.sqrt(variance),
        "n_effective": n_eff,
        "n_kish": n_kish,
        "lambda": slope,
        "method": METHOD_MODEL_ASSISTED if risk is not None and slope > 0 else METHOD_STRATIFIED,
        "per_stratum": per_stratum,
    }


def _variance_floor(wrong: np.ndarray, weights: np.ndarray) -> float:
    """Smallest credible variance of a stratum's mean residual. A near-perfect risk model leaves residuals that are
    almost all zero; an audit that happened to see none of its rare misses would report a variance of ~0. Such an
    audit cannot rule out misses at a rate of about 1/n, so the per-row residual variance is floored at 1/n, but
    never above the plain audit proportion's own variance (with one pseudo-error and one pseudo-hit)."""
    n = kish_n(weights)
    p = (float(np.sum(weights * wrong) / weights.sum()) * n + 1.0) / (n + 2.0)
    return min(1.0 / n, p * (1.0 - p)) / n


def _collapse(strata: np.ndarray, audited: np.ndarray, min_stratum: int) -> np.ndarray:
    """Strata with fewer than min_stratum audited rows join one pooled stratum (which joins the largest stratum
    when it is itself too small)."""
    groups = np.asarray(strata).astype(int).copy()
    counts = {int(s): int((audited & (groups == s)).sum()) for s in np.unique(groups)}
    small = [s for s, c in counts.items() if c < min_stratum]
    if not small:
        return groups
    groups[np.isin(groups, small)] = POOLED
    pooled = int((audited & (groups == POOLED)).sum())
    large = {s: c for s, c in counts.items() if s not in small}
    if pooled < min_stratum and large:
        groups[groups == POOLED] = max(large, key=large.get)
    return groups


def _power_tuning(wrong, groups, keys, audited, risk, weights) -> float:
    """Pooled within-stratum slope of `wrong` on `risk` over the audited rows, weighted like the variance."""
    n_rows = len(wrong)
    cov = var = 0.0
    for key in keys:
        sample = (groups == key) & audited
        n_h = sample.sum()
        if n_h < 2:
            continue
        w = weights[sample] / weights[sample].sum()
        y, f = wrong[sample], risk[sample]
        fc = f - np.sum(w * f)
        importance = ((groups == key).sum() / n_rows) ** 2 / n_h
        cov += importance * float(np.sum(w * fc * (y - np.sum(w * y))))
        var += importance * float(np.sum(w * fc * fc))
    return float(np.clip(cov / var, 0.0, 1.0)) if var > 1e-12 else 0.0


def _effective_n(estimate: float, variance: float, n_kish: float) -> float:
    """p(1-p)/variance; at p = 0 or 1 the residuals carry no spread, so the audit's Kish size stands in."""
    if not 0.0 < estimate < 1.0:
        return max(n_kish, 1.0)
    if variance <= 1e-15:  # every row of every stratum audited: the estimate is exact
        return 1e12
    return estimate * (1.0 - estimate) / variance


def rows_needed(estimate: dict[str, Any], threshold: float) -> int | None:
    """About how many more audited rows would bring the upper bound to `threshold`, the point estimate unchanged.

    None when no number of rows can (the point estimate is at or above the threshold) or nothing was measured;
    0 when the upper bound already certifies it. Never more than the rows not yet audited.
    """
    rate, upper = estimate.get("label_error_rate"), estimate.get("label_error_rate_upper")
    if rate is None or upper is None or rate >= threshold:
        return None
    if upper <= threshold:
        return 0
    n, n_rows = estimate["n_audited"], estimate["n_rows"]
    target_n_eff = _wilson_rows(rate, threshold, z_value(estimate["confidence_level"]))
    if rate <= 0.0:  # no spread to plan with: scale the Kish size
        total = n * target_n_eff / max(estimate.get("n_kish", n), 1.0)
    else:  # per-row variance S2 from var = (1 - n/N) S2 / n, then solve (1 - m/N) S2 / m = p(1-p) / n_eff
        per_row = estimate["standard_error"] ** 2 * n / max(1e-9, 1.0 - n / n_rows)
        total = per_row / (rate * (1.0 - rate) / target_n_eff + per_row / n_rows)
    return int(max(0, min(n_rows - n, math.ceil(total - n))))


def _wilson_rows(rate: float, threshold: float, z: float) -> float:
    """Smallest effective n at which Wilson's upper bound for `rate` is at most `threshold` (bisection)."""
    low, high = 1.0, 1e9
    if wilson(rate, high, z)[1] > threshold:
        return high
    for _ in range(200):
        mid = math.sqrt(low * high)
        if wilson(rate, mid, z)[1] > threshold:
            low = mid
        else:
            high = mid
        if high / low < 1.0001:
            break
    return high


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


def auc_interval(auc: float, n_pos: int, n_neg: int, confidence: float) -> tuple[float, float]:
    """Hanley & McNeil (1982) normal interval for a ROC AUC from n_pos positives and n_neg negatives."""
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc) + (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg)
    half = z_value(confidence) * math.sqrt(max(variance, 0.0))
    return max(0.0, auc - half), min(1.0, auc + half)
