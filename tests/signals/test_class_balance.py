"""The class_balance signal: LLM label shares against the gold reference, clean and dirty."""

from __future__ import annotations

import pandas as pd
import pytest

from signals.support import run


class TestClassBalance:
    def test_clean_balance(self):
        frame = pd.DataFrame({"text": ["t"] * 3, "llm_label": ["a", "b", "c"]})
        result = run("class_balance", frame, test_labels=pd.Series(["a", "b", "c"]))
        assert result.summary["class_balance_tvd"] == 0.0

    def test_dirty_balance(self):
        frame = pd.DataFrame({"text": ["t"] * 4, "llm_label": ["a", "a", "a", "b"]})
        result = run("class_balance", frame, test_labels=pd.Series(["a", "b", "c", "c"]))
        # shares 0.75/0.25/0 vs 0.25/0.25/0.5 -> TVD 0.5
        assert result.summary["class_balance_tvd"] == pytest.approx(0.5)

    def test_the_test_set_is_preferred_over_gold_labels(self):
        frame = pd.DataFrame({"text": ["t"] * 4, "llm_label": ["a", "a", "a", "b"],
                              "gold_label": ["a", "a", "a", "b"]})
        with_test = run("class_balance", frame, test_labels=pd.Series(["a", "b", "c", "c"]))
        assert with_test.summary["reference"] == "test"
        assert with_test.summary["class_balance_tvd"] == pytest.approx(0.5)
        without = run("class_balance", frame)
        assert without.summary["reference"] == "gold_label" and without.summary["class_balance_tvd"] == 0.0
