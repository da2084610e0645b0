"""Risk signals of an LLM label set. Importing this package registers every built-in signal in SIGNALS."""

from labelgate.signals import agreement, audit, balance, entropy, label_error, label_issues  # noqa: F401 - registration
from labelgate.signals.base import (
    SIGNALS,
    RiskSignal,
    ScoringContext,
    SignalResult,
    register,
    signal_columns,
    signal_metrics,
)

__all__ = ["SIGNALS", "RiskSignal", "ScoringContext", "SignalResult", "register", "signal_columns",
           "signal_metrics"]
