"""Expected accuracy loss: how many points of test accuracy training on these LLM labels costs, instead of their gold
labels, for the model the pipeline trains; with an interval. The figure the gate decides on (harm.py).

Why not the error rate alone: the *kind* of error decides the harm (Lu & Smith 2025). A model averages out wrong
labels that look random and learns wrong labels that follow the text or pile up on one confusion. So the estimate
measures, on this label set, how many of the LLM's errors a model trained on these labels *reproduces* and how
concentrated the audited errors are, and reads the three figures in fine-tuned accuracy points through a
calibration fitted on data where rate and harm disagree (bench/calibration):

    expected_accuracy_loss = rate_scale * r / (K - 1) + concentration_scale * c + learned_scale * (r * x) ** power

(loss_terms computes the three terms, for the signal and for the fit).

* `label_error_rate` (r): the audit-first estimate with its interval (estimation.py, the label_error signal's figure,
  shared through label_error.shared_estimate: strata, audit weights, the risk model, unmeasured strata). Its term,
  divided by K - 1, is what wrong labels cost when a model neither learns nor concentrates them (noisier gradients,
  fewer clean rows): a wrong label moves a row towards one of the K - 1 other classes, so with more classes the same
  share pushes each class boundary less (the per-wrong-label cost on the 3-class tweets is 3-4 times the 8-class
  fortunes').
* `error_concentration` (c): over the audited rows, per gold class g, the share w_g of its rows that carry its most
  common wrong label, squared and averaged with the class's share: sum_g p_g * w_g ** 2 (audit weights applied).
  Wrong labels that pile up on one confusion (class-conditional errors, an LLM's habit) move that boundary
  consistently, and a class whose rows carry one wrong label nearly as often as the right one is lost outright;
  squared, because the loss grows faster than the share (fine-tuned, fortunes, 8 classes: 15% class-conditional
  errors cost 3.7 points, 30% cost 14, while 30% uniform errors cost 2.5). The same errors spread over many classes
  give a small c. Bounds: the percentile bootstrap of the audited rows (BOOTSTRAP_DRAWS resamples, fixed seed).
* `learned_excess` (x): of the audited wrong labels, the share that a text model trained on the LLM labels reproduces
  on rows it never saw, beyond chance. The model is the out-of-fold text model cleanlab already fitted
  (ScoringContext.pred_probs: every row's prediction comes from a model trained on the other folds' LLM labels), so
  this costs no model fit. A wrong label is *reproduced* when that model predicts the LLM's (wrong) label for the
  row; by chance it would do so at its own error rate on correctly labelled rows of the same gold class, spread over
  the other classes (`errors_learned_chance`); the excess is (reproduced - chance) / (1 - chance), in [0, 1]. Random
  flips give ~0, errors that follow a word ~1, an LLM's own errors in between.
* `r * x`, the *learned error rate*: the share of rows whose wrong label a model learns; a learned error is a test
  row the model gets wrong whatever the number of classes, so this term is not divided by K - 1. With `power` 2 its
  cost grows with its square: the fine-tuned model learns a rule only when enough consistent examples carry it (one
  epoch, most layers frozen), so a few learnable errors cost little and many cost a lot.
* The scales are fitted by non-negative least squares on fine-tuned runs of `labelgate train` (seed-paired against
  the gold labels) by bench/calibration/derive_loss_calibration.py, which also picks `learned_power` (1, 2 or 3) by
  leave-one-set-out error. The forms tried and dropped (the learned term over K - 1, the errors' spread over classes,
  forward correction, ...): bench/calibration/loss_forms.md. Measured on three corpora, leaving one label set out:
  RMSE 1.26 points against 1.62 for the two-term form without the concentration.

Interval: the statistical bounds come from the bounds of the three factors (the error rate's interval, Wilson's
interval of the reproduced share at the Kish size of the audited errors carried through the chance correction, the
concentration's bootstrap interval); the calibration's spread is added in quadrature at the same confidence level.
That spread grows with the loss: sd = hypot(loss_calibration_sd, loss_calibration_sd_slope * estimate), both fitted
by maximum likelihood on the leave-one-set-out residuals (the seed-to-seed spread of a fine-tuned loss and the
calibration's relative error both grow with it). With no audited error the learned share is unknown (bounds [0, 1])
and the concentration is at most the error rate's upper bound, so the upper bound assumes the worst.
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
CONCENTRATION = "error_concentration"
LEARNED_ERROR = "accuracy_loss_learned_error"  # per row: an audited wrong label the out-of-fold model reproduces
METRICS = (LOSS, f"{LOSS}_lower", f"{LOSS}_upper", LEARNED, "errors_learned_excess", CONCENTRATION)
TOP_WORDS = 8
BOOTSTRAP_DRAWS = 200  # resamples of the audited rows for the concentration's interval (seeded: same rows, same bounds)


@dataclass(frozen=True)
class AccuracyLossParams(SignalParams):
    """Calibration of the expected accuracy loss (params.yaml `score:` keys), fitted on fine-tuned runs by
    bench/calibration/derive_loss_calibration.py (see the module docstring)."""

    loss_rate_scale: float = 0.35  # accuracy lost per wrong label the model does not learn (x 1/(K-1))
    loss_concentration_scale: float = 0.698  # accuracy lost per unit of error_concentration
    loss_learned_scale: float = 1.129  # accuracy lost per unit of (learned error rate) ** power
    loss_learned_power: float = 2.0  # the power of the learned error rate (label_error_rate x learned excess)
    loss_calibration_sd: float = 0.0033  # spread of the fine-tuned loss around the calibration at a zero estimate
    loss_calibration_sd_slope: float = 0.596  # the spread's growth per unit of estimated loss (added in quadrature)

    def __post_init__(self):
        check_range("loss_rate_scale", self.loss_rate_scale, 0.0, 50.0)
        check_range("loss_concentration_scale", self.loss_concentration_scale, 0.0, 50.0)
        check_range("loss_learned_scale", self.loss_learned_scale, 0.0, 50.0)
        check_range("loss_learned_power", self.loss_learned_power, 1.0, 4.0)
        check_range("loss_calibration_sd", self.loss_calibration_sd, 0.0, 0.5)
        check_range("loss_calibration_sd_slope", self.loss_calibration_sd_slope, 0.0, 5.0)

    def spread(self, estimate: float) -> float:
        """The calibration's sd at an estimated loss (module docstring)."""
        return math.hypot(self.loss_calibration_sd, self.loss_calibration_sd_slope * max(0.0, estimate))

    @classmethod
    def from_calibration(cls, calibration: dict[str, Any]) -> AccuracyLossParams:
        """The params back from the `calibration` block a summary reports (label_risk.json), e.g. for a subset."""
        return cls(loss_rate_scale=calibration["rate_scale"], loss_learned_scale=calibration["learned_scale"],
                   loss_concentration_scale=calibration.get("concentration_scale", 0.0),
                   loss_learned_power=calibration.get("learned_power", 1.0),
                   loss_calibration_sd=calibration["calibration_sd"],
                   loss_calibration_sd_slope=calibration.get("calibration_sd_slope", 0.0))


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
        audited = gold >= 0
        learned.update(concentration(gold[audited], given[audited], weights[audited],
                                     confidence=context.audit_confidence))
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


