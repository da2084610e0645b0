"""Where the training stages (`train`, `learning-curve`, `audit-reference`) find their inputs: the subset table of a
filter strategy or the gold reference, the gold test set and the label set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from labelgate.vocabulary import CSV, JSONL, LABEL, PARQUET, TEXT

#: Where `filter` and `reference` write the subset tables (<name>.parquet).
DEFAULT_SUBSETS_DIR = Path("data/subsets")


def subset_table(name: str, subsets_dir: str | os.PathLike = DEFAULT_SUBSETS_DIR,
                 table: str | os.PathLike | None = None) -> Path:
    """The subset's table: `table` when given, else <subsets_dir>/<name>.parquet (or .csv, .jsonl)."""
    if table is not None:
        return Path(table)
    for suffix in (PARQUET, CSV, JSONL):
        candidate = Path(subsets_dir) / f"{name}{suffix}"
        if candidate.exists():
            return candidate
    return Path(subsets_dir) / f"{name}{PARQUET}"  # read_table reports it missing


@dataclass(frozen=True)
class TrainingInputs:
    """A training stage's inputs, read and checked."""

    params: dict[str, Any]  # the whole params.yaml
    train_path: Path
    train: pd.DataFrame  # id, text, label
    test: pd.DataFrame  # text, label
    labels: tuple[str, ...]


def training_inputs(subset: str, params: dict[str, Any], *, subsets_dir: str | os.PathLike = DEFAULT_SUBSETS_DIR,
                    table: str | os.PathLike | None = None,
                    test: str | os.PathLike) -> TrainingInputs:
    """Read the subset table and the gold test set; the label set is base.labels, else the labels both use."""
    from labelgate.config import base_labels
    from labelgate.contract import read_test_table, resolve_labels
    from labelgate.train.data import read_training_table

    train_path = subset_table(subset, subsets_dir, table)
    frame = read_training_table(train_path)
    test_frame = read_test_table(test)[[TEXT, LABEL]]
    labels = resolve_labels(base_labels(params), frame, test_frame, columns=(LABEL,), required=True)
    return TrainingInputs(params=params, train_path=train_path, train=frame, test=test_frame, labels=labels)


def configured_subsets(params: dict[str, Any]) -> set[str] | None:
    """The subsets the pipeline produces now: params filter.strategies plus the gold reference (evaluate.reference,
    default gold). None when params.yaml does not list filter.strategies (nothing can be called stale then)."""
    strategies = (params.get("filter") or {}).get("strategies") if isinstance(params, dict) else None
    if not isinstance(strategies, (list, tuple)):
        return None
    reference = (params.get("evaluate") or {}).get("reference", "gold")
    return {str(s) for s in strategies} | ({str(reference)} if reference else set())


def stale_outputs(params: dict[str, Any], *, models: str | os.PathLike | None = None,
                  curves: str | os.PathLike | None = None,
                  subsets_dir: str | os.PathLike | None = DEFAULT_SUBSETS_DIR) -> list[Path]:
    """Outputs of subsets (or seeds) no longer configured, which DVC leaves behind when filter.strategies or
    train.seeds shrink: run folders models/<subset>/seed_<k>/ (and the emptied subset folder), learning curves
    <curves>/*.json of another subset, subset tables and summaries <subsets_dir>/<subset>.{parquet,json}. Only files
    labelgate writes are named (a run folder holds run.json; a curve names its subset)."""
    import json

    from labelgate.train.run import RUN_FILE

    subsets = configured_subsets(params)
    if subsets is None:
        return []
    seeds = (params.get("train") or {}).get("seeds")
    seeds = {str(s) for s in seeds} if isinstance(seeds, (list, tuple)) else None
    stale: list[Path] = []
    if models is not None and Path(models).is_dir():
        for folder in sorted(p for p in Path(models).iterdir() if p.is_dir() and not p.name.startswith(".")):
            runs = [r for r in folder.iterdir() if r.is_dir() and r.name.startswith("seed_") and (r / RUN_FILE).exists()]
            if not runs:
                continue
            if folder.name not in subsets:
                stale.append(folder)
            elif seeds is not None:
                stale.extend(sorted(r for r in runs if r.name.removeprefix("seed_") not in seeds))
    if curves is not None and Path(curves).is_dir():
        for path in sorted(Path(curves).glob("*.json")):
            try:
                curve = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(curve, dict) and isinstance(curve.get("points"), list) and str(
                    curve.get("subset") or path.stem) not in subsets:
                stale.append(path)
    if subsets_dir is not None and Path(subsets_dir).is_dir():
        for path in sorted(Path(subsets_dir).iterdir()):
            if path.is_file() and path.suffix in (PARQUET, CSV, JSONL, ".json") and path.stem not in subsets:
                stale.append(path)
    return stale


def remove_stale(paths: list[Path]) -> list[Path]:
    """Delete what stale_outputs found (folders with their contents); return what was removed."""
    import shutil

    removed = []
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        else:
            continue
        removed.append(path)
    return removed
