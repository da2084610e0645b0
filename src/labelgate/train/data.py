"""Training inputs: the subset tables, the label codes, the test-set fingerprint and token batches.

A batch holds texts of similar length (length buckets) and is padded to its longest member (dynamic padding).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from labelgate.errors import BadInputError
from labelgate.vocabulary import ID, LABEL, TEXT


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


def padder(tokenizer):
    """Dynamic padding for `collate`: transformers' DataCollatorWithPadding (pads on the tokenizer's side)."""
    from transformers import DataCollatorWithPadding

    return DataCollatorWithPadding(tokenizer, padding="longest", return_tensors="pt")


def collate(encoded: dict[str, list[list[int]]], index: np.ndarray, pad, *, device=None) -> dict:
    """Pad the rows `index` of `encoded` to their longest member with `pad` (see `padder`); tensors on `device`."""
    batch = pad([{key: values[i] for key, values in encoded.items()} for i in index])
    return {k: v.to(device) for k, v in batch.items()} if device is not None else dict(batch)
