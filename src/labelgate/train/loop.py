"""The model side of a run: load an encoder with a new classification head, freeze its lower part, fine-tune it
on (texts, label codes) and predict class probabilities.

Training batches come from length buckets and are padded per batch (`data`); the embeddings and the lowest
`freeze_layers` transformer layers may be frozen (no gradients, no optimiser state, eval mode). The seed fixes the
new head, dropout and the batch order.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from labelgate.errors import BadInputError, ConfigError
from labelgate.train.data import collate, length_buckets, padder, tokenize
from labelgate.train.device import autocast, resolve_precision, select_device, set_seed, set_threads

if TYPE_CHECKING:
    from labelgate.train.params import TrainParams


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
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
    with quiet_transformers():
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
    optimiser, schedule = _optimiser(model, params, total_steps)
    targets = torch.tensor(codes, dtype=torch.long)
    pad = padder(tokenizer)
    epoch_loss: list[float] = []
    train_mode(model, frozen)
    start = time.perf_counter()
    with _progress(progress) as bar:
        task = bar.add_task(description, total=total_steps, status="") if bar is not None else None
        for epoch in range(params.epochs):
            running, seen = 0.0, 0
            for index in length_buckets(lengths, params.batch_size, rng=rng, pool=params.bucket_pool):
                batch = collate(encoded, index, pad, device=device)
                with autocast(device, precision):
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


def _optimiser(model, params, total_steps: int):
    """AdamW with weight decay on the weight matrices only (not biases or layer norms) and a linear schedule with
    warm-up over `total_steps`."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(p)
    optimiser = torch.optim.AdamW(
        [{"params": decay, "weight_decay": params.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=params.learning_rate,
    )
    schedule = get_linear_schedule_with_warmup(optimiser, int(params.warmup_ratio * total_steps), total_steps)
    return optimiser, schedule


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
    pad = padder(tokenizer)
    out = np.zeros((len(texts), model.config.num_labels), dtype=np.float64)
    was_training = model.training
    model.eval()
    batches = length_buckets(lengths, batch_size, rng=None)
    with torch.inference_mode(), _progress(progress) as bar:
        task = bar.add_task("predict", total=len(batches), status="") if bar is not None else None
        for index in batches:
            batch = collate(encoded, index, pad, device=device)
            with autocast(device, precision):
                logits = model(**batch).logits
            out[index] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
            if bar is not None:
                bar.update(task, advance=1)
    model.train(was_training)
    return out
