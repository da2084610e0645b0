"""Stage `train`: fine-tune a Hugging Face encoder for sequence classification on one subset and one seed.

Scope: one run = one training table (`id`, `text`, `label`) and one seed. The run yields a checkpoint (safetensors
weights, config with the label map, tokenizer files), the predicted class probabilities on the gold test set, and a
run record (sizes, timings, per-epoch loss). DVC runs the grid (subsets x seeds) as a `matrix`, so each run folder
is its own cached output.

Assumptions and choices, all for speed on a CPU without changing the results' meaning:
- dynamic padding with length bucketing: each epoch shuffles the rows, sorts them by token length inside pools of
  `bucket_pool` batches, cuts batches and shuffles the batch order, so a batch holds texts of similar length;
- the embeddings and the lowest `freeze_layers` transformer layers may be frozen (no gradients, no optimiser state);
- deterministic seeding: the seed fixes the new classifier head, dropout and the batch order; the same seed and the
  same thread count give identical probabilities on a CPU (on a GPU, deterministic kernels are requested);
- the device is picked at run time (`device: auto` takes CUDA when present), so a GPU needs no code change;
- `precision: auto` runs the forward pass in bfloat16 (autocast; weights and optimiser stay fp32) where the
  hardware has native bf16 (CPUs with AVX512-BF16 or AMX, GPUs with bf16 support): on the demo's CPU that is 1.4x
  faster training and 1.8x faster inference at the same accuracy; elsewhere it is fp32.

torch and transformers import lazily (inside functions): `labelgate --help` stays fast.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelgate.config import check_range
from labelgate.contract import LABEL as TEST_LABEL, TEXT  # noqa: N811 - until train/ takes the vocabulary
from labelgate.errors import BadInputError, ConfigError

ID = "id"
LABEL = "label"
PRED = "pred"
PROB_PREFIX = "prob_"
PROBS_FILE = "test_probs.parquet"
RUN_FILE = "run.json"
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")


def prob_column(label: str) -> str:
    """Column of the predicted probability of `label` in test_probs.parquet."""
    return f"{PROB_PREFIX}{label}"


@dataclass(frozen=True)
class TrainParams:
    """Fine-tuning settings (params.yaml section `train`). The defaults fit the demo grid on a 2-core CPU."""

    model: str = "minilm"  # `minilm` (offline registry package) or any local path / hub name for from_pretrained
    max_length: int = 64  # tokens per text after truncation (demo tweets: mean 33, p99 59)
    epochs: int = 1  # on a GPU, or with more time: 3
    batch_size: int = 16  # small batches, many steps: one CPU epoch learns more than with 32
    eval_batch_size: int = 128  # inference batch on the test set
    learning_rate: float = 4e-4  # high because only the top layers train; with freeze_layers 0 use ~5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1  # share of optimiser steps with a linear warm-up; then linear decay to 0
    max_grad_norm: float = 1.0  # gradient clipping; 0 turns it off
    freeze_embeddings: bool = True  # the embeddings hold half of MiniLM's weights; their dense AdamW update is slow
    freeze_layers: int = 4  # lowest transformer layers kept frozen, in eval mode (MiniLM has 6; 0 = train all)
    bucket_pool: int = 50  # length bucketing: sort by length inside pools of this many batches
    seeds: tuple[int, ...] = (0, 1, 2)  # the seeds DVC's matrix runs (each run gets one via --seed)
    device: str = "auto"  # auto | cpu | cuda
    precision: str = "auto"  # auto | fp32 | bf16 autocast; auto: bf16 where the hardware runs it natively
    num_threads: int = 0  # torch intra-op threads; 0 keeps torch's default (one per core)

    def __post_init__(self):
        object.__setattr__(self, "seeds", tuple(int(s) for s in (self.seeds or ())))
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValueError("model must be a non-empty string")
        check_range("max_length", self.max_length, 8, 4096)
        check_range("epochs", self.epochs, 1, 100)
        check_range("batch_size", self.batch_size, 1, 4096)
        check_range("eval_batch_size", self.eval_batch_size, 1, 16384)
        check_range("learning_rate", self.learning_rate, 1e-7, 1.0)
        check_range("weight_decay", self.weight_decay, 0.0, 1.0)
        check_range("warmup_ratio", self.warmup_ratio, 0.0, 1.0)
        check_range("max_grad_norm", self.max_grad_norm, 0.0)
        check_range("freeze_layers", self.freeze_layers, 0, 128)
        check_range("bucket_pool", self.bucket_pool, 1)
        check_range("num_threads", self.num_threads, 0, 1024)
        if not self.seeds:
            raise ValueError("seeds needs at least one seed")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be unique, got {list(self.seeds)}")
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {self.device!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")


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


# ----------------------------------------------------------------------------------------------------- inputs


def read_training_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a subset table (`id`, `text`, `label`) and check it: no missing text or label, ids unique."""
    from labelgate.contract import read_table

    frame = read_table(path)
    return check_training_frame(frame, path=path)


