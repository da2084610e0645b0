"""The entropy signal: a clean and a dirty fixture with exact expected values, and its params."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from labelgate.signals.entropy import DEFAULT_THRESHOLD, EntropyParams
from signals.support import run, with_probs


class TestEntropy:
    def test_clean_certain_labels_have_zero_entropy(self):
        result = run("entropy", with_probs(["a", "b"], [[1, 0, 0], [0, 1, 0]]))
        assert result.summary["median_normalised_entropy"] == 0.0
        assert result.summary["high_entropy_rate"] == 0.0
        assert list(result.rows["entropy_margin"]) == [1.0, 1.0]

    def test_dirty_uniform_distribution_has_entropy_one(self):
        result = run("entropy", with_probs(["a", "b"], [[1 / 3] * 3, [0.5, 0.5, 0.0]]))
        assert result.rows["entropy_normalised"].iloc[0] == pytest.approx(1.0)
        assert result.rows["entropy_normalised"].iloc[1] == pytest.approx(math.log(2) / math.log(3))
        assert list(result.rows["entropy_high"]) == [True, False]  # 0.631 < threshold 0.8
        assert result.summary["high_entropy_rate"] == 0.5

    def test_votes_when_no_probabilities(self):
        frame = pd.DataFrame({"text": ["x", "y"], "llm_label": ["a", "a"], "annotator_p2": ["a", "b"]})
        result = run("entropy", frame)
        assert result.summary["source"] == "votes"
        assert list(result.rows["entropy_normalised"]) == pytest.approx([0.0, math.log(2) / math.log(3)])

    def test_probabilities_decide_when_a_table_also_has_annotators(self):
        """A table with llm_prob_* and annotator_* columns (entropy computed from the votes used to turn a
        critical median entropy of 0.865 into 0.0, BLOCK into PASS). Asymmetric: the annotators agree with the LLM
        on rows whose probabilities are uncertain and disagree where they are certain, so each source gives other
        per-row values, another median and another high-entropy rate."""
        frame = with_probs(["a", "b", "c", "a"], [[0.4, 0.3, 0.3], [0.1, 0.8, 0.1], [1.0, 0.0, 0.0],
                                                  [0.5, 0.5, 0.0]])
        frame["annotator_p2"] = ["a", "b", "a", "b"]  # agrees, agrees, disagrees, disagrees
        frame["annotator_p3"] = ["a", None, "b", "b"]
        result = run("entropy", frame)
        assert result.summary["source"] == "llm_prob"
        from_probs = [_normalised([0.4, 0.3, 0.3]), _normalised([0.1, 0.8, 0.1]), 0.0, math.log(2) / math.log(3)]
        assert list(result.rows["entropy_normalised"]) == pytest.approx(from_probs)
        assert result.summary["median_normalised_entropy"] == pytest.approx((from_probs[1] + from_probs[3]) / 2)
        assert result.summary["high_entropy_rate"] == 0.25  # only the first row is above 0.8
        # the votes' entropy is reported beside it, never instead of it: (a, a, a), (b, b), (c, a, b), (a, b, b)
        votes = [0.0, 0.0, 1.0, _normalised([1 / 3, 2 / 3, 0.0])]
        assert list(result.rows["entropy_votes_normalised"]) == pytest.approx(votes)

    def test_unavailable_without_probabilities_or_annotators(self):
        result = run("entropy", pd.DataFrame({"text": ["x"], "llm_label": ["a"]}))
        assert result.summary["available"] is False
        assert result.metrics == {"median_normalised_entropy": None, "high_entropy_rate": None}

    def test_the_threshold_comes_from_params(self):
        frame = with_probs(["a", "b"], [[1 / 3] * 3, [0.5, 0.5, 0.0]])
        result = run("entropy", frame, entropy_threshold=0.6)
        assert list(result.rows["entropy_high"]) == [True, True]  # 0.631 > 0.6
        assert result.summary["threshold"] == 0.6 and result.summary["high_entropy_rate"] == 1.0

    def test_params_default_and_range(self):
        assert EntropyParams().entropy_threshold == DEFAULT_THRESHOLD == 0.8
        with pytest.raises(ValueError, match=r"entropy_threshold=1.5 must lie in \[0.0, 1.0\]"):
            EntropyParams(entropy_threshold=1.5)


def _normalised(distribution: list[float]) -> float:
    return -sum(p * math.log(p) for p in distribution if p > 0) / math.log(3)
