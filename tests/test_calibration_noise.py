"""The calibration benchmark's noise generators (bench/calibration/noise.py): exact rates, determinism, kinds."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench" / "calibration"))
from noise import (audit_sample, class_conditional_noise, llm_noise, pick_trigger_word,  # noqa: E402
                   pick_trigger_words, text_following_noise, uniform_noise)

N, K = 1000, 4


@pytest.fixture
def truth():
    return np.random.default_rng(0).choice(K, size=N, p=[0.4, 0.3, 0.2, 0.1])


@pytest.mark.parametrize("rate", [0.0, 0.05, 0.15, 0.3])
class TestRates:
    def test_uniform(self, truth, rate):
        noisy = uniform_noise(truth, rate, K, seed=3)
        assert (noisy != truth).sum() == round(rate * N)
        assert set(np.unique(noisy)) <= set(range(K))

    def test_class_conditional(self, truth, rate):
        confusion = {0: 1, 1: 0, 2: 3, 3: 2}
        noisy = class_conditional_noise(truth, rate, confusion, {0: 1.0, 1: 1.0, 2: 2.0, 3: 0.0}, seed=3)
        wrong = noisy != truth
        assert wrong.sum() == round(rate * N)
        assert all(noisy[i] == confusion[truth[i]] for i in np.flatnonzero(wrong))
        assert not wrong[truth == 3].any()  # weight 0: never flipped

    def test_llm(self, truth, rate):
        llm = uniform_noise(truth, 0.5, K, seed=9)
        noisy = llm_noise(truth, llm, rate, seed=3)
        wrong = noisy != truth
        assert wrong.sum() == round(rate * N)
        assert (noisy[wrong] == llm[wrong]).all()  # every error is one the LLM really made
        assert (noisy[~wrong] == truth[~wrong]).all()


def test_seeded_and_deterministic(truth):
    assert (uniform_noise(truth, 0.15, K, seed=1) == uniform_noise(truth, 0.15, K, seed=1)).all()
    assert (uniform_noise(truth, 0.15, K, seed=1) != uniform_noise(truth, 0.15, K, seed=2)).any()
    llm = uniform_noise(truth, 0.5, K, seed=9)
    assert (llm_noise(truth, llm, 0.2, seed=4) == llm_noise(truth, llm, 0.2, seed=4)).all()
    assert (audit_sample(N, 250, seed=7) == audit_sample(N, 250, seed=7)).all()


def test_inputs_are_not_modified(truth):
    before = truth.copy()
    uniform_noise(truth, 0.3, K, seed=1)
    text_following_noise(truth, ["alpha beta"] * N, 0.1, 0, seed=1)
    assert (truth == before).all()


def test_text_following_flips_only_rows_with_the_word():
    texts = ["the cat sat"] * 40 + ["a dog ran home"] * 30 + ["birds fly high"] * 30
    truth = np.array([1] * 20 + [2] * 20 + [1] * 30 + [2] * 30)
    noisy, word = text_following_noise(truth, texts, 0.2, 0, seed=5)
    wrong = np.flatnonzero(noisy != truth)
    assert len(wrong) == 20
    assert (noisy[wrong] == 0).all()
    assert all(word in texts[i].split() for i in wrong)
    # the rarest words that still cover the 20 errors have 30 rows (not 'cat'/'sat'/'the', 40); ties alphabetical
    assert word == "birds"


def test_trigger_word_skips_rows_already_in_the_target():
    texts = ["zeta one"] * 10 + ["omega two"] * 10
    truth = np.array([0] * 10 + [1] * 10)
    assert pick_trigger_word(texts, truth, target=0, needed=5) in ("omega", "two")
    with pytest.raises(ValueError, match="no word"):
        pick_trigger_word(texts, truth, target=0, needed=11)


def test_unreachable_rates_are_errors(truth):
    with pytest.raises(ValueError, match="fewer than"):
        llm_noise(truth, truth.copy(), 0.05, seed=0)  # an LLM that is never wrong
    with pytest.raises(ValueError, match="flippable"):
        class_conditional_noise(truth, 0.5, {3: 2}, {3: 1.0}, seed=0)  # class 3 has ~10% of rows
    with pytest.raises(ValueError, match="rate"):
        uniform_noise(truth, 1.5, K, seed=0)
    with pytest.raises(ValueError, match="another class"):
        class_conditional_noise(truth, 0.1, {0: 0}, {0: 1.0}, seed=0)


def test_audit_sample_size():
    mask = audit_sample(1892, 250, seed=0)
    assert mask.sum() == 250 and mask.dtype == bool
    with pytest.raises(ValueError):
        audit_sample(10, 11, seed=0)


def test_trigger_word_rank_takes_the_next_rarest_word():
    # rows outside target 0: 'zeta' in 2, 'beta' in 3, 'alpha' in 4 (and 'gamma' in 1: too rare for needed=2)
    texts = ["alpha beta zeta", "alpha beta zeta", "alpha beta", "alpha gamma", "alpha beta zeta"]
    truth = np.array([1, 1, 1, 1, 0])
    assert pick_trigger_word(texts, truth, 0, 2) == "zeta"
    assert pick_trigger_word(texts, truth, 0, 2, rank=1) == "beta"
    assert pick_trigger_word(texts, truth, 0, 2, rank=2) == "alpha"
    assert pick_trigger_word(texts, truth, 0, 2, rank=3) == "zeta"  # ranks wrap around
    assert pick_trigger_word(texts, truth, 0, 4, rank=1) == "alpha"  # only one word qualifies


def test_text_following_rank_changes_the_word_and_the_rows():
    texts = ["alpha beta zeta", "alpha beta zeta", "alpha beta", "alpha gamma", "alpha beta zeta"]
    truth = np.array([1, 1, 1, 1, 0])
    noisy, word = text_following_noise(truth, texts, 0.4, 0, seed=0, rank=1)
    assert word == "beta"
    assert (noisy != truth).sum() == 2
    assert all("beta" in texts[i] for i in np.flatnonzero(noisy != truth))
    default, word0 = text_following_noise(truth, texts, 0.4, 0, seed=0)
    assert word0 == "zeta" and (default[[0, 1]] == 0).all() and (default[2:] == truth[2:]).all()


def test_trigger_words_cover_a_rate_no_single_word_reaches():
    # outside target 0: 'aaa' in rows 0-2, 'bbb' in rows 2-4, 'ccc' in row 5: no word covers 5 rows
    texts = ["aaa x", "aaa y", "aaa bbb", "bbb", "bbb", "ccc", "aaa bbb ccc"]
    truth = np.array([1, 1, 2, 2, 1, 1, 0])
    assert pick_trigger_words(texts, truth, 0, 3) == ["aaa"]  # one word is enough: the single-word rule
    assert pick_trigger_words(texts, truth, 0, 5) == ["aaa", "bbb"]  # most frequent first, ties alphabetical
    assert pick_trigger_words(texts, truth, 0, 6) == ["aaa", "bbb", "ccc"]
    assert pick_trigger_words(texts, truth, 0, 5, rank=1) == ["aaa", "bbb"]  # 'bbb','ccc' cover 4 < 5: wraps
    noisy, word = text_following_noise(truth, texts, 5 / 7, 0, seed=0)
    assert word == "aaa|bbb"
    assert (noisy != truth).sum() == 5 and (noisy[:5] == 0).all() and noisy[5] == 1
    with pytest.raises(ValueError, match="all words together"):
        pick_trigger_words(texts, truth, 0, 7)
