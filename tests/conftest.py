"""Shared fixtures. Tests never reach a model hub: HF_HUB_OFFLINE is set before anything imports transformers."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from labelgate.train.device import prefer_passive_omp_wait

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
prefer_passive_omp_wait()  # as the CLI does, before anything loads torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))  # tests/synthetic.py

LABELS = ["negative", "neutral", "positive"]
ADOPTION_ENV = "LABELGATE_ADOPTION"  # "1": run the whole-adoption tests (minutes of training; CI sets it)


# The files that take minutes run first: pytest-xdist (make test, --dist loadfile) hands each file to a worker in
# collection order, and a long file started last would leave the other workers idle at the end.
LONGEST_FIRST = ("test_adoption.py", "test_grid.py", "test_fix_loop.py", "test_score_stream.py")


def pytest_collection_modifyitems(config, items):
    """The longest files first (LONGEST_FIRST). Tests marked `adoption` are optional: they run a whole DVC pipeline
    and a pip install in a fresh venv."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order
    if os.environ.get(ADOPTION_ENV) == "1":
        return
    skip = pytest.mark.skip(reason=f"whole adoption (minutes on 2 cores): set {ADOPTION_ENV}=1 to run it")
    for item in items:
        if "adoption" in item.keywords:
            item.add_marker(skip)


@pytest.fixture()
def repo() -> Path:
    return REPO


@pytest.fixture()
def workdir(tmp_path, monkeypatch) -> Path:
    """A temporary working folder holding a copy of expectations/ and params.yaml, as a user's repo would."""
    shutil.copytree(REPO / "expectations", tmp_path / "expectations")
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture()
def cli():
    from typer.testing import CliRunner

    from labelgate.cli import app

    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, [str(a) for a in args])

    return invoke


TINY_TRAIN = {"max_length": 32, "epochs": 1, "batch_size": 16, "eval_batch_size": 64, "learning_rate": 3e-4,
              "freeze_embeddings": True, "freeze_layers": 4, "num_threads": 2, "warmup_ratio": 0.0}


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """64 demo tweets (stratified), 64 test tweets, tiny train params; three runs: seed 0, seed 0 again, seed 1.

    A few seconds per run with the offline MiniLM model, shared by the train and learning-curve tests.
    """
    import pandas as pd
    import yaml
    from sklearn.model_selection import train_test_split

    from labelgate.train.run import TrainParams, train_run

    folder = tmp_path_factory.mktemp("tiny")
    pool = pd.read_csv(REPO / "data/demo/pool_gold.csv")
    train, _ = train_test_split(pool, train_size=64, stratify=pool["label"], random_state=0)
    train = train.reset_index(drop=True)
    test = pd.read_csv(REPO / "data/demo/test.csv").head(64)
    train.to_csv(folder / "tiny.csv", index=False)
    test.to_csv(folder / "test.csv", index=False)
    (folder / "params.yaml").write_text(yaml.safe_dump({
        "train": TINY_TRAIN, "learning_curve": {"fractions": [0.5, 1.0], "seed": 0}, "evaluate": {"reference": "gold"},
    }))
    params = TrainParams(**TINY_TRAIN)
    labels = tuple(LABELS)
    runs = {key: train_run(train, test, labels, params, subset="tiny", seed=seed)
            for key, seed in (("a", 0), ("b", 0), ("c", 1))}
    return {"folder": folder, "train": train, "test": test, "params": params, "labels": labels, "runs": runs}

