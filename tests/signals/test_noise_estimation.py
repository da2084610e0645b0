"""cleanlab's estimated noise rate must track the true error rate within 5 points for 5-30% wrong labels,
under uniform and systematic (class-dependent) noise, on a corpus a bag-of-words model can learn."""

from __future__ import annotations

import numpy as np
import pytest

from labelgate.contract import LabelTable
from labelgate.score import ScoreParams
from labelgate.signals import ScoringContext
from labelgate.signals.label_issues import LabelIssueSignal
from synthetic import flip_systematic, flip_uniform, label_table, make_texts

LABELS = ["a", "b", "c", "d"]
TEXTS, TRUTH = make_texts(3000, 4, seed=11, signal_words=2, weights=[0.4, 0.3, 0.2, 0.1])


def estimate(given: np.ndarray) -> float:
    table = LabelTable(label_table(TEXTS, given, LABELS), tuple(LABELS), "memory")
    return LabelIssueSignal().score(ScoringContext(table, ScoreParams())).summary["estimated_noise_rate"]


@pytest.mark.parametrize("rate", [0.05, 0.15, 0.30])
def test_uniform_noise(rate):
    given = flip_uniform(TRUTH, rate, 4)
    assert abs(estimate(given) - (given != TRUTH).mean()) <= 0.05


@pytest.mark.parametrize("rate", [0.05, 0.15, 0.30])
def test_systematic_class_dependent_noise(rate):
    # An LLM that pulls minority classes toward their neighbours: d -> c, c -> b, b -> a.
    share = rate / 0.6  # classes b, c, d hold 60% of rows
    given = flip_systematic(TRUTH, {(3, 2): share, (2, 1): share, (1, 0): share})
    true_rate = (given != TRUTH).mean()
    assert true_rate == pytest.approx(rate, abs=0.02)
    assert abs(estimate(given) - true_rate) <= 0.05
