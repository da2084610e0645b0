"""The filter's per-class audited error of the kept rows carries the audit weights (issue-19 mutation bench)."""

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
