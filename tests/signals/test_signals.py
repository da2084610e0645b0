"""One test class per signal: a clean and a dirty fixture with exact expected values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from labelgate.contract import LabelTable
from labelgate.score import ScoreParams, score_labels
from labelgate.signals import SIGNALS, ScoringContext
from synthetic import flip_systematic, label_table, make_texts

LABELS = ("a", "b", "c")


def table(frame: pd.DataFrame) -> LabelTable:
    return LabelTable(frame=frame, labels=LABELS, path="memory")


def run(name: str, frame: pd.DataFrame, test_labels=None, **params):
    context = ScoringContext(table(frame), ScoreParams(**params), test_labels=test_labels)
    return SIGNALS[name]().score(context)


def with_probs(labels: list[str], probs: list[list[float]]) -> pd.DataFrame:
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(len(labels))], "text": ["t"] * len(labels),
                          "llm_label": labels})
    for k, label in enumerate(LABELS):
        frame[f"llm_prob_{label}"] = [row[k] for row in probs]
    return frame


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

    def test_unavailable_without_probabilities_or_annotators(self):
        result = run("entropy", pd.DataFrame({"text": ["x"], "llm_label": ["a"]}))
        assert result.summary["available"] is False
        assert result.metrics == {"median_normalised_entropy": None, "high_entropy_rate": None}


class TestAgreement:
    def test_clean_full_agreement(self):
        texts, truth = make_texts(90, 3, seed=3)
        frame = label_table(texts, truth, list(LABELS))
        frame["annotator_p2"] = frame["llm_label"]
        result = run("agreement", frame)
        assert result.summary["annotator_alpha"] == pytest.approx(1.0)
        assert result.summary["agreement_rate"] == 1.0
        assert result.rows["agreement_llm_label_share"].eq(1.0).all()

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

    def test_the_consensus_reads_the_shared_probabilities_without_changing_them(self):
        texts, truth = make_texts(90, 3, seed=3)
        frame = label_table(texts, truth, list(LABELS))
        other = np.asarray(LABELS, dtype=object)[(truth + 1) % 3]
        frame["annotator_p2"] = np.where(np.arange(90) < 30, other, frame["llm_label"])
        context = ScoringContext(table(frame), ScoreParams())
        before = context.pred_probs.copy()
        result = SIGNALS["agreement"]().score(context)
        np.testing.assert_array_equal(context.pred_probs, before)  # cleanlab and the label_error signal share it
        assert result.rows["agreement_consensus_quality"].notna().all()

    def test_unavailable_with_one_annotation(self):
        result = run("agreement", pd.DataFrame({"text": ["x"], "llm_label": ["a"]}))
        assert result.summary["available"] is False

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


class TestAudit:
    def frame(self, gold):
        return pd.DataFrame({"text": ["t"] * 4, "llm_label": ["a", "b", "c", "a"], "gold_label": gold})

    def test_clean_audit(self):
        result = run("audit", self.frame(["a", "b", "c", None]))
        assert result.summary["n_audited"] == 3
        assert result.summary["audit_accuracy"] == 1.0
        # Wilson 95% interval for 3/3: lower bound 0.4385
        assert result.summary["audit_accuracy_lower"] == pytest.approx(0.43850, abs=1e-4)

    def test_confidence_level_comes_from_params(self):
        from scipy.stats import norm

        result = run("audit", self.frame(["a", "b", "c", None]), audit_confidence=0.8)
        z = norm.ppf(0.9)
        # Wilson lower bound for 3/3: 1 / (1 + z^2 / 3)
        assert result.summary["audit_accuracy_lower"] == pytest.approx(1 / (1 + z * z / 3), abs=1e-9)
        assert result.summary["audit_accuracy_lower"] == pytest.approx(0.64622, abs=1e-5)
        assert result.summary["confidence_level"] == 0.8

    def test_dirty_audit(self):
        result = run("audit", self.frame(["b", "b", "c", "c"]))
        assert result.summary["audit_accuracy"] == 0.5
        assert result.summary["confusion"] == [[0, 0, 0], [1, 1, 0], [1, 0, 1]]
        assert list(result.rows["audit_correct"]) == [0.0, 1.0, 1.0, 0.0]


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


def test_signals_declare_the_figures_they_produce():
    """Each signal's `columns` and `metrics` (what the gate's suites may check) match what it really writes."""
    texts, truth = make_texts(120, 3, seed=2)
    frame = label_table(texts, truth, list(LABELS), truth=truth, audit_share=0.3)
    frame["annotator_p2"] = frame["llm_label"]
    for k, label in enumerate(LABELS):
        frame[f"llm_prob_{label}"] = np.where(truth == k, 0.8, 0.1)
    for name, cls in SIGNALS.items():
        result = run(name, frame, test_labels=pd.Series(list(LABELS) * 10))
        assert set(result.rows.columns) == set(cls.columns), name
        assert set(result.metrics) == set(cls.metrics), name
        assert set(cls().unavailable("no").metrics) == set(cls.metrics), name


def test_score_runs_enabled_signals_in_order():
    texts, truth = make_texts(300, 3, seed=1)
    frame = label_table(texts, truth, list(LABELS))
    rows, summary = score_labels(table(frame), ScoreParams(signals=("cleanlab", "audit")))
    assert list(summary["signals"]) == ["cleanlab", "audit"]
    assert summary["signals"]["audit"]["available"] is False
    assert summary["metrics"]["audit_accuracy"] is None
    assert len(rows) == 300 and "cleanlab_is_label_issue" in rows.columns


class TestNominalAlpha:
    """The chunked Krippendorff's alpha used above ALPHA_PACKAGE_ROWS equals the `krippendorff` package."""

    @pytest.mark.parametrize("n_classes, missing", [(3, 0.0), (8, 0.2), (2, 0.5)])
    def test_equals_the_package(self, n_classes, missing):
        import krippendorff

        from labelgate.signals.agreement import nominal_alpha

        rng = np.random.default_rng(n_classes)
        truth = rng.integers(0, n_classes, 3000)
        codes = np.column_stack([np.where(rng.random(3000) < 0.7, truth, rng.integers(0, n_classes, 3000))
                                 for _ in range(3)])
        codes[rng.random(codes.shape) < missing] = -1
        reference = krippendorff.alpha(reliability_data=np.where(codes >= 0, codes, np.nan).T.astype(float),
                                       level_of_measurement="nominal")
        assert nominal_alpha(codes, n_classes, chunk_rows=701) == pytest.approx(reference, abs=1e-12)


