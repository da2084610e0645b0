"""Stage `evaluate`: accuracy, stability across seeds and the gap to the gold-label reference, per subset.

Inputs: the run folders `models/<subset>/seed_<k>/` written by `train` (test_probs.parquet + run.json), the gold
test set, and optionally the learning curves written by `learning-curve`.

Per run: accuracy, macro-F1 and per-class F1 on the gold test set. Per subset (over its seeds): mean and sample
standard deviation (ddof=1; null with one seed); Krippendorff's alpha (nominal) of the predicted labels with seeds
as coders and test items as units (null with one seed, or when every prediction is the same class: alpha is then
undefined); the share of test items every seed predicts alike; the seed ensemble (probabilities averaged over
seeds, then arg-max); the gap to the reference subset (reference mean minus this subset's mean, so positive means
worse than gold; null without a reference); the learning-curve plateau flag and decline (null without a curve).
With an audit reference (labelgate.audit_reference), its gap figures go to the subset it audited.

Plot tables for DVC: per-seed scores, a confusion table per subset (actual, predicted; seed-ensemble predictions)
and the learning-curve points; matplotlib PNGs of the same when enabled.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelgate.audit_reference import AUDIT_FIGURES, GATED_FIGURES, GOLD_VERSION
from labelgate.contract import TEXT
from labelgate.curves import (
    CurveParams,
    EvaluateParams,
    compare_at_equal_size,
    curve_decline,
    gap_to_reference,
    plateau_flag,
)
from labelgate.errors import BadInputError
from labelgate.train.inputs import DEFAULT_SUBSETS_DIR
from labelgate.train.data import texts_fingerprint
from labelgate.train.run import PROBS_FILE, RUN_FILE
from labelgate.vocabulary import LABEL, TABLE_SUFFIXES, model_prob_column

SEED_DIR = re.compile(r"^seed_(-?\d+)$")

#: The scalar figures evaluate.json holds per subset: what the training_stability suite may check.
STABILITY_FIGURES = (
    "n_seeds", "accuracy_mean", "accuracy_std", "macro_f1_mean", "macro_f1_std", "krippendorff_alpha",
    "unchanged_prediction_rate", "ensemble_accuracy", "ensemble_macro_f1", "accuracy_gap_to_reference",
    "macro_f1_gap_to_reference", "plateau", "learning_curve_gain_last_doubling", "learning_curve_decline",
    *AUDIT_FIGURES,
)


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



def run_scores(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """accuracy, macro_f1 and per_class_f1 of one set of predictions."""
    from sklearn.metrics import f1_score

    y_true, y_pred = np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object)
    per_class = f1_score(y_true, y_pred, labels=list(labels), average=None, zero_division=0)
    return {
        "accuracy": float((y_true == y_pred).mean()),
        "macro_f1": float(np.mean(per_class)),
        "per_class_f1": {label: float(v) for label, v in zip(labels, per_class)},
    }


def seed_alpha(codes: np.ndarray, n_labels: int) -> float | None:
    """Krippendorff's alpha (nominal) of predicted label codes, shape (seeds, items); None when undefined."""
    import krippendorff

    codes = np.asarray(codes, dtype=float)
    if codes.ndim != 2 or codes.shape[0] < 2 or codes.shape[1] == 0:
        return None
    if len(np.unique(codes)) < 2:
        return None  # one class everywhere: expected disagreement is 0, alpha is undefined
    return float(krippendorff.alpha(reliability_data=codes, level_of_measurement="nominal",
                                     value_domain=list(range(n_labels))))


def unchanged_rate(codes: np.ndarray) -> float:
    """Share of items (columns) whose predicted label is identical in every run (row)."""
    codes = np.asarray(codes)
    if codes.size == 0:
        return float("nan")
    return float((codes == codes[0]).all(axis=0).mean())


def _std(values: Sequence[float]) -> float | None:
    return float(np.std(values, ddof=1)) if len(values) >= 2 else None


