"""The gold audit's breakdowns that label_error reports next to its estimate: whether the audited errors follow the
text (`text_error_auc`: a cross-validated model of the audited wrong labels from the words and the LLM label) and
the error per LLM label with the confusion matrix reweighted to the whole set (`per_class`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from labelgate.estimation import DEFAULT_CONFIDENCE, auc_interval, weighted_share
from labelgate.signals.text_model import fitted_words, fold_splits

# Cross-fitting on the audit, shared with label_error's risk model:
FOLDS = 5
MIN_CLASS_ROWS = 5  # audited wrong and right rows each needed to fit the risk model or the text-error model
MAX_FIT_ROWS = 5_000  # audited rows each risk-model fold fits on, and rows the text-error AUC reads (random
# samples above it): the fits' cost would otherwise grow with the audit (a 5% audit of 1M rows is 50k rows), and
# every audited row still enters the estimate with its cross-fitted risk; audits below it are used whole


def text_error_auc(words, given: np.ndarray, wrong: np.ndarray, *, n_classes: int,
                   confidence: float = DEFAULT_CONFIDENCE, seed: int = 0,
                   groups: np.ndarray | None = None) -> dict[str, Any]:
    """Cross-validated ROC AUC of predicting the audited wrong labels from the text (the table's TF-IDF words and
    bigrams, `words`: one row per row of `wrong`, or None when no word occurs twice) and the LLM label, on at most
    MAX_FIT_ROWS audited rows. ~0.5: errors look random to a text model; well above: they follow the text. Copies
    of one text (`groups`, per row) are held out together. Each fold's model reads the words that at least two of
    its training rows contain (a word in one row only can only be memorised, not learned; and the cost follows the
    audit's vocabulary, not the table's)."""
    from scipy.sparse import csr_matrix, hstack
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    audited = np.flatnonzero(~np.isnan(wrong))
    if len(audited) > MAX_FIT_ROWS:  # a random sample of the audit: the interval below is the sample's
        audited = np.sort(np.random.default_rng(seed).choice(audited, size=MAX_FIT_ROWS, replace=False))
    y = wrong[audited].astype(int)
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    if min(n_pos, n_neg) < MIN_CLASS_ROWS:
        return {"text_error_auc": None, "text_error_auc_lower": None, "text_error_auc_upper": None,
                "text_error_auc_reason": f"needs at least {MIN_CLASS_ROWS} audited wrong and right labels"}
    words = csr_matrix((len(audited), 0)) if words is None else csr_matrix(words[audited])
    one_hot = csr_matrix(np.eye(n_classes)[given[audited]])
    scores = np.zeros(len(y))
    groups = None if groups is None else np.asarray(groups)[audited]
    for train, held_out in fold_splits(y, groups, FOLDS, seed):
        if len(np.unique(y[train])) < 2:
            return {"text_error_auc": None, "text_error_auc_lower": None, "text_error_auc_upper": None,
                    "text_error_auc_reason": "a cross-validation fold had only wrong or only right labels"}
        train_words = words[train]
        columns = fitted_words(train_words, min_rows=2)
        model = LogisticRegression(C=4.0, max_iter=1000, class_weight="balanced")
        model.fit(hstack([train_words[:, columns], one_hot[train]]).tocsr(), y[train])
        scores[held_out] = model.decision_function(hstack([words[held_out][:, columns], one_hot[held_out]]).tocsr())
    auc = float(roc_auc_score(y, scores))
    lower, upper = auc_interval(auc, n_pos, n_neg, confidence)
    return {"text_error_auc": auc, "text_error_auc_lower": lower, "text_error_auc_upper": upper}


def per_class(gold: np.ndarray, given: np.ndarray, weights: np.ndarray, labels: list[str],
              confidence: float) -> dict[str, Any]:
    """Per LLM label: audited error (share of its audited rows whose gold label differs) with a Wilson interval;
    the confusion matrix reweighted to the LLM label shares of the whole set (estimated share of all rows with
    gold label i and LLM label j); per gold class, the recall that matrix implies."""
    k = len(labels)
    audited = gold >= 0
    share = np.bincount(given, minlength=k) / len(given)
    matrix = np.zeros((k, k))
    error: dict[str, Any] = {}
    for j, label in enumerate(labels):
        rows = audited & (given == j)
        if not rows.any():
            error[label] = {"audited": 0, "error": None, "lower": None, "upper": None, "llm_share": float(share[j])}
            continue
        w = weights[rows]
        matrix[:, j] = share[j] * np.bincount(gold[rows], weights=w, minlength=k) / w.sum()
        result = weighted_share((gold[rows] != j).astype(float), w, confidence)
        error[label] = {"audited": int(rows.sum()), "error": result["value"], "lower": result["lower"],
                        "upper": result["upper"], "llm_share": float(share[j]),
                        "share_of_all_errors": None}
    total_error = sum(share[j] * e["error"] for j, e in enumerate(error.values()) if e["error"] is not None)
    for j, e in enumerate(error.values()):
        if e["error"] is not None:
            e["share_of_all_errors"] = float(share[j] * e["error"] / total_error) if total_error > 0 else 0.0
    gold_mass = matrix.sum(axis=1)
    recall = {label: (float(matrix[i, i] / gold_mass[i]) if gold_mass[i] > 0 else None)
              for i, label in enumerate(labels)}
    return {
        "per_class_error": error,
        "confusion_reweighted": matrix.round(6).tolist(),
        "confusion_reweighted_axes": "rows: gold label, columns: LLM label; cells: estimated share of all rows",
        "per_class_recall_reweighted": recall,
    }
