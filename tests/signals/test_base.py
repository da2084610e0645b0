"""The signal interface and registry: every registered signal lives in the module named as its key, with the class
name that key implies, takes only its own params, and declares exactly the figures it writes."""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest

from labelgate.signals import SIGNALS, SignalParams, signal_class_name
from labelgate.signals.audit import AuditParams
from labelgate.signals.entropy import EntropyParams, EntropySignal
from signals.support import LABELS, run
from synthetic import label_table, make_texts


class TestRegistry:
    def test_file_key_and_class_name_agree(self):
        assert set(SIGNALS) == {"accuracy_loss", "agreement", "audit", "class_balance", "cleanlab", "entropy",
                                "label_error"}
        for key, cls in SIGNALS.items():
            assert cls.__module__ == f"labelgate.signals.{key}", key
            assert cls.__name__ == signal_class_name(key), key
            assert getattr(importlib.import_module(cls.__module__), cls.__name__) is cls

    def test_class_name_from_key(self):
        assert signal_class_name("class_balance") == "ClassBalanceSignal"
        assert signal_class_name("cleanlab") == "CleanlabSignal"

    def test_each_signal_owns_a_params_dataclass(self):
        assert all(issubclass(cls.Params, SignalParams) for cls in SIGNALS.values())
        assert SIGNALS["entropy"].Params is EntropyParams
        assert SIGNALS["audit"].Params is AuditParams and SIGNALS["label_error"].Params is AuditParams
        assert EntropySignal().params == EntropyParams()  # no params given: the documented defaults

    def test_a_signal_refuses_another_signals_params(self):
        with pytest.raises(TypeError, match="signal 'entropy' takes EntropyParams, not AuditParams"):
            EntropySignal(AuditParams())

    def test_unavailable_reports_every_figure_as_not_measured(self):
        result = SIGNALS["audit"]().unavailable("no gold")
        assert result.summary == {"available": False, "reason": "no gold"}
        assert result.metrics == {"audit_accuracy": None, "audit_accuracy_lower": None}
        assert result.rows.empty

    @pytest.mark.slow
    def test_signals_declare_the_figures_they_produce(self):
        """Each signal's `columns` and `metrics` (what the gate's suites may check) match what it really writes."""
        texts, truth = make_texts(120, 3, seed=2)
        frame = label_table(texts, truth, list(LABELS), truth=truth, audit_share=0.3)
        frame["annotator_p2"] = frame["llm_label"]
        for k, label in enumerate(LABELS):
            frame[f"llm_prob_{label}"] = np.where(truth == k, 0.8, 0.1)
        for name, cls in SIGNALS.items():
            result = run(name, frame, test_labels=pd.Series(list(LABELS) * 10))
            assert set(result.rows.columns) == set(cls.columns), name
            assert set(result.metrics) == set(cls.metrics), name
            assert set(cls().unavailable("no").metrics) == set(cls.metrics), name
