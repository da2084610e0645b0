"""The agreement signal: clean (full agreement) and dirty (disagreement) fixtures with exact expected values, and the
chunked Krippendorff's alpha it uses on large tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labelgate.signals import ScoringContext
from labelgate.signals.agreement import AgreementSignal, nominal_alpha
from signals.support import LABELS, run, table
from synthetic import label_table, make_texts


class TestAgreement:
    @pytest.mark.slow
    def test_clean_full_agreement(self):
        texts, truth = make_texts(90, 3, seed=3)
        frame = label_table(texts, truth, list(LABELS))
        frame["annotator_p2"] = frame["llm_label"]
        result = run("agreement", frame)
        assert result.summary["annotator_alpha"] == pytest.approx(1.0)
        assert result.summary["agreement_rate"] == 1.0
        assert result.rows["agreement_llm_label_share"].eq(1.0).all()

    @pytest.mark.slow
    def test_dirty_disagreement(self):
        texts, truth = make_texts(90, 3, seed=3)
        frame = label_table(texts, truth, list(LABELS))
        other = np.asarray(LABELS, dtype=object)[(truth + 1) % 3]
        frame["annotator_p2"] = np.where(np.arange(90) < 30, other, frame["llm_label"])
        result = run("agreement", frame)
        assert result.summary["agreement_rate"] == pytest.approx(60 / 90)
        assert result.rows["agreement_llm_label_share"].iloc[0] == 0.5
        assert result.summary["annotator_alpha"] < 0.6
        assert set(result.summary["annotator_quality"]) == {"llm_label", "annotator_p2"}

    @pytest.mark.slow
    def test_the_consensus_reads_the_shared_probabilities_without_changing_them(self):
        texts, truth = make_texts(90, 3, seed=3)
        frame = label_table(texts, truth, list(LABELS))
        other = np.asarray(LABELS, dtype=object)[(truth + 1) % 3]
        frame["annotator_p2"] = np.where(np.arange(90) < 30, other, frame["llm_label"])
        context = ScoringContext(table(frame))
        before = context.pred_probs.copy()
        result = AgreementSignal().score(context)
        np.testing.assert_array_equal(context.pred_probs, before)  # cleanlab and the label_error signal share it
        assert result.rows["agreement_consensus_quality"].notna().all()

    def test_unavailable_with_one_annotation(self):
        result = run("agreement", pd.DataFrame({"text": ["x"], "llm_label": ["a"]}))
        assert result.summary["available"] is False

    @pytest.mark.slow
    def test_a_row_with_a_single_annotation_is_not_full_agreement(self):
        texts, truth = make_texts(60, 3, seed=4)
        frame = label_table(texts, truth, list(LABELS))
        frame["annotator_p2"] = frame["llm_label"].astype(object)
        frame.loc[[0, 1, 2], "annotator_p2"] = None  # these rows carry the LLM's label only
        result = run("agreement", frame)
        assert result.rows["agreement_n_annotations"].tolist()[:4] == [1, 1, 1, 2]
        assert result.rows["agreement_all_agree"].tolist()[:4] == [False, False, False, True]
        assert result.summary["agreement_rate"] == pytest.approx(57 / 60)

    def test_an_entirely_empty_annotator_column_is_no_annotation(self):
        frame = pd.DataFrame({"text": ["x", "y"], "llm_label": ["a", "b"], "annotator_p2": [None, None]})
        result = run("agreement", frame)
        assert result.summary["available"] is False
        assert result.metrics == {"annotator_alpha": None, "agreement_rate": None}

    def test_alpha_is_not_measured_when_every_annotation_is_one_label(self):
        texts, _ = make_texts(30, 3, seed=4)
        frame = pd.DataFrame({"text": texts, "llm_label": ["b"] * 30, "annotator_p2": ["b"] * 30})
        result = run("agreement", frame)
        assert result.summary["annotator_alpha"] is None and result.metrics["annotator_alpha"] is None
        assert result.summary["agreement_rate"] == 1.0

    @pytest.mark.parametrize("n_classes, missing", [(3, 0.0), (8, 0.2), (2, 0.5)])
    def test_chunked_alpha_equals_the_krippendorff_package(self, n_classes, missing):
        """nominal_alpha (what the signal reports) gives the `krippendorff` package's figure."""
        import krippendorff

        rng = np.random.default_rng(n_classes)
        truth = rng.integers(0, n_classes, 3000)
        codes = np.column_stack([np.where(rng.random(3000) < 0.7, truth, rng.integers(0, n_classes, 3000))
                                 for _ in range(3)])
        codes[rng.random(codes.shape) < missing] = -1
        reference = krippendorff.alpha(reliability_data=np.where(codes >= 0, codes, np.nan).T.astype(float),
                                       level_of_measurement="nominal")
        assert nominal_alpha(codes, n_classes, chunk_rows=701) == pytest.approx(reference, abs=1e-12)

    @pytest.mark.slow
    def test_the_consensus_is_cleanlabs(self):
        """The consensus columns and annotator qualities are cleanlab's get_label_quality_multiannotator figures
        (computed by signals/consensus.py in chunks), a row without annotations left out as cleanlab needs."""
        from cleanlab.multiannotator import get_label_quality_multiannotator

        texts, truth = make_texts(120, 3, seed=5)
        frame = label_table(texts, truth, list(LABELS))
        rng = np.random.default_rng(5)
        names = np.asarray(LABELS, dtype=object)
        frame["annotator_p2"] = np.where(rng.random(120) < 0.3, names[rng.integers(0, 3, 120)], frame["llm_label"])
        frame["annotator_p3"] = np.where(rng.random(120) < 0.4, None, names[rng.integers(0, 3, 120)])
        frame["llm_label"] = frame["llm_label"].astype(object)
        frame.loc[7, "llm_label"] = None  # code -1: row 7 has annotator_p2's label only
        frame.loc[9, ["llm_label", "annotator_p2", "annotator_p3"]] = None  # no annotation at all
        context = ScoringContext(table(frame))
        result = AgreementSignal().score(context)

        annotators = ["llm_label", "annotator_p2", "annotator_p3"]
        codes = np.column_stack([context.table.label_codes(c) for c in annotators]).astype(float)
        usable = (codes >= 0).any(axis=1)
        labels = pd.DataFrame(np.where(codes >= 0, codes, np.nan), columns=annotators)[usable]
        expected = get_label_quality_multiannotator(labels.reset_index(drop=True), context.pred_probs[usable],
                                                    verbose=False)
        quality = expected["label_quality"]
        rows = result.rows[usable]
        assert rows["agreement_consensus_label"].tolist() == names[quality["consensus_label"]].tolist()
        np.testing.assert_allclose(rows["agreement_consensus_quality"], quality["consensus_quality_score"],
                                   rtol=0, atol=1e-9)
        assert pd.isna(result.rows.loc[9, "agreement_consensus_label"])
        assert np.isnan(result.rows.loc[9, "agreement_consensus_quality"])
        stats = expected["annotator_stats"]["annotator_quality"]
        assert list(result.summary["annotator_quality"]) == list(stats.index)  # cleanlab's order
        np.testing.assert_allclose(list(result.summary["annotator_quality"].values()), stats.to_numpy(),
                                   rtol=0, atol=1e-9)

    def test_chunked_vote_shares_equal_the_whole_table_distribution(self):
        from labelgate.signals.agreement import vote_shares
        from labelgate.signals.distributions import vote_distribution

        rng = np.random.default_rng(8)
        codes = rng.integers(-1, 5, (1000, 3)).astype(np.int8)
        codes[:, 0] = np.where(rng.random(1000) < 0.1, -1, rng.integers(0, 5, 1000))
        votes = vote_distribution(codes, 5)
        majority, llm = vote_shares(codes, 5, chunk_rows=97)
        np.testing.assert_array_equal(majority, votes.max(axis=1))
        np.testing.assert_array_equal(llm, votes[np.arange(1000), np.maximum(codes[:, 0], 0)])
