"""expectations.py: loading and checking suites before anything runs, and running one on a frame with GX."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from labelgate.errors import BadInputError, ConfigError
from labelgate.expectations import (
    check_suite,
    expectation_columns,
    expectation_severity,
    load_suite_json,
    run_suite_json,
    suite_parameters,
)

SUITE = {"name": "s", "expectations": [
    {"type": "expect_column_max_to_be_between", "kwargs": {"column": "rate", "max_value": {"$PARAMETER": "limit"}},
     "meta": {"description": "rate too high", "mitigation": "relabel"}},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "name"}, "severity": "warning",
     "meta": {"description": "name missing"}},
]}


class TestSuiteFiles:
    def test_every_repository_suite_is_valid_json(self, repo):
        for path in sorted((repo / "expectations").glob("*.json")):
            suite = load_suite_json(path.stem, repo / "expectations")
            assert suite["expectations"], path

    @pytest.mark.parametrize("content, message", [
        (None, "expectation suite not found"),
        ("{", "not valid JSON"),
        ('{"name": "s"}', "needs 'name' and an 'expectations' list"),
    ])
    def test_unreadable_suite_is_bad_input(self, tmp_path, content, message):
        if content is not None:
            (tmp_path / "s.json").write_text(content)
        with pytest.raises(BadInputError, match=message):
            load_suite_json("s", tmp_path)


class TestCheckSuite:
    def test_names_columns_parameters_and_severity(self):
        first, second = SUITE["expectations"]
        assert expectation_columns(first) == ["rate"] and suite_parameters(SUITE) == {"limit"}
        assert expectation_severity(first) == "block" and expectation_severity(second) == "warn"
        check_suite(SUITE, source="s.json", parameters={"limit"}, columns={"rate", "name"})

    @pytest.mark.parametrize("change, message", [
        ({"severity": "fatal"}, "unknown severity 'fatal'"),
        ({"severty": "warning"}, "unknown key(s) severty"),
        ({"type": "expect_column_to_be_magic"}, "Great Expectations cannot build it"),
        ({"kwargs": {"column": "ratio", "max_value": 1}}, "column 'ratio' is not produced here"),
        ({"kwargs": {"column": "rate", "max_value": {"$PARAMETER": "limt"}}}, "$PARAMETER limt is not defined"),
    ])
    def test_a_typo_is_a_config_error_naming_the_expectation(self, change, message):
        suite = json.loads(json.dumps(SUITE))
        suite["expectations"][0].update(change)
        with pytest.raises(ConfigError) as info:
            check_suite(suite, source="s.json", parameters={"limit"}, columns={"rate", "name"})
        assert str(info.value).startswith("s.json: expectation 1") and message in str(info.value)


def test_run_suite_json_returns_one_outcome_per_expectation():
    frame = pd.DataFrame({"rate": [0.1, 0.3], "name": ["a", None]})
    outcomes = run_suite_json(SUITE, frame, {"limit": 0.2}, source="s.json")
    assert [(o.column, o.success, o.severity) for o in outcomes] == [("rate", False, "block"), ("name", False, "warn")]
    assert outcomes[0].description == "rate too high" and outcomes[0].mitigation == "relabel"
    assert outcomes[0].observed == pytest.approx(0.3)
    assert [o.success for o in run_suite_json(SUITE, frame.fillna("b"), {"limit": 0.5})] == [True, True]
