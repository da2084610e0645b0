"""The scoring context: label codes, the text model's out-of-fold probabilities (with the settings it is given) and
cleanlab's label-issue flags, each computed once."""

from __future__ import annotations

import numpy as np
import pytest

from labelgate.signals import ScoringContext
from labelgate.signals.text_model import TextModelParams
from signals.support import LABELS, table
from synthetic import flip_uniform, label_table, make_texts


class TestScoringContext:
    def frame(self):
        texts, truth = make_texts(300, 3, seed=1)
        return label_table(texts, flip_uniform(truth, 0.1, 3, seed=2), list(LABELS)), truth

    def test_shared_inputs_are_computed_once(self):
        frame, _ = self.frame()
        context = ScoringContext(table(frame))
        assert context.given_labels.tolist() == [LABELS.index(v) for v in frame["llm_label"]]
        probs = context.pred_probs
        assert probs.shape == (300, 3) and np.allclose(probs.sum(axis=1), 1.0)
        assert context.pred_probs is probs and context.label_issues is context.label_issues
        assert context.label_issues.dtype == bool and len(context.label_issues) == 300

    @pytest.mark.slow
    def test_the_text_model_settings_and_seed_reach_the_probabilities(self):
        frame, _ = self.frame()
        default = ScoringContext(table(frame)).pred_probs
        assert np.array_equal(ScoringContext(table(frame), seed=0).pred_probs, default)
        assert not np.array_equal(ScoringContext(table(frame), seed=1).pred_probs, default)
        assert not np.array_equal(ScoringContext(table(frame), text=TextModelParams(text_model_c=4.0)).pred_probs,
                                  default)


class TestWordsAhead:
    """The TF-IDF words started before validation (WordsAhead) serve text_words only when made from the same texts
    and settings; the words are the same either way."""

    @pytest.fixture(autouse=True)
    def small_tables_fork(self, monkeypatch):
        from labelgate.signals import forked

        monkeypatch.setattr(forked, "FORK_MIN_ROWS", 100)

    def test_words_made_ahead_equal_the_words_made_in_place_bit_for_bit(self):
        from labelgate.signals.context import WordsAhead

        frame = TestScoringContext().frame()[0]
        ahead = WordsAhead.start(frame["text"].copy(), TextModelParams(), 0, ("label_error",))
        served, in_place = ScoringContext(table(frame), words_ahead=ahead), ScoringContext(table(frame))
        assert ahead.job.child is not None
        words, expected = served.text_words, in_place.text_words
        assert ahead.job.child is None  # the child's answer was used
        assert (words.matrix != expected.matrix).nnz == 0 and words.matrix.dtype == expected.matrix.dtype
        assert list(words.vectoriser.vocabulary_.items()) == list(expected.vectoriser.vocabulary_.items())
        assert {type(v) for v in words.vectoriser.vocabulary_.values()} == {np.int64}  # as sklearn made them
        assert np.array_equal(words.vectoriser.idf_, expected.vectoriser.idf_)

    def test_other_texts_or_settings_are_vectorised_in_place(self):
        from labelgate.signals.context import WordsAhead

        frame = TestScoringContext().frame()[0]
        edited = frame["text"].copy()
        edited.iloc[7] += " extra"
        for ahead in (WordsAhead.start(edited, TextModelParams(), 0, ("cleanlab",)),
                      WordsAhead.start(frame["text"], TextModelParams(), 1, ("cleanlab",)),
                      WordsAhead.start(frame["text"], TextModelParams(max_features=50), 0, ("cleanlab",))):
            context = ScoringContext(table(frame), words_ahead=ahead)
            assert context.text_words.matrix.shape == ScoringContext(table(frame)).text_words.matrix.shape
            assert ahead.job.child is not None  # not asked for
            ahead.cancel()

    def test_not_started_for_large_or_small_tables_or_signals_that_read_no_words(self):
        from labelgate.signals.context import WordsAhead

        texts = TestScoringContext().frame()[0]["text"]
        assert WordsAhead.start(texts.iloc[:99], TextModelParams(), 0, ("cleanlab",)) is None
        assert WordsAhead.start(texts, TextModelParams(max_train_rows=100), 0, ("cleanlab",)) is None
        assert WordsAhead.start(texts, TextModelParams(), 0, ("entropy", "class_balance")) is None

class TestFrozenHeap:
    def test_collects_first_freezes_inside_and_unfreezes_after_even_on_error(self):
        import gc
        import weakref

        from labelgate.signals.context import frozen_heap

        class Node:
            pass

        cycle = Node()
        cycle.self = cycle  # garbage only a collection frees
        gone = weakref.ref(cycle)
        del cycle
        try:
            with frozen_heap():
                assert gone() is None  # collected on entry, not frozen with the live objects
                assert gc.get_freeze_count() > 0
                raise RuntimeError("a signal failed")
        except RuntimeError:
            pass
        assert gc.get_freeze_count() == 0

    def test_nested_the_outermost_exit_unfreezes(self):
        import gc

        from labelgate.signals.context import frozen_heap

        with frozen_heap():
            with frozen_heap():
                pass
            assert gc.get_freeze_count() > 0  # the inner exit left the outer freeze alone
        assert gc.get_freeze_count() == 0
