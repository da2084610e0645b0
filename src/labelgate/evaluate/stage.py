"""The evaluate stage on files: `main` reads the runs, curves and audit reference, writes evaluate.json, the plots
and the headline, and removes the outputs of subsets and seeds no longer configured; `describe` prints them."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labelgate.curves import CurveParams, EvaluateParams
from labelgate.errors import BadInputError
from labelgate.evaluate.figures import evaluate_runs
from labelgate.evaluate.plots import plot_tables, write_plots
from labelgate.evaluate.runs import load_curves, load_runs
from labelgate.train.inputs import DEFAULT_SUBSETS_DIR
from labelgate.train.run import RUN_FILE
from labelgate.vocabulary import LABEL, TABLE_SUFFIXES


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
                  subsets_dir: str | os.PathLike | None = None) -> list[Path]:
    """Outputs of subsets (or seeds) no longer configured, which DVC leaves behind when filter.strategies or
    train.seeds shrink: run folders models/<subset>/seed_<k>/ (and the emptied subset folder), learning curves
    <curves>/*.json of another subset, subset tables and summaries <subsets_dir>/<subset>.{parquet,json}. Only files
    labelgate writes are named (a run folder holds run.json; a curve names its subset)."""
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
            if path.is_file() and path.suffix in (*TABLE_SUFFIXES, ".json") and path.stem not in subsets:
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


def main(*, params: dict[str, Any], models: str | os.PathLike, test: str | os.PathLike,
         curves: str | os.PathLike | None, audit: str | os.PathLike | None, out: str | os.PathLike,
         plots: str | os.PathLike, headline: str | os.PathLike | None = None) -> dict[str, Any]:
    """The evaluate stage on files: every run folder under `models` scored on the gold test set, with the curves
    and the audit reference when present; the metrics JSON, its headline and the plot folder, all or nothing.

    First, the outputs of subsets and seeds no longer configured (params filter.strategies, evaluate.reference,
    train.seeds; subsets.stale_outputs) are removed, so they never reach the evaluation, the gate or the report;
    the returned metrics name them under `removed_stale` (not written to the file)."""
    from labelgate.config import section
    from labelgate.contract import read_test_table
    from labelgate.headline import evaluate_headline, headline_output
    from labelgate.outputs import atomic_dir, atomic_paths, read_json, write_json_to

    evaluate_params = section(params, "evaluate", EvaluateParams)
    test_frame = read_test_table(test)
    removed = remove_stale(stale_outputs(params, models=models, curves=curves, subsets_dir=DEFAULT_SUBSETS_DIR))
    runs = load_runs(models, test_frame)
    curve_data = load_curves(curves)
    truth = test_frame[LABEL].astype(str).tolist()
    outside = sorted(set(truth) - set(runs.labels))
    if outside:
        raise BadInputError(test, f"labels {outside} are not in the runs' label set {list(runs.labels)}",
                            column=LABEL)
    metrics = evaluate_runs(runs.probabilities, truth, runs.labels, reference=evaluate_params.reference or None,
                            curves=curve_data, curve_params=section(params, "learning_curve", CurveParams),
                            audit=read_json(audit) if audit is not None and Path(audit).exists() else None)
    tables = plot_tables(metrics, runs.probabilities, truth, curve_data)
    outputs = [(out, metrics), *headline_output(headline, evaluate_headline(metrics))]
    with atomic_paths(*(path for path, _ in outputs)) as tmps, atomic_dir(plots) as tmp:
        write_plots(tmp, tables, labels=runs.labels, png=evaluate_params.png)
        for tmp_path, (_, data) in zip(tmps, outputs):
            write_json_to(tmp_path, data)
    if removed:
        metrics = {**metrics, "removed_stale": [str(p) for p in removed]}
    return metrics


def describe(metrics: Mapping[str, Any]) -> list[str]:
    """One line per subset: accuracy, macro-F1, seed stability, gap to the reference and the plateau flag."""
    lines = [f"removed stale output (subset or seed no longer configured): {path}"
             for path in metrics.get("removed_stale") or []]
    for name, m in metrics["subsets"].items():
        gap = m["accuracy_gap_to_reference"]
        alpha = m["krippendorff_alpha"]
        lines.append(f"{name}: accuracy {m['accuracy_mean']:.4f} (std {m['accuracy_std'] or 0:.4f}, "
                     f"{m['n_seeds']} seeds), macro-F1 {m['macro_f1_mean']:.4f}, alpha "
                     f"{'n/a' if alpha is None else f'{alpha:.3f}'}, unchanged {m['unchanged_prediction_rate']:.3f}, "
                     f"gap {'n/a' if gap is None else f'{gap:+.4f}'}, plateau {m['plateau']}"
                     + (f", audit gap {m['audit_accuracy_gap']:+.4f}" if m.get("audit_accuracy_gap") is not None
                        else ""))
    return lines
