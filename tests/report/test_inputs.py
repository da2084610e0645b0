"""Reading the report's inputs (labelgate.report.inputs): missing or malformed files cost only their section, an
unrecognised verdict counts as blocked, and the figures shown are the files' figures."""

from __future__ import annotations

import json

import pytest

from labelgate.report import ReportInputs, load_inputs
from labelgate.report.html import build_html
from labelgate.report.inputs import (
    all_curves,
    counts_text,
    curve_series,
    fmt,
    ordered_outcomes,
    seed_scores,
    share_text,
    verdict_reason,
)
from labelgate.report.markdown import build_markdown
from labelgate.verdict import verdict_status
from report_case import CURVES, STRATEGIES, evaluation, invoke, run_inputs, text


@pytest.mark.slow
class TestMissingInputs:
    def test_check_output_before_training(self, run, tmp_path):
        """What `labelgate check` leaves: a verdict over label figures, no evaluation, subsets or curves."""
        result = invoke("gate", "--scores", run / "scores.parquet", "--label-risk", run / "label_risk.json",
                        "--out", tmp_path / "check.json", "--params", run / "params.yaml",
                        "--expectations", run / "expectations")
        assert result.exit_code == 1, result.output
        inputs = run_inputs(run, verdict=tmp_path / "check.json", evaluation=tmp_path / "nope.json",
                            subsets=tmp_path / "none", curves=None)
        page = build_html(inputs)
        assert f"No evaluation (train and evaluate the subsets first): {tmp_path / 'nope.json'} not found" in (
            text(page))
        assert "No learning curves: not given" in text(page) and "No filter subsets:" in text(page)
        assert page.count("<img ") == 2  # entropy and noise matrix still drawn
        summary = build_markdown(inputs)
        assert "| Subset |" not in summary and "**Label set:**" in summary

    def test_nothing_at_all(self, tmp_path):
        inputs = load_inputs(verdict=tmp_path / "gate.json")
        page = build_html(inputs)
        assert 'data-status="none"' in page and "NO VERDICT" in page
        assert page.count('class="missing"') == 10  # every section (the blockers section included)
        assert build_markdown(inputs).startswith("## ❔ labelgate: NO VERDICT")
        result = invoke("report", "--verdict", tmp_path / "gate.json", "--label-risk", tmp_path / "x.json",
                        "--scores", tmp_path / "x.parquet", "--evaluation", tmp_path / "e.json",
                        "--subsets", tmp_path / "s", "--curves", tmp_path / "c", "--html", tmp_path / "r.html",
                        "--markdown", tmp_path / "s.md")
        assert result.exit_code == 2 and "none of the report inputs exist" in result.output
        assert not (tmp_path / "r.html").exists()

    def test_malformed_inputs_cost_only_their_section(self, run, tmp_path):
        risk = json.loads((run / "label_risk.json").read_text())
        risk["signals"]["cleanlab"]["noise_matrix"] = [[1.0, 0.0]]
        (tmp_path / "risk.json").write_text(json.dumps(risk))
        (tmp_path / "evaluate.json").write_text("{not json")
        inputs = run_inputs(run, label_risk=tmp_path / "risk.json", evaluation=tmp_path / "evaluate.json")
        page = text(build_html(inputs))
        assert "The noise matrix has shape (1, 2), which does not match the 3 labels." in page
        assert f"No evaluation (train and evaluate the subsets first): {tmp_path / 'evaluate.json'}: could not " \
               "read (JSONDecodeError" in page
        assert "BLOCKED" in page and "Entropy of the LLM labels per class" in page

    def test_unrecognised_status_fails_closed(self):
        assert verdict_status({"status": "ok", "blocked": False}) == "block"
        assert verdict_status({"status": "warn", "blocked": False}) == "warn"
        page = build_html(ReportInputs(verdict={"status": "ok", "outcomes": []}))
        assert 'data-status="block"' in page and "unrecognised verdict status" in page


class TestReading:
    def test_every_input_read_with_its_source(self, run):
        inputs = run_inputs(run)
        assert inputs.missing == {} and inputs.found() == ["verdict", "label_risk", "evaluation", "scores",
                                                           "subsets", "curves"]
        assert list(inputs.scores.columns) == ["llm_label", "entropy_normalised"] and len(inputs.scores) == 480
        assert list(inputs.subsets) == list(STRATEGIES)  # the filter's order, not the folder's
        assert sorted(inputs.curves) == sorted(CURVES)

    def test_plot_data_are_the_files_figures(self, run):
        inputs = run_inputs(run)
        scores = seed_scores(inputs.evaluation["subsets"])
        assert scores["raw"] == {"accuracy": [0.66, 0.72, 0.75], "macro_f1": [0.61, 0.67, 0.70]}
        series = curve_series(all_curves(inputs))
        assert [p["n"] for p in series["gold"]] == [60.0, 120.0, 240.0, 480.0]
        assert [p["accuracy"] for p in series["gold"]] == CURVES["gold"]

    def test_curves_come_from_the_curve_files_with_points(self):
        files = {"raw": {"points": [{"n": 8, "accuracy": 0.6}]}, "gold": {"points": []},
                 "cleanlab": {"points": [{"fraction": 0.5, "accuracy": 0.7}, "junk"]}}
        curves = all_curves(ReportInputs(evaluation=evaluation(), curves=files))
        assert curves == {"raw": files["raw"], "cleanlab": files["cleanlab"]}  # gold: no points, left out
        assert curve_series(curves)["cleanlab"] == [{"fraction": 0.5, "accuracy": 0.7, "n": 0.5}]

    def test_outcomes_worst_first_and_counted(self):
        outcomes = [{"status": s, "severity": v, "n": i} for i, (s, v) in enumerate(
            [("pass", "block"), ("fail", "warn"), ("skipped", "block"), ("fail", "block"), ("error", "block")])]
        verdict = {"status": "block", "outcomes": outcomes}
        assert [o["n"] for o in ordered_outcomes(verdict)] == [4, 3, 1, 0, 2]
        assert counts_text(verdict) == ("1 could not be evaluated · 1 blocking failed · 1 warning(s) · 1 passed · "
                                        "1 skipped")
        assert verdict_reason(None) == "no gate verdict (not given); run `labelgate gate` or `labelgate check --out`"

    def test_figures_as_text(self):
        assert [fmt(None), fmt(True), fmt(3), fmt(0.12345), fmt(float("nan")), fmt(0.5, 1)] == [
            "—", "yes", "3", "0.123", "—", "0.5"]
        assert share_text({"r": 0.18, "r_lower": 0.14, "r_upper": 0.231}, "r") == "0.18 [0.14, 0.23]"
        assert share_text({"r": 0.18}, "r") == "0.18" and share_text({}, "r") == "not measured"
