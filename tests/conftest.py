"""Shared fixtures. Tests never reach a model hub: HF_HUB_OFFLINE is set before anything imports transformers."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))  # tests/synthetic.py

LABELS = ["negative", "neutral", "positive"]
ADOPTION_ENV = "LABELGATE_ADOPTION"  # "1": run the whole-adoption tests (minutes of training; CI sets it)


def pytest_collection_modifyitems(config, items):
    """Tests marked `adoption` are optional: they run a whole DVC pipeline and a pip install in a fresh venv."""
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
