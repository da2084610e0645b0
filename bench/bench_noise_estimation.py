"""How close is cleanlab's estimated noise rate to the true share of wrong labels?

Usage: python bench/bench_noise_estimation.py [--out bench/noise_estimation.json]

Two corpora: the synthetic 4-class corpus of the tests (a bag-of-words model can learn it) and the 2,000 demo
tweets with their crowd labels (a TF-IDF model reaches only ~60% accuracy on them). Noise is injected into the
labels uniformly and systematically (b -> a, c -> b, d -> c), at 0-30%.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from synthetic import flip_systematic, flip_uniform, label_table, make_texts  # noqa: E402

from labelgate.contract import LabelTable  # noqa: E402
from labelgate.signals import ScoringContext  # noqa: E402
from labelgate.signals.cleanlab import CleanlabSignal  # noqa: E402


def estimate(texts, given, labels) -> float:
    table = LabelTable(label_table(texts, given, labels), tuple(labels), "bench")
    return CleanlabSignal().score(ScoringContext(table)).summary["estimated_noise_rate"]


def corpus(name: str):
    if name == "synthetic":
        texts, truth = make_texts(3000, 4, seed=11, signal_words=2, weights=[0.4, 0.3, 0.2, 0.1])
        return texts, truth, ["a", "b", "c", "d"]
    gold = pd.read_csv(ROOT / "data/demo/pool_gold.csv")
    labels = ["negative", "neutral", "positive"]
    return gold["text"].tolist(), gold["label"].map(labels.index).to_numpy(), labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench/noise_estimation.json")
    args = parser.parse_args()
    rows = []
    for name in ("synthetic", "demo_tweets"):
        texts, truth, labels = corpus(name)
        k = len(labels)
        minority = 1 - np.mean(truth == 0)
        for rate in (0.0, 0.05, 0.15, 0.30):
            for kind in ("uniform", "systematic"):
                if kind == "uniform":
                    given = flip_uniform(truth, rate, k)
                else:
                    given = flip_systematic(truth, {(c, c - 1): rate / minority for c in range(1, k)})
                true_rate = float((given != truth).mean())
                est = estimate(texts, given, labels)
                rows.append({"corpus": name, "noise": kind, "injected": rate, "true_error_rate": round(true_rate, 4),
                             "estimated_noise_rate": round(est, 4), "error": round(est - true_rate, 4)})
                print(json.dumps(rows[-1]), flush=True)
    args.out.write_text(json.dumps({"command": "python bench/bench_noise_estimation.py", "results": rows},
                                   indent=2) + "\n")


if __name__ == "__main__":
    main()
