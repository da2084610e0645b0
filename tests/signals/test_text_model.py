"""The out-of-fold text model: its settings (TextModelParams) and what it returns."""

from __future__ import annotations

import numpy as np
import pytest

from labelgate.signals import forked
from labelgate.signals.text_model import TextModelParams, out_of_fold_probabilities
from synthetic import make_texts


class TestTextModel:
    def test_params_defaults_and_ranges(self):
        params = TextModelParams()
        assert (params.text_model, params.text_model_c, params.cv_folds) == ("tfidf_logreg", 0.25, 5)
        with pytest.raises(ValueError, match="text_model must be one of"):
            TextModelParams(text_model="bert")
        with pytest.raises(ValueError, match=r"cv_folds=1 must lie in \[2, 20\]"):
            TextModelParams(cv_folds=1)

    def test_out_of_fold_probabilities_learn_the_classes(self):
        texts, truth = make_texts(300, 3, seed=1)
        probs = out_of_fold_probabilities(texts, truth, n_classes=3)
        assert probs.shape == (300, 3) and np.allclose(probs.sum(axis=1), 1.0)
        assert (probs.argmax(axis=1) == truth).mean() > 0.8


class TestSharedWords:
    """One TF-IDF serves every model; the speed paths give the models a plain fit would."""

    def test_the_stitched_matrix_equals_fitting_on_the_sample_and_transforming_every_row(self):
        from labelgate.signals.text_model import tfidf_words, word_vectoriser

        texts, _ = make_texts(600, 3, seed=2)
        words = tfidf_words(texts, max_features=5000, sample_rows=250, seed=3, n_jobs=1)
        sample = np.random.default_rng(3).choice(600, size=250, replace=False)
        vectoriser = word_vectoriser(5000).fit([texts[i] for i in sample])
        expected = vectoriser.transform(texts)
        assert words.shape == expected.shape
        assert abs(words.matrix - expected).max() < 1e-6
        assert abs(words[np.arange(100, 140)] - expected[100:140]).max() < 1e-6

    def test_folds_fitted_on_their_own_words_equal_fits_on_every_column(self):
        """A word absent from a fold's training rows gets weight 0 under L2: dropping it changes nothing."""
        from sklearn.linear_model import LogisticRegression

        from labelgate.signals.text_model import _cross_validated, fold_splits, tfidf_words

        texts, truth = make_texts(400, 3, seed=4)
        labels = np.asarray(truth)
        words = tfidf_words(texts, max_features=5000, sample_rows=10_000).matrix
        fast = _cross_validated(words, labels, n_classes=3, folds=4, seed=0, regularisation=0.25,
                                max_train_rows=10_000, rng=np.random.default_rng(0), n_jobs=2)
        plain = np.zeros_like(fast)
        for train, held in fold_splits(labels, None, 4, 0):
            model = LogisticRegression(C=0.25, max_iter=300, tol=1e-3).fit(words[train], labels[train])
            plain[held] = model.predict_proba(words[held])
        some_word_missing = any(len(np.unique(words[train].indices)) < words.shape[1]
                                for train, _ in fold_splits(labels, None, 4, 0))
        assert some_word_missing  # the test exercises the column cut
        np.testing.assert_allclose(fast, plain, atol=2e-3)
        assert (fast.argmax(axis=1) == plain.argmax(axis=1)).all()


    def test_folds_in_forked_processes_equal_folds_in_threads_bit_for_bit(self, monkeypatch):
        """The folds' processes (signals/forked.py) change where a fold is fitted, never a probability."""
        from labelgate.signals.text_model import _cross_validated, tfidf_words

        texts, truth = make_texts(500, 4, seed=6)
        words = tfidf_words(texts, max_features=5000, sample_rows=10_000).matrix

        def folds():
            return _cross_validated(words, np.asarray(truth), n_classes=4, folds=5, seed=2, regularisation=0.25,
                                    max_train_rows=300, rng=np.random.default_rng(2), n_jobs=2)

        monkeypatch.setattr(forked, "FORK_MIN_ROWS", 0)  # a table this small stays in one process otherwise
        in_processes = folds()
        monkeypatch.setattr(forked, "can_fork", lambda: False)
        assert np.array_equal(in_processes, folds())

    @pytest.mark.skipif(not forked.can_fork(), reason="forked workers run on Linux only")
    def test_the_forked_transform_equals_one_transform_and_leaves_no_worker(self):
        """transform_in_parallel's blocks in this process and a forked child: the rows in order, every value the
        same, and no worker process left once it returns (joblib's resident pool kept its heap)."""
        from assertions import no_children_left

        from labelgate.signals.text_model import transform_in_parallel, word_vectoriser

        texts, _ = make_texts(12_000, 4, seed=7)
        vectoriser = word_vectoriser(5000).fit(texts[:2000])
        assert no_children_left()
        parallel = transform_in_parallel(vectoriser, list(texts), 2)
        assert no_children_left()
        plain = vectoriser.transform(list(texts))
        assert (parallel != plain).nnz == 0 and parallel.shape == plain.shape and parallel.dtype == plain.dtype


def test_spooled_words_give_the_rows_the_vectoriser_gives(tmp_path):
    """A streamed table's words: chunk files plus the audited rows in memory, any rows in any order."""
    from scipy.sparse import save_npz

    from labelgate.signals.text_model import SpooledWords, word_vectoriser

    texts, _ = make_texts(500, 3, seed=5)
    vectoriser = word_vectoriser(5000).fit(texts)
    full = vectoriser.transform(texts)
    starts = np.array([0, 200, 400, 500])
    files = []
    for i in range(3):
        files.append(tmp_path / f"words_{i}.npz")
        save_npz(files[-1], full[starts[i]:starts[i + 1]], compressed=False)
    kept_rows = np.array([3, 150, 201, 399, 450])
    words = SpooledWords(vectoriser, files, starts, kept_rows, full[kept_rows])
    assert words.shape == full.shape
    for rows in (kept_rows[[1, 3]], np.arange(190, 260), np.array([499, 0, 250, 3]), np.array([], dtype=int)):
        assert (words[rows] != full[rows]).nnz == 0
    files[0].unlink()  # kept rows only: served from memory, no file read
    assert (words[np.array([3, 150])] != full[[3, 150]]).nnz == 0
