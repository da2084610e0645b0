"""Expected accuracy loss: how many points of test accuracy training on these LLM labels costs, instead of their gold
labels, for the model the pipeline trains; with an interval. The figure the gate decides on (harm.py).

Why not the error rate alone: the *kind* of error decides the harm (Lu & Smith 2025). A model averages out wrong
labels that look random and learns wrong labels that follow the text. So the estimate measures, on this label set,
how many of the LLM's errors a model trained on these labels *reproduces*, and reads the two figures in fine-tuned
accuracy points through a calibration fitted on data where rate and harm disagree (bench/calibration):

    expected_accuracy_loss = (rate_scale * r + learned_scale * (r * x) ** learned_power) / (K - 1)

with r = label_error_rate and x = learned_excess (loss_terms computes the two terms, for the signal and for the fit).

* `label_error_rate` (r): the audit-first estimate with its interval (estimation.py, the label_error signal's figure,
  shared through label_error.shared_estimate: strata, audit weights, the risk model, unmeasured strata).
* `learned_excess` (x): of the audited wrong labels, the share that a text model trained on the LLM labels reproduces
  on rows it never saw, beyond chance. The model is the out-of-fold text model cleanlab already fitted
  (ScoringContext.pred_probs: every row's prediction comes from a model trained on the other folds' LLM labels), so
  this costs no model fit. A wrong label is *reproduced* when that model predicts the LLM's (wrong) label for the
  row; by chance it would do so at its own error rate on correctly labelled rows of the same gold class, spread over
  the other classes (`errors_learned_chance`); the excess is (reproduced - chance) / (1 - chance), in [0, 1]. Random
  flips give ~0, errors that follow a word ~1, an LLM's own errors in between.
* `r * x`, the *learned error rate*: the share of rows whose wrong label a model learns. With `learned_power` 2 its
  cost grows with its square: the fine-tuned model learns a rule only when enough consistent examples carry it (one
  epoch, most layers frozen), so a few learnable errors cost little and many cost a lot, and errors a text model
  reproduces only half the time (an LLM's errors on ambiguous rows, which a gold-trained model gets wrong as well)
  cost little. Measured on the calibration's audits, leaving one label set out: error 1.50 points against 1.79 for
  the linear form (power 1), within 1.5 points on 75% of audits against 69% (bench/calibration/loss_calibration.md;
  the forms tried and dropped: bench/calibration/explore_loss_forms.py).
* `rate_scale`: what a wrong label costs the fine-tuned model when it is not learned (noisier gradients, fewer clean
  rows); `learned_scale`: the cost of the learned error rate. Both are fitted by least squares on fine-tuned runs of
  `labelgate train` (seed-paired against the gold labels) by bench/calibration/derive_loss_calibration.py, which
  also picks `learned_power` (1, 2 or 3) by leave-one-set-out error; `loss_calibration_sd` is that fit's
  leave-one-set-out error (the spread of a measured loss around the calibration on a set it has not seen).
* `K - 1`: a wrong label moves a row towards one of the K - 1 other classes, so with more classes the same share of
  wrong labels pushes each class boundary less. Measured: the per-wrong-label cost on the 3-class tweets is 3-4 times
  the 8-class fortunes', and dividing by K - 1 cut the joint fit's error from 2.0 to 1.5 points
  (bench/calibration/loss_calibration.md).

Interval: the statistical bounds come from the bounds of the two factors (the error rate's interval, and Wilson's
interval of the reproduced share at the Kish size of the audited errors, carried through the chance correction); the
calibration's sd is added in quadrature at the same confidence level. With no audited error the learned share
is unknown: its bounds are [0, 1], so the upper bound assumes every error is learned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from labelgate.config import check_range
from labelgate.estimation import kish_n, wilson, z_value
from labelgate.harm import LOSS
from labelgate.signals.base import RiskSignal, SignalParams, SignalResult, register
from labelgate.signals.context import ScoringContext
from labelgate.signals.label_error import shared_estimate

LEARNED = "errors_learned_share"
LEARNED_ERROR = "accuracy_loss_learned_error"  # per row: an audited wrong label the out-of-fold model reproduces
METRICS = (LOSS, f"{LOSS}_lower", f"{LOSS}_upper", LEARNED, "errors_learned_excess")
TOP_WORDS = 8


@dataclass(frozen=True)
class AccuracyLossParams(SignalParams):
    """Calibration of the expected accuracy loss (params.yaml `score:` keys), fitted on fine-tuned runs by
    bench/calibration/derive_loss_calibration.py (see the module docstring)."""

    loss_rate_scale: float = 0.543  # accuracy lost per wrong label the model does not learn (x 1/(K-1))
    loss_learned_scale: float = 5.466  # accuracy lost per unit of (learned error rate) ** power (x 1/(K-1))
    loss_learned_power: float = 2.0  # the power of the learned error rate (label_error_rate x learned excess)
    loss_calibration_sd: float = 0.0139  # residual sd of the fine-tuned loss around the calibration (accuracy units)

    def __post_init__(self):
        check_range("loss_rate_scale", self.loss_rate_scale, 0.0, 50.0)
        check_range("loss_learned_scale", self.loss_learned_scale, 0.0, 50.0)
        check_range("loss_learned_power", self.loss_learned_power, 1.0, 4.0)
        check_range("loss_calibration_sd", self.loss_calibration_sd, 0.0, 0.5)

    @classmethod
    def from_calibration(cls, calibration: dict[str, Any]) -> AccuracyLossParams:
        """The params back from the `calibration` block a summary reports (label_risk.json), e.g. for a subset."""
        return cls(loss_rate_scale=calibration["rate_scale"], loss_learned_scale=calibration["learned_scale"],
                   loss_learned_power=calibration.get("learned_power", 1.0),
                   loss_calibration_sd=calibration["calibration_sd"])


@register
class AccuracyLossSignal(RiskSignal):
    name = "accuracy_loss"
    description = "Expected test-accuracy loss of the trained model from these labels (vs gold), with interval"
    Params = AccuracyLossParams
    params: AccuracyLossParams
    columns = (LEARNED_ERROR,)
    metrics = METRICS

    def score(self, context: ScoringContext) -> SignalResult:
        table = context.table
        if not table.has_gold:
            return self.unavailable("no gold_label values: audit rows with `labelgate audit sample` / `merge`")
        given = context.given_labels
        if len(np.unique(given)) < 2:
            return self.unavailable("one LLM label throughout: no text model can be trained on these labels")
        gold = np.where(np.isnan(context.audit_wrong), -1, table.label_codes("gold_label"))
        predicted = context.pred_probs.argmax(axis=1)
        weights = context.audit_weights
        learned = learned_errors(predicted, gold, given, weights, n_classes=len(table.labels),
                                 confidence=context.audit_confidence)
        estimate = shared_estimate(context, confidence=context.audit_confidence,
                                   min_stratum=context.min_audited_per_stratum)
        summary = combine(estimate, learned, self.params, confidence=context.audit_confidence,
                          n_classes=len(table.labels))
        summary.update(explain(predicted, gold, given, table.frame["text"], list(table.labels)))
        summary["available"] = True
        metrics = {name: summary.get(name) for name in METRICS}
        reproduced = (gold >= 0) & (gold != given) & (predicted == given)
        rows = pd.DataFrame({LEARNED_ERROR: reproduced})
        return SignalResult(self.name, rows, summary, metrics)


def learned_errors(predicted: np.ndarray, gold: np.ndarray, given: np.ndarray, weights: np.ndarray, *,
                   n_classes: int, confidence: float) -> dict[str, Any]:
    """The share of audited wrong labels the out-of-fold model reproduces, its chance level and the excess over
    chance, each with bounds (module docstring). predicted: the model's class per row; gold: -1 off the audit."""
    audited = gold >= 0
    wrong = audited & (gold != given)
    chance = chance_of_reproducing(predicted, gold, given, weights, n_classes) if wrong.any() else None
    return learned_share((predicted == given)[wrong], weights[wrong], chance, confidence=confidence)


