"""The label_error signal: audit-first error rate, systematic share and text-predictable errors on a clean and a
dirty fixture, and the calibration benchmark's failure case (errors that follow a word in the text)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labelgate.contract import LabelTable
from labelgate.estimation import METHOD_MODEL_ASSISTED, METHOD_STRATIFIED, wilson, z_value
from labelgate.score import ScoreParams, score_labels
from synthetic import flip_uniform, label_table, make_texts

LABELS = ["a", "b", "c"]


def scored(frame: pd.DataFrame, labels=LABELS):
    table = LabelTable(frame=frame, labels=tuple(labels), path="memory")
    rows, summary = score_labels(table, ScoreParams(signals=("cleanlab", "label_error")))
    return rows, summary["signals"]["label_error"], summary["metrics"]


class TestLabelError:
    @pytest.mark.slow
    def test_clean_labels(self):
        texts, truth = make_texts(600, 3, seed=3)
        frame = label_table(texts, truth, LABELS, truth=truth, audit_share=0.2, seed=4)
        n = int(frame["gold_label"].notna().sum())
        rows, summary, metrics = scored(frame)
        assert metrics["label_error_rate"] == 0.0
        assert metrics["label_error_rate_lower"] == 0.0
        assert metrics["label_error_rate_upper"] == pytest.approx(wilson(0.0, n, z_value(0.95))[1])
        assert metrics["n_audited"] == n
        assert summary["method"] == METHOD_STRATIFIED  # no audited error: no risk model to fit
        assert metrics["systematic_error_share"] is None and metrics["text_error_auc"] is None
        assert rows["label_error_risk"].isna().all()

    @pytest.mark.slow
    def test_dirty_labels_exact_stratified_estimate(self):
        texts, truth = make_texts(600, 3, seed=3)
        given = truth.copy()
        frame = label_table(texts, given, LABELS, truth=truth, audit_share=0.2, seed=4)
        audited = np.flatnonzero(frame["gold_label"].notna().to_numpy())
        frame.loc[audited[:3], "llm_label"] = "a"  # three audited rows now carry label a (two of them wrongly)
        wrong = (frame["gold_label"] != frame["llm_label"]) & frame["gold_label"].notna()
        assert 1 <= wrong.sum() <= 3  # fewer than 5 errors: plain stratified proportion
        _, summary, metrics = scored(frame)
        expected = sum((frame["llm_label"] == k).mean() * wrong[frame["gold_label"].notna() & (
            frame["llm_label"] == k)].mean() for k in LABELS)
        assert metrics["label_error_rate"] == pytest.approx(expected)
        per_class = summary["per_class_error"]["a"]
        audited_a = frame["gold_label"].notna() & (frame["llm_label"] == "a")
        assert per_class["audited"] == int(audited_a.sum())
        assert per_class["error"] == pytest.approx(wrong[audited_a].mean())
        matrix = np.array(summary["confusion_reweighted"])
        assert matrix.sum() == pytest.approx(1.0)
        assert 1.0 - np.trace(matrix) == pytest.approx(expected, abs=1e-5)  # cells rounded to 6 digits

    @pytest.mark.slow
    def test_uniform_noise_uses_the_risk_model(self):
        texts, truth = make_texts(1500, 3, seed=5)
        given = flip_uniform(truth, 0.15, 3, seed=6)
        frame = label_table(texts, given, LABELS, truth=truth, audit_share=0.15, seed=7)
        rows, summary, metrics = scored(frame)
        true_rate = float((given != truth).mean())
        assert summary["method"] == METHOD_MODEL_ASSISTED
        assert summary["lambda"] > 0.5
        assert metrics["label_error_rate_lower"] <= true_rate <= metrics["label_error_rate_upper"]
        assert abs(metrics["label_error_rate"] - true_rate) < 0.03
        assert metrics["systematic_error_share"] < 0.3  # cleanlab sees random errors
        assert rows["label_error_risk"].between(0, 1).all()

    @pytest.mark.slow
    def test_errors_that_follow_a_word_are_found_where_cleanlab_misses_them(self):
        # Where confident learning fails: every text with one of a few words is labelled a. The text model learns
        # the words, so confident learning finds almost none of these errors; the audit finds all of them.
        texts, truth = make_texts(1500, 3, seed=8)
        words = {f"f{i}" for i in range(1, 13)}
        given = truth.copy()
        given[np.array([bool(words & set(t.split())) for t in texts])] = 0
        frame = label_table(texts, given, LABELS, truth=truth, audit_share=0.15, seed=9)
        _, summary, metrics = scored(frame)
        true_rate = float((given != truth).mean())
        assert true_rate > 0.15
        cleanlab = LabelTable(frame=frame, labels=tuple(LABELS), path="m")
        noise = score_labels(cleanlab, ScoreParams(signals=("cleanlab",)))[1]["metrics"]["estimated_noise_rate"]
        assert noise < 0.5 * true_rate  # cleanlab is blind to them ...
        # ... the audit is not
        assert metrics["label_error_rate_lower"] <= true_rate <= metrics["label_error_rate_upper"]
        assert metrics["systematic_error_share"] > 0.6
        assert metrics["text_error_auc"] > 0.7
        assert summary["per_class_error"]["a"]["share_of_all_errors"] == pytest.approx(1.0)

    @pytest.mark.slow
    def test_audit_weights_change_the_estimate(self):
        texts, truth = make_texts(600, 3, seed=3)
        frame = label_table(texts, truth, LABELS, truth=truth, audit_share=0.2, seed=4)
        audited = np.flatnonzero(frame["gold_label"].notna().to_numpy())
        frame.loc[audited[:2], "gold_label"] = [LABELS[(LABELS.index(v) + 1) % 3]
                                                for v in frame.loc[audited[:2], "llm_label"]]
        plain = scored(frame)[2]["label_error_rate"]
        frame["audit_weight"] = np.where(frame["gold_label"].notna(), 1.0, np.nan)
        frame.loc[audited[:2], "audit_weight"] = 0.25  # the two wrong rows were over-sampled 4x
        weighted = scored(frame)[2]["label_error_rate"]
        assert weighted < plain

    @pytest.mark.slow
    def test_unavailable_without_audit(self):
        texts, truth = make_texts(200, 3, seed=3)
        _, summary, metrics = scored(label_table(texts, truth, LABELS))
        assert summary["available"] is False
        assert metrics["label_error_rate"] is None and metrics["label_error_rate_upper"] is None

    def test_one_llm_label_throughout_still_estimates_from_the_audit(self):
        texts, truth = make_texts(300, 3, seed=3)
        frame = label_table(texts, np.zeros(300, int), LABELS, truth=truth, audit_share=0.3, seed=4)
        _, summary, metrics = scored(frame)
        audited = frame["gold_label"].notna()
        assert metrics["label_error_rate"] == pytest.approx((frame.loc[audited, "gold_label"] != "a").mean())
        assert summary["method"] == METHOD_STRATIFIED
        assert metrics["systematic_error_share"] is None  # cleanlab cannot run on one label: not measured


def _whole_table_features(context) -> np.ndarray:
    """The risk features as one rows x features matrix, computed over whole-table arrays (the reference the
    row-chunked RiskFeatures must equal exactly)."""
    from labelgate.signals.distributions import entropy, vote_distribution

    table, given = context.table, context.given_labels
    index = np.arange(len(given))
    probs = np.clip(context.pred_probs, 1e-6, 1 - 1e-6)
    logit = lambda p: np.log(p) - np.log1p(-p)  # noqa: E731
    llm = np.clip(table.probabilities(), 1e-6, 1 - 1e-6)
    codes = np.column_stack([table.label_codes(c) for c in ["llm_label", *table.annotator_columns]])
    columns = [logit(probs[index, given]), probs.max(axis=1) - probs[index, given],
               context.label_issues.astype(float), logit(llm[index, given]),
               entropy(llm) / np.log(len(table.labels)), vote_distribution(codes, len(table.labels))[index, given]]
    return np.column_stack(columns + [(given == k).astype(float) for k in range(len(table.labels))])


def _eight_class_context(n: int = 3000):
    from labelgate.signals import ScoringContext
    from labelgate.signals.text_model import TextModelParams

    labels = [f"k{i}" for i in range(8)]
    texts, truth = make_texts(n, 8, seed=11, signal_words=3)
    given = flip_uniform(truth, 0.2, 8, seed=12)
    frame = label_table(texts, given, labels, truth=truth, audit_share=0.1, seed=13)
    rng = np.random.default_rng(14)
    logits = rng.normal(size=(n, 8))
    logits[np.arange(n), given] += 2.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    for k, label in enumerate(labels):
        frame[f"llm_prob_{label}"] = probs[:, k]
    frame["annotator_v2"] = np.asarray(labels, dtype=object)[np.where(rng.random(n) < 0.3, truth, given)]
    table = LabelTable(frame=frame, labels=tuple(labels), path="memory")
    return ScoringContext(table, text=TextModelParams(max_train_rows=1000))


class TestBoundedMemory:
    def test_row_chunks_equal_the_whole_table_matrix_exactly(self):
        from labelgate.signals.label_error import risk_features

        context = _eight_class_context()
        features, names = risk_features(context)
        assert not isinstance(features, np.ndarray)  # rows are computed when asked for, never the whole matrix
        reference = _whole_table_features(context)
        assert features.shape == reference.shape == (3000, len(names))
        chunked = np.concatenate([features[start:start + 700] for start in range(0, 3000, 700)])
        np.testing.assert_array_equal(chunked, reference)  # bit for bit: 8 classes, so summation order matters
        rows = np.random.default_rng(0).permutation(3000)[:500]
        np.testing.assert_array_equal(features[rows], reference[rows])
        np.testing.assert_array_equal(features[np.isin(np.arange(3000), rows)], reference[np.sort(rows)])

    @pytest.mark.slow
    def test_the_risk_model_never_asks_for_more_rows_than_the_audit_or_a_chunk(self, monkeypatch):
        from labelgate.signals import label_error

        context = _eight_class_context()
        features, _ = label_error.risk_features(context)
        asked: list[int] = []

        class Recording:
            shape = features.shape

            def __getitem__(self, rows):
                asked.append(len(np.arange(3000)[rows]))
                return features[rows]

        gold, given = context.table.label_codes("gold_label"), context.given_labels
        wrong = np.where(gold >= 0, (gold != given).astype(float), np.nan)
        monkeypatch.setattr(label_error, "PREDICT_CHUNK_ROWS", 400)
        risk = label_error.cross_fitted_risk(Recording(), wrong, seed=0)
        n_audited = int((gold >= 0).sum())
        assert risk is not None and asked and max(asked) <= max(n_audited, 400) < 3000
        # the chunked prediction is the same as one pass over every unaudited row
        monkeypatch.setattr(label_error, "PREDICT_CHUNK_ROWS", 10_000)
        np.testing.assert_array_equal(label_error.cross_fitted_risk(features, wrong, seed=0), risk)


def test_audit_missing_share_counts_drawn_rows_without_a_gold_label():
    from labelgate.signals.label_error import audit_missing_share

    frame = pd.DataFrame({"gold_label": ["a", None, "b", None, None, "a"],
                          "audit_wave": [0, 1, 1, 2, None, None]})  # row 6: gold without a wave (still drawn)
    assert audit_missing_share(frame) == pytest.approx(2 / 5)
    assert audit_missing_share(frame.drop(columns=["audit_wave"])) is None  # no design recorded: not measured


def test_a_large_audit_fits_each_risk_fold_on_a_sample_and_still_predicts_every_audited_row(monkeypatch):
    from labelgate.signals import label_error

    context = _eight_class_context()
    features, _ = label_error.risk_features(context)
    fitted: list[int] = []  # rows asked for, in order: per fold its fitted rows, then its held-out rows

    class Recording:
        shape = features.shape

        def __getitem__(self, rows):
            fitted.append(len(np.arange(3000)[rows]))
            return features[rows]

    wrong = context.audit_wrong
    n_audited = int((~np.isnan(wrong)).sum())
    monkeypatch.setattr(label_error, "MAX_FIT_ROWS", 120)
    risk = label_error.cross_fitted_risk(Recording(), wrong, seed=0)
    assert risk is not None and n_audited > 150
    # per fold: the fitted sample (<= 120 rows), then its held-out rows (about a fifth of the audit)
    assert fitted[0::2][:5] == [120] * 5
    audited = ~np.isnan(wrong)
    assert np.all((risk[audited] > 0) & (risk[audited] < 1))
    assert label_error.text_error_auc(context.text_words, context.given_labels, wrong, n_classes=8,
                                      groups=context.text_groups)["text_error_auc"] is not None
