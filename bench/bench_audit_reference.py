"""How the audit reference's gap responds to label noise on the demo's 400 audited tweets.

For each label version of the audited rows (the demo LLM's real labels, or the gold labels with synthetic noise),
run `labelgate.audit_reference.audit_reference` with params.yaml's `train`, `learning_curve` and `audit_reference`
settings and print one JSON line: the true error rate of the version, the gap, its seed std and interval, and the
wall time. Results go to bench/audit_reference.json (appended per version); bench/audit_reference.md records them.

    python bench/bench_audit_reference.py --versions llm random5 random15 text15 [--no-curves]

Noise kinds (seeded, on the 400 audited rows only):
  randomR  R% of the rows get a uniformly drawn other label;
  textR    R% of the rows get a label that follows the text: the rows whose text holds one of the most frequent
           words (in order of frequency, until R% are covered) get the next label (negative -> neutral ->
           positive -> negative), so a text model learns the error.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def noisy_labels(gold: pd.Series, texts: pd.Series, kind: str, rate: float, labels: list[str], *, seed: int = 0):
    rng = np.random.default_rng(seed)
    gold = gold.astype(str).to_numpy()
    out = gold.copy()
    n_flip = round(rate * len(gold))
    if kind == "random":
        rows = rng.choice(len(gold), size=n_flip, replace=False)
        for i in rows:
            out[i] = rng.choice([x for x in labels if x != gold[i]])
        return out
    if kind == "text":
        words = [re.findall(r"[a-z']+", t.lower()) for t in texts]
        counts = Counter(w for ws in words for w in set(ws) if len(w) > 3)
        chosen: set[int] = set()
        for word, _ in counts.most_common():
            chosen |= {i for i, ws in enumerate(words) if word in ws}
            if len(chosen) >= n_flip:
                break
        rows = sorted(chosen)[:n_flip]
        nxt = {labels[k]: labels[(k + 1) % len(labels)] for k in range(len(labels))}
        for i in rows:
            out[i] = nxt[gold[i]]
        return out
    raise ValueError(kind)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--versions", nargs="+", default=["llm", "random5", "random15", "text15"])
    parser.add_argument("--labels-table", default=str(REPO / "data/validated.parquet"),
                        help="validated demo table (dvc repro validate)")
    parser.add_argument("--params", default=str(REPO / "params.yaml"))
    parser.add_argument("--no-curves", action="store_true")
    parser.add_argument("--out", default=str(REPO / "bench/audit_reference.json"))
    args = parser.parse_args()

    from labelgate.audit_reference import AuditReferenceParams, audit_reference, audit_tables
    from labelgate.config import load_params, section
    from labelgate.contract import read_table
    from labelgate.curves import CurveParams
    from labelgate.contract import read_test_table
    from labelgate.train.device import prefer_passive_omp_wait
    from labelgate.train.run import TrainParams

    prefer_passive_omp_wait()
    values = load_params(args.params)
    labels = list(values["base"]["labels"])
    train_params = section(values, "train", TrainParams)
    curve_params = section(values, "learning_curve", CurveParams)
    audit_params = section(values, "audit_reference", AuditReferenceParams)
    if args.no_curves:
        audit_params = replace(audit_params, curves=False)
    table = read_table(args.labels_table)
    test = read_test_table(REPO / "data/demo/test.csv")
    audited = table[table["gold_label"].notna()].reset_index(drop=True)
    results = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {}
    for version in args.versions:
        if version == "llm":
            given = audited["llm_label"].astype(str).to_numpy()
        else:
            kind, rate = re.fullmatch(r"([a-z]+)(\d+)", version).groups()
            given = noisy_labels(audited["gold_label"], audited["text"], kind, int(rate) / 100, labels)
        subset = pd.DataFrame({"id": audited["id"], "text": audited["text"], "label": given})
        gold, llm = audit_tables(audited, subset)
        start = time.perf_counter()
        result = audit_reference(gold, llm, test, labels, train_params, curve_params, audit_params, subset=version)
        wall = time.perf_counter() - start
        line = {
            "version": version, "rows": len(gold),
            "true_error": float((gold["label"].to_numpy() != llm["label"].to_numpy()).mean()),
            **{k: result.get(k) for k in ("gold_accuracy_mean", "llm_accuracy_mean", "audit_accuracy_gap",
                                          "audit_accuracy_gap_std", "audit_accuracy_gap_lower",
                                          "audit_accuracy_gap_upper", "audit_macro_f1_gap")},
            "per_seed_gap": [s["accuracy_gap"] for s in result["seeds"].values()],
            "curves": {v: [(p["n"], round(p["accuracy"], 4)) for p in c["points"]]
                       for v, c in result.get("curves", {}).items()},
            "epochs": audit_params.epochs or train_params.epochs, "seeds": list(train_params.seeds),
            "wall_seconds": round(wall, 1), "loadavg_1min": round(os.getloadavg()[0], 2),
        }
        print(json.dumps(line), flush=True)
        results[version] = line
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