def learned_share(reproduced: np.ndarray, weights: np.ndarray, chance: float | None, *,
                  confidence: float) -> dict[str, Any]:
    """From the audited wrong rows (whether the model reproduces each, its weight) and the chance level: the
    reproduced share with Wilson bounds and the excess over chance with bounds. Also what `labelgate filter` uses
    for a subset's rows (their LEARNED_ERROR flags, the table's chance level)."""
    out: dict[str, Any] = {"audited_errors": int(len(reproduced))}
    if not len(reproduced) or chance is None:
        return {**out, LEARNED: None, "errors_learned_chance": chance, "errors_learned_excess": None,
                "excess_lower": 0.0, "excess_upper": 1.0}
    w = np.asarray(weights, float)
    share = float(np.sum(w * np.asarray(reproduced, bool)) / w.sum())
    low, high = wilson(share, kish_n(w), z_value(confidence))

    def excess(value: float) -> float:
        return float(np.clip((value - chance) / (1.0 - chance), 0.0, 1.0)) if chance < 1.0 else 0.0

    return {**out, LEARNED: share, f"{LEARNED}_lower": low, f"{LEARNED}_upper": high,
            "errors_learned_chance": chance, "errors_learned_excess": excess(share), "excess_lower": excess(low),
            "excess_upper": excess(high)}


