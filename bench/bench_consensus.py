"""The multi-annotator consensus: cleanlab's get_label_quality_multiannotator (as the agreement signal called it
before: a float labels DataFrame, then the whole-table call) against signals/consensus.py's chunked
re-implementation, on the same synthetic inputs.

Usage: python bench/bench_consensus.py [--rows 1000000 5000000] [--classes 8] [--annotators 3]
                                       [--implementations cleanlab labelgate] [--out bench/consensus.json]
       python bench/bench_consensus.py --signal --rows 1000000   (the whole agreement signal, in this process)

Each (size, implementation) runs in a fresh child process: it builds the inputs chunk by chunk (label codes int8,
llm_label never missing, the other annotators 20% random and 5% missing; float64 probabilities with the given label
favoured), notes its RSS, then times the call: wall and CPU seconds, and the process's peak RSS (ru_maxrss) against
the RSS before the call (the inputs). The children write their outputs, and the parent compares them: consensus
labels that differ, the largest difference of quality scores and of annotator qualities.

--signal: the whole agreement signal (`AgreementSignal().score`: vote shares, Krippendorff's alpha, the consensus) of
whichever labelgate is first on the path (run it with main's `src` on PYTHONPATH for the code before), on a table
of the same codes as label strings, the probabilities handed to the context instead of fitting the text model.
"""

from __future__ import annotations

import argparse
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

IMPLEMENTATIONS = ("cleanlab", "labelgate")


def inputs(n: int, n_classes: int, n_annotators: int, seed: int = 0, chunk: int = 500_000):
    rng = np.random.default_rng(seed)
    codes = np.empty((n, n_annotators), dtype=np.int8)
    pred_probs = np.empty((n, n_classes))
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        given = rng.integers(0, n_classes, m)
        codes[start:start + m, 0] = given
        for k in range(1, n_annotators):
            other = np.where(rng.random(m) < 0.2, rng.integers(0, n_classes, m), given)
            codes[start:start + m, k] = np.where(rng.random(m) < 0.05, -1, other)
        logits = rng.normal(size=(m, n_classes))
        logits[np.arange(m), given] += 2.0
        probs = np.exp(logits)
        pred_probs[start:start + m] = probs / probs.sum(axis=1, keepdims=True)
    return codes, pred_probs


def rss_gib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30


def child(implementation: str, n: int, n_classes: int, n_annotators: int, dump: Path) -> dict:
    codes, pred_probs = inputs(n, n_classes, n_annotators)
    if implementation == "cleanlab":
        import pandas as pd
        from cleanlab.multiannotator import get_label_quality_multiannotator
    else:
        from labelgate.signals.consensus import crowdlab_consensus
    before_rss = rss_gib()
    before_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    wall, cpu = time.perf_counter(), time.process_time()
    if implementation == "cleanlab":
        labels = pd.DataFrame(np.where(codes >= 0, codes, np.nan), columns=[f"a{k}" for k in range(n_annotators)])
        result = get_label_quality_multiannotator(labels, pred_probs, verbose=False)
        label = result["label_quality"]["consensus_label"].to_numpy()
        quality = result["label_quality"]["consensus_quality_score"].to_numpy()
        stats = result["annotator_stats"]["annotator_quality"]
        annotator_quality = np.array([stats[f"a{k}"] for k in range(n_annotators)])
    else:
        result = crowdlab_consensus(codes, pred_probs)
        label, quality, annotator_quality = result.label, result.quality, result.annotator_quality
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    np.save(dump / f"{implementation}_label.npy", label)
    np.save(dump / f"{implementation}_quality.npy", quality)
    np.save(dump / f"{implementation}_annotator_quality.npy", annotator_quality)
    return {"implementation": implementation, "rows": n, "classes": n_classes, "annotators": n_annotators,
            "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "rss_before_gib": round(before_rss, 3),
            "peak_before_gib": round(before_peak, 3), "peak_rss_gib": round(peak, 3),
            "added_gib": round(peak - before_rss, 3)}