def check_training_frame(frame: pd.DataFrame, *, path: str | os.PathLike = "<table>") -> pd.DataFrame:
    missing = [c for c in (TEXT, LABEL) if c not in frame.columns]
    if missing:
        raise BadInputError(path, f"missing column(s) {', '.join(missing)}; a subset table needs id, text, label",
                            column=missing[0])
    frame = frame.reset_index(drop=True).copy()
    if ID not in frame.columns:
        from labelgate.contract import stable_id

        frame[ID] = [stable_id(str(t)) for t in frame[TEXT]]
    for column in (TEXT, LABEL):
        bad = np.flatnonzero(frame[column].isna().to_numpy())
        if bad.size:
            raise BadInputError(path, "missing value", rows=(bad + 1).tolist(), column=column)
    frame[TEXT] = frame[TEXT].astype(str)
    frame[LABEL] = frame[LABEL].astype(str)
    dupes = np.flatnonzero(frame[ID].duplicated().to_numpy())
    if dupes.size:
        raise BadInputError(path, "duplicate id", rows=(dupes + 1).tolist(), column=ID)
    if frame.empty:
        raise BadInputError(path, "no rows to train on")
    return frame[[ID, TEXT, LABEL]]


def read_test_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read the gold test set (`text`, `label`) in file order."""
    from labelgate.contract import read_table

    frame = read_table(path)
    for column in (TEXT, TEST_LABEL):
        if column not in frame.columns:
            raise BadInputError(path, "missing column; the gold test set needs text, label", column=column)
        bad = np.flatnonzero(frame[column].isna().to_numpy())
        if bad.size:
            raise BadInputError(path, "missing value", rows=(bad + 1).tolist(), column=column)
    frame = frame.reset_index(drop=True)
    return pd.DataFrame({TEXT: frame[TEXT].astype(str), TEST_LABEL: frame[TEST_LABEL].astype(str)})


def resolve_labels(configured: Sequence[str], *frames_and_columns: tuple[pd.DataFrame, str]) -> tuple[str, ...]:
    """The label set: params' `base.labels` when set, else the sorted union of the labels the tables hold."""
    if configured:
        return tuple(configured)
    seen: set[str] = set()
    for frame, column in frames_and_columns:
        seen.update(frame[column].dropna().astype(str).unique())
    if len(seen) < 2:
        raise BadInputError("<labels>", f"need at least two classes, found {sorted(seen)}")
    return tuple(sorted(seen))


def encode_labels(values: pd.Series, labels: Sequence[str], *, path: str | os.PathLike, column: str) -> np.ndarray:
    index = {label: i for i, label in enumerate(labels)}
    codes = values.map(lambda v: index.get(str(v), -1)).to_numpy(int)
    bad = np.flatnonzero(codes < 0)
    if bad.size:
        raise BadInputError(path, f"label not in the label set {list(labels)} (e.g. {values.iloc[bad[0]]!r})",
                            rows=(bad + 1).tolist(), column=column)
    return codes


