"""Vote counts, vote shares and entropy per row, with exact expected values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labelgate.signals.distributions import entropy, vote_counts, vote_distribution


class TestDistributions:
    CODES = np.array([[0, 0, 1], [2, -1, 2], [-1, -1, -1]])  # annotators in columns, -1 missing

    def test_vote_counts_and_shares(self):
        assert vote_counts(self.CODES, 3).tolist() == [[2, 1, 0], [0, 0, 2], [0, 0, 0]]
        assert vote_distribution(self.CODES, 3).tolist() == [[2 / 3, 1 / 3, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]

    def test_entropy_of_certain_and_uniform_rows(self):
        values = entropy(np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0], [0.0, 0.0, 0.0]]))
        assert values[0] == 0.0 and values[3] == 0.0  # 0 log 0 counts as 0: a row without votes has no entropy
        assert values[1] == pytest.approx(math.log(3), abs=1e-15)
        assert values[2] == pytest.approx(math.log(2), abs=1e-15)

    def test_entropy_agrees_with_scipy_on_normalised_rows(self):
        from scipy.stats import entropy as scipy_entropy

        rng = np.random.default_rng(0)
        probs = rng.dirichlet(np.ones(4), size=200)
        assert entropy(probs) == pytest.approx(scipy_entropy(probs, axis=1), abs=1e-12)
