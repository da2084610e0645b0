"""Stage `learning-curve`: test accuracy versus training-set size, and a premature-plateau flag.

Lu & Smith (2025) find that classifiers trained on LLM labels plateau early: their errors are systematic, so more
data of the same kind stops helping while the model still trails the gold-label reference. This stage trains one
seed on growing, nested, class-stratified fractions of a subset (no checkpoints kept), scores each on the gold test
set, and flags a plateau when

    gain over the last doubling (accuracy at the last fraction minus at half of it) < plateau_min_gain
    AND gap to the reference (reference accuracy minus this subset's final accuracy) > plateau_min_gap.

A curve that falls as data grows is worse than a plateau: more labels of this kind make the model worse, the mark
of systematic label errors. `decline` (the best accuracy at a smaller fraction minus the accuracy at the full size;
positive when the curve falls) is reported with every curve and gated as a blocking figure
(gate.max_learning_curve_decline), with or without a reference.

The reference is the gold-label subset's own curve (its final point) when given; for the reference subset itself
the gap is 0 by definition, so it never plateaus "prematurely". Without a reference the flag is null (unknown).

Every fraction trains for `train.epochs` epochs, so smaller fractions also take fewer optimiser steps (the usual
protocol; with one epoch on a CPU it steepens the curve). `equal_steps: true` gives every fraction the full data's
number of steps instead, at about one full run's cost per fraction.

Cost: the full-data point equals the `train` run with the same seed and settings, so it can be read from that run
folder instead of retrained (`--full-run`).

The curve maths (gain, decline, gap to the reference, plateau flag) is in labelgate.curves, which `evaluate`
shares.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelgate.curves import (
    CurveParams,
    EvaluateParams,
    accuracy_and_macro_f1,
    curve_decline,
    gain_last_doubling,
    gap_to_reference,
    plateau_flag,
)
from labelgate.train.data import check_training_frame, encode_labels
from labelgate.train.inputs import DEFAULT_SUBSETS_DIR
from labelgate.train.loop import fine_tune, predict_proba
from labelgate.train.params import TrainParams
from labelgate.vocabulary import LABEL, TEXT, model_prob_column

def nested_fractions(labels: Sequence[str], fractions: Sequence[float], *, seed: int) -> dict[float, np.ndarray]:
    """Row indices per fraction: class-stratified, nested (each set holds the smaller ones), in table order.

    Every class keeps at least one row; fraction 1.0 is the whole table in its original order, so that point is
    exactly the full `train` run with the same seed.
    """
    labels = np.asarray(labels, dtype=object)
    rng = np.random.default_rng(seed)
    orders = {c: rng.permutation(np.flatnonzero(labels == c)) for c in sorted(set(labels.tolist()))}
    out: dict[float, np.ndarray] = {}
    for fraction in fractions:
        if fraction >= 1.0:
            out[fraction] = np.arange(len(labels))
            continue
        picked = [order[:max(1, round(fraction * len(order)))] for order in orders.values()]
        out[fraction] = np.sort(np.concatenate(picked))
    return out


def learning_curve(
    train: pd.DataFrame,
    test: pd.DataFrame,
    labels: Sequence[str],
    train_params: TrainParams,
    params: CurveParams,
    *,
    subset: str,
    full_run_probs: np.ndarray | None = None,
    reference_accuracy: float | None = None,
    reference_name: str | None = None,
    progress: bool | str = False,
) -> dict[str, Any]:
    """Train on each fraction, score on the test set, and summarise the curve (see the module docstring).

    `full_run_probs`: test probabilities of the matching full `train` run, used for fraction 1.0 instead of
    retraining. `reference_accuracy`: the reference's final accuracy (for the gap); when `subset` is the reference
    (`reference_name`), the gap is 0.
    """
    labels = tuple(labels)
    train = check_training_frame(train)
    truth = test[LABEL].astype(str).to_numpy()
    if full_run_probs is not None and np.shape(full_run_probs) != (len(test), len(labels)):
        raise ValueError(f"full_run_probs has shape {np.shape(full_run_probs)}, expected {(len(test), len(labels))}")
    subsets = nested_fractions(train[LABEL].tolist(), params.fractions, seed=params.seed)
    points = []
    for fraction, index in subsets.items():
        reused = fraction >= 1.0 and full_run_probs is not None
        if reused:
            probabilities = np.asarray(full_run_probs, dtype=float)
        else:
            rows = train.iloc[index]
            codes = encode_labels(rows[LABEL], labels, path=subset, column=LABEL)
            settings = train_params
            if params.equal_steps:  # as many optimiser steps as the full data: epochs x 1/fraction
                settings = replace(train_params, epochs=max(1, round(train_params.epochs / fraction)))
            model, tokenizer, stats = fine_tune(rows[TEXT].tolist(), codes, labels, settings, seed=params.seed,
                                                progress=progress, description=f"curve {subset} {fraction:g}")
            probabilities = predict_proba(model, tokenizer, test[TEXT].tolist(), max_length=train_params.max_length,
                                          batch_size=train_params.eval_batch_size, precision=stats["precision"])
            del model
        predicted = np.asarray(labels, dtype=object)[probabilities.argmax(axis=1)]
        accuracy, macro = accuracy_and_macro_f1(truth, predicted, labels)
        points.append({"fraction": fraction, "n": int(len(index)), "accuracy": accuracy, "macro_f1": macro,
                       "reused_full_run": bool(reused)})
    return summarise_curve(points, params, subset=subset, reference_accuracy=reference_accuracy,
                           reference_name=reference_name, labels=labels, n_total=len(train))


def summarise_curve(
    points: Sequence[Mapping[str, Any]],
    params: CurveParams,
    *,
    subset: str,
    reference_accuracy: float | None,
    reference_name: str | None,
    labels: Sequence[str] = (),
    n_total: int | None = None,
) -> dict[str, Any]:
    """The curve JSON: points, gain over the last doubling, gap to the reference and the plateau flag."""
    points = [dict(p) for p in points]
    final = points[-1]["accuracy"] if points else None
    gain = gain_last_doubling(points)
    gap = gap_to_reference(final, subset=subset, reference=reference_name, reference_accuracy=reference_accuracy)
    return {
        "subset": subset,
        "seed": params.seed,
        "labels": list(labels),
        "n_total": n_total,
        "points": points,
        "final_accuracy": final,
        "gain_last_doubling": gain,
        "macro_f1_gain_last_doubling": gain_last_doubling(points, "macro_f1"),
        "decline": curve_decline(points),
        "reference": reference_name,
        "reference_accuracy": reference_accuracy if not (reference_name and subset == reference_name) else final,
        "gap_to_reference": gap,
        "plateau": plateau_flag(gain, gap, min_gain=params.plateau_min_gain, min_gap=params.plateau_min_gap),
        "params": asdict(params),
    }


def full_run_matches(record: Mapping[str, Any], *, seed: int, n_train: int, test_sha256: str,
                     train_params: TrainParams) -> str | None:
    """Why a `train` run's record cannot stand in for the curve's full-data point (None when it can)."""
    if record.get("seed") != seed:
        return f"its seed is {record.get('seed')}, the curve's is {seed}"
    if record.get("n_train") != n_train:
        return f"it trained on {record.get('n_train')} rows, the subset has {n_train}"
    if record.get("test_sha256") != test_sha256:
        return "it was scored on a different test set"
    wanted = {k: v for k, v in _jsonable(asdict(train_params)).items() if k != "seeds"}
    had = {k: v for k, v in dict(record.get("params", {})).items() if k != "seeds"}
    if had != wanted:
        changed = sorted(k for k in set(wanted) | set(had) if wanted.get(k) != had.get(k))
        return f"its train params differ ({', '.join(changed)})"
    return None


def _jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in values.items()}


def full_run_probabilities(run_dir: str | os.PathLike, *, seed: int, train: pd.DataFrame, test: pd.DataFrame,
                           labels: Sequence[str], train_params: TrainParams) -> tuple[np.ndarray | None, str | None]:
    """The test probabilities of a `train` run folder that can stand in for the curve's full-data point, else
    (None, why not): its seed, subset size, test set, train params and label set must match the curve's."""
    from labelgate.outputs import read_json
    from labelgate.train.data import texts_fingerprint
    from labelgate.train.run import PROBS_FILE, RUN_FILE

    run_dir = Path(run_dir)
    record = read_json(run_dir / RUN_FILE)
    why = full_run_matches(record, seed=seed, n_train=len(train),
                           test_sha256=texts_fingerprint(test[TEXT].tolist()), train_params=train_params)
    if why is None and list(record.get("labels", [])) == list(labels):
        probs = pd.read_parquet(run_dir / PROBS_FILE)[[model_prob_column(x) for x in labels]].to_numpy(float)
        return probs, None
    return None, why or "its label set differs"


