"""The figures the gate checks: the one-row tables its suites run on, their types and valid ranges, and which
figures each suite may check."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from labelgate.errors import BadInputError
from labelgate.estimation import DEFAULT_CONFIDENCE
from labelgate.expectations import expectation_columns
from labelgate.harm import DECIDING_FIGURES
from labelgate.harm import deciding as deciding_loss
from labelgate.vocabulary import SCORES_SUITE, STABILITY_SUITE, SUBSET_FIGURES, SUMMARY_SUITE


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
    if suite == SCORES_SUITE:
        from labelgate.signals import signal_columns

        return signal_columns()
    if suite == SUMMARY_SUITE:
        from labelgate.signals import signal_metrics

        return signal_metrics() | set(DECIDING_FIGURES) | {SUBSET_SIZE}
    if suite == STABILITY_SUITE:
        from labelgate.evaluate import STABILITY_FIGURES

        return set(STABILITY_FIGURES)
    raise ValueError(f"unknown gate suite {suite!r}")


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
