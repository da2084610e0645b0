"""The evaluate stage's inputs: the run folders `models/<subset>/seed_<k>/` written by `train` (test_probs.parquet +
run.json) and the learning curves written by `learning-curve`."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelgate.contract import TEXT
from labelgate.errors import BadInputError
from labelgate.train.data import texts_fingerprint
from labelgate.train.run import PROBS_FILE, RUN_FILE
from labelgate.vocabulary import model_prob_column


SEED_DIR = re.compile(r"^seed_(-?\d+)$")


@dataclass
class Runs:
    """Test probabilities of every run: subset -> seed -> array (n_test, n_labels) in `labels` order."""

    labels: tuple[str, ...]
    probabilities: dict[str, dict[int, np.ndarray]]
    records: dict[str, dict[int, dict[str, Any]]]


def find_run_folders(models_dir: str | os.PathLike) -> dict[str, dict[int, Path]]:
    """models/<subset>/seed_<k>/ folders that hold test_probs.parquet, sorted by subset and seed."""
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        raise BadInputError(models_dir, "models folder not found; run `labelgate train` first")
    found: dict[str, dict[int, Path]] = {}
    for subset_dir in sorted(p for p in models_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for run_dir in subset_dir.iterdir():
            match = SEED_DIR.match(run_dir.name)
            if match and run_dir.is_dir() and (run_dir / PROBS_FILE).exists():
                found.setdefault(subset_dir.name, {})[int(match.group(1))] = run_dir
    if not found:
        raise BadInputError(models_dir, f"no run folders (<subset>/seed_<k>/{PROBS_FILE})")
    return {s: dict(sorted(seeds.items())) for s, seeds in found.items()}


def load_runs(models_dir: str | os.PathLike, test: pd.DataFrame) -> Runs:
    """Read every run; check that all share one label set and were scored on this test set."""
    folders = find_run_folders(models_dir)
    fingerprint = texts_fingerprint(test[TEXT].tolist())
    labels: tuple[str, ...] | None = None
    probabilities: dict[str, dict[int, np.ndarray]] = {}
    records: dict[str, dict[int, dict[str, Any]]] = {}
    for subset, seeds in folders.items():
        for seed, folder in seeds.items():
            record = _read_record(folder / RUN_FILE)
            run_labels = tuple(record.get("labels") or ())
            if labels is None:
                labels = run_labels
            elif run_labels != labels:
                raise BadInputError(folder / RUN_FILE, f"label set {list(run_labels)} differs from {list(labels)}")
            if record.get("test_sha256") and record["test_sha256"] != fingerprint:
                raise BadInputError(folder, "was scored on a different test set; retrain or pass the same --test")
            frame = pd.read_parquet(folder / PROBS_FILE)
            columns = [model_prob_column(label) for label in labels]
            missing = [c for c in columns if c not in frame.columns]
            if missing:
                raise BadInputError(folder / PROBS_FILE, "missing probability column", column=missing[0])
            if len(frame) != len(test):
                raise BadInputError(folder / PROBS_FILE, f"{len(frame)} rows but the test set has {len(test)}")
            probabilities.setdefault(subset, {})[seed] = frame[columns].to_numpy(float)
            records.setdefault(subset, {})[seed] = record
    return Runs(labels=labels or (), probabilities=probabilities, records=records)


def _read_record(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise BadInputError(path, "run record missing")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BadInputError(path, f"not valid JSON ({exc})") from None


def load_curves(curves_dir: str | os.PathLike | None) -> dict[str, dict[str, Any]]:
    """metrics/learning_curve/<subset>.json files by subset; an absent folder means no curves."""
    if curves_dir is None or not Path(curves_dir).is_dir():
        return {}
    curves = {}
    for path in sorted(Path(curves_dir).glob("*.json")):
        curve = _read_record(path)
        curves[str(curve.get("subset") or path.stem)] = curve
    return curves
