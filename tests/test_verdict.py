"""verdict.py: what counts as blocked, the verdict's counts, the verdict table and `labelgate enforce`."""

from __future__ import annotations

import json

import pytest

from labelgate.gate import Verdict
from labelgate.verdict import BANNER, count_outcomes, verdict_rows, verdict_status


class TestVerdictTable:
    def test_empty_columns_are_dropped(self):
        outcome = {"suite": "label_scores", "status": "skipped", "severity": "warn", "description": "share",
                   "observed": "not measured", "threshold": "", "mitigation": "m", "error": None}
        header, rows, notes = verdict_rows(Verdict("pass", [outcome], reason="ok"))
        assert header == ["suite", "check", "observed", "result"]  # no limit: nothing was measured
        assert rows == [["scores", "share", "n/a", "skipped"]] and notes == []


class TestEnforce:
    @pytest.mark.parametrize("verdict, code, shown", [
        ({"status": "block", "blocked": True, "reason": "3 failed"}, 1, "BLOCKED (3 failed)"),
        ({"status": "pass", "blocked": False, "reason": "ok"}, 0, "PASSED (ok)"),
        ({"status": "warn", "blocked": False, "reason": "1 warning"}, 0, "WARN (1 warning)"),
        ({"status": "maybe"}, 1, "BLOCKED (no reason given)"),  # unrecognised: fail closed
    ])
    def test_exit_codes(self, tmp_path, cli, verdict, code, shown):
        (tmp_path / "v.json").write_text(json.dumps(verdict))
        result = cli("enforce", tmp_path / "v.json")
        assert result.exit_code == code
        lines = result.output.strip().splitlines()
        assert lines[0] == f"{tmp_path / 'v.json'}: {shown}"
        if code:  # each blocker (here the reason: no `blocking` list), then the line DVC's error follows
            assert lines[1:] == [f"  blocked by: {verdict.get('reason', 'no reason given')}",
                                 "labelgate: BLOCKED - see reports/summary.md"]
        else:
            assert lines == [f"{tmp_path / 'v.json'}: {shown}"]

    def test_missing_verdict_is_not_a_pass(self, tmp_path, cli):
        result = cli("enforce", tmp_path / "absent.json")
        assert result.exit_code == 2 and "file not found" in result.output


def outcome(status: str, severity: str = "block") -> dict:
    return {"suite": "label_summary", "status": status, "severity": severity, "description": "d", "observed": 0.5,
            "threshold": "<= 0.1", "mitigation": "", "error": None}


class TestStatus:
    @pytest.mark.parametrize("verdict, status", [
        (None, None),
        ({"status": "pass", "blocked": False}, "pass"),
        ({"status": "warn", "blocked": False}, "warn"),
        ({"status": "block", "blocked": True}, "block"),
        ({"status": "pass", "blocked": True}, "block"),  # contradicting itself: blocked wins
        ({"status": "pass", "blocked": "yes"}, "block"),  # anything but false blocks: a string,
        ({"status": "pass", "blocked": 1}, "block"),  # a number, null
        ({"status": "pass", "blocked": None}, "block"),
        ({"status": "PASSED"}, "block"),  # unrecognised: fail closed
        ({}, "block"),
    ])
    def test_anything_unrecognised_is_blocked(self, verdict, status):
        assert verdict_status(verdict) == status

    def test_banner_names_every_status(self):
        assert BANNER == {"pass": "PASSED", "warn": "WARN", "block": "BLOCKED", None: "NO VERDICT"}


class TestCounts:
    def test_each_outcome_counted_once(self):
        outcomes = [outcome("fail"), outcome("fail", "warn"), outcome("fail", "warn"), outcome("pass"),
                    outcome("skipped", "warn"), outcome("error")]
        assert count_outcomes(outcomes) == {"failed_block": 1, "failed_warn": 2, "passed": 1, "skipped": 1,
                                            "errors": 1}
        assert Verdict("block", outcomes).as_dict()["counts"] == count_outcomes(outcomes)

    def test_a_verdict_file_read_back_is_counted_fail_closed(self):
        """The report counts a verdict file with the same counter: a failed outcome of an unknown or missing severity
        counts as blocking, and what is not an outcome object is not counted (nor raises)."""
        outcomes = [{"status": "fail", "severity": "critcal"}, {"status": "fail"},
                    {"status": "fail", "severity": "warn"}, "junk", None, {"severity": "block"}]
        assert count_outcomes(outcomes) == {"failed_block": 2, "failed_warn": 1, "passed": 0, "skipped": 0, "errors": 0}

    def test_failed_and_errored_rows_get_notes(self):
        failed = {**outcome("fail"), "mitigation": "relabel"}
        errored = {**outcome("error"), "error": "no such column"}
        header, rows, notes = verdict_rows(Verdict("block", [failed, errored, outcome("pass", "warn")]))
        assert header == ["suite", "check", "observed", "limit", "result"]
        assert [row[-1] for row in rows] == ["FAIL", "ERROR", "pass"]
        assert rows[1][2] == "error"
        assert notes == ["d: relabel", "d: could not be evaluated: no such column"]


def test_enforce_reads_every_verdict_and_blocks_on_any(tmp_path, cli):
    (tmp_path / "a.json").write_text(json.dumps({"status": "pass", "blocked": False, "reason": "ok"}))
    (tmp_path / "b.json").write_text(json.dumps({"status": "block", "blocked": True, "reason": "no"}))
    result = cli("enforce", tmp_path / "a.json", tmp_path / "b.json")
    assert result.exit_code == 1
    assert result.output.splitlines() == [f"{tmp_path / 'a.json'}: PASSED (ok)", f"{tmp_path / 'b.json'}: BLOCKED (no)",
                                          "  blocked by: no", "labelgate: BLOCKED - see reports/summary.md"]


def test_enforce_refuses_a_file_that_is_not_json(tmp_path, cli):
    (tmp_path / "v.json").write_text("{not json")
    result = cli("enforce", tmp_path / "v.json")
    assert result.exit_code == 2 and "not a readable verdict (JSONDecodeError)" in result.output
