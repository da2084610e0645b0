"""The `train` stage's run: one fine-tuning run on a subset with a seed, and the run folder it writes (checkpoint,
test probabilities, run record). Its params (params.yaml section `train`) are TrainParams in train.params, also
importable from here.

One run = one training table (`id`, `text`, `label`) and one seed; DVC runs the grid (subsets x seeds) as a
`matrix`, so each run folder is its own cached output. torch and transformers import lazily (inside functions).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelgate.errors import BadInputError
from labelgate.train.data import check_training_frame, encode_labels, texts_fingerprint
from labelgate.train.loop import fine_tune, predict_proba, quiet_transformers
from labelgate.train.params import TrainParams
from labelgate.vocabulary import LABEL, PRED, TEXT, model_prob_column

PROBS_FILE = "test_probs.parquet"
RUN_FILE = "run.json"


@dataclass
class RunRecord:
    """What run.json holds: the run's identity, sizes, timings and per-epoch mean training loss."""

    subset: str
    seed: int
    model: str
    labels: list[str]
    n_train: int
    n_test: int
    epochs: int
    train_seconds: float
    train_samples_per_second: float
    inference_seconds: float
    inference_samples_per_second: float
    wall_seconds: float
    epoch_loss: list[float]
    device: str
    precision: str
    num_threads: int
    trainable_parameters: int
    total_parameters: int
    test_accuracy: float | None = None  # when the test set's labels are known (they are: it is the gold test set)
    test_sha256: str = ""  # fingerprint of the test texts, so `evaluate` can refuse mismatched test sets
    params: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunResult:
    """A finished run: the model and tokenizer in memory, the test probabilities and the run record."""

    model: Any
    tokenizer: Any
    probabilities: np.ndarray  # (n_test, n_labels), rows in test-file order
    labels: tuple[str, ...]
    record: RunRecord

    def probs_frame(self) -> pd.DataFrame:
        return probs_frame(self.probabilities, self.labels)


def probs_frame(probabilities: np.ndarray, labels: Sequence[str]) -> pd.DataFrame:
    """test_probs table: `prob_<label>` per class and `pred` (the arg-max label), one row per test text."""
    probabilities = np.asarray(probabilities, dtype=float)
    frame = pd.DataFrame(probabilities, columns=[model_prob_column(label) for label in labels])
    frame[PRED] = np.asarray(labels, dtype=object)[probabilities.argmax(axis=1)] if len(frame) else []
    return frame


def train_run(
    train: pd.DataFrame,
    test: pd.DataFrame,
    labels: Sequence[str],
    params: TrainParams,
    *,
    subset: str,
    seed: int,
    progress: bool | str = False,
    train_path: str | os.PathLike = "<train>",
    test_path: str | os.PathLike = "<test>",
) -> RunResult:
    """One run: fine-tune on `train` (id, text, label) with `seed`, then predict the gold test set (text, label)."""
    labels = tuple(labels)
    train = check_training_frame(train, path=train_path)
    codes = encode_labels(train[LABEL], labels, path=train_path, column=LABEL)
    wall = time.perf_counter()
    model, tokenizer, stats = fine_tune(train[TEXT].tolist(), codes, labels, params, seed=seed, progress=progress,
                                        description=f"train {subset} seed {seed}")
    start = time.perf_counter()
    probabilities = predict_proba(model, tokenizer, test[TEXT].tolist(), max_length=params.max_length,
                                  batch_size=params.eval_batch_size, precision=stats["precision"])
    infer = time.perf_counter() - start
    accuracy = None
    if LABEL in test.columns and len(test):
        known = set(labels)
        truth = test[LABEL].astype(str)
        outside = sorted(set(truth) - known)
        if outside:
            raise BadInputError(test_path, f"test labels {outside} are not in the label set {list(labels)}",
                                column=LABEL)
        accuracy = float((np.asarray(labels)[probabilities.argmax(axis=1)] == truth.to_numpy()).mean())
    record = RunRecord(
        subset=subset, seed=int(seed), model=params.model, labels=list(labels), n_train=len(train),
        n_test=len(test), epochs=params.epochs, train_seconds=round(stats["train_seconds"], 3),
        train_samples_per_second=round(stats["train_samples_per_second"], 2),
        inference_seconds=round(infer, 3),
        inference_samples_per_second=round(len(test) / infer, 2) if infer > 0 else 0.0,
        wall_seconds=round(time.perf_counter() - wall, 3), epoch_loss=[round(x, 5) for x in stats["epoch_loss"]],
        device=stats["device"], precision=stats["precision"], num_threads=stats["num_threads"],
        trainable_parameters=stats["trainable_parameters"], total_parameters=stats["total_parameters"],
        test_accuracy=accuracy, test_sha256=texts_fingerprint(test[TEXT].tolist()),
        params={k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(params).items()},
    )
    return RunResult(model=model, tokenizer=tokenizer, probabilities=probabilities, labels=labels, record=record)


def save_run(result: RunResult, folder: str | os.PathLike) -> None:
    """Write the run into an existing (temporary) folder: weights (safetensors), config, tokenizer, probs, record.

    The caller makes it atomic (labelgate.outputs.atomic_dir).
    """
    import json

    folder = Path(folder)
    with quiet_transformers():
        result.model.save_pretrained(folder, safe_serialization=True)
        result.tokenizer.save_pretrained(folder)
    result.probs_frame().to_parquet(folder / PROBS_FILE, index=False)
    (folder / RUN_FILE).write_text(json.dumps(result.record.as_dict(), indent=2) + "\n", encoding="utf-8")


def main(subset: str, seed: int, out: str | os.PathLike, *, params: dict[str, Any], test: str | os.PathLike,
         subsets_dir: str | os.PathLike | None = None, table: str | os.PathLike | None = None,
         progress: bool | str = False) -> RunResult:
    """The train stage on files: the subset's table and the gold test set in, the run folder `out` written as a
    whole (atomic)."""
    from labelgate.config import section
    from labelgate.outputs import atomic_dir
    from labelgate.train.inputs import DEFAULT_SUBSETS_DIR, training_inputs

    inputs = training_inputs(subset, params, subsets_dir=subsets_dir or DEFAULT_SUBSETS_DIR, table=table, test=test)
    result = train_run(inputs.train, inputs.test, inputs.labels, section(params, "train", TrainParams),
                       subset=subset, seed=seed, progress=progress, train_path=inputs.train_path, test_path=test)
    with atomic_dir(out) as tmp:
        save_run(result, tmp)
    return result


def describe(record: RunRecord, subset: str, seed: int, out: str | os.PathLike) -> str:
    """The command's one line: training size, test accuracy, throughput and wall time of the run."""
    return (f"train {subset} seed {seed}: n={record.n_train} test accuracy {record.test_accuracy:.4f}, "
            f"{record.train_samples_per_second:.0f} train/s, {record.inference_samples_per_second:.0f} infer/s, "
            f"{record.wall_seconds:.0f} s -> {out}")
