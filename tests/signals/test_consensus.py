"""The chunked CROWDLAB consensus (signals/consensus.py) against cleanlab's get_label_quality_multiannotator on many
random tables: consensus labels identical, quality scores and annotator qualities to 1e-9, annotators in cleanlab's
order. The tables are built for ties (few classes in use, probabilities on a coarse grid or uniform, small tables
whose class frequencies tie), and a check counts that every tie-break of the majority vote was reached."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from labelgate.signals.consensus import crowdlab_consensus

N_TABLES = 400


class _Unbreakable(Exception):
    """cleanlab would pick among no candidates (every row tied: no annotator agreement to break ties with)."""


def _first(candidates):
    """np.random.choice for cleanlab's last tie-break: the lowest remaining class, as crowdlab_consensus picks."""
    if len(candidates) == 0:
        raise _Unbreakable
    return candidates[0]


def cleanlab_consensus(codes: np.ndarray, pred_probs: np.ndarray, monkeypatch):
    from cleanlab.multiannotator import get_label_quality_multiannotator

    labels = pd.DataFrame(np.where(codes >= 0, codes, np.nan), columns=[f"a{k}" for k in range(codes.shape[1])])
    with monkeypatch.context() as patch, warnings.catch_warnings():
        patch.setattr(np.random, "choice", _first)
        warnings.simplefilter("ignore")
        result = get_label_quality_multiannotator(labels, pred_probs, verbose=False)
    quality = result["label_quality"]
    stats = result["annotator_stats"]
    order = [int(name[1:]) for name in stats.index]
    return (quality["consensus_label"].to_numpy(), quality["consensus_quality_score"].to_numpy(),
            stats["annotator_quality"].sort_index(key=lambda i: i.str[1:].astype(int)).to_numpy(), order)


def tie_breaks(codes: np.ndarray, pred_probs: np.ndarray) -> set[int]:
    """Which of get_majority_vote_label's tie-breaks the table needs (1 probabilities, 2 class frequency, 3 annotator
    agreement, 4 cleanlab's random pick), written out row by row."""
    n_classes = pred_probs.shape[1]
    counts = np.array([np.bincount(row[row >= 0], minlength=n_classes) for row in codes])
    unique = (counts == counts.max(axis=1, keepdims=True)).sum(axis=1) == 1
    frequency = counts.sum(axis=0)
    labelled = (codes >= 0) & unique[:, None]
    agree = ((codes == counts.argmax(axis=1)[:, None]) & labelled).sum(axis=0) / np.maximum(labelled.sum(axis=0), 1)
    stages = set()
    for row in np.flatnonzero(~unique):
        candidates = np.flatnonzero(counts[row] == counts[row].max())
        for stage, value in ((1, -pred_probs[row]), (2, frequency),
                             (3, -np.array([agree[codes[row] == c].mean() if c in codes[row] else 0.0
                                            for c in range(n_classes)]))):
            candidates = candidates[value[candidates] == value[candidates].min()]
            if len(candidates) == 1:
                stages.add(stage)
                break
        else:
            stages.add(4)
    return stages


def random_table(rng: np.random.Generator):
    """2-8 classes, 2-4 annotators (the first, llm_label, never missing), missing annotations, rows where all agree,
    majority-vote ties, probabilities with ties, float32 or float64."""
    n_rows = int(rng.integers(4, 60))
    n_classes = int(rng.integers(2, 9))
    n_annotators = int(rng.integers(2, 5))
    in_use = int(rng.integers(2, n_classes + 1))
    truth = rng.integers(0, in_use, n_rows)
    agree = rng.uniform(0.2, 1.0)
    codes = np.column_stack([np.where(rng.random(n_rows) < agree, truth, rng.integers(0, in_use, n_rows))
                             for _ in range(n_annotators)]).astype(np.int8)
    codes[:, 1:][rng.random((n_rows, n_annotators - 1)) < rng.uniform(0, 0.6)] = -1
    style = rng.random(n_rows)
    raw = np.where((style < 0.4)[:, None], rng.dirichlet(np.ones(n_classes), n_rows),
                   np.where((style < 0.8)[:, None], rng.integers(1, 4, (n_rows, n_classes)), 1.0))
    pred_probs = (raw / raw.sum(axis=1, keepdims=True)).astype(rng.choice([np.float32, np.float64]))
    return codes, pred_probs, int(rng.integers(1, n_rows))  # a chunk smaller than the table


