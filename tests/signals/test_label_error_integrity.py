"""label_error's integrity: two-class label sets, audit weights in the systematic share, duplicate texts kept in
one fold (text model, risk model) and counted as one cluster (2 and 100 copies of every row), and the integrity
figures in the summary (JSON-able)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from labelgate.contract import LabelTable
from labelgate.estimation import METHOD_MODEL_ASSISTED, systematic_share
from labelgate.score import ScoreParams, score_labels
from labelgate.signals import ScoringContext
from labelgate.signals.text_model import duplicate_groups, fold_splits, out_of_fold_probabilities
from synthetic import flip_uniform, label_table, make_texts


def scored(frame: pd.DataFrame, labels):
    table = LabelTable(frame=frame, labels=tuple(labels), path="memory")
    rows, summary = score_labels(table, ScoreParams(signals=("cleanlab", "label_error")))
    return rows, summary["signals"]["label_error"], summary["metrics"]


@pytest.mark.slow
def test_two_class_sets_get_the_risk_model_and_the_systematic_share():
    labels = ["no", "yes"]
    texts, truth = make_texts(1500, 2, seed=61, weights=[0.7, 0.3])
    given = flip_uniform(truth, 0.2, 2, seed=62)
    frame = label_table(texts, given, labels, truth=truth, audit_share=0.2, seed=63)
    rows, summary, metrics = scored(frame, labels)
    true_rate = float((given != truth).mean())
    assert summary["method"] == METHOD_MODEL_ASSISTED and summary["lambda"] > 0.3
    assert rows["label_error_risk"].notna().all()
    assert metrics["systematic_error_share"] is not None and metrics["systematic_error_share"] < 0.5
    assert metrics["label_error_rate_lower"] <= true_rate <= metrics["label_error_rate_upper"]
    assert metrics["audit_representativeness_p"] > 0.001 and metrics["unmeasured_share"] == 0.0
    assert set(summary["per_stratum"]) == {"no", "yes"}


@pytest.mark.slow
def test_the_signal_weights_the_systematic_share():
    labels = ["a", "b", "c"]
    texts, truth = make_texts(900, 3, seed=71)
    given = flip_uniform(truth, 0.25, 3, seed=72)
    frame = label_table(texts, given, labels, truth=truth, audit_share=0.3, seed=73)
    audited = frame["gold_label"].notna().to_numpy()
    rng = np.random.default_rng(74)
    frame["audit_weight"] = np.where(audited, rng.choice([1.0, 6.0], size=len(frame)), np.nan)
    _, summary, metrics = scored(frame, labels)
    table = LabelTable(frame=frame, labels=tuple(labels), path="memory")
    context = ScoringContext(table)
    gold, llm = table.label_codes("gold_label"), context.given_labels
    wrong = np.where(audited, (gold != llm).astype(float), np.nan)
    weights = np.where(audited, frame["audit_weight"].to_numpy(float), 1.0)
    expected = systematic_share(wrong, context.label_issues, weights=weights)
    plain = systematic_share(wrong, context.label_issues)
    assert metrics["systematic_error_share"] == pytest.approx(expected["systematic_error_share"])
    assert expected["systematic_error_share"] != pytest.approx(plain["systematic_error_share"], abs=0.01)


def test_duplicate_groups_normalise_case_space_and_punctuation():
    groups = duplicate_groups(["Great flight!!", "great   flight", "GREAT, flight.", "great flights", "!!!", "???",
                               "Ünïcode ok", "ünïcode_ok"])
    assert groups.tolist() == [0, 0, 0, 1, 2, 3, 4, 4]


def test_grouped_folds_hold_every_copy_out_together():
    labels = np.array([0, 1, 2] * 40)
    groups = np.repeat(np.arange(60), 2)
    for train, held_out in fold_splits(labels, groups, 5, seed=0):
        assert not set(groups[train]) & set(groups[held_out])


def test_copies_do_not_leak_their_label_into_the_out_of_fold_probabilities():
    """Random labels on texts that share no words: nothing to learn, unless a copy of the held-out text with its
    label sits in the training folds."""
    rng = np.random.default_rng(81)
    texts = [f"tok{i}a tok{i}b tok{i}c filler{rng.integers(50)}" for i in range(300)]
    labels = rng.integers(0, 3, 300)
    texts2, labels2 = texts * 2, np.tile(labels, 2)
    given_prob = lambda probs: probs[np.arange(600), labels2].mean()  # noqa: E731
    leaked = out_of_fold_probabilities(texts2, labels2, n_classes=3, regularisation=10.0)
    grouped = out_of_fold_probabilities(texts2, labels2, n_classes=3, regularisation=10.0,
                                        groups=duplicate_groups(texts2))
    assert given_prob(leaked) > 0.6
    assert given_prob(grouped) < 0.4


@pytest.mark.slow
@pytest.mark.parametrize("copies", [2, 100])
def test_copies_of_every_row_keep_the_interval_on_the_truth(copies):
    """Duplicated rows through the signal: 2 copies used to give 0.256 [0.244, 0.269] and 100 copies
    0.176 [0.176, 0.176] for a true 0.31. Now the copies' estimate and interval are about the single set's."""
    labels = ["a", "b", "c"]
    n = 600 if copies == 2 else 300
    texts, truth = make_texts(n, 3, seed=91)
    given = flip_uniform(truth, 0.31, 3, seed=92)
    frame = label_table(texts, given, labels, truth=truth, audit_share=0.3, seed=93)
    many = pd.concat([frame] * copies, ignore_index=True)
    many["id"] = [f"r{i}" for i in range(len(many))]
    _, _, once = scored(frame, labels)
    _, summary, metrics = scored(many, labels)
    true_rate = float((given != truth).mean())
    assert 0.25 < true_rate < 0.37
    assert metrics["duplicate_share"] == pytest.approx(1 - 1 / copies)
    assert summary["n_audited_groups"] == int(frame["gold_label"].notna().sum())
    assert metrics["label_error_rate_lower"] <= true_rate <= metrics["label_error_rate_upper"]
    assert metrics["label_error_rate"] == pytest.approx(once["label_error_rate"], abs=0.03)
    width = metrics["label_error_rate_upper"] - metrics["label_error_rate_lower"]
    assert width >= 0.8 * (once["label_error_rate_upper"] - once["label_error_rate_lower"])
    assert metrics["audit_representativeness_p"] > 0.001


@pytest.mark.slow
def test_integrity_figures_are_in_the_summary_and_json_able():
    labels = ["a", "b", "c"]
    texts, truth = make_texts(600, 3, seed=101)
    frame = label_table(texts, truth, labels, truth=truth, audit_share=0.2, seed=102)
    rows, summary, metrics = scored(frame, labels)
    for name in ("unmeasured_share", "audit_representativeness_p", "audit_rubber_stamp_flag_share",
                 "duplicate_share"):
        assert name in metrics and isinstance(metrics[name], float), name
    assert metrics["audit_rubber_stamp_flag_share"] < 0.3  # clean set, honest audit: nothing to flag
    json.dumps(summary, allow_nan=False)
    json.dumps(metrics, allow_nan=False)


def test_text_folds_keep_copies_together_on_any_chunk():
    from labelgate.signals.text_model import text_folds

    texts = [f"Text number {i}!" for i in range(2000)]
    folds = text_folds(texts, 5, seed=3)
    assert np.array_equal(text_folds([t.upper() + "  " for t in texts[:700]], 5, seed=3), folds[:700])
    assert np.bincount(folds).min() > 300  # about a fifth each
    assert not np.array_equal(text_folds(texts, 5, seed=4), folds)  # the seed changes the plan


@pytest.mark.slow
def test_streamed_probabilities_do_not_leak_through_copies(workdir):
    """The bounded-memory path (score_stream) holds every copy of a text out in the same fold."""
    from labelgate.score_stream import score_parquet_streaming
    from labelgate.signals.text_model import TextModelParams

    rng = np.random.default_rng(111)
    names = np.array(["a", "b", "c"], dtype=object)
    texts = [f"tok{i}a tok{i}b tok{i}c filler{rng.integers(50)}" for i in range(700)]
    labels = rng.integers(0, 3, 700)
    frame = pd.DataFrame({"text": texts * 2, "llm_label": np.tile(names[labels], 2)})
    frame.insert(0, "id", [f"r{i}" for i in range(len(frame))])
    frame.to_parquet(workdir / "labels.parquet")
    params = ScoreParams(signals=("cleanlab",), stream_rows=1000, chunk_rows=1000,
                         text=TextModelParams(max_train_rows=2000, text_model_c=10.0))
    score_parquet_streaming(workdir / "labels.parquet", workdir / "s.parquet", workdir / "r.json",
                            labels=("a", "b", "c"), params=params, expectations_dir=workdir / "expectations")
    given = pd.read_parquet(workdir / "s.parquet")["cleanlab_given_label_prob"]
    assert given.mean() < 0.45  # random labels: about 1/3 when no copy leaks its label (0.72 with per-row folds)
