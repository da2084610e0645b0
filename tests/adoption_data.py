"""A second, non-tweet data set for the adoption test: support tickets labelled bug / feature / question.

Generated (seeded), so nothing is downloaded: each ticket joins a product area, two class phrases and filler; an
"LLM" label table carries probabilities that favour the true class with some systematic confusion (feature <->
question) and random flips, plus gold labels on an audit share. Sizes are small so the pipeline runs in seconds.
`fixable_table` is a second label table for the fix routes: a small first audit, and errors the LLM hesitates on
(tests/test_fix_loop.py's generators), so more audit rows settle the estimate and an entropy filter removes them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from synthetic import flip_uniform
from test_fix_loop import confident_probs

LABELS = ("bug", "feature", "question")
AREAS = ["the export dialog", "the login page", "the billing screen", "the search bar", "the mobile app",
         "the API client", "the dashboard", "the settings panel", "the PDF report", "the sync service"]
PHRASES = {
    "bug": ["crashes when I click save", "throws an error on startup", "shows a blank page", "loses my changes",
            "returns a 500 status", "freezes after the update", "displays the wrong total", "hangs forever"],
    "feature": ["please add a dark mode", "it would be great to export to Excel", "could you support SSO",
                "we need bulk editing", "add keyboard shortcuts", "allow custom fields", "support webhooks",
                "let us schedule reports"],
    "question": ["how do I reset my password", "where can I find the invoice", "is there a limit on uploads",
                 "what does this setting do", "can I change my username", "which browsers are supported",
                 "how long is data kept", "who can see my projects"],
}
FILLER = ["thanks", "hi team", "quick note", "for our team", "since Monday", "on version 4.2", "urgent-ish",
          "best regards"]


def tickets(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = LABELS[i % len(LABELS)]
        phrases = rng.choice(PHRASES[label], size=2, replace=False)
        text = f"{rng.choice(FILLER)}: {rng.choice(AREAS)} {phrases[0]}, and {phrases[1]} ({i})"
        rows.append({"id": f"tk{seed}-{i:04d}", "text": text, "label": label})
    return pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)


def llm_label_table(pool: pd.DataFrame, seed: int, *, audit_share: float = 0.25, flip: float = 0.15,
                    confuse: float = 0.25) -> pd.DataFrame:
    """LLM labels with probabilities: systematic feature->question confusion plus random flips."""
    rng = np.random.default_rng(seed)
    probs = np.full((len(pool), len(LABELS)), 0.1)
    predicted = []
    for i, label in enumerate(pool["label"]):
        guess = label
        if label == "feature" and rng.random() < confuse:
            guess = "question"
        elif rng.random() < flip:
            guess = rng.choice([x for x in LABELS if x != label])
        j = LABELS.index(guess)
        probs[i, j] = rng.uniform(0.5, 0.95)
        probs[i] /= probs[i].sum()
        predicted.append(guess)
    frame = pd.DataFrame({"id": pool["id"], "text": pool["text"], "llm_label": predicted})
    for j, label in enumerate(LABELS):
        frame[f"llm_prob_{label}"] = probs[:, j].round(6)
    frame[f"llm_prob_{LABELS[-1]}"] = (1 - frame[[f"llm_prob_{x}" for x in LABELS[:-1]]].sum(axis=1)).round(6)
    audited = rng.random(len(pool)) < audit_share
    frame["gold_label"] = np.where(audited, pool["label"], None)
    return frame


def write_data(root: Path, *, n_pool: int = 300, n_test: int = 120) -> dict[str, str]:
    """Write data/tickets_llm.csv, data/gold_pool.csv and data/test.csv under root; return their relative paths."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    pool = tickets(n_pool, seed=1)
    paths = {"labels_table": "data/tickets_llm.csv", "audit": "data/gold_pool.csv", "test": "data/test.csv"}
    llm_label_table(pool, seed=2).to_csv(root / paths["labels_table"], index=False)
    pool[["id", "text", "label"]].to_csv(root / paths["audit"], index=False)
    tickets(n_test, seed=3)[["text", "label"]].to_csv(root / paths["test"], index=False)
    return paths


def fixable_table(n: int = 600, *, error: float = 0.1, audit_share: float = 0.05,
                  seed: int = 11) -> tuple[pd.DataFrame, dict[str, str]]:
    """Tickets whose LLM labels are wrong on about `error` of the rows, with a flat probability distribution exactly
    there, and gold labels (no audit weights: an audit made before labelgate) on about `audit_share` of them; and
    the truth by id, for the auditor of later waves."""
    pool = tickets(n, seed=seed)
    truth = pool["label"].map(LABELS.index).to_numpy()
    given = flip_uniform(truth, error, len(LABELS), seed=seed + 1)
    probs = confident_probs(given, unsure=given != truth, seed=seed + 2)
    frame = pd.DataFrame({"id": pool["id"], "text": pool["text"], "llm_label": np.asarray(LABELS, object)[given]})
    for k, label in enumerate(LABELS):
        frame[f"llm_prob_{label}"] = probs[:, k].round(6)
    audited = np.random.default_rng(seed + 3).random(n) < audit_share
    frame["gold_label"] = np.where(audited, pool["label"], None)
    return frame, dict(zip(pool["id"], pool["label"]))
