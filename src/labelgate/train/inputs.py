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