def signal(n: int, n_classes: int, n_annotators: int) -> dict:
    import pandas as pd

    import labelgate
    from labelgate.contract import LabelTable
    from labelgate.signals import ScoringContext
    from labelgate.signals.agreement import AgreementSignal

    codes, pred_probs = inputs(n, n_classes, n_annotators)
    names = np.array([f"class_{k}" for k in range(n_classes)] + [None], dtype=object)
    frame = pd.DataFrame({"text": np.full(n, "t", dtype=object), "llm_label": names[codes[:, 0]],
                          **{f"annotator_v{k}": names[codes[:, k]] for k in range(1, n_annotators)}})
    del codes
    context = ScoringContext(LabelTable(frame=frame, labels=tuple(names[:-1]), path="memory"))
    context.__dict__["pred_probs"] = pred_probs  # the cached out-of-fold probabilities, without the text model
    import cleanlab.multiannotator  # noqa: F401  (imported by the cleanlab signal in a score run: not timed here)
    before_rss = rss_gib()
    wall, cpu = time.perf_counter(), time.process_time()
    result = AgreementSignal().score(context)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return {"signal": "agreement", "labelgate": labelgate.__file__, "rows": n, "classes": n_classes,
            "annotators": n_annotators, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "rss_before_gib": round(before_rss, 3), "peak_rss_gib": round(peak, 3),
            "added_gib": round(peak - before_rss, 3),
            "mean_consensus_quality": result.summary["mean_consensus_quality"],
            "annotator_quality": result.summary["annotator_quality"],
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--classes", type=int, default=8)
    parser.add_argument("--annotators", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("consensus.json"))
    parser.add_argument("--implementations", nargs="+", choices=IMPLEMENTATIONS, default=list(IMPLEMENTATIONS),
                        help="run only these (the comparison needs both)")
    parser.add_argument("--signal", action="store_true", help="time the whole agreement signal (one size)")
    parser.add_argument("--child", choices=IMPLEMENTATIONS, help=argparse.SUPPRESS)
    parser.add_argument("--dump", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.signal:
        print(json.dumps(signal(args.rows[0], args.classes, args.annotators)))
        return
    if args.child:
        print(json.dumps(child(args.child, args.rows[0], args.classes, args.annotators, args.dump)))
        return

    results = []
    for n in args.rows:
        with tempfile.TemporaryDirectory() as dump:
            runs = []
            for implementation in args.implementations:
                out = subprocess.run([sys.executable, __file__, "--child", implementation, "--rows", str(n),
                                      "--classes", str(args.classes), "--annotators", str(args.annotators),
                                      "--dump", dump], check=True, capture_output=True, text=True).stdout
                runs.append(json.loads(out.strip().splitlines()[-1]))
                print(json.dumps(runs[-1]), flush=True)
            if len(runs) < len(IMPLEMENTATIONS):
                results.append({"runs": runs})
                continue
            read = {f"{impl}_{name}": np.load(Path(dump) / f"{impl}_{name}.npy") for impl in IMPLEMENTATIONS
                    for name in ("label", "quality", "annotator_quality")}
            comparison = {
                "rows": n,
                "labels_differing": int((read["cleanlab_label"] != read["labelgate_label"]).sum()),
                "max_quality_difference": float(np.abs(read["cleanlab_quality"] - read["labelgate_quality"]).max()),
                "max_annotator_quality_difference": float(
                    np.abs(read["cleanlab_annotator_quality"] - read["labelgate_annotator_quality"]).max()),
            }
            print(json.dumps(comparison), flush=True)
            results.append({"runs": runs, "comparison": comparison})
    record = {"date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "machine": platform.platform(),
              "cpus": os.cpu_count(), "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
              "command": " ".join(["python", "bench/bench_consensus.py", *sys.argv[1:]]), "results": results}
    args.out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