def texts_fingerprint(texts: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


# ----------------------------------------------------------------------------------------------------- torch setup


def select_device(name: str = "auto"):
    """`auto`: CUDA when torch sees a GPU, else CPU. `cuda` without a GPU is an error, not a silent fallback."""
    import torch

    if name not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise BadInputError("params.yaml", "train.device is 'cuda' but torch sees no GPU; use 'auto' or 'cpu'")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and torch.cuda.device_count() > 1:  # parallel runs (dvc queue -j N): one GPU each
        from labelgate.devices import claim_gpu

        return torch.device("cuda", claim_gpu(torch.cuda.device_count()))
    return torch.device(name)


def resolve_precision(precision: str, device) -> str:
    """`auto` -> `bf16` where `device` computes bfloat16 natively, else `fp32`; other values pass through."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision != "auto":
        return precision
    import torch

    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if _cpu_has_native_bf16() else "fp32"
    return "fp32"


def _cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX-BF16 in the CPU flags (Linux); without them bf16 is emulated and slower than fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def set_seed(seed: int, *, device=None) -> None:
    """Seed Python, NumPy and torch (CPU and every GPU); ask for deterministic kernels on a GPU."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if device is not None and getattr(device, "type", "cpu") == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.cuda.manual_seed_all(seed)
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)


