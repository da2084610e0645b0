"""Audit-first estimate of the LLM's label error rate, and detection of systematic (text-following) errors.

Estimate (`label_error_rate` with `_lower` / `_upper`): the gold-audited rows, stratified by LLM label and reweighted
to the label shares of the whole set, with the audit-free signals used only to cut variance, never to add bias:
a logistic model predicts "the LLM label is wrong" from audit-free features (cleanlab's given-label probability and
margin from the out-of-fold text model, its label-issue flag, the LLM's own probability and entropy, agreement of
the annotations, the LLM label) and the words of the text (so errors that follow a word are learnt, not missed),
cross-fitted on the audited rows, and `labelgate.estimation` combines it with the
audited residuals (prediction-powered difference estimator). See estimation.py for the statistics and assumptions:
the audit must be a random sample of the rows, stratified or over-sampled only with `audit_weight` recorded.

Systematic errors: of the audited wrong labels, the share cleanlab does not flag (`systematic_error_share`).
Confident learning sees an error only where the text model disagrees with the label; errors that follow the text
(a word, a topic) are learnt by the text model, so cleanlab's noise estimate misses them. A second, audit-light
check: whether the audited errors are predictable from the text (`text_error_auc`, cross-validated ROC AUC of a
TF-IDF model of the text and the LLM label, trained on the audited rows only); random noise gives ~0.5.

Audit integrity, before the estimate is believed:
- an LLM label with fewer than score.min_audited_per_stratum audited rows is unmeasured: its share of the rows is
  bounded as all wrong (`unmeasured_share`, `unmeasured_strata` with the rows to label in each);
- `audit_representativeness_p`: whether the audited rows look like the whole set on audit-free figures (cleanlab's
  given-label probability and margin, the LLM's entropy, the label shares, the text length), after the audit
  weights (estimation.representativeness); a cherry-picked audit blocks;
- `audit_rubber_stamp_flag_share`: an audit that finds no wrong label at all among rows cleanlab flags heavily
  (estimation.rubber_stamp_flag_share) blocks as implausible;
- `audit_contradiction`: the audit's upper bound lies far below how often the LLM label contradicts the text model
  on the rows the model is most confident about (estimation.confident_disagreement / audit_contradiction): a
  rubber-stamp audit of a set with errors the text model can see blocks;
- duplicates: copies of one normalised text (text_model.duplicate_groups) stay in one fold of every cross-fit and
  are one cluster of the estimate; `duplicate_share` reports how many rows repeat an earlier text.

Per-row output: `label_error_risk`, the cross-fitted predicted probability that the row's LLM label is wrong (the
filter stage re-uses it to estimate each subset's error rate from its audited rows).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from labelgate.contract import GOLD, LLM_LABEL
from labelgate.estimation import (
    audit_contradiction,
    confident_disagreement,
    estimate_error_rate,
    representativeness,
    rubber_stamp_flag_share,
    systematic_share,
)
from labelgate.signals.audit import AuditParams
from labelgate.signals.audit_breakdown import FOLDS, MAX_FIT_ROWS, MIN_CLASS_ROWS, per_class, text_error_auc
from labelgate.signals.base import RiskSignal, SignalResult, register
from labelgate.signals.context import ScoringContext
from labelgate.signals.distributions import entropy, vote_distribution
from labelgate.signals.text_model import duplicate_share, fitted_words, fold_splits
from labelgate.vocabulary import AUDIT_WAVE, llm_prob_column

RISK_COLUMN = "label_error_risk"
PREDICT_CHUNK_ROWS = 200_000  # unaudited rows predicted per chunk by the risk model (bounds memory)
REGULARISATION = (0.3, 3.0, 30.0)  # inverse L2 strengths the risk model picks from by inner 3-fold log-loss
METRICS = ("label_error_rate", "label_error_rate_lower", "label_error_rate_upper", "n_audited",
           "systematic_error_share", "systematic_error_share_lower", "systematic_error_share_upper",
           "text_error_auc", "text_error_auc_lower", "audit_missing_share", "unmeasured_share",
           "audit_representativeness_p", "audit_rubber_stamp_flag_share", "audit_contradiction", "duplicate_share")


@register
class LabelErrorSignal(RiskSignal):
    name = "label_error"
    description = "Audit-first label error rate with interval, systematic-error share, text-predictable errors"
    Params = AuditParams  # its interval has the audit's confidence level: one key, score.audit_confidence
    params: AuditParams
    columns = (RISK_COLUMN,)
    metrics = METRICS

    def score(self, context: ScoringContext) -> SignalResult:
        table = context.table
        missing = audit_missing_share(table.frame)
        if not table.has_gold:
            result = self.unavailable("no gold_label values: audit rows with `labelgate audit sample` / `merge`",
                                      METRICS)
            result.metrics["audit_missing_share"] = result.summary["audit_missing_share"] = missing
            return result
        confidence = self.params.audit_confidence
        given = context.given_labels
        gold = table.label_codes(GOLD)
        audited = gold >= 0
        wrong, weights = context.audit_wrong, context.audit_weights
        seed = context.seed
        groups = context.text_groups  # copies of one normalised text: one fold, one cluster
        several = len(np.unique(given)) >= 2  # one LLM label throughout: no text model, no cleanlab flags
        risk, used = context.memo("audit_risk", audit_risk)
        labels = list(table.labels)
        estimate = {**shared_estimate(context, confidence=confidence,
                                      min_stratum=self.params.min_audited_per_stratum), "features": used}
        if several:
            systematic = systematic_share(wrong, context.label_issues, weights=weights, confidence=confidence)
            stamp = rubber_stamp_flag_share(wrong, context.label_issues, weights=weights, confidence=confidence)
            disagreement = confident_disagreement(context.pred_probs, given, groups=groups, confidence=confidence)
        else:
            systematic = {name: None for name in METRICS if name.startswith("systematic")}
            systematic["systematic_error_reason"] = "one LLM label throughout: cleanlab cannot run"
            stamp = disagreement = None
        integrity = audit_representativeness(context, audited, weights, groups)
        audited_rows = np.flatnonzero(audited)  # the text-error model reads the audited rows' texts only
        words = context.text_words
        text = text_error_auc(None if words is None else words[audited_rows], given[audited_rows],
                              wrong[audited_rows], n_classes=len(labels), confidence=confidence, seed=seed,
                              groups=groups[audited_rows])
        classes = per_class(gold, given, weights, labels, confidence)
        summary = {
            "available": True,
            **estimate,
            **systematic,
            "audit_rubber_stamp_flag_share": stamp,
            **(disagreement or {}),
            "audit_contradiction": audit_contradiction(disagreement, estimate["label_error_rate_upper"]),
            **integrity,
            "duplicate_share": duplicate_share(groups),
            **text,
            **classes,
            "audit_missing_share": missing,
        }
        metrics = {name: summary.get(name) for name in METRICS}
        rows = pd.DataFrame({RISK_COLUMN: risk if risk is not None else np.full(len(given), np.nan)})
        return SignalResult(self.name, rows, summary, metrics)


def audit_missing_share(frame: pd.DataFrame) -> float | None:
    """Share of the rows an audit drew (audit_wave set, or a gold label) that have no gold label: left blank,
    skipped or unresolved. Missing labels are not missing at random (the hard rows get skipped), so the gate blocks
    above gate.max_audit_missing_share. None when the table records no design (no audit_wave values)."""
    if AUDIT_WAVE not in frame.columns or frame[AUDIT_WAVE].isna().all():
        return None
    gold = frame[GOLD].notna() if GOLD in frame.columns else pd.Series(False, index=frame.index)
    drawn = frame[AUDIT_WAVE].notna() | gold
    return float((drawn & ~gold).sum() / drawn.sum())


def shared_estimate(context: ScoringContext, *, confidence: float, min_stratum: int) -> dict[str, Any]:
    """The audit-first label error estimate with the risk model, computed once per context and settings: the
    figures label_error reports and accuracy_loss reads (do not modify the returned dict)."""
    def compute(ctx: ScoringContext) -> dict[str, Any]:
        return estimate_error_rate(ctx.audit_wrong, ctx.given_labels, risk=ctx.memo("audit_risk", audit_risk)[0],
                                   weights=ctx.audit_weights, clusters=ctx.text_groups, confidence=confidence,
                                   min_stratum=min_stratum, stratum_names=list(ctx.table.labels))

    return context.memo(("error_estimate", confidence, min_stratum), compute)


def audit_risk(context: ScoringContext) -> tuple[np.ndarray | None, list[str]]:
    """The cross-fitted risk model's P(LLM label wrong) per row and its feature names (None, [] when one LLM label
    throughout or the audit is too small); read through context.memo("audit_risk", audit_risk), computed once."""
    if len(np.unique(context.given_labels)) < 2:
        return None, []
    seed = context.seed
    features, feature_names = risk_features(context)
    words = context.text_words
    risk = cross_fitted_risk(features, context.audit_wrong, words=words, seed=seed, groups=context.text_groups)
    if risk is None:
        return None, []
    return risk, [*feature_names, *([f"text: TF-IDF over {words.shape[1]} words and bigrams"]
                                    if words is not None else [])]


def risk_features(context: ScoringContext) -> tuple[RiskFeatures, list[str]]:
    """Audit-free per-row features that predict a wrong LLM label (no gold label is read here), computed for the
    rows asked for (`features[rows]`, see RiskFeatures)."""
    features = RiskFeatures(context)
    return features, features.names


class RiskFeatures:
    """The risk model's audit-free features, computed for the rows asked for (`features[rows]` -> float64 array of
    len(rows) x len(names)), so a large table never holds the whole rows x features matrix: every feature is a
    function of its own row only, so a chunk's rows equal the full matrix's rows."""

    def __init__(self, context: ScoringContext):
        table = self.table = context.table
        self.given = context.given_labels
        self.pred_probs = context.pred_probs
        self.label_issues = context.label_issues
        self.prob_columns = [llm_prob_column(label) for label in table.labels] if table.has_probs else []
        annotators = table.annotator_columns
        # label codes of the annotations (exact as int8: only compared with class codes)
        self.codes = np.column_stack([table.label_codes(c).astype(np.int8) for c in [LLM_LABEL, *annotators]]
                                     ) if annotators else None
        self.names = ["text_model_logit_given", "text_model_margin", "cleanlab_is_label_issue",
                      *(["llm_logit_given", "llm_normalised_entropy"] if self.prob_columns else []),
                      *(["annotations_agreeing"] if annotators else []),
                      *[f"llm_label={label}" for label in table.labels]]

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.given), len(self.names)

    def __getitem__(self, rows) -> np.ndarray:
        table = self.table
        rows = np.asarray(range(len(self.given))[rows] if isinstance(rows, slice) else rows)
        rows = np.flatnonzero(rows) if rows.dtype == bool else rows
        given = self.given[rows]
        index = np.arange(len(rows))
        probs = np.clip(self.pred_probs[rows], 1e-6, 1 - 1e-6)
        columns = [
            _logit(probs[index, given]),
            probs.max(axis=1) - probs[index, given],
            self.label_issues[rows].astype(float),
        ]
        if self.prob_columns:
            llm = np.clip(table.frame.iloc[rows][self.prob_columns].to_numpy(float), 1e-6, 1 - 1e-6)
            columns += [_logit(llm[index, given]), entropy(llm) / np.log(len(table.labels))]
        if self.codes is not None:
            columns.append(vote_distribution(self.codes[rows], len(table.labels))[index, given])
        columns += [(given == k).astype(float) for k in range(len(table.labels))]
        return np.column_stack(columns)


class AuditCovariates:
    """Audit-free figures the audited rows are compared with the whole set on (`covariates[rows]` -> float64 array
    of len(rows) x len(names), computed for the rows asked for): cleanlab's given-label probability and the text
    model's margin (out-of-fold, from LLM labels only), the LLM's normalised entropy (llm_prob_* columns), one
    indicator per LLM label (the label shares), and log(1 + characters of the text). Nothing reads a gold label."""

    def __init__(self, context: ScoringContext):
        table = self.table = context.table
        self.context = context
        self.given = context.given_labels
        self.several = len(np.unique(self.given)) >= 2  # else no text model, and the label shares are fixed
        self.prob_columns = [llm_prob_column(label) for label in table.labels] if table.has_probs else []
        self.names = [*(["cleanlab_given_label_prob", "text_model_margin"] if self.several else []),
                      *(["llm_normalised_entropy"] if self.prob_columns else []),
                      *([f"llm_label={label}" for label in table.labels] if self.several else []),
                      "text_length"]

    def __getitem__(self, rows) -> np.ndarray:
        rows = np.asarray(rows)
        given = self.given[rows]
        columns = []
        if self.several:
            probs = self.context.pred_probs[rows]
            given_prob = probs[np.arange(len(rows)), given]
            columns += [given_prob, probs.max(axis=1) - given_prob]
        if self.prob_columns:
            llm = np.clip(self.table.frame.iloc[rows][self.prob_columns].to_numpy(float), 1e-12, 1.0)
            columns.append(entropy(llm) / np.log(len(self.table.labels)))
        if self.several:
            columns += [(given == k).astype(float) for k in range(len(self.table.labels))]
        lengths = self.table.frame["text"].iloc[rows].str.len()
        columns.append(np.log1p(pd.to_numeric(lengths, errors="coerce").fillna(0).to_numpy(float)))
        return np.column_stack(columns)


def audit_representativeness(context: ScoringContext, audited: np.ndarray, weights: np.ndarray,
                             groups: np.ndarray) -> dict[str, Any]:
    """estimation.representativeness of the audited rows on AuditCovariates: the whole set's means and variances
    are accumulated PREDICT_CHUNK_ROWS rows at a time (bounded memory), the audited rows' values read once."""
    covariates = AuditCovariates(context)
    n_rows = len(audited)
    total = np.zeros(len(covariates.names))
    squares = np.zeros(len(covariates.names))
    for start in range(0, n_rows, PREDICT_CHUNK_ROWS):
        chunk = covariates[np.arange(start, min(n_rows, start + PREDICT_CHUNK_ROWS))]
        total += chunk.sum(axis=0)
        squares += np.square(chunk).sum(axis=0)
    mean = total / n_rows
    variance = np.maximum(squares / n_rows - mean ** 2, 0.0)
    rows = np.flatnonzero(audited)
    result = representativeness(covariates[rows], covariates.names, population_mean=mean,
                                population_var=variance, n_rows=n_rows, weights=weights[rows],
                                clusters=groups[rows])
    return {**result, "audit_representativeness_figures": covariates.names}


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def cross_fitted_risk(features: np.ndarray | RiskFeatures, wrong: np.ndarray, *, words=None, seed: int = 0,
                      folds: int = FOLDS, groups: np.ndarray | None = None) -> np.ndarray | None:
    """P(LLM label wrong) per row from a logistic model fitted on the audited rows, K-fold cross-fitted: an audited
    row's prediction comes from the model that did not see it; other rows get the mean of the K models.
    Inputs: the audit-free `features` (standardised here; an array or anything that gives rows as `features[rows]`,
    read for the audited rows and then PREDICT_CHUNK_ROWS unaudited rows at a time), plus the optional sparse `words`
    (TF-IDF), which let the model learn errors that follow the text. None when the audit holds fewer than
    MIN_CLASS_ROWS wrong or right rows (no model: the plain stratified estimate). `groups` (per row, duplicate
    texts share one): audited copies of one text are held out together (StratifiedGroupKFold), or the model would
    predict a held-out row from its copy's gold label and the estimate would lean on a leaked, too-good risk."""
    from scipy.sparse import csr_matrix, hstack
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.preprocessing import StandardScaler

    audited = np.flatnonzero(~np.isnan(wrong))
    y = wrong[audited].astype(int)
    if min(int(y.sum()), int(len(y) - y.sum())) < MIN_CLASS_ROWS:
        return None
    risk = np.zeros(len(wrong))
    unaudited = np.flatnonzero(np.isnan(wrong))
    audited_groups = None if groups is None else np.asarray(groups)[audited]

    def design(scaler, row_features, row_words, columns):
        dense = csr_matrix(scaler.transform(row_features))
        return dense if row_words is None else hstack([dense, row_words[:, columns]]).tocsr()

    fitted = []
    rng = np.random.default_rng(seed)
    for train, held_out in fold_splits(y, audited_groups, folds, seed):
        if len(train) > MAX_FIT_ROWS:
            train = np.sort(rng.choice(train, size=MAX_FIT_ROWS, replace=False))
        fit_rows, held_rows = audited[train], audited[held_out]
        if len(np.unique(y[train])) < 2:  # grouped folds can leave a fold's training rows one-sided
            return None
        fit_features = features[fit_rows]
        fit_words = None if words is None else words[fit_rows]
        columns = None if fit_words is None else fitted_words(fit_words)  # the same model, at the audit's cost
        scaler = StandardScaler().fit(fit_features)
        model = LogisticRegressionCV(Cs=REGULARISATION, l1_ratios=(0.0,), cv=3, scoring="neg_log_loss",
                                     max_iter=2000, use_legacy_attributes=False)
        model.fit(design(scaler, fit_features, fit_words, columns), y[train])
        risk[held_rows] = model.predict_proba(
            design(scaler, features[held_rows], None if words is None else words[held_rows], columns))[:, 1]
        fitted.append((scaler, model, columns))
    # The other rows get the mean of the K models, a chunk at a time: each chunk's features and words are computed
    # once and memory stays bounded on large tables.
    for start in range(0, len(unaudited), PREDICT_CHUNK_ROWS):
        rows = unaudited[start:start + PREDICT_CHUNK_ROWS]
        row_features, row_words = features[rows], None if words is None else words[rows]
        for scaler, model, columns in fitted:
            risk[rows] += model.predict_proba(design(scaler, row_features, row_words, columns))[:, 1] / len(fitted)
    return risk
