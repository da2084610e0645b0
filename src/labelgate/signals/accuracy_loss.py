"""Expected accuracy loss: how many points of test accuracy training on these LLM labels costs, instead of their gold
labels, for the model the pipeline trains; with an interval. The gate's primary blocking figure.

Why not the error rate: the *kind* of error decides the harm (Lu & Smith 2025). A fine-tuned encoder averages out
wrong labels that look random (the same 10% of wrong labels costs it ~0.3 points) and learns wrong labels that follow
the text (~4 points). So the estimate measures, on this label set, how much of the LLM's error a model trained on
these labels actually *learns*, and reads that in fine-tuned accuracy points through a calibration fitted on data where
rate and harm disagree (bench/calibration).

Measurement (no fine-tuning; seconds on 10k rows):

1. Two cheap text models (the score stage's TF-IDF + logistic regression, the same settings as cleanlab's out-of-fold
   model) are cross-fitted over the audited rows: for each fold of the audit, both train on every other row and
   predict the fold's audited rows, which they never saw.
   * the **LLM model** trains on the LLM labels as they are: what the pipeline would train;
   * the **denoised model** trains on the same rows with the audit's gold labels where known and every other row
     weighted by the probability that its LLM label is right, 1 - `label_error_risk` (label_error's cross-fitted
     risk model, which learns from the audit which rows the LLM gets wrong: their words, cleanlab's flags, the LLM's
     own confidence). Importance reweighting by the probability that a noisy label is clean is the standard correction
     for instance-dependent label noise (Liu & Tao 2016, "Classification with noisy labels by importance
     reweighting"); it is the cheap stand-in for "trained on gold labels".
2. Per audited row, the paired difference d = [denoised model right] - [LLM model right] against the gold label.
   Its stratified mean (strata: LLM label, shares of all rows, audit weights, finite-population corrected; the same
   design as estimation.py) is the **cheap accuracy loss**: errors the LLM model learns and the denoised one does not
   show up as d = 1 on the rows they touch, including correctly labelled rows that the learned error spills onto;
   errors a model cannot learn (random flips) leave both models alike, d ~ 0.
3. The **calibration** maps the cheap loss to the loss of the fine-tuned model:
       expected_accuracy_loss = learned_scale * cheap_loss + rate_scale * label_error_rate
   The second term is the generic cost of wrong labels a model does not learn (noisier gradients, fewer clean rows);
   both constants are fitted by bench/calibration/derive_defaults.py on fine-tuned runs, never set by hand.
   Interval: the cheap loss's and the error rate's design-based variances plus the calibration's residual variance
   (`loss_calibration_sd`, the spread of the fine-tuned truth around the fit), normal at the audit's confidence level.
   Strata with fewer than two audited rows are unmeasured: their share of the rows is added to the upper bound.

The pipeline later measures the same figure with its own fine-tuned models (audit_reference, the gold reference);
the gate reports both and the measured one decides there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from labelgate.config import check_range
from labelgate.contract import GOLD
from labelgate.estimation import z_value
from labelgate.harm import LOSS
from labelgate.signals.base import RiskSignal, SignalParams, SignalResult, register
from labelgate.signals.context import ScoringContext

METRICS = (LOSS, f"{LOSS}_lower", f"{LOSS}_upper", "cheap_accuracy_loss", "errors_learned_share")
FOLDS = 5
MIN_STRATUM = 2  # audited rows a stratum needs for a variance; fewer: unmeasured, its share goes to the upper bound
TOP_WORDS = 8


@dataclass(frozen=True)
class AccuracyLossParams(SignalParams):
    """Calibration of the expected accuracy loss (params.yaml `score:` keys), derived by
    bench/calibration/derive_defaults.py from fine-tuned runs of `labelgate train` (see the module docstring)."""

    loss_learned_scale: float = 1.0  # fine-tuned accuracy lost per unit of cheap-model loss
    loss_rate_scale: float = 0.05  # fine-tuned accuracy lost per wrong label that the cheap model does not learn
    loss_calibration_sd: float = 0.01  # residual sd of the fine-tuned loss around the calibration (accuracy units)

    def __post_init__(self):
        check_range("loss_learned_scale", self.loss_learned_scale, 0.0, 10.0)
        check_range("loss_rate_scale", self.loss_rate_scale, 0.0, 1.0)
        check_range("loss_calibration_sd", self.loss_calibration_sd, 0.0, 0.5)


@register
class AccuracyLossSignal(RiskSignal):
    name = "accuracy_loss"
    description = "Expected test-accuracy loss of the trained model from these labels (vs gold), with interval"
    Params = AccuracyLossParams
    params: AccuracyLossParams
    columns = ("accuracy_loss_paired",)
    metrics = METRICS

    def score(self, context: ScoringContext) -> SignalResult:
        table = context.table
        if not table.has_gold:
            return self.unavailable("no gold_label values: audit rows with `labelgate audit sample` / `merge`")
        given = context.given_labels
        if len(np.unique(given)) < 2:
            return self.unavailable("one LLM label throughout: no text model can be trained on these labels")
        gold = table.label_codes(GOLD)
        weights = table.audit_weights()
        weights = np.where(gold >= 0, weights, 1.0) if weights is not None else np.ones(len(given))
        risk, _ = context.audit_risk
        rows = training_rows(gold, max_rows=context.text.max_train_rows, seed=context.seed)
        words = word_features(table.frame["text"], rows, max_features=context.text.max_features)
        if words is None:
            return self.unavailable("no word occurs in two texts: no text model can be trained")
        sub = paired_differences(words, given[rows], gold[rows], None if risk is None else risk[rows],
                                 regularisation=context.text.text_model_c, seed=context.seed)
        paired = sub.expand(rows, len(given))
        cheap = stratified_mean(paired.difference, given, weights)
        summary = combine(cheap, context.error_estimate, self.params, confidence=context.audit_confidence)
        summary.update(explain(paired, gold, given, weights, table, list(table.labels)))
        summary["available"] = True
        summary["risk_model"] = "label_error_risk" if risk is not None else "none (audit too small): gold rows only"
        metrics = {name: summary.get(name) for name in METRICS}
        rows = pd.DataFrame({"accuracy_loss_paired": paired.difference})
        return SignalResult(self.name, rows, summary, metrics)


@dataclass
class Paired:
    """Per row: the cross-fitted predictions of the LLM and the denoised model (-1 off the audit) and their paired
    difference against the gold label (NaN off the audit)."""

    llm_pred: np.ndarray
    denoised_pred: np.ndarray
    difference: np.ndarray

    def expand(self, rows: np.ndarray, n: int) -> Paired:
        """The same figures placed at `rows` of an n-row table (-1 / NaN elsewhere)."""
        full = Paired(np.full(n, -1), np.full(n, -1), np.full(n, np.nan))
        full.llm_pred[rows], full.denoised_pred[rows], full.difference[rows] = (
            self.llm_pred, self.denoised_pred, self.difference)
        return full


def training_rows(gold: np.ndarray, *, max_rows: int, seed: int) -> np.ndarray:
    """Every audited row plus at most `max_rows` other rows drawn at random (sorted): the rows the two text models
    see. A linear bag-of-words model stops improving long before a million rows, and the cap bounds time and
    memory on large tables."""
    audited = np.flatnonzero(gold >= 0)
    others = np.flatnonzero(gold < 0)
    if len(others) > max_rows:
        others = np.random.default_rng(seed).choice(others, size=max_rows, replace=False)
    return np.sort(np.concatenate([audited, others]))


def word_features(texts: pd.Series, rows: np.ndarray, *, max_features: int):
    """TF-IDF words and bigrams (the text model's settings) of the given rows; None when no word occurs twice."""
    from labelgate.signals.text_model import word_vectoriser

    try:
        return word_vectoriser(max_features).fit_transform(texts.iloc[rows].astype(str).tolist())
    except ValueError:
        return None


def paired_differences(words, given: np.ndarray, gold: np.ndarray, risk: np.ndarray | None, *,
                       regularisation: float, seed: int, folds: int = FOLDS) -> Paired:
    """Cross-fit the LLM model and the denoised model over folds of the audited rows (module docstring, step 1-2).

    words: the rows' features (sparse or dense, row-indexable); given / gold: label codes (gold -1 off the audit);
    risk: P(LLM label wrong) per row, or None (then only the gold rows are corrected).
    """
    from sklearn.model_selection import KFold

    n = len(given)
    audited = np.flatnonzero(gold >= 0)
    llm_pred = np.full(n, -1)
    den_pred = np.full(n, -1)
    difference = np.full(n, np.nan)
    if len(audited) < 2:
        return Paired(llm_pred, den_pred, difference)
    clean = np.ones(n) if risk is None else 1.0 - np.clip(np.nan_to_num(risk, nan=0.0), 0.0, 1.0)
    corrected = np.where(gold >= 0, gold, given)
    clean = np.where(gold >= 0, 1.0, clean)
    splitter = KFold(n_splits=min(folds, len(audited)), shuffle=True, random_state=seed)
    in_fold = np.zeros(n, bool)
    for _, held in splitter.split(audited):
        rows = audited[held]
        in_fold[:] = False
        in_fold[rows] = True
        train = np.flatnonzero(~in_fold)
        for labels, weight, out in ((given, None, llm_pred), (corrected, clean, den_pred)):
            out[rows] = _fit_predict(words, labels, None if weight is None else weight[train], train, rows,
                                     regularisation)
    on = audited
    difference[on] = (den_pred[on] == gold[on]).astype(float) - (llm_pred[on] == gold[on]).astype(float)
    return Paired(llm_pred, den_pred, difference)


def _fit_predict(words, labels: np.ndarray, weight: np.ndarray | None, train: np.ndarray, rows: np.ndarray,
                 regularisation: float) -> np.ndarray:
    """Fit the text model on `train` rows and predict `rows`; a single training class predicts itself."""
    from sklearn.linear_model import LogisticRegression

    classes = np.unique(labels[train] if weight is None else labels[train][weight > 0])
    if len(classes) < 2:
        return np.full(len(rows), classes[0] if len(classes) else -1)
    model = LogisticRegression(C=regularisation, max_iter=300, tol=1e-3)
    model.fit(words[train], labels[train], sample_weight=weight)
    return model.predict(words[rows])


def stratified_mean(values: np.ndarray, strata: np.ndarray, weights: np.ndarray) -> dict[str, Any]:
    """Population mean of a per-row value known on audited rows (NaN elsewhere): strata are weighted by their share
    of all rows, rows inside a stratum by their audit weight (Hajek), variance design-based with the finite-population
    correction. Strata with fewer than MIN_STRATUM audited rows are unmeasured (their row share is returned)."""
    values = np.asarray(values, float)
    audited = ~np.isnan(values)
    n_rows = len(values)
    mean = variance = unmeasured = 0.0
    for stratum in np.unique(strata):
        rows = strata == stratum
        sample = rows & audited
        share = rows.sum() / n_rows
        n_h = int(sample.sum())
        if n_h < MIN_STRATUM:
            unmeasured += share
            continue
        w = weights[sample] / weights[sample].sum()
        value = float(np.sum(w * values[sample]))
        spread = float(np.sum(w * w * (values[sample] - value) ** 2)) * n_h / (n_h - 1)
        mean += share * value
        variance += share * share * spread * max(0.0, 1.0 - n_h / rows.sum())
    measured = 1.0 - unmeasured
    return {"value": mean / measured if measured > 0 else None, "variance": variance / max(measured, 1e-12) ** 2,
            "unmeasured_share": unmeasured, "n_audited": int(audited.sum())}


def combine(cheap: dict[str, Any], error: dict[str, Any], params: AccuracyLossParams, *,
            confidence: float) -> dict[str, Any]:
    """The calibrated expected loss with its interval (module docstring, step 3)."""
    rate, rate_se = error.get("label_error_rate"), error.get("standard_error")
    base = {"cheap_accuracy_loss": cheap["value"], "unmeasured_share": cheap["unmeasured_share"],
            "confidence_level": confidence, "n_audited": cheap["n_audited"], "n_rows": error.get("n_rows"),
            "calibration": {"learned_scale": params.loss_learned_scale, "rate_scale": params.loss_rate_scale,
                            "calibration_sd": params.loss_calibration_sd}}
    if cheap["value"] is None or rate is None or rate_se is None:
        return {**base, LOSS: None, f"{LOSS}_lower": None, f"{LOSS}_upper": None,
                "reason": "too few audited rows in every LLM-label stratum"}
    a, b = params.loss_learned_scale, params.loss_rate_scale
    value = a * cheap["value"] + b * rate
    variance = a * a * cheap["variance"] + b * b * rate_se ** 2 + params.loss_calibration_sd ** 2
    half = z_value(confidence) * math.sqrt(variance)
    upper = min(1.0, value + half + cheap["unmeasured_share"])
    return {**base, LOSS: float(value), f"{LOSS}_lower": float(max(-1.0, value - half)),
            f"{LOSS}_upper": float(upper), "cheap_accuracy_loss_se": math.sqrt(cheap["variance"])}


def explain(paired: Paired, gold: np.ndarray, given: np.ndarray, weights: np.ndarray, table,
            labels: list[str]) -> dict[str, Any]:
    """What the LLM model learnt: the share of audited wrong labels it reproduces, the LLM labels whose rows carry
    the loss, and the words most over-represented among the audited rows the loss falls on (what to fix)."""
    audited = gold >= 0
    wrong = audited & (gold != given)
    learned = wrong & (paired.llm_pred == given)
    share = float(np.sum(weights[learned]) / np.sum(weights[wrong])) if wrong.any() else None
    hurt = audited & (paired.difference > 0)
    per_class = {}
    for k, label in enumerate(labels):
        rows = audited & (given == k)
        if rows.any():
            per_class[label] = {"audited": int(rows.sum()), "learned_errors": int((learned & (given == k)).sum()),
                                "loss_rows": int((hurt & (given == k)).sum())}
    return {"errors_learned_share": share, "audited_errors": int(wrong.sum()), "loss_by_llm_label": per_class,
            "loss_words": loss_words(table.frame["text"], hurt, audited)}


def loss_words(texts: pd.Series, hurt: np.ndarray, audited: np.ndarray, top: int = TOP_WORDS) -> list[str]:
    """Words (in at least two loss rows) whose share among the audited rows the loss falls on most exceeds their share
    among the other audited rows (add-one smoothed log ratio)."""
    from sklearn.feature_extraction.text import CountVectorizer

    if hurt.sum() < 2:
        return []
    rows = np.flatnonzero(audited)
    vectoriser = CountVectorizer(min_df=2, binary=True, strip_accents="unicode", token_pattern=r"(?u)\b\w\w+\b")
    try:
        counts = vectoriser.fit_transform(texts.iloc[rows].astype(str).tolist())
    except ValueError:
        return []
    in_loss = hurt[rows]
    a = np.asarray(counts[in_loss].sum(axis=0)).ravel()
    b = np.asarray(counts[~in_loss].sum(axis=0)).ravel()
    ratio = np.log((a + 1) / (in_loss.sum() + 2)) - np.log((b + 1) / ((~in_loss).sum() + 2))
    names = vectoriser.get_feature_names_out()
    order = [i for i in np.argsort(-ratio) if a[i] >= 2 and ratio[i] > 0]
    return [str(names[i]) for i in order[:top]]