def chance_of_reproducing(predicted: np.ndarray, gold: np.ndarray, given: np.ndarray, weights: np.ndarray,
                          n_classes: int) -> float:
    """How often the model would predict an audited wrong row's LLM label by chance: per gold class, the model's
    error rate on the correctly labelled audited rows of that class (all of them where a class has none), spread
    evenly over the other classes; averaged over the audited wrong rows (weighted)."""
    audited = gold >= 0
    right = audited & (gold == given)
    wrong = audited & (gold != given)
    overall = (float(np.sum(weights[right] * (predicted[right] != gold[right])) / np.sum(weights[right]))
               if right.any() else 1.0 - 1.0 / n_classes)
    miss = np.full(n_classes, overall)
    for g in range(n_classes):
        rows = right & (gold == g)
        if rows.any():
            miss[g] = float(np.sum(weights[rows] * (predicted[rows] != g)) / np.sum(weights[rows]))
    per_row = miss[gold[wrong]] / (n_classes - 1)
    return float(np.sum(weights[wrong] * per_row) / np.sum(weights[wrong]))


def loss_terms(rate: float, excess: float, *, n_classes: int, power: float) -> tuple[float, float]:
    """The two terms the calibration scales (module docstring): rate / (K - 1) and (rate * excess) ** power / (K - 1).
    The signal's estimate is rate_scale * first + learned_scale * second; derive_loss_calibration.py fits the two
    scales on the same terms."""
    spread = max(1, n_classes - 1)  # the wrong labels spread over the other classes
    return rate / spread, max(0.0, rate * excess) ** power / spread


def loss_value(params: AccuracyLossParams, rate: float, excess: float, *, n_classes: int) -> float:
    """The calibrated loss at an error rate and a learned excess (module docstring)."""
    unlearned, learnt = loss_terms(rate, excess, n_classes=n_classes, power=params.loss_learned_power)
    return params.loss_rate_scale * unlearned + params.loss_learned_scale * learnt


def point_excess(excess: float | None) -> float:
    """The learned excess the point estimate uses: with no audited error nothing says what is learned, so the
    midpoint of [0, 1]."""
    return 0.5 if excess is None else excess


def upper_bound(value: float, stat_high: float, calibration: float) -> float:
    """The loss's upper bound: the statistical distance above the point estimate and the calibration's spread (both
    at the same confidence level) added in quadrature, at most a loss of every test row."""
    return float(min(1.0, value + math.hypot(stat_high - value, calibration)))


