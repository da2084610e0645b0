"""Running one signal on a small in-memory table, with its settings given as params.yaml `score` keys."""

from __future__ import annotations

import pandas as pd

from labelgate.contract import LabelTable
from labelgate.score import ScoreParams
from labelgate.signals import ScoringContext, SignalResult

LABELS = ("a", "b", "c")


def table(frame: pd.DataFrame, labels=LABELS) -> LabelTable:
    return LabelTable(frame=frame, labels=tuple(labels), path="memory")


def run(name: str, frame: pd.DataFrame, test_labels=None, *, labels=LABELS, **score_keys) -> SignalResult:
    """Signal `name` over `frame`, its params built from `score_keys` as `labelgate score` builds them."""
    params = ScoreParams.from_section(score_keys)
    context = ScoringContext(table(frame, labels), text=params.text, seed=params.seed, test_labels=test_labels,
                             **params.audit_settings())
    return params.signal(name).score(context)


def with_probs(labels: list[str], probs: list[list[float]]) -> pd.DataFrame:
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(len(labels))], "text": ["t"] * len(labels),
                          "llm_label": labels})
    for k, label in enumerate(LABELS):
        frame[f"llm_prob_{label}"] = [row[k] for row in probs]
    return frame