def _concentration(gold: np.ndarray, given: np.ndarray, weights: np.ndarray, k: int) -> float:
    """sum over gold classes g of p_g * w_g ** 2 (module docstring): p_g the class's weighted share of the rows, w_g
    the weighted share of its rows that carry its most common wrong label. gold, given: class codes < k."""
    table = np.bincount(gold * k + given, weights=weights, minlength=k * k).reshape(k, k)
    per_class = table.sum(axis=1)
    np.fill_diagonal(table, 0.0)
    share = np.divide(table.max(axis=1), per_class, out=np.zeros(k), where=per_class > 0)
    return float(np.sum(per_class * share ** 2) / per_class.sum())


def concentration(gold: np.ndarray, given: np.ndarray, weights: np.ndarray, *, confidence: float,
                  draws: int = BOOTSTRAP_DRAWS) -> dict[str, Any]:
    """error_concentration of the audited rows (gold, given: their class codes or labels, weights: audit weights)
    with percentile-bootstrap bounds (resampled rows, their weights kept, seed 0). Without an audited error: 0.0
    with the upper bound left open (None: combine takes the error rate's upper bound, the most the errors could
    concentrate)."""
    gold, given, weights = np.asarray(gold), np.asarray(given), np.asarray(weights, float)
    if not np.any(gold != given):
        return {CONCENTRATION: 0.0, f"{CONCENTRATION}_lower": 0.0, f"{CONCENTRATION}_upper": None}
    _, codes = np.unique(np.concatenate([gold, given]), return_inverse=True)
    k = int(codes.max()) + 1
    g, j = codes[:len(gold)], codes[len(gold):]
    rng = np.random.default_rng(0)
    boots = [_concentration(g[rows], j[rows], weights[rows], k)
             for rows in (rng.integers(0, len(g), len(g)) for _ in range(draws))]
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(boots, [tail, 100 - tail])
    return {CONCENTRATION: _concentration(g, j, weights, k), f"{CONCENTRATION}_lower": float(low),
            f"{CONCENTRATION}_upper": float(high)}


