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

from labelgate.vocabulary import BLOCK

#: Seed-stability figures of the gated subset, as named in evaluate.json, and their headline names.
STABILITY = {
    "accuracy_mean": "accuracy",
    "macro_f1_mean": "macro_f1",
    "accuracy_std": "accuracy_std",
    "krippendorff_alpha": "seed_alpha",
    "unchanged_prediction_rate": "unchanged_rate",
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
    """Rows scored and the label-set figures of `labelgate score` (None where a signal could not run)."""
    figures = {"n_rows": result.get("n_rows")}
    figures.update({name: _number(value) for name, value in (result.get("metrics") or {}).items()})
    return figures


def evaluate_headline(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Per trained subset: mean test accuracy and macro-F1 across seeds."""
    return {name: {"accuracy": _number(m.get("accuracy_mean")), "macro_f1": _number(m.get("macro_f1_mean"))}
            for name, m in (metrics.get("subsets") or {}).items()}


def gate_headline(verdict: Mapping[str, Any], evaluation: Mapping[str, Any] | None = None,
                  subset: str | None = None) -> dict[str, Any]:
    """Blocked (1/0), the expectation counts and the gated subset's seed-stability figures."""
    figures: dict[str, Any] = {"blocked": int(bool(verdict.get("blocked")) or verdict.get("status") == BLOCK)}
    loss = verdict.get("accuracy_loss") or {}
    figures.update({name: _number(loss.get(name)) for name in ("accuracy_loss", "accuracy_loss_upper")})
    figures.update({name: _number(count) for name, count in (verdict.get("counts") or {}).items()})
    gated = ((evaluation or {}).get("subsets") or {}).get(subset or "")
    if gated:
        figures[subset] = {short: _number(gated.get(name)) for name, short in STABILITY.items()}
    return figures
