"""The train grid on DVC's experiment queue (labelgate.grid, `labelgate queue-grid`) and the GPU params override
(params-gpu.yaml): unit tests, and (marked slow) a real queue of 2 tiny training runs on 2 workers in a temporary DVC
repository (GPU claiming: tests/test_gpu_claim.py)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from labelgate import gpu_claim, grid
from labelgate.config import section
from labelgate.errors import ConfigError
from labelgate.train.run import TrainParams

REPO = Path(__file__).resolve().parents[1]


class TestCells:
    NAMES = ["annotate", "train@raw-0", "train@raw-1", "train@gold-0", "train@gold-1", "train@my-subset-2",
             "learning_curve_gated", "evaluate"]

    def test_parse_and_select(self):
        cells = grid.parse_cells(self.NAMES)
        assert [c.stage for c in cells] == [n for n in self.NAMES if n.startswith("train@")]
        assert grid.Cell("my-subset", 2) in cells
        assert [c.stage for c in grid.select_cells(cells, subsets=["gold"], seeds=[1])] == ["train@gold-1"]
        assert len(grid.select_cells(cells)) == 5

    def test_the_gold_pools_own_stage_is_the_gold_subsets_cells(self):
        # labelgate init and the demo train the gold pool in train_gold@<seed> (the matrix runs filter.strategies)
        cells = grid.parse_cells(["train@raw-0", "train_gold@0", "train_gold@1", "learning_curve_gold"])
        assert [c.stage for c in cells] == ["train@raw-0", "train_gold@0", "train_gold@1"]
        assert [c.stage for c in grid.select_cells(cells, subsets=["gold"], seeds=[1])] == ["train_gold@1"]

    def test_unknown_subset_or_seed(self):
        cells = grid.parse_cells(self.NAMES)
        with pytest.raises(ConfigError, match=r"subset\(s\) \['nope'\]"):
            grid.select_cells(cells, subsets=["nope"])
        with pytest.raises(ConfigError, match=r"seed\(s\) \[7\]"):
            grid.select_cells(cells, seeds=[7])


class TestOverrides:
    def test_merge_and_flags(self):
        merged = grid.merge_overrides({"train": {"epochs": 1, "seeds": [0, 1]}, "gate": {"x": 1}},
                                      {"train": {"epochs": 3, "freeze_layers": 0}})
        assert merged == {"train": {"epochs": 3, "seeds": [0, 1], "freeze_layers": 0}, "gate": {"x": 1}}
        assert grid.override_flags({"train": {"epochs": 3, "learning_rate": 5e-5}}) == [
            "-S", "train.epochs=3", "-S", "train.learning_rate=5e-05"]
        with pytest.raises(ConfigError):
            grid.merge_overrides({}, {"train": 3})

    def test_apply_keeps_comments_and_other_keys(self, tmp_path):
        path = tmp_path / "params.yaml"
        shutil.copy(REPO / "params.yaml", path)
        grid.apply_overrides(path, {"train": {"epochs": 3, "freeze_layers": 0}})
        text = path.read_text()
        assert "# offline MiniLM-L6" in text  # a comment of the train section survives
        values = yaml.safe_load(text)
        original = yaml.safe_load((REPO / "params.yaml").read_text())
        assert values["train"]["epochs"] == 3 and values["train"]["freeze_layers"] == 0
        assert {k: v for k, v in values["train"].items() if k not in ("epochs", "freeze_layers")} == {
            k: v for k, v in original["train"].items() if k not in ("epochs", "freeze_layers")}
        assert {k: v for k, v in values.items() if k != "train"} == {k: v for k, v in original.items() if k != "train"}
        assert text.count("#") >= (REPO / "params.yaml").read_text().count("#") - 2  # comments survive

    def test_gpu_params_are_full_fine_tuning(self):
        overrides = yaml.safe_load((REPO / "params-gpu.yaml").read_text())
        params = grid.merge_overrides(yaml.safe_load((REPO / "params.yaml").read_text()), overrides)
        train = section(params, "train", TrainParams)
        assert (train.freeze_layers, train.freeze_embeddings, train.epochs, train.device) == (0, False, 3, "cuda")
        assert train.learning_rate <= 1e-4 and train.max_length >= 128 and train.precision == "auto"


TINY = {"max_length": 32, "epochs": 1, "batch_size": 16, "eval_batch_size": 64, "learning_rate": 3e-4,
        "freeze_embeddings": True, "freeze_layers": 4, "num_threads": 1, "warmup_ratio": 0.0, "seeds": [0],
        "device": "cpu"}


def _grid_repo(root: Path) -> None:
    """A DVC repo with the project's own train matrix and evaluate stages, 2 subsets x 1 seed, tiny data (each queued
    experiment costs DVC ~20 s of set-up on 2 cores, so the grid is kept to one cell per worker)."""
    pipeline = yaml.safe_load((REPO / "dvc.yaml").read_text())
    train, evaluate = pipeline["stages"]["train"], pipeline["stages"]["evaluate"]
    train["matrix"]["subset"] = ["raw", "gold"]
    evaluate["deps"] = [d for d in evaluate["deps"] if d != "metrics/learning_curve"]
    (root / "dvc.yaml").write_text(yaml.safe_dump({"vars": ["params.yaml"],
                                                   "stages": {"train": train, "evaluate": evaluate}}, sort_keys=False))
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["train"].update(TINY)
    params["evaluate"]["png"] = False
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for dep in dict.fromkeys([*train["deps"], *evaluate["deps"]]):  # the modules, packages and files they read
        if "${" in dep or dep.startswith(("data/", "models")):
            continue
        if (REPO / dep).is_dir():
            shutil.copytree(REPO / dep, root / dep, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
        elif (REPO / dep).is_file():
            (root / dep).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / dep, root / dep)
    gold = pd.read_csv(REPO / "data/demo/pool_gold.csv")
    (root / "data/subsets").mkdir(parents=True)
    (root / "data/demo").mkdir(parents=True)
    gold.iloc[:48].to_parquet(root / "data/subsets/gold.parquet")
    raw = gold.iloc[48:96].copy()
    raw["label"] = raw["label"].where(raw.index % 4 != 0, "negative")  # noisier labels
    raw.to_parquet(root / "data/subsets/raw.parquet")
    pd.read_csv(REPO / "data/demo/test.csv").iloc[:40].to_csv(root / "data/demo/test.csv", index=False)


@pytest.mark.slow
def test_queue_grid_two_workers(tmp_path):
    if shutil.which("dvc") is None or shutil.which("labelgate") is None:
        pytest.skip("dvc and labelgate must be on PATH (the queue workers run the stage commands)")
    root = tmp_path / "repo"
    root.mkdir()
    _grid_repo(root)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           gpu_claim.LOCK_DIR_ENV: str(tmp_path / "locks")}

    def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, timeout=900)
        assert not check or done.returncode == 0, f"{args}: {done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        return done

    sh("git", "init", "-q")
    sh("dvc", "init", "-q")
    sh("git", "add", "-A")
    sh("git", "commit", "-qm", "grid repo")
    try:
        done = sh("labelgate", "queue-grid", "--jobs", "2", "--timeout", "800")
    finally:
        sh("dvc", "queue", "stop", check=False)
    out = done.stdout
    assert "queued 2 experiment(s)" in out and "succeeded on 2 worker(s)" in out
    # the workspace trained nothing: every cell came from the run-cache the workers filled, then evaluate ran
    for stage in ("train@raw-0", "train@gold-0"):
        assert f"Stage '{stage}' is cached - skipping run" in out
    assert "Running stage 'evaluate'" in out
    # two workers were started and ran the two experiments between them (which one takes which is celery's call)
    logs = [(root / f".dvc/tmp/exps/celery/dvc-exp-worker-{worker}.out").read_text() for worker in (1, 2)]
    assert sum(len(re.findall(r"run_exp\[[^]]+\] succeeded", log)) for log in logs) == 2
    metrics = json.loads((root / "metrics/evaluate.json").read_text())
    assert sorted(metrics["subsets"]) == ["gold", "raw"]
    assert all(m["n_seeds"] == 1 for m in metrics["subsets"].values())
    # exactly what `labelgate evaluate` gives on the same run folders
    sh("labelgate", "evaluate", "--test", "data/demo/test.csv", "--out", "again.json", "--plots", "again_plots")
    assert json.loads((root / "again.json").read_text()) == metrics