class TestSharedHelpers:
    @pytest.mark.parametrize("order", ["C", "F"])
    @pytest.mark.parametrize("dtype", [np.float64, np.float32])
    def test_entropy_in_row_chunks_equals_one_pass_exactly(self, order, dtype):
        from labelgate.signals.base import entropy

        rng = np.random.default_rng(3)
        probs = rng.dirichlet(np.ones(8), size=2500)
        probs[rng.random(probs.shape) < 0.1] = 0.0  # 0 log 0 terms
        probs = np.asarray(probs, dtype=dtype, order=order)
        whole = entropy(probs, chunk_rows=10_000)
        chunked = entropy(probs, chunk_rows=300)  # 9 chunks, the last one short
        assert chunked.dtype == whole.dtype == dtype
        np.testing.assert_array_equal(chunked, whole)  # 8 classes: each row summed exactly as in one pass
        p = np.asarray(probs, dtype=np.float64)
        expected = -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=1)
        np.testing.assert_allclose(whole, expected, rtol=1e-5)

    def test_vote_distribution_rows_without_votes_stay_zero(self):
        from labelgate.signals.base import vote_distribution

        codes = np.array([[0, 0, 2], [-1, -1, -1], [1, -1, 1]])
        shares = vote_distribution(codes, 3)
        np.testing.assert_array_equal(shares, [[2 / 3, 0, 1 / 3], [0, 0, 0], [0, 1, 0]])
        assert not np.signbit(shares).any()
