"""Stage `gate`: check label-risk and training-stability figures against the GX suites in expectations/.

Suites and the tables they run on:
  label_risk          per-example scores (distribution checks: median entropy, label-issue rate, agreement)
  label_summary       one row of label-set figures (label error rate upper bound, systematic-error share, estimated
                      noise rate, audit accuracy lower bound, alpha...)
  training_stability  one row: the gated subset's seed-stability figures from `labelgate evaluate`

Thresholds fill the suites' `$PARAMETER` placeholders from params.yaml `gate:`. Fail closed:
- PASS needs evidence: every figure in `gate.required` (a list entry: one of its names) that a suite run checks
  must have been measured, and every suite that ran must have measured something;
- a blocking (critical) expectation whose figure was not measured blocks unless `gate.optional` lists the figure;
  a warning one that was not measured is reported as skipped;
- a failed critical expectation, an expectation that could not be evaluated, a missing input block;
- a broken suite (unknown type or severity, a column its stage does not produce, an undefined `$PARAMETER`) or an
  unknown name in gate.required/optional is a configuration error, raised before anything runs.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from labelgate.config import check_range
from labelgate.errors import BadInputError, ConfigError
from labelgate.expectations import (
    DEFAULT_EXPECTATIONS_DIR,
    Outcome,
    check_suite,
    expectation_columns,
    expectation_severity,
    load_suite_json,
    run_suite_json,
    suite_columns,
    suite_path,
)
from labelgate.estimation import DEFAULT_CONFIDENCE
from labelgate.harm import DECIDING, DECIDING_FIGURES, PREDICTED, SOURCE, loss_text
from labelgate.harm import deciding as deciding_loss
from labelgate.verdict import count_outcomes
from labelgate.vocabulary import AUDIT_EVIDENCE, BLOCK, ERRORED, FAILED, PASS, SKIPPED, SUBSET_FIGURES, WARN

LABEL_SUITES = ("label_risk", "label_summary")
STABILITY_SUITE = "training_stability"
GATE_SUITES = (*LABEL_SUITES, STABILITY_SUITE)

#: Valid range of a checked figure; every other figure is a rate, share or score in [0, 1]. A value outside its
#: range (a negative noise rate, an alpha of 3) is corrupt input: its expectation errors, which blocks.
FIGURE_RANGES: dict[str, tuple[float, float]] = {
    "annotator_alpha": (-1.0, 1.0), "krippendorff_alpha": (-1.0, 1.0),
    "accuracy_gap_to_reference": (-1.0, 1.0), "macro_f1_gap_to_reference": (-1.0, 1.0),
    "learning_curve_gain_last_doubling": (-1.0, 1.0), "n_seeds": (0.0, float("inf")),
    "audit_accuracy_gap": (-1.0, 1.0), "audit_macro_f1_gap": (-1.0, 1.0), "learning_curve_decline": (-1.0, 1.0),
    "audit_curve_gap_at_equal_size": (-1.0, 1.0), "audit_gold_minus_llm_full": (-1.0, 1.0),
}


#: The gated subset's share of the table's rows (filter.py writes it; 1.0 for the whole table), checked against
#: gate.min_retained_fraction by the label_summary suite: a filter passes by removing the errors, not the data.
SUBSET_SIZE = "retained_fraction"
#: gate.subset naming the whole table (no filter): the label-level suites read score's figures as they are.
WHOLE_TABLE = "raw"

#: Evidence a PASS needs (params.yaml gate.required). Each entry is a figure name, or a list of names of which at
#: least one must be measured. A figure is a column that a suite in expectations/ checks; an entry applies when a
#: suite checking one of its figures ran (`check` runs the label suites, `gate` those whose input it was given).
DEFAULT_REQUIRED: tuple[tuple[str, ...], ...] = (
    # What the labels cost the trained model (harm.py): no PASS without it.
    (f"{DECIDING}_upper",),
    # A label-error figure from a gold audit: the only unbiased evidence. cleanlab's audit-free estimate is no
    # substitute (bench/calibration: within 3 points of the truth on 0 of 42 sets; 0.28 on gold labels).
    (AUDIT_EVIDENCE, "audit_accuracy_lower"),
    ("entropy_normalised", "audit_accuracy_lower"),  # and the LLM's own uncertainty, or the audit
    ("krippendorff_alpha",),  # seed stability needs at least two seeds
)
#: Blocking expectations allowed to go unmeasured (params.yaml gate.optional): without gold audit rows, without
#: llm_prob_* or annotator_* columns, or without a gold reference run these figures cannot exist; the required
#: figures above still demand evidence.
DEFAULT_OPTIONAL: tuple[str, ...] = ("audit_accuracy_lower", "entropy_normalised", "accuracy_gap_to_reference",
                                     "audit_missing_share",  # a table with no recorded audit design
                                     "audit_rubber_stamp_flag_share")  # needs cleanlab: two LLM labels


@dataclass(frozen=True)
class GateParams:
    """Risk thresholds (params.yaml section `gate`). Each max_/min_ name is a `$PARAMETER` in expectations/*.json."""

    subset: str = "raw"  # the trained subset whose stability is gated (the one you would deploy)
    required: tuple = DEFAULT_REQUIRED  # figures a PASS needs (a list entry: at least one of them)
    optional: tuple[str, ...] = DEFAULT_OPTIONAL  # blocking expectations that may go unmeasured
    max_median_entropy: float = 0.5  # median normalised entropy of the LLM label distribution
    max_high_entropy_rate: float = 0.3  # share of rows above score.entropy_threshold
    max_label_issue_rate: float = 0.3  # share of rows cleanlab flags
    max_accuracy_loss: float = 0.065  # test accuracy the labels may cost the trained model (vs gold labels), checked
    # on the upper bound of accuracy_loss (harm.py): the primary blocking rule
    max_label_error: float = 0.2  # second guard behind max_accuracy_loss: the LLM label error rate accepted; checked on the audit estimate's
    # upper confidence bound (label_error_rate_upper), so a set passes only when the audit certifies it.
    # Label-level defaults here and in params.yaml: derived in bench/calibration/ (README.md there)
    max_systematic_error_share: float = 0.45  # share of audited wrong labels cleanlab does not flag
    max_text_error_auc: float = 0.75  # cross-validated AUC of predicting the audited errors from the text
    max_estimated_noise_rate: float = 0.4  # cleanlab's estimated share of wrong labels (secondary, audit-free)
    min_audit_accuracy_lower: float = 0.8  # Wilson lower bound of LLM accuracy on gold-audited rows
    max_audit_missing_share: float = 0.05  # share of the rows an audit drew that came back without a gold label
    min_audit_representativeness_p: float = 0.001  # audited rows vs the whole set on audit-free figures (Bonferroni p)
    max_audit_rubber_stamp_flag_share: float = 0.3  # no audited error: lower bound of the share cleanlab flags
    min_annotator_alpha: float = 0.6  # Krippendorff's alpha across annotations
    min_agreement_rate: float = 0.5  # share of rows where every annotation agrees
    max_class_balance_tvd: float = 0.1  # total variation distance of label shares vs the gold test set
    max_accuracy_std: float = 0.03  # std of test accuracy across seeds
    max_macro_f1_std: float = 0.04
    min_seed_alpha: float = 0.75  # Krippendorff's alpha of test predictions across seeds
    min_unchanged_rate: float = 0.8  # share of test items predicted identically by every seed
    max_accuracy_gap: float = 0.05  # accuracy below the gold-pool reference run (optional: needs a gold pool)
    max_macro_f1_gap: float = 0.08
    max_audit_accuracy_gap: float = 0.03  # gold- minus LLM-trained accuracy on the audited rows (audit reference)
    max_audit_macro_f1_gap: float = 0.08
    max_learning_curve_decline: float = 0.04  # best accuracy at a smaller fraction minus at the full size
    min_retained_fraction: float = 0.5  # the gated subset's share of the rows (a filter must keep at least this)

    def __post_init__(self):
        if not isinstance(self.subset, str) or not self.subset:
            raise ValueError(f"subset={self.subset!r} must be a non-empty string")
        object.__setattr__(self, "required", _requirements(self.required))
        if isinstance(self.optional, str) or not all(isinstance(n, str) and n for n in self.optional or ()):
            raise ValueError(f"optional={self.optional!r} must be a list of figure names")
        object.__setattr__(self, "optional", tuple(self.optional or ()))
        for name in self.threshold_names():
            check_range(name, getattr(self, name), 0.0, 1.0)  # every gate figure is a rate, share or score in [0, 1]

    def threshold_names(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self) if f.name.startswith(("max_", "min_"))]

    def thresholds(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in self.threshold_names()}

    def figure_names(self) -> set[str]:
        """Every figure named in required or optional (validated against the suites by `check_figure_names`)."""
        return {name for entry in self.required for name in entry} | set(self.optional)


def _requirements(value) -> tuple[tuple[str, ...], ...]:
    """gate.required as a tuple of alternatives: `[a, [b, c]]` -> ((a,), (b, c))."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ValueError(f"required={value!r} must be a list of figure names (or lists of alternatives)")
    entries = []
    for entry in value:
        names = (entry,) if isinstance(entry, str) else entry
        if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) and n for n in names):
            raise ValueError(f"required: entry {entry!r} must be a figure name or a non-empty list of names")
        entries.append(tuple(names))
    return tuple(entries)


@dataclass
class Verdict:
    status: str  # pass | warn | block
    outcomes: list[dict[str, Any]]
    reason: str = ""
    missing_required: list[str] = field(default_factory=list)  # required figures (or alternatives) not measured
    figures: dict[str, Any] = field(default_factory=dict)  # every figure judged, None = not measured
    label_error: dict[str, Any] | None = None  # the audit estimate, its method and the next steps
    accuracy_loss: dict[str, Any] | None = None  # the deciding accuracy loss, its source, the predicted one, advice
    blocking: list[str] = field(default_factory=list)  # one line per blocker (what the headline names)
    label_scope: dict[str, Any] | None = None  # whose rows the label-level suites checked (table or gated subset)

    @property
    def blocked(self) -> bool:
        return self.status == BLOCK

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "blocked": self.blocked, "reason": self.reason,
                "blocking": self.blocking, "label_scope": self.label_scope,
                "counts": count_outcomes(self.outcomes),
                "missing_required": self.missing_required, "figures": self.figures, "accuracy_loss": self.accuracy_loss,
                "label_error": self.label_error,
                "outcomes": self.outcomes}


def label_summary_frame(label_risk: dict[str, Any], evaluation: dict[str, Any] | None = None, *,
                        subset: str = "raw") -> pd.DataFrame:
    """One row holding the label-set figures the label_summary suite checks (NaN where not measured), with the
    deciding accuracy loss (harm.deciding: the pipeline's measured loss of `subset` when `evaluation` has one)."""
    metrics = label_risk.get("metrics") if isinstance(label_risk, dict) else None
    if not isinstance(metrics, dict):
        metrics = {}
    row = {k: _figure(v, k) for k, v in metrics.items() if not isinstance(v, (dict, list))}
    loss = loss_figures(label_risk, evaluation, subset=subset)
    row.update({name: _figure(loss.get(name)) for name in DECIDING_FIGURES})
    return pd.DataFrame([row])


def loss_figures(label_risk: dict[str, Any] | None, evaluation: dict[str, Any] | None, *,
                 subset: str) -> dict[str, Any]:
    """harm.deciding over label_risk.json's metrics and the evaluation (reference and confidence read from them)."""
    metrics = (label_risk or {}).get("metrics") if isinstance(label_risk, dict) else None
    signal = ((label_risk or {}).get("signals") or {}).get("accuracy_loss") if isinstance(label_risk, dict) else None
    confidence = signal.get("confidence_level") if isinstance(signal, dict) else None
    reference = evaluation.get("reference") if isinstance(evaluation, dict) else None
    return deciding_loss(metrics if isinstance(metrics, dict) else {}, evaluation, subset=subset,
                         reference=reference if isinstance(reference, str) else None,
                         confidence=confidence if isinstance(confidence, float) else DEFAULT_CONFIDENCE)


def gated_label_risk(label_risk: dict[str, Any], subset: dict[str, Any] | None) -> dict[str, Any]:
    """label_risk.json as the gated filter subset sees it: the subset's own figures (filter.py `metrics`: audited
    error with interval, audit accuracy, expected accuracy loss, retained_fraction) replace the whole table's,
    including a None (not measured in the subset: a subset that kept no audited rows is not certified by the table's
    audit), and its label_error estimate replaces the table's (for the advice). Without a subset: unchanged, and
    retained_fraction absent (its expectation applies to a gated subset only: `_for_rows`)."""
    if subset is None or not isinstance(label_risk, dict):
        return label_risk
    metrics = label_risk.get("metrics")
    metrics = dict(metrics) if isinstance(metrics, dict) else {}
    figures = subset.get(SUBSET_FIGURES) if isinstance(subset, dict) else None
    metrics.update(figures if isinstance(figures, dict) else {SUBSET_SIZE: None})
    signals = label_risk.get("signals")
    signals = dict(signals) if isinstance(signals, dict) else {}
    estimate = subset.get("label_error") if isinstance(subset, dict) else None
    signals["label_error"] = estimate if isinstance(estimate, dict) else None
    return {**label_risk, "metrics": metrics, "signals": signals}


def stability_frame(evaluation: dict[str, Any], subset: str) -> pd.DataFrame:
    """One row with the gated subset's seed-stability figures."""
    subsets = evaluation.get("subsets") if isinstance(evaluation, dict) else None
    if not isinstance(subsets, dict) or subset not in subsets or not isinstance(subsets[subset], dict):
        raise KeyError(f"gate.subset '{subset}' has no evaluation; evaluated: "
                       f"{sorted(subsets) if isinstance(subsets, dict) else 'none'}")
    figures = subsets[subset]
    return pd.DataFrame([{k: _figure(v, k) for k, v in figures.items() if not isinstance(v, (dict, list))}])


#: Figures that are flags: true/false is their value (a suite checks them with max 0). Every other figure is a number,
#: and a boolean there is bad input or blocks: `"audit_accuracy_lower": true` is never read as 1.
FLAG_FIGURES = frozenset({"plateau"})


def _figure(value, name: str = ""):
    """None and NaN are 'not measured'; numbers go in as floats, and so do a flag's true/false; anything else (a
    boolean where a number belongs, a string) as a value that is not a number, so its expectation errors (blocks)."""
    if value is None:
        return np.nan
    if isinstance(value, bool):
        return float(value) if name in FLAG_FIGURES else ("true" if value else "false")
    if isinstance(value, (int, float)):
        return float(value)
    return value


def not_a_number(value: Any, name: str = "") -> bool:
    """A figure value that is neither a number nor 'not measured' (null, NaN): a boolean (except for a flag), a
    string, anything else."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return False
    if isinstance(value, bool):
        return name not in FLAG_FIGURES
    return not isinstance(value, (int, float, np.integer, np.floating))


def check_figure_types(data: Any, path: str | os.PathLike, *, where: tuple[str, ...], names: set[str]) -> None:
    """A figures file (label_risk.json, evaluate.json) as the gate reads it: a checked figure under the keys `where`
    that is a boolean (JSON true/false; a flag excepted) is bad input (exit 2, naming file and key). A string or any
    other non-number is left to the gate, whose expectation then errors (blocks), as do other shapes."""
    for key in where:
        data = data.get(key) if isinstance(data, dict) else None
    if not isinstance(data, dict):
        return
    for name in sorted(names & set(data)):
        if isinstance(data[name], bool) and not_a_number(data[name], name):
            import json

            raise BadInputError(path, f"key '{'.'.join((*where, name))}' is {json.dumps(data[name])}, not a number "
                                      "(null when not measured)")


def suite_figures(suite: str) -> set[str]:
    """The columns suite `suite` may check: what the stage that feeds it produces (defined once, at the source)."""
    if suite == "label_risk":
        from labelgate.signals import signal_columns

        return signal_columns()
    if suite == "label_summary":
        from labelgate.signals import signal_metrics

        return signal_metrics() | set(DECIDING_FIGURES) | {SUBSET_SIZE}
    if suite == STABILITY_SUITE:
        from labelgate.evaluate import STABILITY_FIGURES

        return set(STABILITY_FIGURES)
    raise ValueError(f"unknown gate suite {suite!r}")


def preflight(params: GateParams, suites: tuple[str, ...],
              expectations_dir: str | os.PathLike = DEFAULT_EXPECTATIONS_DIR) -> dict[str, dict]:
    """Check the suites a run needs and gate.required/optional before anything runs; return the loaded suites.

    A suite expectation of an unknown type or severity, on a column its stage does not produce or with an undefined
    `$PARAMETER`, and a required or optional name that no gate suite checks, are configuration errors (exit 2)."""
    thresholds = params.thresholds()
    loaded = {}
    for suite in suites:
        loaded[suite] = load_suite_json(suite, expectations_dir)
        check_suite(loaded[suite], source=suite_path(suite, expectations_dir), parameters=thresholds,
                    columns=suite_figures(suite))
    known = set()
    for suite in GATE_SUITES:
        try:
            known |= suite_columns(loaded[suite] if suite in loaded else load_suite_json(suite, expectations_dir))
        except BadInputError:  # a suite this run does not use may be absent; its figures are then unknown
            continue
    unknown = sorted(params.figure_names() - known)
    if unknown:
        raise ConfigError(f"params.yaml: gate.required/gate.optional name '{unknown[0]}', which no suite in "
                          f"{expectations_dir} checks; checked figures: {', '.join(sorted(known))}")
    return loaded


def run_gate(
    *,
    scores: pd.DataFrame | None,
    label_risk: dict[str, Any] | None,
    evaluation: dict[str, Any] | None,
    params: GateParams,
    expectations_dir: str | os.PathLike = DEFAULT_EXPECTATIONS_DIR,
    suites: dict[str, dict] | None = None,
    subset: dict[str, Any] | None = None,
) -> Verdict:
    """Run the suites whose inputs are given; return the verdict. Never raises for a failed expectation.

    Raises ConfigError (before running anything) for a broken suite or an unknown name in gate.required/optional.
    `suites`: what `preflight` returned for these inputs, when the caller already ran it (else it runs here).
    `subset`: the gated subset's summary (filter.py) when gate.subset is a filter: the label-level figures are then
    the subset's (`scores` should hold only its rows: `subset_rows`)."""
    thresholds = params.thresholds()
    outcomes: list[dict[str, Any]] = []
    risk = gated_label_risk(label_risk, subset) if label_risk is not None else None
    plan = []
    if scores is not None:
        plan.append(("label_risk", lambda: scores))
    if label_risk is not None:
        plan.append(("label_summary", lambda: label_summary_frame(risk, evaluation, subset=params.subset)))
    if evaluation is not None:
        plan.append((STABILITY_SUITE, lambda: stability_frame(evaluation, params.subset)))
    if not plan:
        reason = "nothing to check: no scores, label risk or evaluation given"
        return Verdict(BLOCK, [], reason=reason, blocking=[reason])
    if suites is None:
        suites = preflight(params, tuple(name for name, _ in plan), expectations_dir)
    figures: dict[str, Any] = {}
    for suite, make_frame in plan:
        frame = make_frame()
        suite_json = _for_rows(suites[suite], subset)
        measured, skipped = _split_measured(suite_json, frame, params.optional,
                                            numbers_only=suite != "label_risk")
        figures.update(_figures(suite_json, frame))
        outcomes.extend(_row(suite, outcome, SKIPPED) for outcome in skipped)
        if measured["expectations"]:
            for outcome in run_suite_json(measured, frame, thresholds, source=suite_path(suite, expectations_dir)):
                outcomes.append(_row(suite, outcome, PASS if outcome.success else FAILED))
    verdict = _decide(outcomes, params, {suite: suite_columns(suites[suite]) for suite, _ in plan})
    for o in outcomes:  # per-row suites: the figure is the expectation's observed statistic
        if o.get("column"):
            figures.setdefault(o["column"], None if o["status"] == SKIPPED else o["observed"])
    verdict.figures = figures
    if label_risk is not None:  # reason: an untrustworthy audit first, then the accuracy loss, then the error rate
        loss = _accuracy_loss_advice(verdict, risk, evaluation, params)
        integrity, too_small = _label_error_advice(verdict, risk, params)
        verdict.reason = "; ".join(part for part in (integrity, loss, too_small, verdict.reason) if part)
    if label_risk is not None or scores is not None:
        verdict.label_scope = _label_scope(label_risk, subset, params, scores)
    verdict.blocking = blocking_lines(verdict)
    return verdict


def _for_rows(suite_json: dict, subset: dict[str, Any] | None) -> dict:
    """The suite as it applies to the rows checked: the gated subset's size check only when a filter subset is
    gated (the whole table keeps all its rows by definition, which is no measurement)."""
    if subset is not None:
        return suite_json
    keep = [e for e in suite_json["expectations"] if SUBSET_SIZE not in expectation_columns(e)]
    return suite_json if len(keep) == len(suite_json["expectations"]) else {**suite_json, "expectations": keep}


def _label_scope(label_risk, subset, params: GateParams, scores) -> dict[str, Any]:
    if subset is None:
        rows = (label_risk or {}).get("n_rows") if isinstance(label_risk, dict) else None
        return {"rows": "table", "subset": WHOLE_TABLE, "n_rows": rows if rows is not None else (
            None if scores is None else int(len(scores)))}
    return {"rows": "subset", "subset": params.subset, "n_rows": subset.get("rows_kept"),
            "rows_in": subset.get("rows_in"), SUBSET_SIZE: subset.get("retained_fraction")}


def blocking_lines(verdict: Verdict) -> list[str]:
    """One line per blocker, in the order a reviewer fixes them: every failed blocking expectation (with the figure,
    its limit and, for the audit's label error, whether more audit rows can settle it), every expectation that
    could not be evaluated, every required figure not measured and every suite that measured nothing."""
    lines = []
    advice = verdict.label_error or {}
    for o in sorted(verdict.outcomes, key=lambda o: o.get("column") != f"{DECIDING}_upper"):  # the lead rule first
        if o["status"] == FAILED and o["severity"] == BLOCK:
            observed = o["observed"]
            shown = f"{observed:.3f}" if isinstance(observed, float) else str(observed)
            line = f"{o['description'] or o['column']}: {shown} (limit {o['threshold']})"
            loss = verdict.accuracy_loss or {}
            if o["column"] == f"{DECIDING}_upper" and loss.get("text"):
                lead = (f"accuracy loss {loss['text']} ({loss.get(SOURCE)}), limit "
                        f"{100 * loss['max_accuracy_loss']:g} points on the upper bound")
                line = (f"audit too small: {lead} is undecided, label about {loss['rows_needed']} more rows"
                        if loss.get("rows_needed") else f"{lead}: {loss.get('status')}")
            elif o["column"] == AUDIT_EVIDENCE and advice.get("rows_needed"):
                line = (f"audit too small: label about {advice['rows_needed']} more rows to certify "
                        f"label_error_rate <= {advice['max_label_error']:g} (now {_estimate_line(advice)})")
            elif o["column"] == AUDIT_EVIDENCE and advice.get("label_error_rate") is not None:
                high = advice["label_error_rate"] >= advice["max_label_error"]
                line = (f"label error {'too high' if high else 'not certified'}: {_estimate_line(advice)}, limit "
                        f"{advice['max_label_error']:g} on the upper bound")
            lines.append(line)
        elif o["status"] == ERRORED:
            lines.append(f"{o['description'] or o['column']}: could not be evaluated ({o['error']})")
    lines.extend(f"required figure not measured: {name}" for name in verdict.missing_required
                 if not any(o["column"] in name.split(" or ") and o["status"] == ERRORED for o in verdict.outcomes))
    lines.extend(part for part in verdict.reason.split("; ") if part.startswith("nothing measured"))
    if verdict.blocked and not lines:
        lines.append(verdict.reason)
    return list(dict.fromkeys(lines))


def _estimate_line(advice: dict[str, Any]) -> str:
    from labelgate.estimation import estimate_text

    return estimate_text(advice)


def _figures(suite_json: dict, frame: pd.DataFrame) -> dict[str, Any]:
    """The suite's one-row figures (None where not measured); per-row tables contribute nothing here."""
    if len(frame) != 1:
        return {}
    columns = [c for e in suite_json["expectations"] for c in expectation_columns(e)]
    row = frame.iloc[0]
    names = list(dict.fromkeys(columns + [c for c in frame.columns
                                          if c.startswith(("label_error", "accuracy_loss", "expected_accuracy_loss"))]))
    return {name: _plain_figure(row.get(name)) for name in names}


def _plain_figure(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def _accuracy_loss_advice(verdict: Verdict, label_risk: dict[str, Any], evaluation: dict[str, Any] | None,
                          params: GateParams) -> str:
    """Attach the deciding accuracy loss, whether it is within, above or undecided against gate.max_accuracy_loss,
    and what to do: an undecided predicted loss says how many more audited rows would decide it (only when more rows
    can), a loss above the limit names the classes and words whose errors the model learns. Returns the reason's
    part for the loss ("" when it is within the limit)."""
    loss = loss_figures(label_risk, evaluation, subset=params.subset)
    value, low, high = loss.get(DECIDING), loss.get(f"{DECIDING}_lower"), loss.get(f"{DECIDING}_upper")
    limit = params.max_accuracy_loss
    signal = (label_risk.get("signals") or {}).get("accuracy_loss") or {}
    text = loss_text(value, low, high)
    steps, more = [], None
    if text == "not measured":
        status = "not measured"
        steps.append(signal.get("reason") or "audit rows with gold labels (labelgate audit sample / merge)")
    elif high <= limit:
        status = "within"
    elif value >= limit:
        status = "above"
        classes = signal.get("loss_by_llm_label") or {}
        worst = sorted((n for n, c in classes.items() if c.get("reproduced_errors")),
                       key=lambda n: -classes[n]["reproduced_errors"])
        words = signal.get("loss_words") or []
        steps.append("the model learns the LLM's errors"
                     + (f" on rows it labels {', '.join(worst[:3])}" if worst else "")
                     + (f" (words: {', '.join(words[:6])})" if words else "")
                     + ": re-prompt or relabel those classes (few-shot examples with these words), or filter "
                       "(labelgate filter) and gate the subset")
    else:
        status = "undecided"
        more = loss_rows_needed(signal, value, high, limit) if loss.get(SOURCE) == PREDICTED else None
        if more:
            steps.append(f"audit about {more} more rows (labelgate audit sample) to decide the accuracy loss")
        else:
            steps.append("more audit rows cannot decide it (the calibration's own uncertainty is larger than the "
                         "margin): filter or re-prompt to bring the loss down")
    verdict.accuracy_loss = {
        DECIDING: value, f"{DECIDING}_lower": low, f"{DECIDING}_upper": high, SOURCE: loss.get(SOURCE),
        "text": text, "max_accuracy_loss": limit, "status": status, "rows_needed": more,
        "predicted": loss.get("predicted"), "next_steps": steps,
        # what the predicted figure is made of (signals/accuracy_loss.py)
        **{k: signal.get(k) for k in ("label_error_rate", "errors_learned_share", "errors_learned_chance",
                                      "errors_learned_excess", "audited_errors", "calibration")},
    }
    lead = f"accuracy loss {text} ({loss.get(SOURCE)}), limit {100 * limit:g} points"
    if status == "above":
        return f"{lead}: above the limit"
    if status == "undecided" and more:
        return f"audit too small: {lead} is undecided, label about {more} more rows"
    if status == "undecided":
        return f"{lead} is undecided and more audit rows cannot decide it"
    return ""


def loss_rows_needed(signal: dict[str, Any], value: float, upper: float, limit: float) -> int | None:
    """About how many more audited rows would bring the predicted loss's upper bound to `limit`, the point
    estimate unchanged: the audit part of the variance shrinks as 1/rows, the calibration part does not. None when
    no number of rows can (or nothing was measured); never more than the rows not yet audited."""
    from labelgate.estimation import z_value

    n, n_rows = signal.get("n_audited"), signal.get("n_rows")
    calibration = (signal.get("calibration") or {}).get("calibration_sd")
    confidence = signal.get("confidence_level")
    if not n or not n_rows or calibration is None or confidence is None or value >= limit:
        return None
    z = z_value(confidence)
    audit_var = max(0.0, ((upper - value - (signal.get("unmeasured_share") or 0.0)) / z) ** 2 - calibration ** 2)
    room = ((limit - value) / z) ** 2 - calibration ** 2
    if room <= 0 or audit_var <= 0:
        return None
    total = math.ceil(n * audit_var / room)
    return int(min(n_rows - n, max(0, total - n))) or None


def _label_error_advice(verdict: Verdict, label_risk: dict[str, Any], params: GateParams) -> tuple[str, str]:
    """Attach the audit estimate and next steps. Returns the reason's parts: why the audit cannot be trusted, and,
    when the upper bound fails only for want of audited rows (the point estimate is under gate.max_label_error) and
    more rows can unblock the verdict, how many more rows to label ("" where none applies)."""
    from labelgate.estimation import estimate_text, rows_needed

    estimate = (label_risk.get("signals") or {}).get("label_error")
    if not isinstance(estimate, dict) or estimate.get("label_error_rate") is None:
        return "", ""
    threshold = params.max_label_error
    more = rows_needed(estimate, threshold)
    classes = estimate.get("per_class_error") or {}
    worst = sorted((name for name, c in classes.items() if c.get("error") is not None),
                   key=lambda name: -classes[name]["error"])
    rate, upper = estimate["label_error_rate"], estimate["label_error_rate_upper"]
    steps = []
    if more:
        steps.append(f"audit about {more} more rows (labelgate audit sample) to certify "
                     f"label_error_rate <= {threshold:g}")
    if rate >= threshold or (upper is not None and upper > threshold and not more):
        steps.append("filter the label set (labelgate filter) and check the subset's label_error_rate")
    if worst and (upper is not None and upper > threshold):
        steps.append("relabel or re-prompt the classes with the highest audited error: "
                     + ", ".join(f"{name} ({classes[name]['error']:.2f})" for name in worst[:3]))
    stamp = estimate.get("audit_rubber_stamp_flag_share")
    if stamp is not None and 0.1 < stamp <= params.max_audit_rubber_stamp_flag_share:
        steps.append(f"the audit found no wrong label although cleanlab flags at least {stamp:.0%} of the audited "
                     "rows: if the annotators saw the LLM label, audit again blind")
    share = estimate.get("systematic_error_share")
    if share is not None and share > params.max_systematic_error_share:
        steps.append(f"{share:.0%} of the audited errors are invisible to cleanlab (systematic): filtering will "
                     "not remove them; change the LLM or prompt for those classes")
    verdict.label_error = {
        "label_error_rate": rate,
        "label_error_rate_lower": estimate.get("label_error_rate_lower"),
        "label_error_rate_upper": upper,
        "n_audited": estimate.get("n_audited"),
        "confidence_level": estimate.get("confidence_level"),
        "method": estimate.get("method"),
        "max_label_error": threshold,
        "rows_needed": more,
        "systematic_error_share": share,
        "unmeasured_share": estimate.get("unmeasured_share"),
        "unmeasured_strata": estimate.get("unmeasured_strata"),
        "audit_representativeness_p": estimate.get("audit_representativeness_p"),
        "audit_imbalance_worst": estimate.get("audit_imbalance_worst"),
        "audit_rubber_stamp_flag_share": estimate.get("audit_rubber_stamp_flag_share"),
        "duplicate_share": estimate.get("duplicate_share"),
        "next_steps": steps,
    }
    failed = {o["column"] for o in verdict.outcomes if o["status"] == FAILED and o["severity"] == BLOCK}
    integrity = _audit_integrity_reason(estimate, failed, params)
    loss = verdict.accuracy_loss or {}
    # more audit rows cannot unblock a loss above the limit, or an undecided one that no number of rows decides
    hopeless = loss.get("status") == "above" or (loss.get("status") == "undecided" and not loss.get("rows_needed"))
    if integrity:
        steps.insert(0, integrity)
        return integrity, ""
    if AUDIT_EVIDENCE in failed and more is not None and more > 0 and not hopeless:
        return "", (f"audit too small: label about {more} more rows to certify label_error_rate <= {threshold:g} "
                    f"(now {estimate_text(estimate)})")
    return "", ""


def _audit_integrity_reason(estimate: dict[str, Any], failed: set[str], params: GateParams) -> str:
    """Why the audit itself cannot be trusted, as one line of clauses naming the strata or the figure: strata left
    unmeasured (when the upper bound failed), a non-representative audit, a rubber stamp; "" when none applies."""
    clauses = []
    unmeasured = estimate.get("unmeasured_strata") or {}
    if AUDIT_EVIDENCE in failed and unmeasured:
        need = ", ".join(f"label {s['label_more']} more rows in stratum '{name}' ({s['audited']} of {s['rows']} rows "
                         "audited)" for name, s in unmeasured.items())
        clauses.append(f"audit incomplete: {len(unmeasured)} LLM-label stratum/strata unmeasured (fewer than "
                       f"{estimate.get('min_audited_per_stratum')} audited rows), "
                       f"{estimate.get('unmeasured_share', 0.0):.0%} of the rows counted as wrong in the upper "
                       f"bound: {need}")
    if "audit_representativeness_p" in failed:
        worst = estimate.get("audit_imbalance_worst")
        figure = (estimate.get("audit_imbalance") or {}).get(worst) or {}
        means = (f" (audited mean {figure['audited_mean']:.3g} vs {figure['all_mean']:.3g} over all rows)"
                 if figure.get("audited_mean") is not None else "")
        clauses.append(f"audit not representative: the audited rows differ from the whole set in {worst}{means}, "
                       f"p = {estimate.get('audit_representativeness_p'):.2g} < "
                       f"{params.min_audit_representativeness_p:g}; audit a random sample (labelgate audit sample) "
                       "and label every drawn row")
    if "audit_rubber_stamp_flag_share" in failed:
        clauses.append(f"audit implausible: it agrees with every LLM label, although cleanlab flags at least "
                       f"{estimate.get('audit_rubber_stamp_flag_share'):.0%} of the audited rows as label issues; "
                       "label the audit blind (without the LLM label)")
    return "; ".join(clauses)


def _split_measured(suite_json: dict, frame: pd.DataFrame, optional: tuple[str, ...], *,
                    numbers_only: bool = False) -> tuple[dict, list[Outcome]]:
    """Expectations on columns that are absent or all-null were not measured. They are skipped, except a blocking
    one whose column gate.optional does not list: that one is an error (it blocks: no PASS without evidence).
    `numbers_only` (the one-row figure tables): a figure that is not a number errors, which blocks."""
    keep, skipped = [], []
    for expectation in suite_json["expectations"]:
        columns = expectation_columns(expectation)
        absent = [c for c in columns if c not in frame.columns or frame[c].isna().all()]
        if absent:
            meta = expectation.get("meta", {})
            severity = expectation_severity(expectation)
            error = None
            if severity == BLOCK and absent[0] not in optional:
                error = (f"blocking figure '{absent[0]}' was not measured (list it in gate.optional "
                         f"to allow that)")
            skipped.append(Outcome(expectation=expectation["type"], column=absent[0], success=error is None,
                                   severity=severity, description=meta.get("description", expectation["type"]),
                                   mitigation=meta.get("mitigation", ""), observed="not measured", error=error))
        elif (problem := _not_numbers(frame, columns) if numbers_only else None) is not None or (
                problem := _out_of_range(frame, columns)) is not None:
            meta = expectation.get("meta", {})
            skipped.append(Outcome(expectation=expectation["type"], column=columns[0], success=False,
                                   severity=expectation_severity(expectation),
                                   description=meta.get("description", expectation["type"]),
                                   mitigation=meta.get("mitigation", ""), observed=problem, error=problem))
        else:
            keep.append(expectation)
    return {**suite_json, "expectations": keep}, skipped


def _not_numbers(frame: pd.DataFrame, columns: list[str]) -> str | None:
    """A message when a figure is not a number (a boolean, a string): never read as 0/1 or left to GX's coercion."""
    for column in columns:
        series = frame[column]
        if pd.api.types.is_bool_dtype(series) and column not in FLAG_FIGURES:
            return f"figure '{column}' = {bool(series.iloc[0])!r} is not a number"
        if pd.api.types.is_numeric_dtype(series):
            continue
        bad = [value for value in series if not_a_number(value, column)]
        if bad:
            return f"figure '{column}' = {bad[0]!r} is not a number"
    return None


def _out_of_range(frame: pd.DataFrame, columns: list[str]) -> str | None:
    """A message when a numeric figure lies outside its valid range (FIGURE_RANGES, default [0, 1])."""
    for column in columns:
        series = frame[column]
        if pd.api.types.is_bool_dtype(series):
            continue
        # non-numbers are left to GX, which then errors
        values = (series if pd.api.types.is_numeric_dtype(series) else pd.to_numeric(series, errors="coerce")).dropna()
        low, high = FIGURE_RANGES.get(column, (0.0, 1.0))
        bad = values[(values < low) | (values > high) | ~np.isfinite(values)] if len(values) else values
        if len(bad):
            return f"figure '{column}' = {bad.iloc[0]!r} lies outside its range [{low}, {high}]"
    return None


def _row(suite: str, outcome: Outcome, status: str) -> dict[str, Any]:
    row = outcome.as_dict()
    row.pop("rows", None)
    if outcome.error:
        status = ERRORED
    return {"suite": suite, "status": status, **row}


def _decide(outcomes: list[dict[str, Any]], params: GateParams, checked: dict[str, set[str]]) -> Verdict:
    """Fail closed: PASS needs every required figure measured, at least one measured figure per suite that ran,
    no expectation that could not be evaluated and no failed blocking expectation."""
    measured = {o["column"] for o in outcomes if o["status"] in (PASS, FAILED)}
    ran = set().union(*checked.values())
    missing = [" or ".join(entry) for entry in params.required
               if any(name in ran for name in entry) and not any(name in measured for name in entry)]
    reasons = []
    empty = [suite for suite, columns in checked.items()
             if not any(o["suite"] == suite and o["status"] in (PASS, FAILED) for o in outcomes)]
    if empty:
        reasons.append(f"nothing measured by suite(s) {', '.join(empty)}")
    if missing:
        reasons.append(f"required figure(s) not measured: {'; '.join(missing)}" + (
            " (no gold audit rows: `labelgate audit sample`, label them, `labelgate audit merge`)"
            if any(AUDIT_EVIDENCE in entry for entry in missing) else ""))
    errors = [o for o in outcomes if o["status"] == ERRORED]
    if errors:  # an expectation that could not be evaluated (or a blocking one not measured) blocks
        reasons.append(f"{len(errors)} expectation(s) could not be evaluated: "
                       f"{', '.join(sorted({str(o['column']) for o in errors}))}")
    blocking = [o for o in outcomes if o["status"] == FAILED and o["severity"] == BLOCK]
    if blocking:
        reasons.append(f"{len(blocking)} blocking expectation(s) failed")
    if reasons:
        return Verdict(BLOCK, outcomes, reason="; ".join(reasons), missing_required=missing)
    warnings = [o for o in outcomes if o["status"] == FAILED]
    if warnings:
        return Verdict(WARN, outcomes, reason=f"{len(warnings)} warning expectation(s) failed")
    return Verdict(PASS, outcomes, reason="every required figure was measured and every measured expectation passed")


def failed_gate_verdict(reason: str) -> Verdict:
    """The verdict written when the gate itself could not run: blocked, with the reason."""
    return Verdict(BLOCK, [], reason=f"gate error: {reason}", blocking=[f"gate error: {reason}"])


def main(*, scores: str | os.PathLike | None, label_risk: str | os.PathLike | None,
         evaluation: str | os.PathLike | None, out: str | os.PathLike, params: GateParams,
         expectations_dir: str | os.PathLike = DEFAULT_EXPECTATIONS_DIR, headline: str | os.PathLike | None = None,
         report_dir: str | os.PathLike | None = None, subsets: str | os.PathLike | None = None,
         curves: str | os.PathLike | None = None, warn: Callable[[str], None] | None = None) -> Verdict:
    """The gate stage on files: run the suites whose inputs are given, write the verdict to `out` (with the gated
    subset), its headline figures to `headline` and the report to `report_dir`, blocked or not.

    Fails closed: a broken suite or gate params raise ConfigError before anything runs; when the gate itself fails,
    a blocked verdict (and headline and report) is written before the error propagates. A report that cannot be
    written goes to `warn` and never changes the verdict."""
    from labelgate.contract import read_table
    from labelgate.headline import gate_headline
    from labelgate.outputs import write_json

    suites = preflight(params, tuple(suite for suite, given in (("label_risk", scores), ("label_summary", label_risk),
                                                                (STABILITY_SUITE, evaluation)) if given),
                       expectations_dir)
    # the report's audit-reference section reads the file beside evaluate.json (where the pipeline writes it)
    beside = None if evaluation is None else os.path.join(os.path.dirname(os.fspath(evaluation)),
                                                          "audit_reference.json")
    paths = {"scores": scores, "label_risk": label_risk, "evaluation": evaluation, "subsets": subsets,
             "curves": curves, "audit_reference": beside if beside and os.path.exists(beside) else None}
    evaluation_figures = None
    try:
        # A figure file that cannot be read, a boolean where a number belongs, or an evaluation without the gated
        # subset is bad input (exit 2, one line naming file and key); the verdict is still replaced by a blocked one.
        label_figures = read_figures(label_risk, where=("metrics",), names=suite_figures("label_summary"))
        evaluation_figures = read_figures(evaluation, where=("subsets", params.subset),
                                          names=suite_figures(STABILITY_SUITE))
        if evaluation_figures is not None:
            evaluated = evaluation_figures.get("subsets")
            if isinstance(evaluated, dict) and not isinstance(evaluated.get(params.subset), dict):
                raise BadInputError(evaluation, f"key 'subsets' has no evaluation of '{params.subset}' "
                                                f"(gate.subset); evaluated: {', '.join(sorted(map(str, evaluated)))}")
        score_rows = read_table(scores) if scores else None
        subset = None
        if params.subset != WHOLE_TABLE and (scores or label_risk):
            subset, ids = gated_subset(subsets, params.subset)
            score_rows = subset_rows(score_rows, ids)
        verdict = run_gate(
            scores=score_rows,
            label_risk=label_figures,
            evaluation=evaluation_figures,
            params=params, expectations_dir=expectations_dir, suites=suites, subset=subset,
        )
    except Exception as exc:  # fail closed: write a blocked verdict, then report the error
        failed = failed_gate_verdict(f"{type(exc).__name__}: {exc}").as_dict()
        write_json(out, failed)
        if headline is not None:
            write_json(headline, gate_headline(failed))
        _write_report(report_dir, failed, paths, warn)
        raise
    result = {**verdict.as_dict(), "subset": params.subset}
    write_json(out, result)
    if headline is not None:
        write_json(headline, gate_headline(result, evaluation_figures, params.subset))
    _write_report(report_dir, result, paths, warn)
    return verdict


def gated_subset(subsets: str | os.PathLike | None, name: str) -> tuple[dict[str, Any], set[str]]:
    """The gated filter subset's summary (<subsets>/<name>.json, written by `labelgate filter`) and its row ids
    (<name>.parquet). Missing either is bad input: the label-level checks must not fall back to the whole table."""
    from pathlib import Path

    from labelgate.contract import ID
    from labelgate.outputs import read_json
    from labelgate.train.inputs import subset_table

    if subsets is None:
        raise BadInputError("--subsets", f"gate.subset is '{name}', a filter subset: pass --subsets DIR (its "
                                         "summary and table) so the label-level checks read that subset's figures")
    summary_path = Path(subsets) / f"{name}.json"
    if not summary_path.exists():
        raise BadInputError(summary_path, f"gate.subset '{name}' has no filter summary; run `labelgate filter "
                                          f"--strategy {name}` (or set gate.subset to one of filter.strategies)")
    summary = read_json(summary_path)
    check_figure_types(summary, summary_path, where=(SUBSET_FIGURES,), names=suite_figures("label_summary"))
    table = subset_table(name, subsets)
    frame = pd.read_parquet(table, columns=[ID]) if table.suffix == ".parquet" and table.exists() else None
    if frame is None:
        from labelgate.contract import read_table

        frame = read_table(table)
    if ID not in frame.columns:
        raise BadInputError(table, "subset table has no id column", column=ID)
    return summary, set(frame[ID].astype(str))


def subset_rows(scores: pd.DataFrame | None, ids: set[str]) -> pd.DataFrame | None:
    """The per-example scores of the gated subset's rows (what the label_risk suite checks)."""
    from labelgate.contract import ID

    if scores is None:
        return None
    if ID not in scores.columns:
        raise BadInputError("scores", "no id column to select the gated subset's rows", column=ID)
    return scores[scores[ID].astype(str).isin(ids)].reset_index(drop=True)


def read_figures(path: str | os.PathLike | None, *, where: tuple[str, ...], names: set[str]) -> dict | None:
    """A figures JSON file (None when not given), its checked figures typed (`check_figure_types`)."""
    if path is None:
        return None
    from labelgate.outputs import read_json

    data = read_json(path)
    check_figure_types(data, path, where=where, names=names)
    return data


def _write_report(report_dir, verdict: dict[str, Any], paths: dict[str, Any], warn) -> None:
    """The gate's report (report.html, summary.md in `report_dir`); a failure to write it only warns."""
    if report_dir is None:
        return
    from pathlib import Path

    from labelgate.report import load_inputs, write_report

    try:
        inputs = load_inputs(**paths)
        inputs.verdict = verdict
        inputs.missing.pop("verdict", None)
        write_report(inputs, html_path=Path(report_dir) / "report.html", markdown_path=Path(report_dir) / "summary.md")
    except Exception as exc:  # noqa: BLE001 - the verdict stands either way
        (warn or _stderr)(f"labelgate gate: warning: report not written: {type(exc).__name__}: {exc}")


def _stderr(line: str) -> None:
    import sys

    print(line, file=sys.stderr)
