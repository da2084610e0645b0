"""Filter strategies, the class-balance guard and the subset summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labelgate.filter import FilterParams, FilterRefused, filter_subset, keep_mask

LABELS = ["a", "b"]


def scores() -> pd.DataFrame:
    return pd.DataFrame({
        "id": ["r1", "r2", "r3", "r4", "r5", "r6"],
        "text": ["t1", "t2", "t3", "t4", "t5", "t6"],
        "llm_label": ["a", "a", "a", "b", "b", "b"],
        "gold_label": ["a", "b", None, "b", "a", None],
        "entropy_normalised": [0.1, 0.9, 0.2, 0.3, 0.95, 0.4],
        "cleanlab_is_label_issue": [False, True, False, False, True, False],
        "cleanlab_label_quality": [0.9, 0.2, 0.8, 0.7, 0.1, 0.6],
        "cleanlab_given_label_prob": [0.9, 0.2, 0.8, 0.7, 0.1, 0.6],
        "agreement_llm_label_share": [1.0, 0.5, 1.0, 1.0, 0.5, 0.5],
    })


@pytest.mark.parametrize("strategy, params, kept", [
    ("raw", {}, [1, 1, 1, 1, 1, 1]),
    ("entropy", {"entropy_max": 0.5, "entropy_quantile": None}, [1, 0, 1, 1, 0, 1]),
    ("entropy", {"entropy_quantile": 0.5}, [1, 0, 1, 1, 0, 0]),  # median 0.35
    ("cleanlab", {}, [1, 0, 1, 1, 0, 1]),
    ("cleanlab", {"cleanlab_min_quality": 0.65}, [1, 0, 1, 1, 0, 0]),
    ("consensus", {}, [1, 0, 1, 1, 0, 0]),
    ("consensus", {"consensus_min_agreement": 0.5}, [1, 1, 1, 1, 1, 1]),
    ("combined", {"entropy_max": 0.35, "entropy_quantile": None, "consensus_min_agreement": 0.5}, [1, 0, 1, 1, 0, 0]),
])
def test_keep_masks(strategy, params, kept):
    assert keep_mask(scores(), strategy, FilterParams(**params)).astype(int).tolist() == kept


def test_summary_counts_and_audit_error():
    subset, summary = filter_subset(scores(), "entropy", FilterParams(min_class_count=1, entropy_max=0.92,
                                                                       entropy_quantile=None), LABELS, noise_rate=0.3)
    assert list(subset.columns) == ["id", "text", "label"]
    assert summary["kept_per_class"] == {"a": 3, "b": 2}  # r5 (entropy 0.95) dropped
    assert summary["retained_fraction_per_class"] == {"a": 1.0, "b": 2 / 3}
    assert summary["audit_error_rate_all"] == 0.5  # r2 and r5 wrong out of 4 audited
    assert summary["audit_error_rate_kept"] == pytest.approx(1 / 3)
    # flagged: 1 of 5 kept rows vs 2 of 6 rows overall -> 0.3 * (0.2 / (1/3))
    assert summary["estimated_remaining_noise_rate"] == pytest.approx(0.3 * 0.2 * 3)


def test_class_balance_guard_refuses():
    with pytest.raises(FilterRefused, match=r"min_class_count=3 \(a: 2, b: 2\)"):
        filter_subset(scores(), "cleanlab", FilterParams(min_class_count=3), LABELS)


def test_guard_exits_1_through_cli(workdir, cli):
    scores().to_parquet(workdir / "scores.parquet")
    (workdir / "params.yaml").write_text("filter:\n  min_class_count: 3\n")
    result = cli("filter", workdir / "scores.parquet", "--strategy", "cleanlab", "--out", workdir / "s.parquet",
                 "--labels", "a,b")
    assert result.exit_code == 1
    assert "would leave class(es) below filter.min_class_count=3" in result.output
    assert not (workdir / "s.parquet").exists()


def test_missing_signal_is_bad_input(workdir, cli):
    scores().drop(columns=["agreement_llm_label_share"]).to_parquet(workdir / "scores.parquet")
    result = cli("filter", workdir / "scores.parquet", "--strategy", "consensus", "--out", workdir / "s.parquet")
    assert result.exit_code == 2
    assert "column 'agreement_llm_label_share'" in result.output


def test_params_need_exactly_one_entropy_cut():
    with pytest.raises(ValueError, match="exactly one"):
        FilterParams(entropy_max=0.5, entropy_quantile=0.5)


def test_subset_label_error_rate_from_its_audited_rows():
    frame = scores()
    frame["audit_weight"] = [1.0, 3.0, None, 1.0, 1.0, None]
    _, summary = filter_subset(frame, "raw", FilterParams(min_class_count=1), LABELS)
    # stratum a: audited r1 (right, w 1), r2 (wrong, w 3) -> 0.75; stratum b: r4 right, r5 wrong -> 0.5
    assert summary["label_error_rate"] == pytest.approx(0.5 * 0.75 + 0.5 * 0.5)
    assert summary["n_audited"] == 4
    assert summary["label_error_rate_lower"] < summary["label_error_rate"] < summary["label_error_rate_upper"]
    _, kept = filter_subset(frame, "cleanlab", FilterParams(min_class_count=1), LABELS)
    assert kept["label_error_rate"] == 0.0  # the kept audited rows r1 and r4 are right
    assert kept["n_audited"] == 2


def test_missing_score_names_what_it_takes():
    """A table without llm_prob_*/annotator_* columns: entropy cannot run even with its signal enabled."""
    from labelgate.errors import BadInputError
    from labelgate.filter import FilterParams, keep_mask

    scores = pd.DataFrame({"llm_label": ["a", "b"], "cleanlab_is_label_issue": [False, True]})
    with pytest.raises(BadInputError, match=r"takes the entropy signal in score.signals and llm_prob_\* or "
                                            r"annotator_\* columns in the table; or drop it from filter.strategies"):
        keep_mask(scores, "entropy", FilterParams(), source="s.parquet")
    with pytest.raises(BadInputError, match="annotator_"):
        keep_mask(scores, "consensus", FilterParams(), source="s.parquet")


def test_reference_names_the_gold_pool_columns(tmp_path, cli):
    (tmp_path / "pool.csv").write_text("text,gold\nhello,a\n")
    result = cli("reference", tmp_path / "pool.csv", "--out", tmp_path / "gold.parquet", "--labels", "a,b")
    assert result.exit_code == 2
    assert "the gold pool needs columns 'text' and 'label'" in result.output
    assert not (tmp_path / "gold.parquet").exists()


def test_filter_that_empties_a_class_is_refused_not_a_crash(workdir, cli):
    """A strategy that removes every row of a class is the guard's case (exit 1), never a KeyError (exit 2)."""
    frame = scores()
    frame["cleanlab_is_label_issue"] = frame["llm_label"] == "b"  # every b row flagged
    subset_mask = keep_mask(frame, "cleanlab", FilterParams())
    assert subset_mask.tolist() == [True, True, True, False, False, False]
    with pytest.raises(FilterRefused, match=r"min_class_count=1 \(b: 0\)"):
        filter_subset(frame, "cleanlab", FilterParams(min_class_count=1), LABELS)
    frame.to_parquet(workdir / "scores.parquet")
    (workdir / "params.yaml").write_text("filter:\n  min_class_count: 1\n")
    result = cli("filter", workdir / "scores.parquet", "--strategy", "cleanlab", "--out", workdir / "s.parquet",
                 "--labels", "a,b")
    assert result.exit_code == 1, result.output
    assert "(b: 0)" in result.output and not (workdir / "s.parquet").exists()


