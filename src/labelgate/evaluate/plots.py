"""Plot tables for DVC (per-seed scores, a confusion table per subset, the learning-curve points) and matplotlib
PNGs of the same when enabled."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def plot_tables(
    metrics: Mapping[str, Any],
    probabilities: Mapping[str, Mapping[int, np.ndarray]],
    y_true: Sequence[str],
    curves: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, pd.DataFrame]:
    """DVC plot data: `scores.csv` (subset, seed, accuracy, macro_f1), `confusion_<subset>.csv` (actual,
    predicted; seed ensemble) and `learning_curve.csv` (subset, fraction, n, accuracy, macro_f1)."""
    labels = np.asarray(metrics["labels"], dtype=object)
    scores = pd.DataFrame(
        [{"subset": subset, "seed": int(seed), "accuracy": s["accuracy"], "macro_f1": s["macro_f1"]}
         for subset, figures in metrics["subsets"].items() for seed, s in figures["seeds"].items()],
        columns=["subset", "seed", "accuracy", "macro_f1"],
    )
    tables = {"scores.csv": scores}
    for subset, seeds in probabilities.items():
        predicted = labels[np.mean(list(seeds.values()), axis=0).argmax(axis=1)]
        tables[f"confusion_{subset}.csv"] = pd.DataFrame({"actual": list(y_true), "predicted": predicted})
    rows = [{"subset": subset, "fraction": p["fraction"], "n": p["n"], "accuracy": p["accuracy"],
             "macro_f1": p["macro_f1"]} for subset, curve in (curves or {}).items() for p in curve.get("points", [])]
    tables["learning_curve.csv"] = pd.DataFrame(rows, columns=["subset", "fraction", "n", "accuracy", "macro_f1"])
    return tables


def write_plots(folder: str | os.PathLike, tables: Mapping[str, pd.DataFrame], *, labels: Sequence[str],
                png: bool = True) -> list[Path]:
    """Write the plot tables (and PNGs) into an existing folder; the caller makes it atomic."""
    folder = Path(folder)
    written = []
    for name, frame in tables.items():
        frame.to_csv(folder / name, index=False)
        written.append(folder / name)
    if png:
        written.extend(_draw_pngs(folder, tables, labels))
    return written


def _draw_pngs(folder: Path, tables: Mapping[str, pd.DataFrame], labels: Sequence[str]) -> list[Path]:
    from labelgate.report import plots

    written = []
    scores = tables["scores.csv"]
    if not scores.empty:
        per_subset = {subset: {metric: frame[metric].tolist() for metric in ("accuracy", "macro_f1")}
                      for subset, frame in scores.groupby("subset", sort=False)}
        plots.save_png(plots.seed_strip(per_subset), folder / "scores.png")
        written.append(folder / "scores.png")
    confusions = {k[len("confusion_"):-4]: v for k, v in tables.items() if k.startswith("confusion_")}
    if confusions:
        from sklearn.metrics import confusion_matrix

        matrices = {subset: confusion_matrix(frame["actual"], frame["predicted"], labels=list(labels))
                    for subset, frame in confusions.items()}
        plots.save_png(plots.confusion_grid(matrices, labels), folder / "confusion.png")
        written.append(folder / "confusion.png")
    curve = tables.get("learning_curve.csv")
    if curve is not None and not curve.empty:
        points = {subset: frame.to_dict("records") for subset, frame in curve.groupby("subset", sort=False)}
        plots.save_png(plots.learning_curves(points, metrics=("accuracy",)), folder / "learning_curve.png")
        written.append(folder / "learning_curve.png")
    return written
