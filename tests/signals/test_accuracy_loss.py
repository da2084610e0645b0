"""The expected accuracy loss: exact values of each statistical piece on hand-made tables, and the two behaviours the
estimate exists for: errors a model cannot learn cost (almost) nothing, errors that follow a word cost a lot."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from signals.support import run
from synthetic import flip_uniform, label_table, make_texts

from labelgate.signals.accuracy_loss import (
    AccuracyLossParams,
    combine,
    loss_words,
    paired_differences,
    stratified_mean,
    training_rows,
)

NAN = np.nan


class TestStratifiedMean:
    def test_exact_value_and_variance_with_weights(self):
        # stratum 0: 6 rows, audited values 1, 0, 0 with weights 1, 1, 2; stratum 1: 4 rows, audited -1, 0
        values = np.array([1.0, 0.0, 0.0, NAN, NAN, NAN, -1.0, 0.0, NAN, NAN])
        strata = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
        weights = np.array([1.0, 1.0, 2.0, 1, 1, 1, 1.0, 1.0, 1, 1])
        out = stratified_mean(values, strata, weights)
        # stratum 0: Hajek mean 1/4; stratum 1: -1/2; shares 0.6 and 0.4
        assert out["value"] == pytest.approx(0.6 * 0.25 + 0.4 * -0.5)
        w0 = np.array([1, 1, 2]) / 4
        spread0 = np.sum(w0 ** 2 * (np.array([1, 0, 0]) - 0.25) ** 2) * 3 / 2
        spread1 = np.sum((np.array([0.5, 0.5]) ** 2) * (np.array([-1, 0]) + 0.5) ** 2) * 2 / 1
        expected = 0.36 * spread0 * (1 - 3 / 6) + 0.16 * spread1 * (1 - 2 / 4)
        assert out["variance"] == pytest.approx(expected)
        assert out["unmeasured_share"] == 0.0 and out["n_audited"] == 5

    def test_weights_change_the_result(self):
        values = np.array([1.0, 0.0, 0.0, 0.0])
        strata = np.zeros(4, int)
        plain = stratified_mean(values, strata, np.ones(4))["value"]
        weighted = stratified_mean(values, strata, np.array([3.0, 1.0, 1.0, 1.0]))["value"]
        assert plain == pytest.approx(0.25) and weighted == pytest.approx(0.5)

    def test_a_stratum_with_one_audited_row_is_unmeasured(self):
        values = np.array([1.0, 0.0, NAN, 1.0, NAN, NAN, NAN, NAN, NAN, NAN])
        strata = np.array([0, 0, 0, 1, 1, 1, 1, 1, 1, 1])
        out = stratified_mean(values, strata, np.ones(10))
        assert out["unmeasured_share"] == pytest.approx(0.7)
        assert out["value"] == pytest.approx(0.5)  # the measured stratum's mean, not diluted by the other


class TestCombine:
    def test_calibrated_value_and_interval(self):
        params = AccuracyLossParams(loss_learned_scale=2.0, loss_rate_scale=0.1, loss_calibration_sd=0.01)
        cheap = {"value": 0.02, "variance": 0.0001, "unmeasured_share": 0.0, "n_audited": 300}
        error = {"label_error_rate": 0.1, "standard_error": 0.02, "n_rows": 2000}
        out = combine(cheap, error, params, confidence=0.95)
        assert out["expected_accuracy_loss"] == pytest.approx(2 * 0.02 + 0.1 * 0.1)
        half = 1.959964 * math.sqrt(4 * 0.0001 + 0.01 * 0.0004 + 0.0001)
        assert out["expected_accuracy_loss_upper"] == pytest.approx(0.05 + half, rel=1e-5)
        assert out["expected_accuracy_loss_lower"] == pytest.approx(0.05 - half, rel=1e-5)

    def test_unmeasured_share_widens_only_the_upper_bound(self):
        params = AccuracyLossParams(loss_learned_scale=1.0, loss_rate_scale=0.0, loss_calibration_sd=0.0)
        error = {"label_error_rate": 0.1, "standard_error": 0.02}
        base = combine({"value": 0.01, "variance": 0.0, "unmeasured_share": 0.0, "n_audited": 9}, error, params,
                       confidence=0.95)
        partial = combine({"value": 0.01, "variance": 0.0, "unmeasured_share": 0.3, "n_audited": 9}, error, params,
                          confidence=0.95)
        assert partial["expected_accuracy_loss_upper"] == pytest.approx(base["expected_accuracy_loss_upper"] + 0.3)
        assert partial["expected_accuracy_loss_lower"] == base["expected_accuracy_loss_lower"]

    def test_nothing_measured_is_none(self):
        out = combine({"value": None, "variance": 0.0, "unmeasured_share": 1.0, "n_audited": 1},
                      {"label_error_rate": None}, AccuracyLossParams(), confidence=0.95)
        assert out["expected_accuracy_loss_upper"] is None


def test_training_rows_keep_every_audited_row_and_cap_the_rest():
    gold = np.array([-1] * 50 + [0, 1, 2])
    rows = training_rows(gold, max_rows=10, seed=0)
    assert len(rows) == 13 and set(range(50, 53)) <= set(rows.tolist())
    assert np.all(np.diff(rows) > 0)


def test_paired_difference_is_plus_one_where_only_the_denoised_model_is_right():
    # Two word-classes; the LLM labels every "x" text as class 1 although gold says 0. The risk says those rows are
    # wrong, so the denoised model learns x -> 0 and the LLM model x -> 1.
    from scipy.sparse import csr_matrix

    n = 80
    x = np.arange(n) % 2 == 0
    words = csr_matrix(np.column_stack([x, ~x]).astype(float))
    gold_all = np.where(x, 0, 1)
    given = np.ones(n, int)
    gold = np.where(np.arange(n) < 40, gold_all, -1)
    risk = np.where(x, 0.95, 0.05)
    paired = paired_differences(words, given, gold, risk, regularisation=10.0, seed=0)
    audited_x = (np.arange(n) < 40) & x
    assert np.all(paired.difference[audited_x] == 1.0)
    assert np.all(paired.difference[(np.arange(n) < 40) & ~x] == 0.0)
    assert np.isnan(paired.difference[40:]).all()


def test_loss_words_name_the_word_the_loss_falls_on():
    texts = pd.Series(["red apple", "red car", "red hat", "blue sky", "blue sea", "green tree", "green leaf",
                       "blue sky", "green tree"])
    hurt = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0], bool)
    assert loss_words(texts, hurt, np.ones(9, bool))[0] == "red"


def _following(texts, truth, word, target, rate, seed=1):
    rng = np.random.default_rng(seed)
    noisy = truth.copy()
    rows = np.array([i for i, t in enumerate(texts) if truth[i] != target and word in t.split()])
    noisy[rng.choice(rows, size=int(round(rate * len(truth))), replace=False)] = target
    return noisy


@pytest.fixture(scope="module")
def corpus():
    # two class words and six shared fillers per text: a filler that always comes with one label is learnable
    return make_texts(1500, 3, seed=0, class_words=30, filler_words=40, length=8, signal_words=2)


def _loss(texts, truth, noisy):
    frame = label_table(texts, noisy, ["a", "b", "c"], truth=truth, audit_share=0.25)
    return run("accuracy_loss", frame, max_train_rows=100_000).summary


def test_errors_a_model_cannot_learn_cost_almost_nothing(corpus):
    texts, truth = corpus
    out = _loss(texts, truth, flip_uniform(truth, 0.12, 3))
    assert abs(out["cheap_accuracy_loss"]) < 0.01
    assert out["errors_learned_share"] < 0.2
    assert out["expected_accuracy_loss_lower"] <= out["expected_accuracy_loss"] <= out["expected_accuracy_loss_upper"]


def test_errors_that_follow_one_word_cost_a_lot(corpus):
    texts, truth = corpus
    out = _loss(texts, truth, _following(texts, truth, "f7", 0, 0.08))
    assert out["cheap_accuracy_loss"] > 0.03
    assert out["errors_learned_share"] > 0.5
    assert "f7" in out["loss_words"][:3]


def test_no_audit_and_one_label_are_not_measured():
    texts, truth = make_texts(200, 3, seed=1)
    frame = label_table(texts, truth, ["a", "b", "c"])
    assert run("accuracy_loss", frame).metrics["expected_accuracy_loss_upper"] is None
    frame = label_table(texts, np.zeros(200, int), ["a", "b", "c"], truth=truth, audit_share=0.3)
    result = run("accuracy_loss", frame)
    assert result.metrics["expected_accuracy_loss_upper"] is None and "one LLM label" in result.summary["reason"]
