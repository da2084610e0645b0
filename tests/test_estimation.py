"""The audit-first label-error estimator: exact values on small fixtures, weights, planning, and unbiasedness and
coverage on simulated audits with uniform and text-following (systematic) errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from assertions import ordered_interval
from labelgate.estimation import (
    METHOD_MODEL_ASSISTED,
    METHOD_STRATIFIED,
    estimate_error_rate,
    rows_needed,
    systematic_share,
    wilson,
    z_value,
)

NAN = np.nan


def test_stratified_estimate_exact_values():
    # stratum 0: 6 rows, 3 audited (1 wrong); stratum 1: 4 rows, 2 audited (both wrong)
    wrong = np.array([1, 0, 0, NAN, NAN, NAN, 1, 1, NAN, NAN], float)
    strata = np.array([0] * 6 + [1] * 4)
    result = estimate_error_rate(wrong, strata, stratum_names=["a", "b"])
    assert result["method"] == METHOD_STRATIFIED
    assert result["label_error_rate"] == pytest.approx(0.6 * 1 / 3 + 0.4 * 1.0)
    # stratum 0: s^2/n = (2/3 / 2) / 3, fpc 1/2; stratum 1: no spread, floored at min(1/2, 0.75 * 0.25) / 2, fpc 1/2
    variance = 0.36 * (1 / 9) * 0.5 + 0.16 * (0.1875 / 2) * 0.5
    assert result["standard_error"] == pytest.approx(math.sqrt(variance))
    assert result["n_effective"] == pytest.approx(0.6 * 0.4 / variance)
    low, high = wilson(0.6, 0.6 * 0.4 / variance, z_value(0.95))
    assert (result["label_error_rate_lower"], result["label_error_rate_upper"]) == pytest.approx((low, high))
    assert result["per_stratum"]["b"] == {"rows": 4, "audited": 2, "audited_error": 1.0, "estimate": 1.0}


def test_clean_audit_gives_zero_with_a_nonzero_upper_bound():
    wrong = np.array([0.0] * 50 + [NAN] * 150)
    result = estimate_error_rate(wrong, np.zeros(200, int))
    assert result["label_error_rate"] == 0.0
    assert result["label_error_rate_lower"] == 0.0
    z = z_value(0.95)
    assert result["label_error_rate_upper"] == pytest.approx(z * z / (50 + z * z))  # Wilson at n = 50


def test_no_audit_is_not_measured():
    result = estimate_error_rate(np.full(10, NAN), np.zeros(10, int))
    assert result["label_error_rate"] is None and result["label_error_rate_upper"] is None


def test_weights_are_respected():
    # one stratum; audited: 2 wrong with weight 1 (over-sampled), 2 right with weight 3
    wrong = np.array([1, 1, 0, 0] + [NAN] * 4, float)
    weights = np.array([1, 1, 3, 3] + [1] * 4, float)
    weighted = estimate_error_rate(wrong, np.zeros(8, int), weights=weights)
    plain = estimate_error_rate(wrong, np.zeros(8, int))
    assert weighted["label_error_rate"] == pytest.approx(2 / 8)
    assert plain["label_error_rate"] == pytest.approx(0.5)
    assert weighted["n_kish"] == pytest.approx(64 / 20)


def test_a_stratum_under_the_minimum_is_unmeasured_and_bounded_as_all_wrong():
    wrong = np.array([1, 0, 0, 1, 0, NAN, 0, NAN], float)
    strata = np.array([0, 0, 0, 0, 0, 0, 1, 1])  # stratum b: one audited row of two, under the minimum of 2
    result = estimate_error_rate(wrong, strata, stratum_names=["a", "b"])
    assert list(result["per_stratum"]) == ["a"]
    assert result["unmeasured_share"] == pytest.approx(0.25)
    assert result["unmeasured_strata"] == {"b": {"rows": 2, "audited": 1, "label_more": 1}}
    alone = estimate_error_rate(wrong[:6], strata[:6], stratum_names=["a"])  # stratum a by itself
    assert result["label_error_rate"] == pytest.approx(alone["label_error_rate"]) == pytest.approx(2 / 5)
    assert result["label_error_rate_upper"] == pytest.approx(0.75 * alone["label_error_rate_upper"] + 0.25)
    assert result["label_error_rate_lower"] == pytest.approx(0.75 * alone["label_error_rate_lower"])
    assert result["standard_error"] == pytest.approx(alone["standard_error"])


def test_nothing_measured_gives_the_whole_unit_interval():
    wrong = np.array([1, NAN, 0, NAN], float)
    result = estimate_error_rate(wrong, np.array([0, 0, 1, 1]), stratum_names=["a", "b"])
    assert (result["label_error_rate_lower"], result["label_error_rate_upper"]) == (0.0, 1.0)
    assert result["unmeasured_share"] == 1.0
    assert rows_needed(result, 0.6) == 2  # one more row in each stratum


def test_min_stratum_is_a_real_minimum():
    # 3 audited rows in stratum b: measured at the default 2, unmeasured at 5
    wrong = np.array([0.0] * 40 + [NAN] * 60 + [0.0] * 3 + [NAN] * 17)
    strata = np.array([0] * 100 + [1] * 20)
    assert estimate_error_rate(wrong, strata)["unmeasured_share"] == 0.0
    strict = estimate_error_rate(wrong, strata, min_stratum=5, stratum_names=["a", "b"])
    assert strict["unmeasured_share"] == pytest.approx(20 / 120)
    assert strict["unmeasured_strata"]["b"]["label_more"] == 2


def test_bad_arguments_raise():
    with pytest.raises(ValueError):
        estimate_error_rate(np.array([0.5]), np.array([0]))
    with pytest.raises(ValueError):
        estimate_error_rate(np.array([1.0, 0.0]), np.array([0, 0]), weights=np.array([0.0, 1.0]))


def test_systematic_share_exact():
    wrong = np.array([1, 1, 1, 1, 0, 0, NAN], float)
    flagged = np.array([True, False, False, False, True, False, True])
    result = systematic_share(wrong, flagged)
    assert result["systematic_error_share"] == pytest.approx(0.75)
    assert result["audited_errors"] == 4
    assert result["cleanlab_precision_on_audit"] == pytest.approx(0.5)
    low, high = wilson(0.75, 4, z_value(0.95))
    assert (result["systematic_error_share_lower"], result["systematic_error_share_upper"]) == pytest.approx(
        (low, high))
    assert systematic_share(np.array([0.0, NAN]), np.array([False, True]))["systematic_error_share"] is None


def test_rows_needed_certifies_the_threshold():
    wrong = np.array([1.0] * 2 + [0.0] * 38 + [NAN] * 1960)
    small = estimate_error_rate(wrong, np.zeros(2000, int))
    assert small["label_error_rate"] == pytest.approx(0.05)
    assert small["label_error_rate_upper"] > 0.10
    more = rows_needed(small, 0.10)
    assert more == 93

    def upper(n):  # the same 5% error rate observed on an audit of n rows
        observed = np.array([1.0] * (n // 20) + [0.0] * (n - n // 20) + [NAN] * (2000 - n))
        return estimate_error_rate(observed, np.zeros(2000, int))["label_error_rate_upper"]

    planned = 40 + more
    assert upper(20 * math.ceil(planned / 20)) <= 0.10 < upper(20 * math.floor(planned / 20))
    assert rows_needed(small, 0.04) is None  # the point estimate itself is over the threshold
    assert rows_needed(small, 0.5) == 0


def _population(kind: str, rng: np.random.Generator, n: int = 2000, rate: float = 0.15):
    """Per-row truth (wrong or not), LLM label stratum and an audit-free risk score."""
    strata = rng.choice(4, size=n, p=[0.4, 0.3, 0.2, 0.1])
    if kind == "uniform":  # errors the audit-free features see: risk is informative
        wrong = rng.random(n) < rate
        risk = np.clip(np.where(wrong, rng.beta(5, 2, n), rng.beta(2, 5, n)), 0, 1)
    else:  # errors that follow the text: the features see nothing, risk is unrelated noise
        word = rng.random(n) < 0.25
        wrong = word & (strata == 0) | (rng.random(n) < 0.05)
        risk = rng.beta(2, 5, n)
    return wrong.astype(float), strata, risk


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["uniform", "text_following"])
def test_unbiased_and_covering_on_simulated_audits(kind):
    rng = np.random.default_rng(0)
    wrong, strata, risk = _population(kind, rng)
    truth = wrong.mean()
    estimates, covered, methods = [], 0, set()
    for _ in range(300):
        audited = rng.choice(len(wrong), size=250, replace=False)
        observed = np.full(len(wrong), NAN)
        observed[audited] = wrong[audited]
        result = estimate_error_rate(observed, strata, risk=risk)
        estimates.append(result["label_error_rate"])
        covered += result["label_error_rate_lower"] <= truth <= result["label_error_rate_upper"]
        methods.add(result["method"])
    estimates = np.asarray(estimates)
    assert abs(estimates.mean() - truth) < 0.004  # unbiased (Monte Carlo SE ~0.0013)
    assert covered / 300 >= 0.92
    plain = math.sqrt(truth * (1 - truth) / 250)
    if kind == "uniform":  # the informative risk cuts the spread well below a plain audit proportion's
        assert METHOD_MODEL_ASSISTED in methods
        assert estimates.std() < 0.8 * plain
    else:  # useless risk: no worse than the plain proportion
        assert estimates.std() < 1.05 * plain


@pytest.mark.slow
def test_over_sampled_audit_is_unbiased_with_weights():
    rng = np.random.default_rng(1)
    wrong, strata, risk = _population("uniform", rng)
    high = risk > np.quantile(risk, 0.8)
    weighted, unweighted = [], []
    for _ in range(300):
        chosen = np.concatenate([rng.choice(np.flatnonzero(high), 125, replace=False),
                                 rng.choice(np.flatnonzero(~high), 125, replace=False)])
        observed = np.full(len(wrong), NAN)
        observed[chosen] = wrong[chosen]
        weights = np.where(high, high.sum() / 125, (~high).sum() / 125)
        weighted.append(estimate_error_rate(observed, strata, weights=weights)["label_error_rate"])
        unweighted.append(estimate_error_rate(observed, strata)["label_error_rate"])
    assert abs(np.mean(weighted) - wrong.mean()) < 0.005
    assert np.mean(unweighted) - wrong.mean() > 0.05  # ignoring the design would overstate the error badly


@pytest.mark.slow
def test_property_bounds_are_ordered_and_inside_the_unit_interval():
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    rows = st.lists(st.tuples(st.sampled_from([0.0, 1.0, NAN]), st.integers(0, 3),
                              st.floats(0.0, 1.0, allow_subnormal=False), st.floats(0.1, 10.0, allow_subnormal=False)),
                    min_size=1, max_size=60)  # no subnormals: a library loaded by other tests sets flush-to-zero

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])  # a busy CI box
    @given(rows, st.booleans(), st.booleans())
    def check(data, use_risk, use_weights):
        wrong, strata, risk, weights = (np.array(column) for column in zip(*data))
        result = estimate_error_rate(wrong, strata.astype(int), risk=risk if use_risk else None,
                                     weights=weights if use_weights else None)
        if ordered_interval(result, wrong) is None:
            return
        assert rows_needed(result, 0.1) is None or 0 <= rows_needed(result, 0.1) <= len(wrong)

    check()
