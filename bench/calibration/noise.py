"""Label-noise generators and the audit sample of the calibration benchmark: pure, seeded functions.

Labels are integer class codes (numpy arrays). Every generator returns a copy of `truth` in which exactly
round(rate * n) labels are wrong (a ValueError says why when the kind cannot reach the rate), and the same seed
always gives the same labels.

Kinds (the four the calibration benchmark draws):
- uniform            rows drawn at random, each relabelled as one of the other classes at random;
- class_conditional  rows drawn with a per-class weight (some classes are confused far more than others), each
                     relabelled as its class's confusable partner (a fixed confusion map);
- llm                rows drawn at random among those where a real LLM annotator is wrong, each given the LLM's
                     actual wrong label (so the errors keep the LLM's confusions and the texts it fails on);
- text_following     rows that contain a chosen word get one fixed wrong class: an error that follows the text,
                     which a text model learns and confident learning therefore does not see.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

KINDS = ("uniform", "class_conditional", "llm", "text_following")
_WORD = re.compile(r"[a-z][a-z']+")


def _count(rate: float, n: int) -> int:
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate={rate} must be in [0, 1]")
    return int(round(rate * n))


def uniform_noise(truth: np.ndarray, rate: float, n_classes: int, *, seed: int) -> np.ndarray:
    """Exactly round(rate * n) random rows, each relabelled uniformly as one of the other classes."""
    truth = np.asarray(truth)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(truth), size=_count(rate, len(truth)), replace=False)
    noisy = truth.copy()
    noisy[chosen] = (truth[chosen] + rng.integers(1, n_classes, size=len(chosen))) % n_classes
    return noisy


def class_conditional_noise(truth: np.ndarray, rate: float, confusion: Mapping[int, int],
                            weights: Mapping[int, float], *, seed: int) -> np.ndarray:
    """Exactly round(rate * n) rows, drawn with probability proportional to weights[class], each relabelled as
    confusion[class]. Classes missing from `confusion` or with weight 0 are never flipped."""
    truth = np.asarray(truth)
    if any(confusion[c] == c for c in confusion):
        raise ValueError("the confusion map must send each class to another class")
    w = np.array([weights.get(int(c), 0.0) if int(c) in confusion else 0.0 for c in truth], dtype=float)
    m = _count(rate, len(truth))
    if np.count_nonzero(w) < m:
        raise ValueError(f"class_conditional: only {np.count_nonzero(w)} flippable rows for {m} errors")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(truth), size=m, replace=False, p=w / w.sum()) if m else np.array([], dtype=int)
    noisy = truth.copy()
    noisy[chosen] = [confusion[int(c)] for c in truth[chosen]]
    return noisy


def llm_noise(truth: np.ndarray, llm: np.ndarray, rate: float, *, seed: int) -> np.ndarray:
    """Exactly round(rate * n) rows drawn among those where the LLM is wrong, each given the LLM's label."""
    truth, llm = np.asarray(truth), np.asarray(llm)
    if truth.shape != llm.shape:
        raise ValueError("truth and llm labels differ in length")
    wrong = np.flatnonzero(llm != truth)
    m = _count(rate, len(truth))
    if len(wrong) < m:
        raise ValueError(f"llm: the LLM is wrong on {len(wrong)} rows, fewer than the {m} errors asked for")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(wrong, size=m, replace=False)
    noisy = truth.copy()
    noisy[chosen] = llm[chosen]
    return noisy


def words_of(text: str) -> set[str]:
    """The lower-case words (2+ letters) of a text."""
    return set(_WORD.findall(text.lower()))


def pick_trigger_word(texts: Sequence[str], truth: np.ndarray, target: int, needed: int, *,
                      min_length: int = 3, rank: int = 0) -> str:
    """The word (min_length+ letters) whose rows outside class `target` number at least `needed` and fewest among
    such words (ties: alphabetical), so that nearly every row containing it must be flipped: deterministic.
    rank k > 0 takes the k-th next such word instead (independent draws of the same rate get different words);
    when fewer than k + 1 words qualify, the ranks wrap around."""
    truth = np.asarray(truth)
    counts: dict[str, int] = {}
    for text, label in zip(texts, truth):
        if label == target:
            continue
        for w in words_of(text):
            if len(w) >= min_length:
                counts[w] = counts.get(w, 0) + 1
    eligible = [(c, w) for w, c in counts.items() if c >= needed]
    if not eligible:
        raise ValueError(f"text_following: no word occurs in {needed} rows outside the target class")
    eligible.sort()
    return eligible[rank % len(eligible)][1]


def pick_trigger_words(texts: Sequence[str], truth: np.ndarray, target: int, needed: int, *,
                       min_length: int = 3, rank: int = 0) -> list[str]:
    """[pick_trigger_word(...)] when one word covers `needed` rows outside `target`; else (high rates on short
    texts) the fewest most frequent words (ties: alphabetical) whose rows together cover them, so the errors still
    follow a handful of words. rank k > 0 there leaves out the k most frequent words first (wrapping around when
    the rest cannot cover the rows)."""
    truth = np.asarray(truth)
    try:
        return [pick_trigger_word(texts, truth, target, needed, min_length=min_length, rank=rank)]
    except ValueError:
        pass
    rows: dict[str, set[int]] = {}
    for i, (text, label) in enumerate(zip(texts, truth)):
        if label == target:
            continue
        for w in words_of(text):
            if len(w) >= min_length:
                rows.setdefault(w, set()).add(i)
    ranked = sorted(rows, key=lambda w: (-len(rows[w]), w))
    for skip in (rank, 0):
        chosen, covered = [], set()
        for w in ranked[skip:]:
            chosen.append(w)
            covered |= rows[w]
            if len(covered) >= needed:
                return chosen
    raise ValueError(f"text_following: all words together occur in fewer than {needed} rows outside the target")


def text_following_noise(truth: np.ndarray, texts: Sequence[str], rate: float, target: int, *, seed: int,
                         word: str | None = None, rank: int = 0) -> tuple[np.ndarray, str]:
    """Exactly round(rate * n) rows that contain `word` (default: pick_trigger_words of that rank; several words
    are joined by '|' and a row needs any one of them) and are not of class `target`, drawn at random among those
    rows, relabelled as `target`. Returns (labels, word)."""
    truth = np.asarray(truth)
    if len(texts) != len(truth):
        raise ValueError("texts and labels differ in length")
    m = _count(rate, len(truth))
    word = word or "|".join(pick_trigger_words(texts, truth, target, m, rank=rank))
    words = set(word.split("|"))
    rows = np.array([i for i, t in enumerate(texts) if truth[i] != target and words & words_of(t)], dtype=int)
    if len(rows) < m:
        raise ValueError(f"text_following: '{word}' occurs in {len(rows)} rows outside the target, {m} needed")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(rows, size=m, replace=False)
    noisy = truth.copy()
    noisy[chosen] = target
    return noisy, word


def audit_sample(n: int, size: int, *, seed: int) -> np.ndarray:
    """A simple random audit: a boolean mask with exactly `size` of n rows set."""
    if not 0 <= size <= n:
        raise ValueError(f"audit size {size} must be in [0, {n}]")
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(seed).choice(n, size=size, replace=False)] = True
    return mask
