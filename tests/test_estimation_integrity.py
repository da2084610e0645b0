"""The audit-first estimator's integrity: audit weights in every figure (exact values on asymmetric fixtures),
unmeasured strata, duplicated rows as clusters (coverage with 2 and 100 copies of every row), and agreement with
the outside oracle, ppi_py (the prediction-powered inference authors' package), on the case it covers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from assertions import ordered_interval
from labelgate.estimation import estimate_error_rate, kish_n, rows_needed, systematic_share, wilson, z_value

NAN = np.nan


# ------------------------------------------------------------------------------------ audit weights, exact values


def test_weights_enter_the_stratum_variance_exactly():
    # one stratum of 20 rows; 6 audited: 3 wrong with weight 1 (over-sampled), 3 right with weight 2
    wrong = np.array([1, 1, 1, 0, 0, 0] + [NAN] * 14, float)
    weights = np.array([1, 1, 1, 2, 2, 2] + [1] * 14, float)
    result = estimate_error_rate(wrong, np.zeros(20, int), weights=weights)
    mean = 3 / 9
    spread = (3 * 1 * (1 - mean) ** 2 + 3 * 4 * mean ** 2) / 81 * 6 / 5  # sum w^2 (y - m)^2 / W^2, n/(n-1)
    assert result["label_error_rate"] == pytest.approx(mean)
    assert result["standard_error"] == pytest.approx(math.sqrt(spread * (1 - 6 / 20)))
    # the same rows without weights: a different mean and a different spread
    plain = estimate_error_rate(wrong, np.zeros(20, int))
    assert plain["standard_error"] == pytest.approx(math.sqrt(0.25 / 6 * 6 / 5 * (1 - 6 / 20)))
    assert plain["standard_error"] != pytest.approx(result["standard_error"], rel=0.05)
    assert result["n_kish"] == pytest.approx(81 / 15)


def test_weights_enter_the_systematic_share_exactly():
    wrong = np.array([1, 1, 1, 1, 0, NAN], float)
    flagged = np.array([True, False, False, False, True, False])
    weights = np.array([4, 1, 1, 1, 1, 1], float)  # the one flagged error stands for 4 rows
    result = systematic_share(wrong, flagged, weights=weights)
    assert result["systematic_error_share"] == pytest.approx(3 / 7)
    low, high = wilson(3 / 7, kish_n(np.array([4, 1, 1, 1.0])), z_value(0.95))
    assert (result["systematic_error_share_lower"], result["systematic_error_share_upper"]) == pytest.approx(
        (low, high))
    assert systematic_share(wrong, flagged)["systematic_error_share"] == pytest.approx(3 / 4)  # unweighted


def test_over_sampled_audits_cover_the_truth_only_with_weights_in_the_variance():
    """Ignoring the weights in the stratum variance dropped the coverage of over-sampled audits.
    Here the risky fifth of the rows is audited at 8 times the rate of the rest."""
    rng = np.random.default_rng(5)
    n = 4000
    strata = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    risky = rng.random(n) < 0.2
    truth = (rng.random(n) < np.where(risky, 0.5, 0.08)).astype(float)
    rate = truth.mean()
    covered, draws = 0, 300
    for _ in range(draws):
        chosen = np.concatenate([rng.choice(np.flatnonzero(risky), 120, replace=False),
                                 rng.choice(np.flatnonzero(~risky), 60, replace=False)])
        observed = np.full(n, NAN)
        observed[chosen] = truth[chosen]
        weights = np.where(risky, risky.sum() / 120, (~risky).sum() / 60)
        result = estimate_error_rate(observed, strata, weights=weights)
        covered += result["label_error_rate_lower"] <= rate <= result["label_error_rate_upper"]
    assert covered / draws >= 0.93


# ------------------------------------------------------------------------------------ unmeasured strata


def test_an_audit_of_one_llm_class_cannot_certify_the_others():
    """A partial audit at the estimator: 36% wrong, only stratum 0 audited (and right there)."""
    rng = np.random.default_rng(2)
    strata = rng.choice(3, size=3000, p=[0.35, 0.35, 0.3])
    truth = np.where(strata == 0, 0.0, (rng.random(3000) < 0.55).astype(float))
    observed = np.full(3000, NAN)
    chosen = rng.choice(np.flatnonzero(strata == 0), 250, replace=False)
    observed[chosen] = truth[chosen]
    result = estimate_error_rate(observed, strata, stratum_names=["neg", "neu", "pos"])
    assert result["unmeasured_share"] == pytest.approx((strata != 0).mean())
    assert result["label_error_rate_lower"] <= truth.mean() <= result["label_error_rate_upper"]
    assert result["label_error_rate_upper"] > 0.6
    assert set(result["unmeasured_strata"]) == {"neu", "pos"}
    assert rows_needed(result, 0.13) is None or rows_needed(result, 0.13) >= 4


def test_an_honest_small_audit_with_a_rare_class_loses_only_its_share():
    """A 2%-share class drew one row of a 60-row random audit: unmeasured, its 2% added to the upper bound."""
    strata = np.array([0] * 1470 + [1] * 30)
    wrong = np.full(1500, NAN)
    wrong[:59] = 0.0
    wrong[1470] = 0.0
    result = estimate_error_rate(wrong, strata, stratum_names=["common", "rare"])
    z = z_value(0.95)
    assert result["unmeasured_share"] == pytest.approx(0.02)
    assert result["label_error_rate_upper"] == pytest.approx(0.98 * z * z / (59 + z * z) + 0.02, rel=1e-6)
    assert result["label_error_rate_upper"] < 0.13  # still certifies a clean set under the default threshold


# ------------------------------------------------------------------------------------ duplicates


def _copies(wrong, strata, risk, k):
    return np.tile(wrong, k), np.tile(strata, k), np.tile(risk, k), np.tile(np.arange(len(wrong)), k)


@pytest.mark.parametrize("k", [2, 100])
def test_copies_of_every_row_are_one_cluster(k):
    rng = np.random.default_rng(3)
    n = 1500
    strata = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    truth = (rng.random(n) < 0.31).astype(float)
    risk = np.clip(np.where(truth == 1, rng.beta(4, 2, n), rng.beta(2, 4, n)), 0, 1)
    observed = np.full(n, NAN)
    chosen = rng.choice(n, 250, replace=False)
    observed[chosen] = truth[chosen]
    once = estimate_error_rate(observed, strata, risk=risk)
    wrong_k, strata_k, risk_k, clusters = _copies(observed, strata, risk, k)
    naive = estimate_error_rate(wrong_k, strata_k, risk=risk_k)
    grouped = estimate_error_rate(wrong_k, strata_k, risk=risk_k, clusters=clusters)
    assert grouped["label_error_rate"] == pytest.approx(once["label_error_rate"])
    assert grouped["n_audited"] == 250 * k and grouped["n_audited_groups"] == 250
    assert grouped["standard_error"] == pytest.approx(once["standard_error"], rel=0.02)  # n/(n-1) apart
    assert naive["standard_error"] < once["standard_error"] / math.sqrt(k) * 1.05  # what copies did before


@pytest.mark.slow
def test_copies_keep_the_coverage_of_simulated_audits():
    """100 copies of every row, the audit drawn from the distinct texts: coverage stays >= 0.92 over 200 audits."""
    rng = np.random.default_rng(4)
    n, k = 1000, 100
    strata = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    truth = (rng.random(n) < 0.31).astype(float)
    clusters = np.tile(np.arange(n), k)
    strata_k = np.tile(strata, k)
    covered = 0
    for _ in range(200):
        observed = np.full(n, NAN)
        chosen = rng.choice(n, 200, replace=False)
        observed[chosen] = truth[chosen]
        result = estimate_error_rate(np.tile(observed, k), strata_k, clusters=clusters)
        covered += result["label_error_rate_lower"] <= truth.mean() <= result["label_error_rate_upper"]
    assert covered / 200 >= 0.92


def test_copies_that_disagree_do_not_narrow_the_interval():
    wrong = np.array([1, 0, 1, 0, 0, 0, 1, 0] + [NAN] * 12, float)
    clusters = np.array([0, 0, 1, 1, 2, 3, 4, 5] + list(range(6, 18)))  # two clusters of disagreeing copies
    plain = estimate_error_rate(wrong, np.zeros(20, int))
    grouped = estimate_error_rate(wrong, np.zeros(20, int), clusters=clusters)
    assert grouped["standard_error"] >= plain["standard_error"]  # 6 clusters are less evidence than 8 rows


# ------------------------------------------------------------------------------------ the outside oracle: ppi_py


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kind", ["sharp", "noisy"])
def test_agrees_with_ppi_py_on_one_stratum_with_equal_weights(seed, kind):
    """ppi_py's PPI++ mean (power-tuned) on the case it covers: one stratum, equal weights, no finite population.

    Same point estimate when ppi_py is given labelgate's lambda (its unlabelled predictions: every row's risk, which
    is labelgate's first term); its own power tuning divides the slope by 1 + n/N, so with an interior lambda (the
    noisy risk: lambda ~0.5; the sharp one clips at 1 in both) the point estimates differ slightly, within 0.003.
    The intervals differ by design and agree within 6% of their half-width (measured: 0.979-0.986): labelgate
    estimates this set's error rate, a finite population whose risk mean is known exactly, so its variance is
    (1 - n/N) S^2 / n with no term for the imputed mean, where ppi_py adds lambda^2 Var(f) / N for a mean over a
    superpopulation; and labelgate's interval is Wilson's at the effective size, ppi_py's the normal (Wald) one."""
    ppi_py = pytest.importorskip("ppi_py")
    rng = np.random.default_rng(seed)
    n_rows, n = 20_000, 500
    truth = (rng.random(n_rows) < 0.2).astype(float)
    if kind == "sharp":
        risk = np.clip(np.where(truth == 1, rng.beta(5, 2, n_rows), rng.beta(2, 5, n_rows)), 0, 1)
    else:
        risk = 0.2 * truth + 0.8 * rng.random(n_rows)
    chosen = np.sort(rng.choice(n_rows, n, replace=False))
    observed = np.full(n_rows, NAN)
    observed[chosen] = truth[chosen]
    ours = estimate_error_rate(observed, np.zeros(n_rows, int), risk=risk)
    assert (0.3 < ours["lambda"] < 0.8) if kind == "noisy" else ours["lambda"] == 1.0
    y, f = truth[chosen], risk[chosen]
    same_lambda = ppi_py.ppi_mean_pointestimate(y, f, risk, lam=ours["lambda"])
    assert float(np.ravel(same_lambda)[0]) == pytest.approx(ours["label_error_rate"], abs=1e-12)
    tuned = float(np.ravel(ppi_py.ppi_mean_pointestimate(y, f, risk))[0])
    assert tuned == pytest.approx(ours["label_error_rate"], abs=0.003)
    low, high = (float(np.ravel(v)[0]) for v in ppi_py.ppi_mean_ci(y, f, risk, alpha=0.05))
    ours_half = (ours["label_error_rate_upper"] - ours["label_error_rate_lower"]) / 2
    assert ours_half == pytest.approx((high - low) / 2, rel=0.06)
    assert ours["label_error_rate_lower"] == pytest.approx(low, abs=0.006)
    assert ours["label_error_rate_upper"] == pytest.approx(high, abs=0.006)


@pytest.mark.slow
def test_property_bounds_stay_ordered_with_clusters_and_unmeasured_strata():
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    rows = st.lists(st.tuples(st.sampled_from([0.0, 1.0, NAN]), st.integers(0, 3), st.integers(0, 8),
                              st.floats(0.1, 10.0, allow_subnormal=False)), min_size=1, max_size=60)

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(rows, st.integers(1, 6), st.booleans())
    def check(data, minimum, use_weights):
        wrong, strata, clusters, weights = (np.array(column) for column in zip(*data))
        result = estimate_error_rate(wrong, strata.astype(int), clusters=clusters, min_stratum=minimum,
                                     weights=weights if use_weights else None)
        interval = ordered_interval(result, wrong)
        if interval is None:
            return
        low, _, high = interval
        assert high >= result["unmeasured_share"] - 1e-12
        assert low <= 1.0 - result["unmeasured_share"] + 1e-12
        needed = rows_needed(result, 0.1)
        assert needed is None or 0 <= needed <= len(wrong) - result["n_audited"]

    check()
