"""A filtered subset's label error estimate treats copies of one text as one cluster and applies the score stage's
strata minimum, as the whole table's estimate does (it used not to use the duplicate clusters)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from labelgate.estimation import estimate_error_rate
from labelgate.filter import FilterParams, filter_subset, main
from labelgate.signals.text_model import duplicate_groups

LABELS = ["a", "b"]


def _table(copies: int) -> pd.DataFrame:
    """36 audited texts (27 called 'a', 9 called 'b': asymmetric; 9 of the 'a' and 4 of the 'b' labels wrong) and
    300 unaudited ones (240 'a', 60 'b'). Every text is there `copies` times, written slightly differently (case,
    punctuation) so only the normalised text groups them."""
    rows = []
    for k in range(336):
        given = "a" if k < 27 or 36 <= k < 276 else "b"
        wrong = k < 9 or 27 <= k < 31
        gold = None if k >= 36 else ("b" if given == "a" else "a") if wrong else given
        for c in range(copies):
            text = f"Text number {k}" + ("!" * c if c % 2 else "") if c else f"text number {k}"
            rows.append({"id": f"r{k}_{c}", "text": text.upper() if c % 3 == 2 else text, "llm_label": given,
                         "gold_label": gold, "entropy_normalised": 0.1 + 0.8 * (k % 5) / 4})
    return pd.DataFrame(rows)


def _width(summary: dict) -> float:
    return summary["label_error_rate_upper"] - summary["label_error_rate_lower"]


def test_copies_of_a_text_do_not_narrow_the_subset_interval():
    _, once = filter_subset(_table(1), "raw", FilterParams(min_class_count=1), LABELS)
    _, tenfold = filter_subset(_table(10), "raw", FilterParams(min_class_count=1), LABELS)
    assert tenfold["label_error_rate"] == pytest.approx(once["label_error_rate"])
    # rows as independent evidence would shrink the width by about sqrt(10); clusters keep it
    assert _width(tenfold) >= 0.85 * _width(once)
    assert tenfold["label_error"]["n_audited_groups"] == 36 and tenfold["n_audited"] == 360


def test_the_kept_rows_estimate_is_the_clustered_one():
    frame = _table(4)
    params = FilterParams(min_class_count=1, entropy_max=0.5, entropy_quantile=None)
    _, summary = filter_subset(frame, "entropy", params, LABELS)
    kept = frame[frame["entropy_normalised"] <= 0.5].reset_index(drop=True)
    wrong = np.where(kept["gold_label"].notna(), kept["gold_label"] != kept["llm_label"], np.nan)
    strata = (kept["llm_label"] == "b").to_numpy(int)
    clustered = estimate_error_rate(wrong, strata, clusters=duplicate_groups(kept["text"]), stratum_names=LABELS)
    rows = estimate_error_rate(wrong, strata, stratum_names=LABELS)
    for key in ("label_error_rate_lower", "label_error_rate_upper"):
        assert summary[key] == pytest.approx(clustered[key])
    assert _width(summary) > 1.3 * _width(rows)


def _scores_with_thin_stratum() -> pd.DataFrame:
    """'b' keeps 3 audited rows (all right): measured at a minimum of 3, unmeasured at 4."""
    frame = _table(1)
    frame.loc[27:32, "gold_label"] = None  # of the 9 audited 'b' rows, 6 lose their audit
    return frame


def test_the_strata_minimum_reaches_the_subset_estimate():
    frame = _scores_with_thin_stratum()
    _, at_3 = filter_subset(frame, "raw", FilterParams(min_class_count=1), LABELS, min_stratum=3)
    _, at_4 = filter_subset(frame, "raw", FilterParams(min_class_count=1), LABELS, min_stratum=4)
    assert at_3["label_error"]["unmeasured_share"] == 0.0
    assert at_4["label_error"]["unmeasured_share"] == pytest.approx(69 / 336)
    assert at_4["label_error_rate_upper"] > at_3["label_error_rate_upper"] + 0.05


@pytest.mark.parametrize("minimum, exit_code", [(4, None), (True, 2), ("4", 2), (0, 2)])
def test_filter_stage_reads_the_minimum_from_label_risk(tmp_path, minimum, exit_code):
    from labelgate.errors import BadInputError

    frame = _scores_with_thin_stratum()
    frame.to_parquet(tmp_path / "scores.parquet")
    risk = {"signals": {"label_error": {"confidence_level": 0.95, "min_audited_per_stratum": minimum}}}
    (tmp_path / "label_risk.json").write_text(json.dumps(risk))
    out, summary = tmp_path / "raw.parquet", tmp_path / "raw.json"
    params = {"filter": {"min_class_count": 1}}
    if exit_code is None:
        result = main(tmp_path / "scores.parquet", "raw", out, summary, params=params, labels="a,b",
                      label_risk=tmp_path / "label_risk.json")
        assert result["label_error"]["unmeasured_share"] == pytest.approx(69 / 336)
        assert json.loads(summary.read_text())["label_error"]["min_audited_per_stratum"] == 4
        return
    with pytest.raises(BadInputError, match=r"label_risk.json: key signals.label_error.min_audited_per_stratum is"):
        main(tmp_path / "scores.parquet", "raw", out, summary, params=params, labels="a,b",
             label_risk=tmp_path / "label_risk.json")
    assert not out.exists() and not summary.exists()
    assert BadInputError.exit_code == exit_code


def test_groups_ignore_case_and_punctuation_in_the_fixture():
    assert len(np.unique(duplicate_groups(_table(10)["text"]))) == 336
