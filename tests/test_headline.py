"""headline.py: the few figures per stage that DVC shows as metrics."""

from __future__ import annotations

import yaml

from labelgate.headline import evaluate_headline, gate_headline, headline_output, label_risk_headline


class TestHeadline:
    def test_label_risk(self):
        metrics = {"label_error_rate": 0.2, "label_error_rate_lower": 0.1, "label_error_rate_upper": 0.3,
                   "estimated_noise_rate": None, "agreement_rate": 0.9}
        assert label_risk_headline({"n_rows": 10, "metrics": metrics, "signals": {"x": {}}}) == {
            "n_rows": 10, "label_error_rate": 0.2, "label_error_rate_upper": 0.3, "estimated_noise_rate": None}

    def test_at_most_twelve_figures_each(self):
        """Every figure the scorer can report, and a verdict with every count: still at most 12 per file."""
        from labelgate.headline import MAX_HEADLINE_FIGURES, count_figures
        from labelgate.signals import signal_metrics

        metrics = dict.fromkeys([*signal_metrics(), "expected_accuracy_loss", "expected_accuracy_loss_lower",
                                 "expected_accuracy_loss_upper"], 0.1)
        assert count_figures(label_risk_headline({"n_rows": 5, "metrics": metrics})) <= MAX_HEADLINE_FIGURES
        evaluation = {"subsets": {"raw": {name: 0.1 for name in ("accuracy_mean", "macro_f1_mean", "accuracy_std",
                      "krippendorff_alpha", "unchanged_prediction_rate", "accuracy_gap_to_reference",
                      "audit_accuracy_gap", "learning_curve_decline")}}}
        counts = {"failed_block": 1, "failed_warn": 2, "passed": 3, "skipped": 4, "errors": 0}
        verdict = {"status": "block", "blocked": True, "counts": counts}
        assert count_figures(gate_headline(verdict, evaluation, "raw")) == MAX_HEADLINE_FIGURES

    def test_evaluate_and_gate(self):
        evaluation = {"subsets": {"raw": {"accuracy_mean": 0.7, "macro_f1_mean": 0.6, "accuracy_std": 0.01,
                                          "krippendorff_alpha": 0.8, "unchanged_prediction_rate": 0.9,
                                          "accuracy_gap_to_reference": 0.1, "audit_accuracy_gap": 0.04,
                                          "learning_curve_decline": -0.02, "seeds": {"0": {}}}}}
        assert evaluate_headline(evaluation) == {"raw": {"accuracy": 0.7, "macro_f1": 0.6}}
        verdict = {"status": "block", "blocked": True, "counts": {"failed_block": 2, "passed": 3}, "outcomes": [],
                   "accuracy_loss": {"accuracy_loss": 0.1, "accuracy_loss_upper": 0.14}}
        assert gate_headline(verdict, evaluation, "raw") == {
            "blocked": 1, "failed_block": 2, "accuracy_loss": 0.1, "accuracy_loss_upper": 0.14,
            "raw": {"accuracy": 0.7, "accuracy_std": 0.01, "seed_alpha": 0.8, "accuracy_gap": 0.1,
                    "audit_accuracy_gap": 0.04, "learning_curve_decline": -0.02}}

    def test_demo_metrics_files_are_headline_files(self, repo):
        """dvc.yaml declares only the headline files as metrics: a dozen or so figures each."""
        stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
        metrics = [next(iter(m)) if isinstance(m, dict) else m
                   for stage in stages.values() for m in stage.get("metrics", [])]
        assert sorted(metrics) == ["metrics/headline/evaluate.json", "metrics/headline/gate.json",
                                   "metrics/headline/label_risk.json"]


def test_headline_output_only_with_a_path():
    assert headline_output(None, {"a": 1}) == []
    assert headline_output("h.json", {"a": 1}) == [("h.json", {"a": 1})]
