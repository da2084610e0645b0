"""Headline figures: the few numbers per stage a reviewer compares in `dvc metrics show/diff`.

The stages' full outputs (every signal's details, per-seed and per-class scores, each expectation's outcome) are
plain JSON files that the gate and the report read; DVC tracks them as outputs, not metrics. Each stage also writes
a flat headline file (`--headline`), and only those are declared as DVC metrics, so `dvc metrics show` stays a
table of about a dozen columns per file and the PR comment's `dvc metrics diff` lists only what moved.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from labelgate.vocabulary import BLOCK, COUNT_ERRORS, COUNT_FAILED_BLOCK, COUNT_FAILED_WARN

#: The most figures a headline file holds (leaves, nested ones counted): a PR reviewer reads them in one glance.
MAX_HEADLINE_FIGURES = 12

#: label_risk.json figures for the headline, in reading order (those the scorer reported, at most 11 besides
#: n_rows): the audit's error rate with its upper bound (the checked figure), the expected accuracy loss with its
#: upper bound when the scorer reports it, then the secondary figures. Lower bounds and the rest stay in the detail
#: file (metrics/label_risk.json).
LABEL_RISK_HEADLINE = (
    "label_error_rate", "label_error_rate_upper", "n_audited", "expected_accuracy_loss",
    "expected_accuracy_loss_upper", "audit_accuracy_lower", "systematic_error_share", "text_error_auc",
    "estimated_noise_rate", "median_normalised_entropy", "class_balance_tvd",
)
#: The verdict counts shown (passed and skipped stay in metrics/gate.json).
GATE_COUNTS = (COUNT_FAILED_BLOCK, COUNT_FAILED_WARN, COUNT_ERRORS)

#: Seed-stability figures of the gated subset, as named in evaluate.json, and their headline names.
STABILITY = {
    "accuracy_mean": "accuracy",
    "accuracy_std": "accuracy_std",
    "krippendorff_alpha": "seed_alpha",
    "accuracy_gap_to_reference": "accuracy_gap",
    "audit_accuracy_gap": "audit_accuracy_gap",
    "learning_curve_decline": "learning_curve_decline",
}


def headline_output(path: str | os.PathLike | None, figures: Mapping[str, Any]) -> list[tuple[str | os.PathLike,
                                                                                          Mapping[str, Any]]]:
    """The headline file to write with a stage's other outputs (all or nothing): [(path, figures)], or [] when the
    stage was run without --headline."""
    return [] if path is None else [(path, figures)]


def _number(value: Any) -> float | int | None:
    """A figure as a number; a boolean or anything else is not one (None), never 0/1."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    return None


def label_risk_headline(result: Mapping[str, Any]) -> dict[str, Any]:
    """Rows scored and the reviewer's label-set figures of `labelgate score` (LABEL_RISK_HEADLINE, those reported;
    None where a signal could not run)."""
    metrics = result.get("metrics") or {}
    figures = {"n_rows": result.get("n_rows")}
    figures.update({name: _number(metrics[name]) for name in LABEL_RISK_HEADLINE if name in metrics})
    return figures


def evaluate_headline(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Per trained subset: mean test accuracy and macro-F1 across seeds."""
    return {name: {"accuracy": _number(m.get("accuracy_mean")), "macro_f1": _number(m.get("macro_f1_mean"))}
            for name, m in (metrics.get("subsets") or {}).items()}


def gate_headline(verdict: Mapping[str, Any], evaluation: Mapping[str, Any] | None = None,
                  subset: str | None = None) -> dict[str, Any]:
    """Blocked (1/0), the failed and errored expectation counts and the gated subset's seed-stability figures."""
    figures: dict[str, Any] = {"blocked": int(bool(verdict.get("blocked")) or verdict.get("status") == BLOCK)}
    loss = verdict.get("accuracy_loss") or {}
    figures.update({name: _number(loss.get(name)) for name in ("accuracy_loss", "accuracy_loss_upper")})
    counts = verdict.get("counts") or {}
    figures.update({name: _number(counts[name]) for name in GATE_COUNTS if name in counts})
    gated = ((evaluation or {}).get("subsets") or {}).get(subset or "")
    if gated:
        figures[subset] = {short: _number(gated.get(name)) for name, short in STABILITY.items()}
    return figures


def count_figures(figures: Mapping[str, Any]) -> int:
    """The figures of a headline file, nested ones counted (what MAX_HEADLINE_FIGURES bounds)."""
    return sum(count_figures(v) if isinstance(v, Mapping) else 1 for v in figures.values())
