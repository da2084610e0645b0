"""label_error reads score.min_audited_per_stratum (the mutation bench: a hard-coded 2 went unnoticed)."""

from __future__ import annotations

import numpy as np
import pytest

from labelgate.contract import LabelTable
from labelgate.score import score_labels
from labelgate.signals.runner import ScoreParams
from synthetic import flip_uniform, label_table, make_texts


@pytest.mark.slow
def test_the_stratum_minimum_comes_from_params():
    labels = ["a", "b", "c"]
    texts, truth = make_texts(600, 3, seed=91)
    given = flip_uniform(truth, 0.1, 3, seed=92)
    frame = label_table(texts, given, labels, truth=truth, audit_share=0.2, seed=93)
    c_rows = np.flatnonzero((frame["llm_label"] == "c").to_numpy() & frame["gold_label"].notna().to_numpy())
    frame.loc[c_rows[3:], "gold_label"] = None  # label c keeps exactly 3 audited rows
    table = LabelTable(frame=frame, labels=tuple(labels), path="memory")

    def estimate(minimum: int) -> dict:
        params = ScoreParams.from_section({"signals": ["cleanlab", "label_error"],
                                           "min_audited_per_stratum": minimum})
        return score_labels(table, params)[1]["signals"]["label_error"]

    assert estimate(3)["unmeasured_strata"] == {}
    strict = estimate(4)
    assert strict["min_audited_per_stratum"] == 4
    assert set(strict["unmeasured_strata"]) == {"c"} and strict["unmeasured_strata"]["c"]["label_more"] == 1
    assert strict["unmeasured_share"] > 0
