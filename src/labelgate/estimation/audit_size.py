"""How many more audited rows would settle the label error rate against a threshold (the advice the gate gives
when an audit is too small to certify a label set): the interval turned into sample-size planning, the point
estimate held where it is."""

from __future__ import annotations

import math
from typing import Any

from labelgate.estimation.error_rate import wilson, z_value


def rows_needed(estimate: dict[str, Any], threshold: float) -> int | None:
    """About how many more audited rows would bring the upper bound to `threshold`, the point estimate unchanged.

    None when no number of rows can (the point estimate is at or above the threshold) or nothing was measured;
    0 when the upper bound already certifies it. Never more than the rows not yet audited. Unmeasured strata add
    the rows each still needs (`label_more`, in that stratum: see `unmeasured_strata`) to the plan.
    """
    rate, upper = estimate.get("label_error_rate"), estimate.get("label_error_rate_upper")
    if rate is None or upper is None or rate >= threshold:
        return None
    if upper <= threshold:
        return 0
    shortfall = sum(int(s["label_more"]) for s in (estimate.get("unmeasured_strata") or {}).values())
    if estimate.get("standard_error") is None:
        return shortfall or None
    return min(estimate["n_rows"] - estimate["n_audited"], shortfall + _planned_rows(estimate, rate, threshold))


def _planned_rows(estimate: dict[str, Any], rate: float, threshold: float) -> int:
    """More audited rows (spread like the audit so far) that bring Wilson's upper bound for `rate` to `threshold`."""
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
