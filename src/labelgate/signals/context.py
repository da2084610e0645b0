"""What every signal may read (ScoringContext): the validated table, the gold test labels, the stage's seed, and the
inputs several signals share (label codes, out-of-fold text-model probabilities, cleanlab's flags), computed once."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from labelgate.contract import GOLD, LabelTable
from labelgate.estimation import DEFAULT_CONFIDENCE, MIN_AUDITED_PER_STRATUM
from labelgate.signals.text_model import TextModelParams


def release_memory() -> None:
    """Collect reference cycles and hand freed heap memory back to the OS (glibc's malloc_trim, where there is one):
    freed small blocks (the contract suite's copies of the table, the TF-IDF's temporaries, a finished signal's
    arrays) otherwise stay in the process while the next, larger allocation comes on top."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (AttributeError, OSError):  # not glibc
        pass


@contextmanager
def frozen_heap() -> Iterator[None]:
    """While scoring, the collections (release_memory's and Python's own) skip every object alive on entry: the
    imported libraries' (Great Expectations, pandas, scipy: ~270k objects, 0.14 CPU s per full collection) and the
    validated table, all of which outlive the scoring. Entry collects first (the contract suite's garbage is freed, not
    frozen); exit unfreezes, so a caller in a longer-lived process collects them again as before. Nested (check
    around score), the outermost exit unfreezes."""
    import gc

    outermost = gc.get_freeze_count() == 0
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        if outermost:
            gc.unfreeze()


#: The signals that read ScoringContext.text_words, themselves (label_error) or through pred_probs (tfidf_logreg)
WORD_READERS = frozenset({"cleanlab", "agreement", "label_error", "accuracy_loss"})


def words_settings(text: TextModelParams, seed: int) -> dict[str, Any]:
    """The settings of text_model.tfidf_words that ScoringContext.text_words uses."""
    return {"max_features": text.max_features, "sample_rows": text.max_train_rows, "seed": seed,
            "n_jobs": text.n_jobs}


@dataclass
class WordsAhead:
    """A table's TF-IDF words computed ahead, in a forked child (forked.Ahead), while this process validates the
    table (`check`: the gate's preflight, the contract suite): 1-2 s of a 100k-row check on the other core.
    ScoringContext.text_words takes them only when computed from the very texts (equal value by value) and settings
    it would use, else it vectorises as always. Only for tables the vocabulary is fitted on whole (rows <=
    max_train_rows), so the child starts no worker processes of its own, and worth a fork (forked.FORK_MIN_ROWS)."""

    texts: pd.Series
    settings: dict[str, Any]
    job: Any  # forked.Ahead

    @classmethod
    def start(cls, texts: pd.Series, text: TextModelParams, seed: int, signals: tuple[str, ...]) -> WordsAhead | None:
        """None where no enabled signal reads the words (WORD_READERS) or the table is larger than max_train_rows or
        smaller than forked.FORK_MIN_ROWS."""
        from labelgate.signals.forked import FORK_MIN_ROWS, Ahead

        settings = words_settings(text, seed)
        if not FORK_MIN_ROWS <= len(texts) <= text.max_train_rows or not set(signals) & WORD_READERS:
            return None
        import sklearn.feature_extraction.text  # noqa: F401 - imported here once (scoring needs it), not in the child
        return cls(texts, settings, Ahead(_packed_words, texts, settings))

    def made_from(self, texts: pd.Series, settings: dict[str, Any]) -> bool:
        return (settings == self.settings and len(texts) == len(self.texts)
                and bool(np.array_equal(texts.to_numpy(object), self.texts.to_numpy(object))))

    def words(self):
        """The child's TextWords (or None: no word in two texts), as tfidf_words returned them there."""
        packed = self.job.result()
        if packed is None:
            return None
        words, keys, values = packed
        words.vectoriser.vocabulary_ = dict(zip(keys, values))  # numpy int64 values, in the child's order
        return words

    def cancel(self) -> None:
        self.job.cancel()


def _packed_words(texts: pd.Series, settings: dict[str, Any]):
    """tfidf_words in the child, its vocabulary sent as a list of words and an array of columns: pickling the
    dict's 200k numpy integers one by one took 0.33 of the child's seconds at 100k rows, this 0.02."""
    import copy

    from labelgate.signals.text_model import tfidf_words

    words = tfidf_words(texts, **settings)
    if words is None:
        return None
    vocabulary = words.vectoriser.vocabulary_
    words = copy.copy(words)
    words.vectoriser = copy.copy(words.vectoriser)
    del words.vectoriser.vocabulary_
    return words, list(vocabulary), np.fromiter(vocabulary.values(), dtype=np.int64, count=len(vocabulary))


@dataclass
class ScoringContext:
    table: LabelTable
    text: TextModelParams = field(default_factory=TextModelParams, kw_only=True)  # the out-of-fold text model
    seed: int = field(default=0, kw_only=True)  # score.seed: every random choice a signal makes derives from it
    test_labels: pd.Series | None = field(default=None, kw_only=True)
    audit_confidence: float = field(default=DEFAULT_CONFIDENCE, kw_only=True)  # score.audit_confidence
    min_audited_per_stratum: int = field(default=MIN_AUDITED_PER_STRATUM, kw_only=True)  # score.min_audited_per_stratum
    words_ahead: WordsAhead | None = field(default=None, kw_only=True)  # text_words, started before validation
    _memo: dict = field(default_factory=dict, init=False, repr=False)

    @cached_property
    def given_labels(self) -> np.ndarray:
        return self.table.label_codes()

    @cached_property
    def text_groups(self) -> np.ndarray:
        """Per row the id of its group of duplicate texts (text_model.duplicate_groups: equal after normalisation);
        cross-fitting keeps a group in one fold and the audit estimate treats a group as one cluster."""
        from labelgate.signals.text_model import duplicate_groups

        return duplicate_groups(self.table.frame["text"])

    @cached_property
    def pred_probs(self) -> np.ndarray:
        """Out-of-fold predicted probabilities of a cheap text model: what cleanlab needs, computed once. Every copy
        of a text (text_groups) is held out in the same fold."""
        from labelgate.signals.text_model import out_of_fold_probabilities

        groups = self.text_groups  # first: hashing the texts overlaps the TF-IDF where that runs ahead (WordsAhead)
        tfidf = self.text.text_model == "tfidf_logreg"
        words = self.text_words if tfidf else None
        release_memory()  # the TF-IDF's temporaries, before the classifiers allocate
        return out_of_fold_probabilities(
            [] if tfidf else self.table.frame["text"].tolist(), self.given_labels,
            n_classes=len(self.table.labels), groups=groups,
            model=self.text.text_model, folds=self.text.cv_folds, seed=self.seed,
            max_features=self.text.max_features, regularisation=self.text.text_model_c,
            max_train_rows=self.text.max_train_rows, n_jobs=self.text.n_jobs,
            words=words,
        )

    @cached_property
    def text_words(self):
        """The TF-IDF words and bigrams of every row (text_model.tfidf_words), vectorised once: the tfidf_logreg
        text model, label_error's risk model and its text-error model all read it. None when no word occurs in two
        texts."""
        from labelgate.signals.text_model import tfidf_words

        texts, settings = self.table.frame["text"], words_settings(self.text, self.seed)
        if self.words_ahead is not None and self.words_ahead.made_from(texts, settings):
            return self.words_ahead.words()
        return tfidf_words(texts, **settings)

    @cached_property
    def label_issues(self) -> np.ndarray:
        """cleanlab's label-issue flags over `pred_probs` (prune by noise rate), computed once."""
        from cleanlab.filter import find_label_issues

        return find_label_issues(self.given_labels, self.pred_probs, filter_by="prune_by_noise_rate", n_jobs=1)

    @cached_property
    def audit_wrong(self) -> np.ndarray:
        """Per row 1.0 where the gold audit says the LLM label is wrong, 0.0 where right, NaN off the audit."""
        gold = self.table.label_codes(GOLD) if self.table.has_gold else np.full(len(self.given_labels), -1)
        return np.where(gold >= 0, (gold != self.given_labels).astype(float), np.nan)

    @cached_property
    def audit_weights(self) -> np.ndarray:
        """Audit weight of every audited row (1 where the table has none); 1 off the audit."""
        weights = self.table.audit_weights()
        audited = ~np.isnan(self.audit_wrong)
        return np.where(audited, weights, 1.0) if weights is not None else np.ones(len(audited))

    def memo(self, key: Hashable, compute: Callable[[ScoringContext], Any]) -> Any:
        """`compute(self)`, computed once per context and key: what one signal computes and another reads (the
        label_error risk model and estimate, read by accuracy_loss) without the context importing either."""
        if key not in self._memo:
            self._memo[key] = compute(self)
        return self._memo[key]
