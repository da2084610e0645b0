"""Risk signals of an LLM label set: one module per signal, named as its registry key. Importing this package
registers every built-in signal in SIGNALS."""

from labelgate.signals import (  # noqa: F401
    accuracy_loss,
    agreement,
    audit,
    class_balance,
    cleanlab,
    entropy,
    label_error,
)
from labelgate.signals.base import (
    SIGNALS,
    RiskSignal,
    SignalParams,
    SignalResult,
    register,
    signal_class_name,
    signal_columns,
    signal_metrics,
)
from labelgate.signals.context import ScoringContext

__all__ = ["SIGNALS", "RiskSignal", "ScoringContext", "SignalParams", "SignalResult", "register",
           "signal_class_name", "signal_columns", "signal_metrics"]
