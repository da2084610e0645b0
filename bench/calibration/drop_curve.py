"""What does each kind of label error cost downstream? Probe accuracy drop against the true error rate.

Usage: python bench/calibration/drop_curve.py [--seeds 0 1 2]   (after build_corpus.py and the annotation)

The same corpus, noise generators and linear probe as run_benchmark.py, without labelgate: for each noise kind and
error rate 2-30%, the drop of test accuracy against gold-label training, averaged over seeds. It answers the policy
question behind gate.max_label_error: how much label error can a user afford before losing 3 accuracy points?
Writes drop_curve.json and drop_curve.md next to it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from build_corpus import CLASSES  # noqa: E402
from downstream import PROBE_C, embed, probe_accuracy  # noqa: E402
from noise import class_conditional_noise, llm_noise, text_following_noise, uniform_noise  # noqa: E402
from run_benchmark import CONFUSION, CONFUSION_WEIGHT, RISKY_DROP, TRIGGER_TARGET  # noqa: E402

RATES = (0.02, 0.04, 0.06, 0.08, 0.10, 0.12, 0.15, 0.20, 0.25, 0.30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE / "data")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    train, test = pd.read_csv(args.data / "train.csv"), pd.read_csv(args.data / "test.csv")
    code = {c: i for i, c in enumerate(CLASSES)}
    texts, truth = train["text"].tolist(), train["label"].map(code).to_numpy()
    llm = pd.read_csv(args.data / "llm_labels.csv")["llm_label"].map(code).to_numpy()
    y_test = test["label"].map(code).to_numpy()
    x_train = embed(texts, cache_dir=HERE / ".cache")
    x_test = embed(test["text"].tolist(), cache_dir=HERE / ".cache")
    gold = probe_accuracy(x_train, truth, x_test, y_test)
    confusion = {code[a]: code[b] for a, b in CONFUSION.items()}
    weights = {code[a]: w for a, w in CONFUSION_WEIGHT.items()}
    make = {
        "uniform": lambda r, s: uniform_noise(truth, r, len(CLASSES), seed=s),
        "class_conditional": lambda r, s: class_conditional_noise(truth, r, confusion, weights, seed=s),
        "llm": lambda r, s: llm_noise(truth, llm, r, seed=s),
        "text_following": lambda r, s: text_following_noise(truth, texts, r, code[TRIGGER_TARGET], seed=s)[0],
    }
    rows = []
    for kind, fn in make.items():
        for rate in RATES:
            drops = [gold - probe_accuracy(x_train, fn(rate, 500 + seed), x_test, y_test) for seed in args.seeds]
            rows.append({"kind": kind, "rate": rate, "drop_mean": float(np.mean(drops)),
                         "drop_min": float(np.min(drops)), "drop_max": float(np.max(drops))})
            print(json.dumps(rows[-1]), flush=True)
    affordable = {}
    for kind in make:
        safe = [r["rate"] for r in rows if r["kind"] == kind and r["drop_max"] < RISKY_DROP]
        first_risky = [r["rate"] for r in rows if r["kind"] == kind and r["drop_max"] >= RISKY_DROP]
        affordable[kind] = {"first_rate_with_drop_ge_3pts": min(first_risky) if first_risky else None,
                            "largest_rate_below_it": max([r for r in safe if not first_risky
                                                          or r < min(first_risky)], default=None)}
    out = {"command": "python bench/calibration/drop_curve.py " + " ".join(sys.argv[1:]),
           "machine": "2-core dev box, shared", "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
           "gold_accuracy": gold, "probe_c": PROBE_C, "seeds": args.seeds, "rows": rows, "affordable": affordable}
    (HERE / "drop_curve.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = ["# Downstream cost of label error, by kind", "",
             f"Command: `{out['command']}`; machine: {out['machine']}; date: {out['date']} (UTC).  ",
             f"Linear probe (logistic regression C={PROBE_C}) on frozen MiniLM-L6 embeddings; gold-label accuracy "
             f"{gold:.3f}. Drop = gold accuracy minus accuracy with noisy labels, in points: mean [min, max] over "
             f"seeds {args.seeds}.", "",
             "| error rate | " + " | ".join(make) + " |", "|--:|" + "--:|" * len(make)]
    for rate in RATES:
        cells = []
        for kind in make:
            r = next(x for x in rows if x["kind"] == kind and x["rate"] == rate)
            cells.append(f"{100 * r['drop_mean']:+.1f} [{100 * r['drop_min']:+.1f}, {100 * r['drop_max']:+.1f}]")
        lines.append(f"| {rate:.2f} | " + " | ".join(cells) + " |")
    lines += ["", "First error rate at which some seed loses >= 3 points: " + "; ".join(
        f"{k}: {v['first_rate_with_drop_ge_3pts']}" for k, v in affordable.items()) + "."]
    (HERE / "drop_curve.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
