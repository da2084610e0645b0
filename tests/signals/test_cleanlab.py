"""The cleanlab signal: confident learning finds injected label errors (clean and dirty fixtures), and its estimated
noise rate tracks the true error rate within 5 points for 5-30% wrong labels, under uniform and systematic
(class-dependent) noise, on a corpus a bag-of-words model can learn."""

from __future__ import annotations

import numpy as np
import pytest

from signals.support import LABELS, run
from synthetic import flip_systematic, flip_uniform, label_table, make_texts

NOISE_LABELS = ["a", "b", "c", "d"]
TEXTS, TRUTH = make_texts(3000, 4, seed=11, signal_words=2, weights=[0.4, 0.3, 0.2, 0.1])


def estimated_noise_rate(given: np.ndarray) -> float:
    frame = label_table(TEXTS, given, NOISE_LABELS)
    return run("cleanlab", frame, labels=NOISE_LABELS).summary["estimated_noise_rate"]


class TestCleanlab:
    def test_clean_labels_have_no_issues(self):
        texts, truth = make_texts(600, 3, seed=5)
        result = run("cleanlab", label_table(texts, truth, list(LABELS)))
        assert result.summary["label_issues"] == 0
        assert result.summary["estimated_noise_rate"] == pytest.approx(0.0, abs=0.01)

    def test_dirty_labels_are_found(self):
        texts, truth = make_texts(900, 3, seed=5)
        given = flip_systematic(truth, {(1, 0): 0.2, (2, 1): 0.2})
        result = run("cleanlab", label_table(texts, given, list(LABELS)))
        flipped = given != truth
        found = result.rows["cleanlab_is_label_issue"].to_numpy()
        assert (found & flipped).sum() / flipped.sum() > 0.7  # recall of the injected errors
        assert (found & ~flipped).sum() / max(found.sum(), 1) < 0.2  # few false alarms
        noise = np.asarray(result.summary["noise_matrix"])
        assert noise[0, 1] > 0.1  # P(given a | true b) carries the systematic flip
        assert np.allclose(noise.sum(axis=0), 1.0)

    @pytest.mark.parametrize("rate", [0.05, 0.15, 0.30])
    def test_uniform_noise(self, rate):
        given = flip_uniform(TRUTH, rate, 4)
        assert abs(estimated_noise_rate(given) - (given != TRUTH).mean()) <= 0.05

    @pytest.mark.parametrize("rate", [0.05, 0.15, 0.30])
    def test_systematic_class_dependent_noise(self, rate):
        # An LLM that pulls minority classes toward their neighbours: d -> c, c -> b, b -> a.
        share = rate / 0.6  # classes b, c, d hold 60% of rows
        given = flip_systematic(TRUTH, {(3, 2): share, (2, 1): share, (1, 0): share})
        true_rate = (given != TRUTH).mean()
        assert true_rate == pytest.approx(rate, abs=0.02)
        assert abs(estimated_noise_rate(given) - true_rate) <= 0.05
