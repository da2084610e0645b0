"""headline.py: the few figures per stage that DVC shows as metrics."""

from __future__ import annotations

import yaml

from labelgate.headline import evaluate_headline, gate_headline, headline_output, label_risk_headline


class TestHeadline:
    def test_label_risk(self):
        assert label_risk_headline({"n_rows": 10, "metrics": {"a": 0.5, "b": None}, "signals": {"x": {}}}) == {
            "n_rows": 10, "a": 0.5, "b": None}

    def test_evaluate_and_gate(self):
        evaluation = {"subsets": {"raw": {"accuracy_mean": 0.7, "macro_f1_mean": 0.6, "accuracy_std": 0.01,
                                          "krippendorff_alpha": 0.8, "unchanged_prediction_rate": 0.9,
                                          "accuracy_gap_to_reference": 0.1, "audit_accuracy_gap": 0.04,
                                          "learning_curve_decline": -0.02, "seeds": {"0": {}}}}}
        assert evaluate_headline(evaluation) == {"raw": {"accuracy": 0.7, "macro_f1": 0.6}}
        verdict = {"status": "block", "blocked": True, "counts": {"failed_block": 2, "passed": 3}, "outcomes": [],
                   "accuracy_loss": {"accuracy_loss": 0.1, "accuracy_loss_upper": 0.14}}
        assert gate_headline(verdict, evaluation, "raw") == {
            "blocked": 1, "failed_block": 2, "passed": 3, "accuracy_loss": 0.1, "accuracy_loss_upper": 0.14,
            "raw": {"accuracy": 0.7, "macro_f1": 0.6, "accuracy_std": 0.01, "seed_alpha": 0.8,
                    "unchanged_rate": 0.9, "accuracy_gap": 0.1, "audit_accuracy_gap": 0.04,
                    "learning_curve_decline": -0.02}}

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
