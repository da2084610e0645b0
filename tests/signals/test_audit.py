"""The audit signal: LLM accuracy on the gold-audited rows with its Wilson interval, clean and dirty."""

from __future__ import annotations

import pandas as pd
import pytest

from labelgate.signals.audit import DEFAULT_CONFIDENCE, AuditParams
from signals.support import run


class TestAudit:
    def frame(self, gold):
        return pd.DataFrame({"text": ["t"] * 4, "llm_label": ["a", "b", "c", "a"], "gold_label": gold})

    def test_clean_audit(self):
        result = run("audit", self.frame(["a", "b", "c", None]))
        assert result.summary["n_audited"] == 3
        assert result.summary["audit_accuracy"] == 1.0
        # Wilson 95% interval for 3/3: lower bound 0.4385
        assert result.summary["audit_accuracy_lower"] == pytest.approx(0.43850, abs=1e-4)

    def test_confidence_level_comes_from_params(self):
        from scipy.stats import norm

        result = run("audit", self.frame(["a", "b", "c", None]), audit_confidence=0.8)
        z = norm.ppf(0.9)
        # Wilson lower bound for 3/3: 1 / (1 + z^2 / 3)
        assert result.summary["audit_accuracy_lower"] == pytest.approx(1 / (1 + z * z / 3), abs=1e-9)
        assert result.summary["audit_accuracy_lower"] == pytest.approx(0.64622, abs=1e-5)
        assert result.summary["confidence_level"] == 0.8

    def test_dirty_audit(self):
        result = run("audit", self.frame(["b", "b", "c", "c"]))
        assert result.summary["audit_accuracy"] == 0.5
        assert result.summary["confusion"] == [[0, 0, 0], [1, 1, 0], [1, 0, 1]]
        assert list(result.rows["audit_correct"]) == [0.0, 1.0, 1.0, 0.0]

    def test_params_default_and_range(self):
        assert AuditParams().audit_confidence == DEFAULT_CONFIDENCE == 0.95
        with pytest.raises(ValueError, match="audit_confidence=1.0 must lie in"):
            AuditParams(audit_confidence=1.0)