def loss_terms(rate: float, excess: float, concentrated: float, *, n_classes: int,
               power: float) -> tuple[float, float, float]:
    """The three terms the calibration scales (module docstring): rate / (K - 1), the error concentration, and
    (rate * excess) ** power. The signal's estimate is their sum weighted by the scales;
    derive_loss_calibration.py fits the scales on the same terms."""
    spread = max(1, n_classes - 1)  # the wrong labels spread over the other classes
    return rate / spread, concentrated, max(0.0, rate * excess) ** power


def loss_value(params: AccuracyLossParams, rate: float, excess: float, concentrated: float, *,
               n_classes: int) -> float:
    """The calibrated loss at an error rate, a learned excess and an error concentration (module docstring)."""
    unlearned, piled, learnt = loss_terms(rate, excess, concentrated, n_classes=n_classes,
                                          power=params.loss_learned_power)
    return (params.loss_rate_scale * unlearned + params.loss_concentration_scale * piled
            + params.loss_learned_scale * learnt)


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
    piled = summary.get(CONCENTRATION) or 0.0
    piled_upper = _concentration_upper(summary.get(f"{CONCENTRATION}_upper"), summary["label_error_rate_upper"])
    high = loss_value(params, rate + max(0.0, measured_upper - rate) * shrink,
                      excess + max(0.0, summary.get("excess_upper", 1.0) - excess) * shrink,
                      piled + max(0.0, piled_upper - piled) * shrink, n_classes=summary["n_classes"])
    return upper_bound(value, high, z_value(summary["confidence_level"]) * params.spread(value))


def _concentration_upper(upper: float | None, rate_upper: float) -> float:
    """The concentration's upper bound; with no audited error, the error rate's upper bound (every wrong label of a
    class on one confusion: w_g <= 1, so sum p_g w_g ** 2 <= sum p_g w_g = the error rate)."""
    return rate_upper if upper is None else upper


def combine(error: dict[str, Any], learned: dict[str, Any], params: AccuracyLossParams, *,
            confidence: float, n_classes: int) -> dict[str, Any]:
    """The calibrated expected loss with its interval (module docstring)."""
    rate, low, high = (error.get(k) for k in ("label_error_rate", "label_error_rate_lower", "label_error_rate_upper"))
    base = {**learned, "label_error_rate": rate, "label_error_rate_lower": low, "label_error_rate_upper": high,
            "unmeasured_share": error.get("unmeasured_share"), "confidence_level": confidence,
            "n_audited": error.get("n_audited"), "n_rows": error.get("n_rows"), "n_classes": n_classes,
            "calibration": {"rate_scale": params.loss_rate_scale, "learned_scale": params.loss_learned_scale,
                            "concentration_scale": params.loss_concentration_scale,
                            "learned_power": params.loss_learned_power,
                            "calibration_sd": params.loss_calibration_sd,
                            "calibration_sd_slope": params.loss_calibration_sd_slope}}
    if rate is None or low is None or high is None:
        return {**base, LOSS: None, f"{LOSS}_lower": None, f"{LOSS}_upper": None,
                "reason": error.get("reason") or "no audited rows"}

    def loss(r: float, x: float, c: float) -> float:
        return loss_value(params, r, x, c, n_classes=n_classes)

    piled = learned.get(CONCENTRATION) or 0.0
    value = loss(rate, point_excess(learned["errors_learned_excess"]), piled)
    # every term grows with the rate, the excess and the concentration
    stat_low = loss(low, learned["excess_lower"], learned.get(f"{CONCENTRATION}_lower") or 0.0)
    stat_high = loss(high, learned["excess_upper"], _concentration_upper(learned.get(f"{CONCENTRATION}_upper"), high))
    calibration = z_value(confidence) * params.spread(value)
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
