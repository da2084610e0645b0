"""The Markdown PR summary (labelgate.report.markdown): short, escaped, and the run's figures."""

from __future__ import annotations

import json

from labelgate.report import ReportInputs
from labelgate.report.inputs import observed_text
from labelgate.report.markdown import build_markdown, md_escape
from report_case import failed


class TestMarkdown:
    def test_summary_for_a_pr_comment(self, verdict, summary):
        lines = summary.splitlines()
        assert len(lines) < 60
        assert lines[2].startswith(f"**{md_escape(verdict['reason'])}**")
        for outcome in failed(verdict):
            column = outcome["column"].replace("_", "\\_")
            row = next(line for line in lines if line.startswith("| ") and f"({column})" in line)
            assert observed_text(outcome) in row
            assert outcome["threshold"].replace(">", "&gt;").replace("<", "&lt;") in row
            assert md_escape(outcome["mitigation"]) in row
            assert row.startswith("| ⚠️ warn" if outcome["severity"] == "warn" else "| ❌ block")
        assert "| raw (gated) | 480 / 480 |" in summary
        assert "| gold (reference) | — | — | — | 0.830 ± 0.010 |" in summary
        assert "Full report with plots: report.html" in summary

    def test_label_error_estimate_with_interval_and_audit_size(self, run, summary):
        risk = json.loads((run / "label_risk.json").read_text())["signals"]["label_error"]
        shown = (f"{risk['label_error_rate']:.2f} [{risk['label_error_rate_lower']:.2f}, "
                 f"{risk['label_error_rate_upper']:.2f}], audit of {risk['n_audited']} rows")
        assert f"**label_error_rate {md_escape(shown)}**" in summary

    def test_user_text_cannot_break_the_table_or_mention(self):
        outcome = {"suite": "s", "status": "fail", "severity": "block", "description": "a | b <script> @team",
                   "column": "c", "observed": 0.5, "threshold": "<= 0.1", "mitigation": "[x](http://e)"}
        summary = build_markdown(ReportInputs(verdict={"status": "block", "blocked": True, "reason": "r",
                                                       "outcomes": [outcome]}))
        row = next(line for line in summary.splitlines() if line.startswith("| ❌"))
        assert row.count(" | ") == 4  # five cells: nothing from the user text split a cell
        assert "a \\| b &lt;script&gt; &#64;team" in row and "\\[x\\](http://e)" in row

    def test_long_verdicts_stay_short(self):
        outcomes = [{"suite": "s", "status": "fail", "severity": "warn", "description": f"check {i}", "column": f"c{i}",
                     "observed": i / 100, "threshold": "<= 0", "mitigation": "m"} for i in range(80)]
        subsets = {f"s{i}": {"rows_kept": 10, "rows_in": 20} for i in range(30)}
        summary = build_markdown(ReportInputs(verdict={"status": "warn", "outcomes": outcomes}, subsets=subsets))
        assert len(summary.splitlines()) < 60
        assert "…and 65 more failed expectation(s)" in summary and "…and 20 more subset(s)" in summary