def projected_upper(summary: dict[str, Any], extra_rows: int) -> float | None:
    """The loss's upper bound after `extra_rows` more audited rows, the point estimates unchanged: the statistical
    half-widths of the error rate (less its unmeasured part, which rows drawn over every stratum measure) and of the
    learned excess shrink as 1/sqrt(audited rows), the calibration's sd does not; the bound is then recomputed through
    the calibrated form itself, so a squared learned term shrinks faster than its half-width. None when the summary
    lacks a figure (nothing measured)."""
    keys = ("n_audited", LOSS, "label_error_rate", "label_error_rate_upper", "calibration", "confidence_level",
            "n_classes")
    if any(summary.get(k) is None for k in keys) or not summary["n_audited"]:
        return None
    params = AccuracyLossParams.from_calibration(summary["calibration"])
    shrink = math.sqrt(summary["n_audited"] / (summary["n_audited"] + max(0, extra_rows)))
    rate, value = summary["label_error_rate"], summary[LOSS]
    measured_upper = summary["label_error_rate_upper"] - (summary.get("unmeasured_share") or 0.0)
    excess = point_excess(summary.get("errors_learned_excess"))
    high = loss_value(params, rate + max(0.0, measured_upper - rate) * shrink,
                      excess + max(0.0, summary.get("excess_upper", 1.0) - excess) * shrink,
                      n_classes=summary["n_classes"])
    return upper_bound(value, high, z_value(summary["confidence_level"]) * params.loss_calibration_sd)


def combine(error: dict[str, Any], learned: dict[str, Any], params: AccuracyLossParams, *,
            confidence: float, n_classes: int) -> dict[str, Any]:
    """The calibrated expected loss with its interval (module docstring)."""
    rate, low, high = (error.get(k) for k in ("label_error_rate", "label_error_rate_lower", "label_error_rate_upper"))
    base = {**learned, "label_error_rate": rate, "label_error_rate_lower": low, "label_error_rate_upper": high,
            "unmeasured_share": error.get("unmeasured_share"), "confidence_level": confidence,
            "n_audited": error.get("n_audited"), "n_rows": error.get("n_rows"), "n_classes": n_classes,
            "calibration": {"rate_scale": params.loss_rate_scale, "learned_scale": params.loss_learned_scale,
                            "learned_power": params.loss_learned_power,
                            "calibration_sd": params.loss_calibration_sd}}
    if rate is None or low is None or high is None:
        return {**base, LOSS: None, f"{LOSS}_lower": None, f"{LOSS}_upper": None,
                "reason": error.get("reason") or "no audited rows"}

    def loss(r: float, x: float) -> float:
        return loss_value(params, r, x, n_classes=n_classes)

    value = loss(rate, point_excess(learned["errors_learned_excess"]))
    stat_low = loss(low, learned["excess_lower"])  # both terms grow with the rate and the excess
    stat_high = loss(high, learned["excess_upper"])
    calibration = z_value(confidence) * params.loss_calibration_sd
    return {**base, LOSS: float(value),
            f"{LOSS}_lower": float(value - math.hypot(value - stat_low, calibration)),
            f"{LOSS}_upper": upper_bound(value, stat_high, calibration)}


def explain(predicted: np.ndarray, gold: np.ndarray, given: np.ndarray, texts: pd.Series,
            labels: list[str]) -> dict[str, Any]:
    """What to fix: per LLM label, the audited errors the model reproduces; the words most over-represented among
    those rows against the other audited rows."""
    audited = gold >= 0
    reproduced = audited & (gold != given) & (predicted == given)
    per_class = {label: {"audited": int((audited & (given == k)).sum()),
                         "audited_errors": int((audited & (gold != given) & (given == k)).sum()),
                         "reproduced_errors": int((reproduced & (given == k)).sum())}
                 for k, label in enumerate(labels) if (audited & (given == k)).any()}
    return {"loss_by_llm_label": per_class, "loss_words": loss_words(texts, reproduced, audited)}


def loss_words(texts: pd.Series, hurt: np.ndarray, audited: np.ndarray, top: int = TOP_WORDS) -> list[str]:
    """Words (in at least two `hurt` rows) whose share among them most exceeds their share among the other audited
    rows (add-one smoothed log ratio)."""
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
