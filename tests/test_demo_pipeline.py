"""The demo dvc.yaml has one source (scripts/render_demo_pipeline.py): the committed file is what the script
renders, and its stages are the ones `labelgate init` writes for the same paths, apart from the code each depends on
(source folders, not `labelgate.version`) and the demo's own additions (gold_check, enforce waiting for it)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import render_demo_pipeline  # noqa: E402

from labelgate.scaffold import InitOptions, pipeline  # noqa: E402
from labelgate.scaffold.stages import VERSION  # noqa: E402

DEMO_ONLY = {"gold_check"}


def demo_stages() -> dict[str, dict]:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def adopter_stages() -> dict[str, dict]:
    """What init writes for the demo's own paths: texts to annotate, the gold test set and the gold pool."""
    options = InitOptions(texts="data/demo/pool_texts.csv", test="data/demo/test.csv",
                          gold_pool="data/demo/pool_gold.csv", labels=("negative", "neutral", "positive"),
                          install="labelgate==0.0.0", version="0.0.0")
    return pipeline(options)["stages"]


def without_code(stage: dict) -> dict:
    """A stage (or a foreach stage's body) without what stands for its code: src/ deps, the version param."""
    body = {key: value for key, value in stage.items() if key != "do"}
    if "do" in stage:
        body["do"] = without_code(stage["do"])
    if "deps" in body:
        body["deps"] = [d for d in body["deps"] if not d.startswith("src/")]
    if "params" in body:
        body["params"] = [p for p in body["params"] if p != VERSION]
    return body


def test_committed_dvc_yaml_is_what_the_script_renders():
    assert (ROOT / "dvc.yaml").read_text() == render_demo_pipeline.render(), \
        "dvc.yaml is out of date: run python scripts/render_demo_pipeline.py"


@pytest.mark.slow
def test_check_mode_names_a_stale_file(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "dvc.yaml"
    stale.write_text(render_demo_pipeline.render().replace("--no-enforce", "", 1))
    monkeypatch.setattr(render_demo_pipeline, "DVC_YAML", stale)
    monkeypatch.setattr(render_demo_pipeline, "ROOT", tmp_path)
    assert render_demo_pipeline.main(["--check"]) == 1
    assert "dvc.yaml is out of date; run python scripts/render_demo_pipeline.py" in capsys.readouterr().out
    assert render_demo_pipeline.main([]) == 0 and render_demo_pipeline.main(["--check"]) == 0


def test_the_demos_shared_stages_are_the_adopters():
    demo, adopter = demo_stages(), adopter_stages()
    assert set(demo) - DEMO_ONLY == set(adopter)
    for name in adopter:
        expected = without_code(adopter[name])
        if name == "enforce":  # the demo's enforce also waits for the gold verdict
            expected["deps"].append("metrics/gold_check.json")
        assert without_code(demo[name]) == expected, name


def test_demo_stages_depend_on_source_and_adopter_stages_on_the_version():
    for name, stage in demo_stages().items():
        body = stage.get("do", stage)
        assert any(d.startswith("src/labelgate/") for d in body["deps"]), name
        assert VERSION not in body.get("params", []), name
    for name, stage in adopter_stages().items():
        body = stage.get("do", stage)
        assert not any(d.startswith("src/") for d in body["deps"]), name
        assert name == "enforce" or VERSION in body["params"], name


def test_the_gold_pool_trains_in_its_own_stage_and_the_gated_curve_follows_gate_subset():
    demo = demo_stages()
    assert demo["train"]["matrix"]["subset"] == "${filter.strategies}"
    assert demo["train_gold"]["foreach"] == "${train.seeds}"
    curve = demo["learning_curve_gated"]
    assert "--subset ${gate.subset}" in curve["cmd"] and "--reference metrics/learning_curve/gold.json" in curve["cmd"]
    assert curve["outs"] == [{"metrics/learning_curve/gated.json": {"cache": False}}]
