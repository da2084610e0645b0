"""Per-row label distributions that several signals read: votes of the annotations and their entropy."""

from __future__ import annotations

import numpy as np


def entropy(probabilities: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) per row; 0 log 0 counts as 0.

    Hand-written rather than `scipy.stats.entropy` (which rescales each row to sum to 1) or `scipy.special.entr`:
    both change the last bits of some of the demo's written entropies, and the written scores must stay identical."""
    p = np.clip(probabilities, 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    return terms.sum(axis=1)


def vote_counts(codes: np.ndarray, n_classes: int) -> np.ndarray:
    """Rows of label codes (annotators in columns, -1 missing) -> per-row number of votes per class."""
    counts = np.zeros((codes.shape[0], n_classes))
    for k in range(n_classes):
        counts[:, k] = (codes == k).sum(axis=1)
    return counts


def vote_distribution(codes: np.ndarray, n_classes: int) -> np.ndarray:
    """Rows of label codes (annotators in columns, -1 missing) -> per-row share of votes per class."""
    counts = vote_counts(codes, n_classes)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
