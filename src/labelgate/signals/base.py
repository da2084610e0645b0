"""The risk-signal interface and registry (cleanlab Datalab's issue-manager pattern).

A signal is a small class in the module named as its registry key (`entropy.py`: `EntropySignal`, key "entropy"),
with its settings in its own frozen `Params` dataclass, a `score(context)` method returning per-row columns (scores
in [0, 1] and boolean flags, one row per example in table order) and a summary of plain numbers. The score stage
runs the signals that params.yaml enables (score.signals), in that order; signals that need something a table lacks
(annotator columns, gold audit labels, a test set) say so in their summary instead of inventing a value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import pandas as pd

from labelgate.signals.context import ScoringContext

SIGNALS: dict[str, type[RiskSignal]] = {}


def register(cls: type[RiskSignal]) -> type[RiskSignal]:
    """Class decorator: make a signal available by its `name` in params.yaml (score.signals)."""
    SIGNALS[cls.name] = cls
    return cls


def signal_class_name(key: str) -> str:
    """The class name a signal's registry key implies: "class_balance" -> "ClassBalanceSignal"."""
    return "".join(part.capitalize() for part in key.split("_")) + "Signal"


@dataclass(frozen=True)
class SignalParams:
    """Settings of a signal that has none; a signal with settings subclasses this. Its fields are keys of the
    params.yaml section `score`, so each key belongs to one class."""


@dataclass
class SignalResult:
    name: str
    rows: pd.DataFrame  # per-row columns, prefixed with the signal name; empty frame when not applicable
    summary: dict[str, Any]  # plain JSON-able values; "available": False when the signal could not run
    metrics: dict[str, float | None] = field(default_factory=dict)  # flat figures the gate checks


class RiskSignal:
    name: ClassVar[str]
    description: ClassVar[str]
    Params: ClassVar[type[SignalParams]] = SignalParams
    #: Per-row columns and summary figures the signal can produce: the names the gate's suites may check.
    columns: ClassVar[tuple[str, ...]] = ()
    metrics: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: SignalParams | None = None):
        if params is not None and not isinstance(params, self.Params):
            raise TypeError(f"signal '{self.name}' takes {self.Params.__name__}, not {type(params).__name__}")
        self.params = params if params is not None else self.Params()

    def score(self, context: ScoringContext) -> SignalResult:  # pragma: no cover - interface
        raise NotImplementedError

    def unavailable(self, reason: str, metric_names: tuple[str, ...] | None = None) -> SignalResult:
        """The signal could not run on this table: its figures are None (not measured), never invented."""
        names = self.metrics if metric_names is None else metric_names
        return SignalResult(self.name, pd.DataFrame(), {"available": False, "reason": reason},
                            {name: None for name in names})


def signal_columns() -> set[str]:
    """Every per-row column a registered signal can write (what the label_scores suite may check)."""
    return {column for cls in SIGNALS.values() for column in cls.columns}


def signal_metrics() -> set[str]:
    """Every summary figure a registered signal can report (what the label_summary suite may check)."""
    return {metric for cls in SIGNALS.values() for metric in cls.metrics}