@pytest.mark.slow
def test_equal_to_cleanlab_on_random_tables(monkeypatch):
    rng = np.random.default_rng(20)
    compared, stages, unbreakable = 0, set(), 0
    for _ in range(N_TABLES):
        codes, pred_probs, chunk_rows = random_table(rng)
        try:
            expected = cleanlab_consensus(codes, pred_probs, monkeypatch)
        except ValueError:  # cleanlab refuses the table (e.g. an annotator without labels): so does this
            with pytest.raises(ValueError):
                crowdlab_consensus(codes, pred_probs, chunk_rows=chunk_rows)
            continue
        except _Unbreakable:
            unbreakable += 1
            continue
        got = crowdlab_consensus(codes, pred_probs, chunk_rows=chunk_rows)
        label, quality, annotator_quality, order = expected
        context = f"table {_}: {codes.tolist()} {pred_probs.tolist()} chunk {chunk_rows}"
        np.testing.assert_array_equal(got.label, label, err_msg=context)
        np.testing.assert_allclose(got.quality, quality, rtol=0, atol=1e-9, err_msg=context)
        np.testing.assert_allclose(got.annotator_quality, annotator_quality, rtol=0, atol=1e-9, err_msg=context)
        assert got.annotator_order.tolist() == order, context
        stages |= tie_breaks(codes, pred_probs)
        compared += 1
    assert compared >= 0.8 * N_TABLES and unbreakable < 0.05 * N_TABLES
    assert stages == {1, 2, 3, 4}  # every tie-break of the majority vote was exercised and matched


def test_same_result_for_every_chunk_size():
    rng = np.random.default_rng(7)
    codes, pred_probs, _ = random_table(rng)
    whole = crowdlab_consensus(codes, pred_probs, chunk_rows=len(codes))
    for chunk_rows in (1, 2, 5):
        part = crowdlab_consensus(codes, pred_probs, chunk_rows=chunk_rows)
        np.testing.assert_array_equal(part.label, whole.label)
        np.testing.assert_array_equal(part.quality, whole.quality)


def test_a_larger_table_in_many_chunks(monkeypatch):
    """5,000 rows, 8 classes, 3 annotators, continuous probabilities: what the agreement signal sees."""
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 8, 5000)
    codes = np.column_stack([np.where(rng.random(5000) < 0.75, truth, rng.integers(0, 8, 5000))
                             for _ in range(3)]).astype(np.int8)
    codes[:, 1:][rng.random((5000, 2)) < 0.1] = -1
    pred_probs = rng.dirichlet(np.full(8, 0.5), 5000)
    label, quality, annotator_quality, order = cleanlab_consensus(codes, pred_probs, monkeypatch)
    got = crowdlab_consensus(codes, pred_probs, chunk_rows=777)
    np.testing.assert_array_equal(got.label, label)
    np.testing.assert_allclose(got.quality, quality, rtol=0, atol=1e-9)
    np.testing.assert_allclose(got.annotator_quality, annotator_quality, rtol=0, atol=1e-9)
    assert got.annotator_order.tolist() == order


def test_rows_without_annotations_are_left_out(monkeypatch):
    """A row with no annotation gets -1 and NaN; the other rows get what cleanlab gives on the table without it."""
    rng = np.random.default_rng(11)
    codes, pred_probs, _ = random_table(rng)
    codes = np.vstack([codes, np.full((3, codes.shape[1]), -1, dtype=codes.dtype)])
    pred_probs = np.vstack([pred_probs, np.full((3, pred_probs.shape[1]), 1 / pred_probs.shape[1],
                                                dtype=pred_probs.dtype)])
    label, quality, annotator_quality, _ = cleanlab_consensus(codes[:-3], pred_probs[:-3], monkeypatch)
    got = crowdlab_consensus(codes, pred_probs, chunk_rows=4)
    np.testing.assert_array_equal(got.label, [*label, -1, -1, -1])
    np.testing.assert_allclose(got.quality, [*quality, np.nan, np.nan, np.nan], rtol=0, atol=1e-9)
    np.testing.assert_allclose(got.annotator_quality, annotator_quality, rtol=0, atol=1e-9)


@pytest.mark.parametrize("codes, message", [
    ([[0, -1], [1, -1]], "did not label any row"),
    ([[0, -1], [-1, 1]], "only one annotation"),
    ([[0, 3], [1, 1]], "outside"),
])
def test_what_cleanlab_refuses_is_refused(codes, message):
    with pytest.raises(ValueError, match=message):
        crowdlab_consensus(np.array(codes), np.full((2, 3), 1 / 3))