def prefer_passive_omp_wait() -> None:
    """Let waiting OpenMP threads sleep instead of spin, unless OMP_WAIT_POLICY is set already.

    On a CPU shared with other jobs, spinning threads wait for a descheduled sibling at every parallel region:
    fine-tuning ran 9x slower on the demo's 2-core machine under load (bench/train_throughput.md); idle, the
    difference is within noise. OpenMP reads the variable when torch loads it, so call this before the first
    `import torch` of the process (the CLI does); later it has no effect.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def set_threads(num_threads: int) -> int:
    """Fix torch's intra-op thread count (0 keeps the default); returns the count in use."""
    import torch

    if num_threads > 0:
        torch.set_num_threads(num_threads)
    return torch.get_num_threads()


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Hide the weight-loading progress bar and the 'newly initialised head' report: expected, not news."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def load_model(model: str, labels: Sequence[str]):
    """(model, tokenizer) for sequence classification with a new head for `labels`; `model` resolves via
    labelgate.encoders (`minilm` -> the offline package folder). HF_HUB_OFFLINE is respected by transformers."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from labelgate.encoders import resolve_encoder_path

    path = resolve_encoder_path(model)
    id2label = {i: label for i, label in enumerate(labels)}
    with _quiet_transformers():
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
            network = AutoModelForSequenceClassification.from_pretrained(
                path, num_labels=len(labels), id2label=id2label, label2id={v: k for k, v in id2label.items()},
            )
        except OSError as exc:
            raise BadInputError(path, f"cannot load model ({str(exc).splitlines()[0]})") from None
    return network, tokenizer


def freeze(model, *, embeddings: bool, layers: int) -> list[Any]:
    """Freeze the embeddings and/or the lowest `layers` transformer layers; returns the frozen modules.

    Works for encoders that expose `base_model.embeddings` and `base_model.encoder.layer` (BERT, RoBERTa,
    MiniLM, ELECTRA, DeBERTa...); other architectures raise ValueError when asked to freeze. Frozen modules are
    meant to run in eval mode during training (`train_mode`): no dropout there, so they act as a fixed feature
    extractor and cost no random draws.
    """
    base = model.base_model
    frozen = []
    if embeddings:
        if not hasattr(base, "embeddings"):
            raise ValueError(f"{type(base).__name__} has no `embeddings` module to freeze")
        frozen.append(base.embeddings)
    if layers:
        blocks = getattr(getattr(base, "encoder", None), "layer", None)
        if blocks is None:
            raise ValueError(f"{type(base).__name__} has no `encoder.layer` list to freeze")
        if layers > len(blocks):
            raise ValueError(f"freeze_layers={layers} but the model has {len(blocks)} layers")
        frozen.extend(blocks[:layers])
    for module in frozen:
        for p in module.parameters():
            p.requires_grad_(False)
    return frozen


def parameter_counts(model) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


def train_mode(model, frozen: Sequence[Any] = ()) -> None:
    """Training mode for the model, eval mode (no dropout) for its frozen modules."""
    model.train()
    for module in frozen:
        module.eval()


# ----------------------------------------------------------------------------------------------------- batching


def length_buckets(lengths: Sequence[int], batch_size: int, *, rng: np.random.Generator | None,
                   pool: int = 50) -> list[np.ndarray]:
    """Batches of row indices with similar lengths.

    With `rng`: shuffle, sort by length inside pools of `pool` batches, cut batches, shuffle their order (training).
    Without: sort all rows by length and cut batches in order (inference; the caller restores the row order).
    """
    lengths = np.asarray(lengths)
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    if rng is None:
        order = np.argsort(lengths, kind="stable")
        return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    order = rng.permutation(len(lengths))
    window = batch_size * pool
    batches: list[np.ndarray] = []
    for start in range(0, len(order), window):
        chunk = order[start:start + window]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def tokenize(tokenizer, texts: Sequence[str], max_length: int) -> dict[str, list[list[int]]]:
    """Token ids (and the other model inputs) per text, unpadded: padding happens per batch."""
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)
    return {k: list(v) for k, v in encoded.items()}


def collate(encoded: dict[str, list[list[int]]], index: np.ndarray, *, pad_id: int, padding_side: str = "right",
            device=None) -> dict:
    """Pad one batch to its longest member (dynamic padding) and return torch tensors on `device`."""
    import torch

    rows = {k: [v[i] for i in index] for k, v in encoded.items()}
    width = max(len(r) for r in rows["input_ids"])
    batch = {}
    for key, values in rows.items():
        fill = pad_id if key == "input_ids" else 0
        padded = np.full((len(values), width), fill, dtype=np.int64)
        for j, row in enumerate(values):
            if padding_side == "left":
                padded[j, width - len(row):] = row
            else:
                padded[j, :len(row)] = row
        batch[key] = torch.from_numpy(padded)
    if device is not None:
        batch = {k: v.to(device) for k, v in batch.items()}
    return batch


# ----------------------------------------------------------------------------------------------------- train / predict


@contextlib.contextmanager
def _progress(mode: bool | str) -> Iterator[Any]:
    """A rich bar (True / "bar"), ~10% log lines with rate and ETA ("log") or nothing (False / "off")."""
    from labelgate.progress import progress

    if mode is True:
        mode = "bar"
    with progress(mode or "off", *_bar_columns(mode), transient=False) as bar:
        yield bar


def _bar_columns(mode: bool | str) -> tuple:
    if mode not in (True, "bar"):
        return ()
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

    return (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"))


def _autocast(device, precision: str):
    import torch

    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def fine_tune(
    texts: Sequence[str],
    codes: np.ndarray,
    labels: Sequence[str],
    params: TrainParams,
    *,
    seed: int,
    progress: bool | str = False,
    description: str = "train",
) -> tuple[Any, Any, dict[str, Any]]:
    """Fine-tune `params.model` on (texts, integer label codes); returns (model, tokenizer, stats)."""
    codes = np.asarray(codes, dtype=np.int64)
    if len(texts) != len(codes):
        raise ValueError(f"{len(texts)} texts but {len(codes)} labels")
    if len(texts) == 0:
        raise ValueError("no training rows")
    if codes.min() < 0 or codes.max() >= len(labels):
        raise ValueError("label codes must lie in [0, len(labels))")
    return _fine_tune(list(texts), codes, tuple(labels), params, seed=seed, progress=progress,
                      description=description)


def _fine_tune(texts, codes, labels, params, *, seed, progress, description):
    import torch
    from transformers import get_linear_schedule_with_warmup

    threads = set_threads(params.num_threads)
    device = select_device(params.device)
    precision = resolve_precision(params.precision, device)
    set_seed(seed, device=device)  # before the model: the new classifier head draws from torch's generator
    model, tokenizer = load_model(params.model, labels)
    try:
        frozen = freeze(model, embeddings=params.freeze_embeddings, layers=params.freeze_layers)
    except ValueError as exc:
        raise ConfigError(f"params.yaml: section 'train': {exc}") from None
    trainable, total = parameter_counts(model)
    model.to(device)
    encoded = tokenize(tokenizer, texts, params.max_length)
    lengths = [len(ids) for ids in encoded["input_ids"]]
    rng = np.random.default_rng(seed)
    steps_per_epoch = -(-len(texts) // params.batch_size)
    total_steps = steps_per_epoch * params.epochs
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(p)
    optimiser = torch.optim.AdamW(
        [{"params": decay, "weight_decay": params.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=params.learning_rate,
    )
    schedule = get_linear_schedule_with_warmup(optimiser, int(params.warmup_ratio * total_steps), total_steps)
    targets = torch.tensor(codes, dtype=torch.long)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    side = getattr(tokenizer, "padding_side", "right")
    epoch_loss: list[float] = []
    train_mode(model, frozen)
    start = time.perf_counter()
    with _progress(progress) as bar:
        task = bar.add_task(description, total=total_steps, status="") if bar is not None else None
        for epoch in range(params.epochs):
            running, seen = 0.0, 0
            for index in length_buckets(lengths, params.batch_size, rng=rng, pool=params.bucket_pool):
                batch = collate(encoded, index, pad_id=pad_id, padding_side=side, device=device)
                with _autocast(device, precision):
                    logits = model(**batch).logits
                loss = torch.nn.functional.cross_entropy(logits.float(), targets[index].to(device))
                loss.backward()
                if params.max_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), params.max_grad_norm)
                optimiser.step()
                schedule.step()
                optimiser.zero_grad(set_to_none=True)
                running += loss.item() * len(index)
                seen += len(index)
                if bar is not None:
                    bar.update(task, advance=1, status=f"epoch {epoch + 1}/{params.epochs} loss {running / seen:.3f}")
            epoch_loss.append(running / seen)
    seconds = time.perf_counter() - start
    model.eval()
    stats = {
        "train_seconds": seconds,
        "train_samples_per_second": len(texts) * params.epochs / seconds if seconds > 0 else float("inf"),
        "epoch_loss": epoch_loss,
        "device": str(device),
        "precision": precision,
        "num_threads": threads,
        "trainable_parameters": trainable,
        "total_parameters": total,
    }
    return model, tokenizer, stats


def predict_proba(model, tokenizer, texts: Sequence[str], *, max_length: int, batch_size: int = 128,
                  precision: str = "fp32", progress: bool = False) -> np.ndarray:
    """Class probabilities (softmax) per text, in the order of `texts`; length-sorted batches, no gradients."""
    import torch

    texts = list(texts)
    if not texts:
        return np.zeros((0, model.config.num_labels))
    device = next(model.parameters()).device
    precision = resolve_precision(precision, device)
    encoded = tokenize(tokenizer, texts, max_length)
    lengths = [len(ids) for ids in encoded["input_ids"]]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    side = getattr(tokenizer, "padding_side", "right")
    out = np.zeros((len(texts), model.config.num_labels), dtype=np.float64)
    was_training = model.training
    model.eval()
    batches = length_buckets(lengths, batch_size, rng=None)
    with torch.inference_mode(), _progress(progress) as bar:
        task = bar.add_task("predict", total=len(batches), status="") if bar is not None else None
        for index in batches:
            batch = collate(encoded, index, pad_id=pad_id, padding_side=side, device=device)
            with _autocast(device, precision):
                logits = model(**batch).logits
            out[index] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
            if bar is not None:
                bar.update(task, advance=1)
    model.train(was_training)
    return out


def probs_frame(probabilities: np.ndarray, labels: Sequence[str]) -> pd.DataFrame:
    """test_probs table: `prob_<label>` per class and `pred` (the arg-max label), one row per test text."""
    probabilities = np.asarray(probabilities, dtype=float)
    frame = pd.DataFrame(probabilities, columns=[prob_column(label) for label in labels])
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
    if TEST_LABEL in test.columns and len(test):
        known = set(labels)
        truth = test[TEST_LABEL].astype(str)
        outside = sorted(set(truth) - known)
        if outside:
            raise BadInputError(test_path, f"test labels {outside} are not in the label set {list(labels)}",
                                column=TEST_LABEL)
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
    with _quiet_transformers():
        result.model.save_pretrained(folder, safe_serialization=True)
        result.tokenizer.save_pretrained(folder)
    result.probs_frame().to_parquet(folder / PROBS_FILE, index=False)
    (folder / RUN_FILE).write_text(json.dumps(result.record.as_dict(), indent=2) + "\n", encoding="utf-8")
