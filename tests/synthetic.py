"""Synthetic labelled texts with a known truth, for tests and benchmarks.

Each class has its own vocabulary; every text mixes words of its class with shared filler words, so a bag-of-words
model can learn the classes but not perfectly. Noise is injected into a copy of the true labels, either uniformly
or systematically (class-dependent: a fixed share of one class relabelled as a specific other class), which is
how LLM annotators err.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def make_texts(n: int, n_classes: int = 3, *, seed: int = 0, class_words: int = 40, filler_words: int = 400,
               length: int = 14, signal_words: int = 4, weights=None) -> tuple[list[str], np.ndarray]:
    """n texts and their true class codes (vectorised: a million rows take seconds)."""
    rng = np.random.default_rng(seed)
    weights = np.full(n_classes, 1 / n_classes) if weights is None else np.asarray(weights, float)
    truth = rng.choice(n_classes, size=n, p=weights / weights.sum())
    vocab = np.array([f"c{k}w{i}" for k in range(n_classes) for i in range(class_words)]
                     + [f"f{i}" for i in range(filler_words)])
    signal = truth[:, None] * class_words + rng.integers(0, class_words, size=(n, signal_words))
    filler = n_classes * class_words + rng.integers(0, filler_words, size=(n, length - signal_words))
    words = np.concatenate([signal, filler], axis=1)
    words = np.take_along_axis(words, rng.random(words.shape).argsort(axis=1), axis=1)
    texts = [" ".join(row) for row in vocab[words].tolist()]
    return texts, truth


def flip_uniform(truth: np.ndarray, rate: float, n_classes: int, *, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noisy = truth.copy()
    flip = rng.random(len(truth)) < rate
    noisy[flip] = (truth[flip] + rng.integers(1, n_classes, size=flip.sum())) % n_classes
    return noisy


def flip_systematic(truth: np.ndarray, flips: dict[tuple[int, int], float], *, seed: int = 1) -> np.ndarray:
    """flips[(true, given)] = share of class `true` relabelled as `given`."""
    rng = np.random.default_rng(seed)
    noisy = truth.copy()
    for (true, given), share in flips.items():
        candidates = np.flatnonzero((truth == true) & (noisy == truth))
        chosen = rng.choice(candidates, size=int(round(share * (truth == true).sum())), replace=False)
        noisy[chosen] = given
    return noisy


def flip_following(texts, truth: np.ndarray, word: str, target: int, rate: float, *, seed: int = 1) -> np.ndarray:
    """Text-following noise: round(rate * n) random rows that contain `word` and are of another class become
    `target` (errors a model learns from the word)."""
    rng = np.random.default_rng(seed)
    noisy = truth.copy()
    rows = np.array([i for i, t in enumerate(texts) if truth[i] != target and word in t.split()])
    noisy[rng.choice(rows, size=int(round(rate * len(truth))), replace=False)] = target
    return noisy


def label_table(texts, given: np.ndarray, labels: list[str], *, truth=None, audit_share: float = 0.0,
                seed: int = 2) -> pd.DataFrame:
    """A label table in the data contract, optionally with gold_label on an audit subset."""
    rng = np.random.default_rng(seed)
    names = np.asarray(labels, dtype=object)
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(len(texts))], "text": texts, "llm_label": names[given]})
    if truth is not None and audit_share > 0:
        audited = rng.random(len(texts)) < audit_share
        frame["gold_label"] = np.where(audited, names[truth], None)
    return frame


def confident_table(n: int, labels, *, noisy: bool, seed: int, audit_share: float) -> pd.DataFrame:
    """A label table whose LLM is confident (0.9 on its label): the clean set, or one where half of class 1 and
    half of class 2 follow a systematic flip (1 -> 0, 2 -> 1)."""
    labels = list(labels)
    texts, truth = make_texts(n, len(labels), seed=seed)
    given = flip_systematic(truth, {(1, 0): 0.5, (2, 1): 0.5}) if noisy else truth
    frame = label_table(texts, given, labels, truth=truth, audit_share=audit_share)
    probs = np.full((len(frame), len(labels)), 0.05)
    probs[np.arange(len(frame)), given] = 0.9
    for k, label in enumerate(labels):
        frame[f"llm_prob_{label}"] = probs[:, k]
    return frame
