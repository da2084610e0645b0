"""Edges of the audit estimator that the mutation bench (bench/mutation, integrity set) found untested: a risk model
that points the wrong way, the exact threshold of rows_needed."""

from __future__ import annotations

import numpy as np
import pytest

from labelgate.estimation import METHOD_STRATIFIED, estimate_error_rate, rows_needed


def test_a_risk_that_points_the_wrong_way_gets_no_weight():
    """lambda is clipped to [0, 1]: a risk model whose predictions fall where the audit finds no error (a negative
    slope) is not used at all, and the estimate is the plain stratified one."""
    rng = np.random.default_rng(5)
    n = 600
    strata = rng.integers(0, 2, size=n)
    wrong = np.full(n, np.nan)
    audited = rng.choice(n, size=200, replace=False)
    wrong[audited] = (rng.random(200) < 0.3).astype(float)
    risk = rng.uniform(0.2, 0.4, size=n)
    risk[audited] = np.where(wrong[audited] == 1.0, 0.05, 0.6)  # high where the audit says right
    with_risk = estimate_error_rate(wrong, strata, risk=risk)
    plain = estimate_error_rate(wrong, strata)
    assert with_risk["lambda"] == 0.0
    assert with_risk["method"] == METHOD_STRATIFIED
    assert with_risk["label_error_rate"] == pytest.approx(plain["label_error_rate"])
    assert with_risk["label_error_rate_upper"] == pytest.approx(plain["label_error_rate_upper"])


def test_rows_needed_is_zero_when_the_upper_bound_sits_on_the_threshold():
    """An upper bound equal to the threshold certifies it (the gate's check is <=): no more rows are needed, whatever
    the rest of the estimate holds."""
    estimate = {"label_error_rate": 0.05, "label_error_rate_upper": 0.1, "standard_error": None, "n_rows": 1000,
                "n_audited": 100, "confidence_level": 0.95, "unmeasured_strata": {}}
    assert rows_needed(estimate, 0.1) == 0
    assert rows_needed({**estimate, "label_error_rate_upper": 0.1 + 1e-9}, 0.1) is None  # no spread to plan with


def test_copies_of_a_text_in_two_strata_widen_the_interval():
    """Copies of one text the LLM labelled differently fall in two strata; their audited errors go together (one
    text, one truth), so the strata are not independent: the covariance across strata widens the interval against
    the same rows counted as unrelated texts."""
    rng = np.random.default_rng(9)
    texts = 300
    hard = rng.random(texts) < 0.3  # a text whose LLM labels are wrong, in both of its copies
    wrong = np.repeat(hard.astype(float), 2)  # rows 2i and 2i+1 are copies of text i
    strata = np.tile([0, 1], texts)  # ... labelled differently: one copy in each stratum
    wrong = np.concatenate([wrong, np.full(1200, np.nan)])  # and 1,200 unaudited rows
    strata = np.concatenate([strata, rng.integers(0, 2, size=1200)])
    linked = np.concatenate([np.repeat(np.arange(texts), 2), np.arange(texts, texts + 1200)])
    unrelated = np.arange(len(wrong))
    together = estimate_error_rate(wrong, strata, clusters=linked)
    apart = estimate_error_rate(wrong, strata, clusters=unrelated)
    assert together["label_error_rate"] == pytest.approx(apart["label_error_rate"])
    assert together["standard_error"] > 1.3 * apart["standard_error"]
    assert together["label_error_rate_upper"] > apart["label_error_rate_upper"]


def test_the_flagged_share_of_a_rubber_stamp_is_measured_only_on_audits_without_an_error():
    """rubber_stamp_flag_share: 0 once the audit found a wrong label (it is no rubber stamp), else the lower bound of
    the (weighted) share of audited rows cleanlab flags."""
    from labelgate.estimation import rubber_stamp_flag_share, weighted_share

    flagged = np.array([True] * 30 + [False] * 10 + [True] * 5)
    wrong = np.concatenate([np.zeros(40), np.full(5, np.nan)])
    stamp = rubber_stamp_flag_share(wrong, flagged)
    assert stamp == pytest.approx(weighted_share(flagged[:40].astype(float), np.ones(40), 0.95)["lower"])
    assert stamp > 0.5
    wrong[0] = 1.0  # one audited error
    assert rubber_stamp_flag_share(wrong, flagged) == 0.0
    assert rubber_stamp_flag_share(wrong, flagged[:10]) is None  # flags of another length