def main(subset: str, out: str | os.PathLike, *, params: dict[str, Any], test: str | os.PathLike,
         subsets_dir: str | os.PathLike = DEFAULT_SUBSETS_DIR, table: str | os.PathLike | None = None,
         full_run: str | os.PathLike | None = None, reference_curve: str | os.PathLike | None = None,
         progress: bool | str = False, warn: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The learning-curve stage on files: reuse the matching `full_run` for the full-data point (else retrain, with
    a line to `warn`), take the gap from the reference's curve JSON when it exists, write the curve JSON to `out`."""
    from labelgate.config import section
    from labelgate.outputs import read_json, write_json
    from labelgate.train.inputs import training_inputs

    inputs = training_inputs(subset, params, subsets_dir=subsets_dir, table=table, test=test)
    train_params = section(params, "train", TrainParams)
    curve_params = section(params, "learning_curve", CurveParams)
    full_probs = None
    if full_run is not None:
        full_probs, why = full_run_probabilities(full_run, seed=curve_params.seed, train=inputs.train,
                                                 test=inputs.test, labels=inputs.labels, train_params=train_params)
        if full_probs is None and warn is not None:
            warn(f"learning-curve: not reusing {full_run}: {why}; retraining")
    reference_accuracy = None
    if reference_curve is not None and Path(reference_curve).exists():
        reference_accuracy = read_json(reference_curve).get("final_accuracy")
    result = learning_curve(inputs.train, inputs.test, inputs.labels, train_params, curve_params, subset=subset,
                            full_run_probs=full_probs, reference_accuracy=reference_accuracy,
                            reference_name=section(params, "evaluate", EvaluateParams).reference or None,
                            progress=progress)
    write_json(out, result)
    return result


def describe(result: dict[str, Any], subset: str) -> str:
    """The command's one line: accuracy per training size, the gain over the last doubling, the plateau flag."""
    points = ", ".join(f"{p['n']}: {p['accuracy']:.3f}" for p in result["points"])
    return (f"learning-curve {subset}: {points}; gain over last doubling {result['gain_last_doubling']}, "
            f"plateau {result['plateau']}")
