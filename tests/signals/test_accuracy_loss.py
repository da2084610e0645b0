"""The expected accuracy loss: exact values of each piece on hand-made tables, and the two behaviours the estimate
exists for: errors a model cannot learn cost little, errors that follow a word cost a lot."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from signals.support import run
from synthetic import flip_following, flip_uniform, label_table, make_texts

from labelgate.estimation import kish_n, wilson, z_value
from labelgate.signals.accuracy_loss import (
    AccuracyLossParams,
    chance_of_reproducing,
    combine,
    concentration,
    learned_errors,
    loss_terms,
    loss_value,
    loss_words,
    projected_upper,
)

# Eight audited rows over three classes (gold -1 = not audited). Wrong LLM labels at rows 0, 1, 2 (gold 0 -> LLM 1,
# gold 0 -> LLM 2, gold 1 -> LLM 0); the model reproduces the first two. Correct rows: gold 0 (rows 3, 4: model
# right, wrong), gold 1 (rows 5, 6: right, right), gold 2 (row 7: right).
GOLD = np.array([0, 0, 1, 0, 0, 1, 1, 2, -1, -1])
GIVEN = np.array([1, 2, 0, 0, 0, 1, 1, 2, 0, 1])
PRED = np.array([1, 2, 1, 0, 1, 1, 1, 2, 0, 1])


def test_chance_is_the_gold_class_error_rate_spread_over_the_other_classes():
    # gold 0 correct rows miss 1 of 2 -> 0.5 / 2 = 0.25 for rows 0 and 1; gold 1 misses 0 -> 0 for row 2
    assert chance_of_reproducing(PRED, GOLD, GIVEN, np.ones(10), 3) == pytest.approx((0.25 + 0.25 + 0.0) / 3)
    weights = np.array([1.0, 1.0, 4.0, 1, 1, 1, 1, 1, 1, 1])  # row 2 weighs four times: chance moves towards 0
    assert chance_of_reproducing(PRED, GOLD, GIVEN, weights, 3) == pytest.approx((0.25 + 0.25) / 6)


def test_learned_share_excess_and_bounds():
    out = learned_errors(PRED, GOLD, GIVEN, np.ones(10), n_classes=3, confidence=0.95)
    chance = 0.5 / 3
    assert out["errors_learned_share"] == pytest.approx(2 / 3)
    assert out["errors_learned_excess"] == pytest.approx((2 / 3 - chance) / (1 - chance))
    low, high = wilson(2 / 3, 3.0, z_value(0.95))
    assert out["excess_lower"] == pytest.approx(max(0.0, (low - chance) / (1 - chance)))
    assert out["excess_upper"] == pytest.approx(min(1.0, (high - chance) / (1 - chance)))
    assert out["audited_errors"] == 3


def test_weights_move_the_learned_share():
    weights = np.array([1.0, 1.0, 4.0, 1, 1, 1, 1, 1, 1, 1])  # the unreproduced error weighs four times
    out = learned_errors(PRED, GOLD, GIVEN, weights, n_classes=3, confidence=0.95)
    assert out["errors_learned_share"] == pytest.approx(2 / 6)
    assert kish_n(weights[:3]) == pytest.approx(36 / 18)


def test_no_audited_error_leaves_the_learned_share_open():
    out = learned_errors(PRED, np.where(GOLD >= 0, GIVEN, -1), GIVEN, np.ones(10), n_classes=3, confidence=0.95)
    assert out["errors_learned_share"] is None and (out["excess_lower"], out["excess_upper"]) == (0.0, 1.0)


def test_loss_terms_are_the_rate_over_k_minus_one_the_concentration_and_the_learned_rate_to_the_power():
    assert loss_terms(0.1, 0.6, 0.04, n_classes=3, power=1.0) == pytest.approx((0.05, 0.04, 0.06))
    assert loss_terms(0.1, 0.6, 0.04, n_classes=3, power=2.0) == pytest.approx((0.05, 0.04, 0.0036))  # 0.06 ** 2
    assert loss_terms(0.1, 0.6, 0.04, n_classes=8, power=2.0) == pytest.approx((0.1 / 7, 0.04, 0.0036))
    assert loss_terms(0.1, 0.0, 0.0, n_classes=2, power=2.0) == (0.1, 0.0, 0.0)


class TestConcentration:
    # gold 0: four rows, two carry LLM label 1 (w = 0.5); gold 1: two rows, one carries 0 (w = 0.5); gold 2: none
    GOLD = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    GIVEN = np.array([1, 1, 0, 0, 1, 0, 2, 2])

    def test_exact_value(self):
        out = concentration(self.GOLD, self.GIVEN, np.ones(8), confidence=0.95)
        assert out["error_concentration"] == pytest.approx(4 / 8 * 0.5 ** 2 + 2 / 8 * 0.5 ** 2)
        assert 0.0 <= out["error_concentration_lower"] <= 0.1875 <= out["error_concentration_upper"] <= 1.0

    def test_labels_work_as_codes_and_the_bounds_are_seeded(self):
        names = np.array(["neg", "pos", "neu"])
        one = concentration(names[self.GOLD], names[self.GIVEN], np.ones(8), confidence=0.95)
        assert one == concentration(self.GOLD, self.GIVEN, np.ones(8), confidence=0.95)

    def test_weights(self):
        # the two gold-1 rows weigh 3: p = (4, 6, 2) / 12
        weights = np.array([1, 1, 1, 1, 3, 3, 1, 1], float)
        out = concentration(self.GOLD, self.GIVEN, weights, confidence=0.95)
        assert out["error_concentration"] == pytest.approx(4 / 12 * 0.25 + 6 / 12 * 0.25)

    def test_spread_errors_concentrate_less_than_one_confusion(self):
        gold = np.repeat(np.arange(4), 10)
        spread = gold.copy()
        spread[[0, 1, 2, 10, 11, 12]] = [1, 2, 3, 0, 2, 3]  # three wrong labels in each of two classes, all different
        piled = gold.copy()
        piled[[0, 1, 2, 10, 11, 12]] = [1, 1, 1, 0, 0, 0]  # the same count, each class on one confusion
        low = concentration(gold, spread, np.ones(40), confidence=0.95)["error_concentration"]
        high = concentration(gold, piled, np.ones(40), confidence=0.95)["error_concentration"]
        assert (low, high) == (pytest.approx(2 * 0.25 * 0.1 ** 2), pytest.approx(2 * 0.25 * 0.3 ** 2))

    def test_no_audited_error_leaves_the_upper_bound_open(self):
        out = concentration(self.GOLD, self.GOLD, np.ones(8), confidence=0.95)
        assert out == {"error_concentration": 0.0, "error_concentration_lower": 0.0, "error_concentration_upper": None}


class TestCombine:
    LINEAR = AccuracyLossParams(loss_rate_scale=0.2, loss_concentration_scale=0.5, loss_learned_scale=0.5,
                                loss_learned_power=1.0, loss_calibration_sd=0.01, loss_calibration_sd_slope=0.0)
    PARAMS = AccuracyLossParams(loss_rate_scale=0.2, loss_concentration_scale=0.5, loss_learned_scale=5.0,
                                loss_learned_power=2.0, loss_calibration_sd=0.01, loss_calibration_sd_slope=0.0)
    ERROR = {"label_error_rate": 0.1, "label_error_rate_lower": 0.06, "label_error_rate_upper": 0.15,
             "n_audited": 300, "n_rows": 2000}
    LEARNED = {"errors_learned_share": 0.8, "errors_learned_excess": 0.6, "excess_lower": 0.3, "excess_upper": 0.9,
               "error_concentration": 0.04, "error_concentration_lower": 0.01, "error_concentration_upper": 0.09}
    SPREAD = z_value(0.95) * 0.01

    def test_power_one_is_the_linear_form(self):
        out = combine(self.ERROR, self.LEARNED, self.LINEAR, confidence=0.95, n_classes=3)
        value = 0.2 * 0.1 / 2 + 0.5 * 0.04 + 0.5 * 0.1 * 0.6  # 0.01 + 0.02 + 0.03
        low = 0.2 * 0.06 / 2 + 0.5 * 0.01 + 0.5 * 0.06 * 0.3
        high = 0.2 * 0.15 / 2 + 0.5 * 0.09 + 0.5 * 0.15 * 0.9
        assert out["expected_accuracy_loss"] == pytest.approx(0.06)
        assert out["expected_accuracy_loss_lower"] == pytest.approx(value - math.hypot(value - low, self.SPREAD))
        assert out["expected_accuracy_loss_upper"] == pytest.approx(value + math.hypot(high - value, self.SPREAD))

    def test_value_and_interval(self):
        out = combine(self.ERROR, self.LEARNED, self.PARAMS, confidence=0.95, n_classes=3)
        value = 0.2 * 0.1 / 2 + 0.5 * 0.04 + 5.0 * 0.06 ** 2  # learned error rate 0.1 x 0.6: 0.01 + 0.02 + 0.018
        low = 0.2 * 0.06 / 2 + 0.5 * 0.01 + 5.0 * (0.06 * 0.3) ** 2  # the bounds from the factors' bounds
        high = 0.2 * 0.15 / 2 + 0.5 * 0.09 + 5.0 * (0.15 * 0.9) ** 2
        assert out["expected_accuracy_loss"] == pytest.approx(0.048)
        assert out["expected_accuracy_loss_lower"] == pytest.approx(0.048 - math.hypot(0.048 - low, self.SPREAD))
        assert out["expected_accuracy_loss_upper"] == pytest.approx(0.048 + math.hypot(high - 0.048, self.SPREAD))
        assert out["calibration"] == {"rate_scale": 0.2, "learned_scale": 5.0, "concentration_scale": 0.5,
                                      "learned_power": 2.0, "calibration_sd": 0.01, "calibration_sd_slope": 0.0}
        assert AccuracyLossParams.from_calibration(out["calibration"]) == self.PARAMS

    def test_the_calibration_spread_grows_with_the_estimate(self):
        params = AccuracyLossParams(loss_rate_scale=0.2, loss_concentration_scale=0.5, loss_learned_scale=5.0,
                                    loss_calibration_sd=0.01, loss_calibration_sd_slope=0.5)
        out = combine(self.ERROR, self.LEARNED, params, confidence=0.95, n_classes=3)
        high = 0.2 * 0.15 / 2 + 0.5 * 0.09 + 5.0 * (0.15 * 0.9) ** 2
        spread = z_value(0.95) * math.hypot(0.01, 0.5 * 0.048)
        assert out["expected_accuracy_loss_upper"] == pytest.approx(0.048 + math.hypot(high - 0.048, spread))
        assert params.spread(0.0) == 0.01 and params.spread(-1.0) == 0.01

    def test_same_rate_different_harm(self):
        random = {**self.LEARNED, "errors_learned_excess": 0.0, "excess_lower": 0.0, "excess_upper": 0.1,
                  "error_concentration": 0.005}
        learnt = {**self.LEARNED, "errors_learned_excess": 1.0, "excess_lower": 0.8, "excess_upper": 1.0,
                  "error_concentration": 0.04}
        low = combine(self.ERROR, random, self.PARAMS, confidence=0.95, n_classes=3)["expected_accuracy_loss"]
        high = combine(self.ERROR, learnt, self.PARAMS, confidence=0.95, n_classes=3)["expected_accuracy_loss"]
        assert low == pytest.approx(0.01 + 0.0025) and high == pytest.approx(0.01 + 0.02 + 5 * 0.1 ** 2)

    def test_learned_errors_cost_more_than_in_proportion(self):
        # twice the learned error rate: the unlearned term doubles, the learned term quadruples
        double = {**self.ERROR, "label_error_rate": 0.2}
        learnt = {**self.LEARNED, "errors_learned_excess": 1.0, "error_concentration": 0.0}
        one = combine(self.ERROR, learnt, self.PARAMS, confidence=0.95, n_classes=3)["expected_accuracy_loss"]
        two = combine(double, learnt, self.PARAMS, confidence=0.95, n_classes=3)["expected_accuracy_loss"]
        assert (one, two) == (pytest.approx(0.01 + 0.05), pytest.approx(0.02 + 0.2))

    def test_more_classes_spread_the_unlearned_errors_thinner(self):
        three = combine(self.ERROR, self.LEARNED, self.PARAMS, confidence=0.95, n_classes=3)
        eight = combine(self.ERROR, self.LEARNED, self.PARAMS, confidence=0.95, n_classes=8)
        assert eight["expected_accuracy_loss"] == pytest.approx(0.048 - 0.01 + 0.02 / 7)

    def test_the_projected_upper_bound_today_is_the_upper_bound(self):
        out = combine(self.ERROR, self.LEARNED, self.PARAMS, confidence=0.95, n_classes=3)
        assert projected_upper(out, 0) == pytest.approx(out["expected_accuracy_loss_upper"])

    def test_the_projection_shrinks_every_half_width_through_the_squared_form(self):
        out = combine(self.ERROR, self.LEARNED, self.PARAMS, confidence=0.95, n_classes=3)
        # 900 more rows: 300 -> 1200 audited, half-widths halved: rate 0.125, excess 0.75, concentration 0.065
        high = 0.2 * 0.125 / 2 + 0.5 * 0.065 + 5.0 * (0.125 * 0.75) ** 2
        assert projected_upper(out, 900) == pytest.approx(0.048 + math.hypot(high - 0.048, self.SPREAD))
        # the squared term's half-width shrinks faster than the 1/sqrt(rows) of a linear projection
        linear = 0.048 + math.hypot((out["expected_accuracy_loss_upper"] - 0.048) / 2, self.SPREAD)
        assert projected_upper(out, 900) < linear

    def test_the_unmeasured_share_is_measured_by_the_new_rows(self):
        error = {**self.ERROR, "label_error_rate_upper": 0.25, "unmeasured_share": 0.1}
        out = combine(error, self.LEARNED, self.PARAMS, confidence=0.95, n_classes=3)
        measured = combine(self.ERROR, self.LEARNED, self.PARAMS, confidence=0.95, n_classes=3)
        assert out["expected_accuracy_loss_upper"] > measured["expected_accuracy_loss_upper"]
        assert projected_upper(out, 0) == pytest.approx(measured["expected_accuracy_loss_upper"])

    def test_no_audited_error_assumes_every_error_learned_and_concentrated(self):
        none = {"errors_learned_excess": None, "excess_lower": 0.0, "excess_upper": 1.0,
                "error_concentration": 0.0, "error_concentration_lower": 0.0, "error_concentration_upper": None}
        out = combine(self.ERROR, none, self.PARAMS, confidence=0.95, n_classes=3)
        value = 0.2 * 0.1 / 2 + 5.0 * 0.05 ** 2  # the point takes the midpoint excess and no concentration
        high = 0.2 * 0.15 / 2 + 0.5 * 0.15 + 5.0 * 0.15 ** 2
        assert out["expected_accuracy_loss"] == pytest.approx(value)
        assert out["expected_accuracy_loss_upper"] == pytest.approx(value + math.hypot(high - value, self.SPREAD))

    def test_nothing_measured_is_none(self):
        out = combine({"label_error_rate": None, "reason": "no audited rows"}, self.LEARNED, self.PARAMS,
                      confidence=0.95, n_classes=3)
        assert out["expected_accuracy_loss_upper"] is None and out["reason"] == "no audited rows"


def test_loss_words_name_the_word_the_loss_falls_on():
    texts = pd.Series(["red apple", "red car", "red hat", "blue sky", "blue sea", "green tree", "green leaf",
                       "blue sky", "green tree"])
    hurt = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0], bool)
    assert loss_words(texts, hurt, np.ones(9, bool))[0] == "red"


@pytest.fixture(scope="module")
def corpus():
    # two class words and six shared fillers per text: a filler that always comes with one label is learnable
    return make_texts(1500, 3, seed=0, class_words=30, filler_words=40, length=8, signal_words=2)


def _loss(texts, truth, noisy):
    frame = label_table(texts, noisy, ["a", "b", "c"], truth=truth, audit_share=0.2)
    return run("accuracy_loss", frame).summary


@pytest.mark.slow
def test_errors_a_model_cannot_learn_cost_little(corpus):
    texts, truth = corpus
    out = _loss(texts, truth, flip_uniform(truth, 0.12, 3))
    assert out["errors_learned_excess"] < 0.15
    assert out["error_concentration"] < 0.02  # each class's few wrong labels split over the two other classes
    # the packaged calibration: at most the unlearned cost, a little concentration and a little learned
    assert out["expected_accuracy_loss"] < loss_value(AccuracyLossParams(), 0.12, 0.15, 0.02, n_classes=3)


@pytest.mark.slow
def test_errors_that_follow_one_word_cost_a_lot(corpus):
    texts, truth = corpus
    out = _loss(texts, truth, flip_following(texts, truth, "f7", 0, 0.08))
    assert out["errors_learned_excess"] > 0.6
    assert "f7" in out["loss_words"][:3]
    uniform = _loss(texts, truth, flip_uniform(truth, 0.12, 3))
    assert out["expected_accuracy_loss"] > uniform["expected_accuracy_loss"]  # fewer wrong labels, more harm


def test_no_audit_and_one_label_are_not_measured():
    texts, truth = make_texts(200, 3, seed=1)
    frame = label_table(texts, truth, ["a", "b", "c"])
    assert run("accuracy_loss", frame).metrics["expected_accuracy_loss_upper"] is None
    frame = label_table(texts, np.zeros(200, int), ["a", "b", "c"], truth=truth, audit_share=0.3)
    result = run("accuracy_loss", frame)
    assert result.metrics["expected_accuracy_loss_upper"] is None and "one LLM label" in result.summary["reason"]
