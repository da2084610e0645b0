"""Scoring throughput: `validate` + `score` (all five signals, cleanlab included) on synthetic label tables.

Usage: python bench/bench_score.py [--rows 100000 1000000] [--classes 8] [--out bench/score_throughput.json]

Each table has text (14 words), llm_label with 15% systematic noise, llm_prob_* for every class, two annotator
columns and a 5% gold audit subset: everything the signals read. Peak memory is the process's max RSS.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from synthetic import flip_systematic, make_texts  # noqa: E402

from labelgate.config import BaseParams  # noqa: E402
from labelgate.score import ScoreParams, score_labels  # noqa: E402
from labelgate.validate import validate_label_table  # noqa: E402


def build(n: int, n_classes: int, seed: int = 0) -> pd.DataFrame:
    texts, truth = make_texts(n, n_classes, seed=seed, signal_words=3)
    flips = {(k, (k + 1) % n_classes): 0.15 for k in range(n_classes)}
    given = flip_systematic(truth, flips, seed=seed + 1)
    rng = np.random.default_rng(seed)
    labels = np.array([f"class_{k}" for k in range(n_classes)], dtype=object)
    logits = rng.normal(size=(n, n_classes))
    logits[np.arange(n), given] += 3.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "text": texts, "llm_label": labels[given]})
    for k, label in enumerate(labels):
        frame[f"llm_prob_{label}"] = probs[:, k]
    for name in ("v2", "v3"):
        other = np.where(rng.random(n) < 0.2, rng.integers(0, n_classes, n), given)
        frame[f"annotator_{name}"] = labels[other]
    frame["gold_label"] = np.where(rng.random(n) < 0.05, labels[truth], None)
    return frame


def run(n: int, n_classes: int, folder: Path) -> dict:
    frame = build(n, n_classes)
    path = folder / f"labels_{n}.parquet"
    frame.to_parquet(path)
    labels = tuple(f"class_{k}" for k in range(n_classes))
    start = time.perf_counter()
    table = validate_label_table(path, labels=BaseParams(labels=labels).labels,
                                 expectations_dir=Path(__file__).resolve().parents[1] / "expectations")
    validated = time.perf_counter()
    timings: dict[str, float] = {}
    last = [time.perf_counter()]

    def progress(name: str) -> None:
        last.append(time.perf_counter())

    rows, summary = score_labels(table, ScoreParams(), progress=progress)
    last.append(time.perf_counter())
    for name, (t0, t1) in zip(ScoreParams().signals, zip(last[1:], last[2:])):
        timings[name] = round(t1 - t0, 2)
    done = time.perf_counter()
    return {
        "rows": n, "classes": n_classes,
        "validate_s": round(validated - start, 2),
        "score_s": round(done - validated, 2),
        "total_s": round(done - start, 2),
        "rows_per_s": round(n / (done - start)),
        "signal_s": timings,
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "estimated_noise_rate": round(summary["metrics"]["estimated_noise_rate"], 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--classes", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("bench/score_throughput.json"))
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for n in args.rows:
            result = run(n, args.classes, Path(folder))
            print(json.dumps(result), flush=True)
            results.append(result)
    args.out.write_text(json.dumps({"machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
                                    "command": "python " + " ".join(sys.argv), "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
