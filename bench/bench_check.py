"""`labelgate check` end to end on a synthetic label table: wall and CPU time, with the accuracy-loss figure.

Usage: python bench/bench_check.py [--rows 10000] [--classes 8] [--audit 300] [--out bench/check_10k.json]

The table: text (14 words), llm_label with 15% systematic noise, llm_prob_* for every class, two annotator columns
(bench_score.build) and a simple random gold audit of --audit rows (at most 5% of the rows). `labelgate check TABLE --out verdict.json` runs in
a fresh process (read, validate, score with every signal, the label suites, the verdict table); the child's CPU time
is counted apart from the wall time, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_score import build  # noqa: E402


def run(rows: int, classes: int, audit: int) -> dict:
    frame = build(rows, classes)  # a 5% random gold audit; keep a random `audit` of those rows
    frame.pop("true_wrong")  # the truth stays out of the table
    rng = np.random.default_rng(1)
    audited = np.flatnonzero(frame["gold_label"].notna().to_numpy())
    keep = np.zeros(rows, bool)
    keep[rng.choice(audited, size=min(audit, len(audited)), replace=False)] = True
    frame["gold_label"] = frame["gold_label"].where(keep, None)
    with tempfile.TemporaryDirectory() as folder:
        table, verdict = Path(folder) / "labels.csv", Path(folder) / "verdict.json"
        frame.to_csv(table, index=False)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(["labelgate", "check", str(table), "--out", str(verdict), "--no-enforce"],
                              capture_output=True, text=True, cwd=folder, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = json.loads(verdict.read_text()) if verdict.exists() else {}
    loss = result.get("accuracy_loss") or {}
    return {"rows": rows, "classes": classes, "audit": int(keep.sum()), "exit_code": done.returncode,
            "wall_s": round(wall, 1), "cpu_s": round((after.ru_utime - before.ru_utime)
                                                      + (after.ru_stime - before.ru_stime), 1),
            "status": result.get("status"), "accuracy_loss": loss.get("text"),
            "label_error": (result.get("label_error") or {}).get("label_error_rate"),
            "load_average": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--classes", type=int, default=8)
    parser.add_argument("--audit", type=int, default=300)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    record = {"command": " ".join(sys.argv), "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "machine": f"{platform.machine()}, {os.cpu_count()} cores", **run(args.rows, args.classes, args.audit)}
    print(json.dumps(record, indent=2))
    if args.out:
        args.out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
