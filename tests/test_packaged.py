"""packaged.py: the packaged defaults (one set of thresholds with the demo's params.yaml), where a one-shot command
takes its params and suites from, and the label set `check` infers."""

from __future__ import annotations

import pandas as pd
import yaml

from labelgate.packaged import choose_labels, default_expectations_dir, default_params, resolve_sources, table_labels


class TestPackagedDefaults:
    def test_defaults_build_every_params_section(self):
        from labelgate.annotate import AnnotateParams
        from labelgate.config import BaseParams, section
        from labelgate.curves import CurveParams, EvaluateParams
        from labelgate.filter import FilterParams
        from labelgate.gate import GateParams
        from labelgate.signals.runner import ScoreParams
        from labelgate.train.params import TrainParams
        from labelgate.validate import ValidateParams

        values = default_params()
        for name, cls in [("base", BaseParams), ("annotate", AnnotateParams), ("validate", ValidateParams),
                          ("score", ScoreParams), ("filter", FilterParams), ("train", TrainParams),
                          ("learning_curve", CurveParams), ("evaluate", EvaluateParams), ("gate", GateParams)]:
            section(values, name, cls)
        assert section(values, "gate", GateParams) == GateParams()  # documented constants = packaged defaults

    def test_default_prompt_is_generic(self):
        text = (default_expectations_dir().parent / "params.yaml").read_text()
        assert "tweet" not in text.lower() and "few_shot: []" in text

    def test_demo_params_equal_the_defaults_outside_base_and_annotate(self, repo):
        """One set of thresholds: the demo's params.yaml may differ from the packaged defaults only in its data."""
        demo = yaml.safe_load((repo / "params.yaml").read_text())
        defaults = default_params()
        for name in sorted(set(demo) | set(defaults)):
            if name in ("base", "annotate"):
                continue
            assert demo.get(name) == defaults.get(name), f"section {name} differs from labelgate/defaults/params.yaml"

    def test_suites_exist_once(self, repo):
        """The packaged suites are the repository's expectations/ (a link in the source tree, files in a wheel)."""
        assert default_expectations_dir().resolve() == (repo / "expectations").resolve()
        assert sorted(p.name for p in default_expectations_dir().glob("*.json")) == sorted(
            p.name for p in (repo / "expectations").glob("*.json"))


class TestLabels:
    def test_table_labels(self):
        frame = pd.DataFrame({"llm_label": ["b", "a"], "gold_label": [None, "c"], "llm_prob_a": [1, 0],
                              "llm_prob_b": [0, 1], "llm_prob_c": [0, 0]})
        assert table_labels(frame)[0] == ("a", "b", "c")
        assert table_labels(frame.drop(columns=["llm_prob_c"])) is None  # gold uses c, no probability for it
        assert table_labels(frame[["llm_label"]])[0] == ("a", "b")
        assert table_labels(pd.DataFrame({"llm_label": ["a", "a"]})) is None

    def test_choose(self):
        frame = pd.DataFrame({"llm_label": ["a", "b"]})
        assert choose_labels(frame, option=("x", "y"), configured=("a", "b"), params_from="p")[1] == "--labels"
        assert choose_labels(frame, option=(), configured=("a", "b", "c"), params_from="p") == (
            ("a", "b", "c"), "base.labels in p")
        labels, why = choose_labels(frame, option=(), configured=("x", "y"), params_from="p")
        assert labels == ("a", "b") and "base.labels in params differ" in why


class TestSources:
    def test_resolution_order(self, tmp_path):
        assert resolve_sources(None, None, cwd=tmp_path).params_from.startswith("packaged defaults")
        (tmp_path / "params.yaml").write_text("base:\n  labels: [a, b]\n")
        (tmp_path / "expectations").mkdir()
        sources = resolve_sources(None, None, cwd=tmp_path)
        assert sources.params == {"base": {"labels": ["a", "b"]}}
        assert sources.expectations == tmp_path / "expectations"
