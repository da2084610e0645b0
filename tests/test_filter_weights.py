"""The filter's per-class audited error of the kept rows carries the audit weights (found by the mutation bench)."""

from __future__ import annotations

import pytest

from labelgate.filter import FilterParams, filter_subset
from test_filter import LABELS, scores


def test_per_class_error_of_the_kept_rows_is_weighted():
    frame = scores().assign(audit_weight=[1.0, 3.0, None, 2.0, 2.0, None])  # r2 (a, wrong) stands for 3 rows
    _, summary = filter_subset(frame, "raw", FilterParams(min_class_count=1), LABELS)
    per_class = summary["label_error"]["per_class_error"]
    assert per_class["a"] == {"audited": 2, "error": pytest.approx(3 / 4)}  # unweighted it would be 1/2
    assert per_class["b"] == {"audited": 2, "error": pytest.approx(2 / 4)}


def test_the_subset_accuracy_loss_reads_the_audit_weights():
    """The kept rows' learned-error share (of their audited wrong labels, how many the model reproduces) is weighted:
    the two reproduced errors stand for 5 rows each, the two others for 1, so 10/12 of the errors are learned, not
    2/4, and the expected accuracy loss is higher than the unweighted one."""
    import numpy as np
    import pandas as pd

    from labelgate.filter import subset_accuracy_loss
    from labelgate.signals.accuracy_loss import LEARNED_ERROR

    frame = pd.DataFrame({
        "llm_label": ["a", "a", "b", "b", "a", "b", "a", "b"],
        "gold_label": ["b", "b", "a", "a", "a", "b", None, None],
        "audit_weight": [5.0, 1.0, 5.0, 1.0, 2.0, 2.0, None, None],
        LEARNED_ERROR: [True, False, True, False, False, False, False, False],
    })
    estimate = {"label_error_rate": 0.3, "label_error_rate_lower": 0.2, "label_error_rate_upper": 0.4}
    signal = {"calibration": {"rate_scale": 0.2, "learned_scale": 0.5, "learned_power": 1.0, "calibration_sd": 0.01},
              "n_classes": 2, "errors_learned_chance": 0.1}
    mask = np.ones(len(frame), bool)
    weighted = subset_accuracy_loss(frame, mask, estimate, signal, 0.95)
    plain = subset_accuracy_loss(frame.drop(columns=["audit_weight"]), mask, estimate, signal, 0.95)
    assert weighted["expected_accuracy_loss"] > plain["expected_accuracy_loss"] + 1e-3