def test_guard_boundary_is_strictly_below():
    """Exactly min_class_count rows of a class is enough; one fewer is refused."""
    subset, summary = filter_subset(scores(), "cleanlab", FilterParams(min_class_count=2), LABELS)
    assert summary["kept_per_class"] == {"a": 2, "b": 2} and len(subset) == 4
    with pytest.raises(FilterRefused, match=r"\(a: 2, b: 2\)"):
        filter_subset(scores(), "cleanlab", FilterParams(min_class_count=3), LABELS)


def test_entropy_cut_keeps_the_boundary():
    """entropy_max is inclusive: a row exactly at the cut is kept."""
    mask = keep_mask(scores(), "entropy", FilterParams(entropy_max=0.3, entropy_quantile=None))
    assert mask.astype(int).tolist() == [1, 0, 1, 1, 0, 0]  # r4 sits at 0.3


def test_no_strategy_reads_gold_labels():
    """A filter that chose rows by the audit would make the subset's audited error optimistic: every strategy keeps
    the same rows whatever the gold labels say (or whether there are any)."""
    frame = scores()
    flipped = frame.assign(gold_label=["b", "a", "a", "a", "b", "b"])
    for strategy in ("raw", "entropy", "cleanlab", "consensus", "combined"):
        expected = keep_mask(frame, strategy, FilterParams()).tolist()
        assert keep_mask(flipped, strategy, FilterParams()).tolist() == expected
        assert keep_mask(frame.drop(columns=["gold_label"]), strategy, FilterParams()).tolist() == expected


def test_subset_figures_are_the_kept_rows_own():
    """`metrics`: the figures the gate reads for a gated subset, from the audited rows it keeps."""
    _, summary = filter_subset(scores(), "entropy", FilterParams(min_class_count=1, entropy_max=0.5,
                                                                  entropy_quantile=None), LABELS)
    figures = summary["metrics"]
    assert figures["retained_fraction"] == pytest.approx(4 / 6)  # r2 and r5 (both wrong) dropped
    assert figures["n_audited"] == 2 and figures["label_error_rate"] == 0.0  # r1, r4: audited and right
    assert figures["audit_accuracy"] == 1.0
    assert 0.0 < figures["audit_accuracy_lower"] < 1.0 and figures["label_error_rate_upper"] > 0.0
    assert summary["label_error"]["per_class_error"] == {"a": {"audited": 1, "error": 0.0},
                                                         "b": {"audited": 1, "error": 0.0}}
    _, whole = filter_subset(scores(), "raw", FilterParams(min_class_count=1), LABELS)
    assert whole["metrics"]["label_error_rate"] == pytest.approx(0.5) and whole["metrics"]["n_audited"] == 4
    assert whole["metrics"]["retained_fraction"] == 1.0


def test_a_subset_that_keeps_no_audited_row_is_not_measured():
    frame = scores().assign(entropy_normalised=[0.9, 0.1, 0.1, 0.9, 0.1, 0.1])  # keeps r2, r3, r5, r6
    frame.loc[[1, 4], "gold_label"] = None  # of those, r2 and r5 lose their audit
    _, summary = filter_subset(frame, "entropy", FilterParams(min_class_count=1, entropy_max=0.5,
                                                               entropy_quantile=None), LABELS)
    assert summary["metrics"]["label_error_rate_upper"] is None and summary["metrics"]["audit_accuracy_lower"] is None