def evaluate_runs(
    probabilities: Mapping[str, Mapping[int, np.ndarray]],
    y_true: Sequence[str],
    labels: Sequence[str],
    *,
    reference: str | None = None,
    curves: Mapping[str, Mapping[str, Any]] | None = None,
    curve_params: CurveParams | None = None,
    audit: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The metrics JSON (see the module docstring) from test probabilities per subset and seed; `audit`: the
    audit reference JSON (labelgate.audit_reference), whose figures go to the subset it audited."""
    labels = tuple(labels)
    y_true = np.asarray([str(v) for v in y_true], dtype=object)
    outside = sorted(set(y_true.tolist()) - set(labels))
    if outside:
        raise ValueError(f"test labels {outside} are not in the runs' label set {list(labels)}")
    for subset, seeds in probabilities.items():
        if not seeds:
            raise ValueError(f"subset {subset!r} has no runs")
        for seed, probs in seeds.items():
            if np.shape(probs) != (len(y_true), len(labels)):
                raise ValueError(f"{subset} seed {seed}: probabilities of shape {np.shape(probs)}, "
                                 f"expected {(len(y_true), len(labels))}")
    metrics = _evaluate(probabilities, y_true, labels, reference or None, dict(curves or {}),
                        curve_params or CurveParams())
    return attach_to_evaluation(metrics, audit, curves)


def attach_to_evaluation(metrics: dict[str, Any], audit: Mapping[str, Any] | None,
                         curves: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Copy the audit figures into the audited subset's row of the evaluation metrics (in place; returned); the
    other subsets get the same keys as null.

    Adds `audit_curve_gap_at_equal_size` (audit gold curve minus the subset's own LLM-label curve at the largest
    audit size both cover) and `audit_gold_minus_llm_full` (gold accuracy on the audited rows minus the subset's
    full-data curve point) when the subset has a learning curve. Every figure is null when the audit was not
    measured or is absent, so the gate says "not measured" instead of passing.
    """
    subset = (audit or {}).get("subset")
    for row in metrics.get("subsets", {}).values():
        row.update(dict.fromkeys(AUDIT_FIGURES))
    figures = dict.fromkeys(AUDIT_FIGURES)
    if audit and audit.get("measured"):
        figures.update({name: audit.get(name) for name in GATED_FIGURES})
        gold_curve = (audit.get("curves") or {}).get(GOLD_VERSION)
        own = (curves or {}).get(subset)
        if gold_curve and own and own.get("points"):
            compared = compare_at_equal_size(own["points"], gold_curve["points"])
            if compared:
                figures["audit_curve_gap_at_equal_size"] = compared[-1]["gap"]
            figures["audit_gold_minus_llm_full"] = (float(gold_curve["points"][-1]["accuracy"])
                                                    - float(own["points"][-1]["accuracy"]))
    if subset in metrics.get("subsets", {}):
        metrics["subsets"][subset].update(figures)
    metrics["audit_reference"] = {"subset": subset, "measured": bool(audit and audit.get("measured")),
                                  "reason": (audit or {}).get("reason", "no audit reference given")}
    return metrics



def _evaluate(probabilities, y_true, labels, reference, curves, curve_params) -> dict[str, Any]:
    names = np.asarray(labels, dtype=object)
    subsets: dict[str, dict[str, Any]] = {}
    for subset, seeds in probabilities.items():
        seeds = dict(sorted(seeds.items()))
        codes = np.stack([np.asarray(p).argmax(axis=1) for p in seeds.values()])
        per_seed = {str(seed): run_scores(y_true, names[c], labels) for seed, c in zip(seeds, codes)}
        accuracies = [s["accuracy"] for s in per_seed.values()]
        macros = [s["macro_f1"] for s in per_seed.values()]
        ensemble = run_scores(y_true, names[np.mean(list(seeds.values()), axis=0).argmax(axis=1)], labels)
        subsets[subset] = {
            "n_seeds": len(seeds),
            "accuracy_mean": float(np.mean(accuracies)),
            "accuracy_std": _std(accuracies),
            "macro_f1_mean": float(np.mean(macros)),
            "macro_f1_std": _std(macros),
            "per_class_f1_mean": {label: float(np.mean([s["per_class_f1"][label] for s in per_seed.values()]))
                                  for label in labels},
            "krippendorff_alpha": seed_alpha(codes, len(labels)),
            "unchanged_prediction_rate": unchanged_rate(codes),
            "ensemble_accuracy": ensemble["accuracy"],
            "ensemble_macro_f1": ensemble["macro_f1"],
            "accuracy_gap_to_reference": None,
            "macro_f1_gap_to_reference": None,
            "plateau": None,
            "learning_curve_gain_last_doubling": None,
            "learning_curve_decline": None,
            "seeds": per_seed,
        }
    has_reference = reference is not None and reference in subsets
    if has_reference:
        ref = subsets[reference]
        for figures in subsets.values():
            figures["accuracy_gap_to_reference"] = ref["accuracy_mean"] - figures["accuracy_mean"]
            figures["macro_f1_gap_to_reference"] = ref["macro_f1_mean"] - figures["macro_f1_mean"]
    reference_final = _reference_final_accuracy(curves, subsets, reference if has_reference else None)
    for subset, figures in subsets.items():
        curve = curves.get(subset)
        if not curve or not curve.get("points"):
            continue
        gain = curve.get("gain_last_doubling")
        final = curve.get("final_accuracy", curve["points"][-1]["accuracy"])
        gap = gap_to_reference(final, subset=subset, reference=reference if has_reference else None,
                               reference_accuracy=reference_final)
        figures["learning_curve_gain_last_doubling"] = gain
        figures["learning_curve_decline"] = curve_decline(curve["points"])
        figures["plateau"] = plateau_flag(gain, gap, min_gain=curve_params.plateau_min_gain,
                                          min_gap=curve_params.plateau_min_gap)
    return {"reference": reference if has_reference else None, "labels": list(labels), "subsets": subsets}


def _reference_final_accuracy(curves, subsets, reference) -> float | None:
    """The reference's accuracy for curve gaps: its own curve's final point, else its mean over seeds."""
    if reference is None:
        return None
    curve = curves.get(reference)
    if curve and curve.get("points"):
        return float(curve.get("final_accuracy", curve["points"][-1]["accuracy"]))
    return float(subsets[reference]["accuracy_mean"])



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
