"""Scoring throughput: `validate` + `score` (all five signals, cleanlab included) on synthetic label tables.

Usage: python bench/bench_score.py [--rows 100000 1000000] [--classes 8] [--out bench/score_throughput.json]
       python bench/bench_score.py --stream --rows 1000000 10000000 [--out bench/score_stream.json]

Each table has text (14 words), llm_label with 15% systematic noise, llm_prob_* for every class, two annotator
columns and a 5% gold audit subset: everything the signals read. Peak memory is the process's max RSS.

--stream: the chunked path (`score_stream`, what `labelgate score` uses on Parquet tables above score.stream_rows).
The table is generated chunk by chunk into a Parquet file by one child process; a second, fresh child process runs
`score_parquet_streaming` (validate + score + writing the scores Parquet, all timed), so its peak RSS is the
scoring's alone.
"""

from __future__ import annotations

import argparse
import json
import os
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


def generate(path: Path, n: int, n_classes: int, chunk: int = 1_000_000) -> None:
    """The same kind of table as build(), written chunk by chunk (each chunk its own seed) in bounded memory."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    for start in range(0, n, chunk):
        frame = build(min(chunk, n - start), n_classes, seed=start // chunk)
        frame["id"] = [f"r{start + i}" for i in range(len(frame))]
        frame["gold_label"] = frame["gold_label"].astype(object)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if writer is None:
            schema = pa.schema([f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in table.schema])
            writer = pq.ParquetWriter(path, schema)
        writer.write_table(table.cast(schema))
    writer.close()


class RssProbe:
    """Peak RSS per phase: a thread samples the process's RSS every `interval` seconds and charges it to the phase
    set last (`enter`); a phase during which the process's high-water mark (ru_maxrss) rose is charged that mark,
    so a spike shorter than the interval is not missed. Also wraps the label_error signal's steps and cleanlab's
    label-issue search as sub-phases."""

    def __init__(self, interval: float = 0.02):
        import threading

        import psutil

        self.process = psutil.Process()
        self.phase = "start"
        self.peaks: dict[str, float] = {}
        self.entered: dict[str, float] = {}
        self.interval = interval
        self.high = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while self.running:
            rss = self.process.memory_info().rss / 2**30
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0.0), rss)
            time.sleep(self.interval)

    def enter(self, phase: str) -> None:
        rss = self.process.memory_info().rss / 2**30
        high = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        ending = rss
        if high > self.high:  # a new high-water mark was set during the phase ending now (a spike between samples)
            ending, self.high = max(rss, high), high
        self.peaks[self.phase] = max(self.peaks.get(self.phase, 0.0), ending)
        self.phase = phase
        self.entered.setdefault(phase, round(rss, 2))
        self.peaks[phase] = max(self.peaks.get(phase, 0.0), rss)

    def wrap(self, module, name: str, phase: str) -> None:
        import functools

        inner = getattr(module, name)

        @functools.wraps(inner)
        def wrapped(*args, **kwargs):
            outer = self.phase
            self.enter(phase)
            try:
                return inner(*args, **kwargs)
            finally:
                self.enter(outer)

        setattr(module, name, wrapped)

    def stop(self) -> dict[str, dict[str, float]]:
        self.running = False
        self.thread.join()
        return {phase: {"rss_at_start_gib": self.entered.get(phase), "peak_rss_gib": round(peak, 2)}
                for phase, peak in self.peaks.items()}


def run_stream(path: Path, n_classes: int, folder: Path) -> dict:
    import cleanlab.filter

    from labelgate.score_stream import score_parquet_streaming
    from labelgate.signals import label_error

    labels = tuple(f"class_{k}" for k in range(n_classes))
    marks: list[tuple[str, float, float]] = []
    probe = RssProbe()
    probe.wrap(cleanlab.filter, "find_label_issues", "cleanlab: find_label_issues")
    for step in ("risk_features", "cross_fitted_risk", "estimate_error_rate", "systematic_share",
                 "text_error_auc", "per_class"):
        probe.wrap(label_error, step, f"label_error: {step}")

    def progress(message: str) -> None:
        marks.append((message, time.perf_counter(), time.process_time()))
        probe.enter(message.split(" rows")[0].rstrip(":"))
        usage = resource.getrusage(resource.RUSAGE_SELF)
        print(f"{message}: wall {marks[-1][1] - start:.0f}s, cpu {marks[-1][2] - cpu_start:.0f}s, "
              f"max rss {usage.ru_maxrss / 2**20:.2f} GiB", file=sys.stderr, flush=True)

    start, cpu_start = time.perf_counter(), time.process_time()
    summary = score_parquet_streaming(
        path, folder / "scores.parquet", folder / "label_risk.json", labels=labels, params=ScoreParams(),
        expectations_dir=Path(__file__).resolve().parents[1] / "expectations", progress=progress,
    )
    done, cpu_done = time.perf_counter(), time.process_time()
    phase_rss = probe.stop()
    phases: dict[str, float] = {}
    cpu_phases: dict[str, float] = {}
    for (message, t0, c0), (_, t1, c1) in zip(marks, marks[1:] + [("end", done, cpu_done)]):
        phase = message.split(" rows")[0].rstrip(":")  # "validate", "text model: fit on the sample", "signal: x"
        phases[phase] = round(phases.get(phase, 0.0) + t1 - t0, 2)
        cpu_phases[phase] = round(cpu_phases.get(phase, 0.0) + c1 - c0, 2)
    n = summary["n_rows"]
    return {
        "rows": n, "classes": n_classes, "path": "stream", "chunks": summary["streamed"]["chunks"],
        "total_s": round(done - start, 2), "rows_per_s": round(n / (done - start)),
        "cpu_s": round(cpu_done - cpu_start, 2), "rows_per_cpu_s": round(n / (cpu_done - cpu_start)),
        "load_average": [round(x, 1) for x in os.getloadavg()], "phase_s": phases, "phase_cpu_s": cpu_phases,
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "phase_rss": phase_rss,
        "estimated_noise_rate": round(summary["metrics"]["estimated_noise_rate"], 4),
        "scores_file_gib": round((folder / "scores.parquet").stat().st_size / 2**30, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--classes", type=int, default=8)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--stream", action="store_true", help="the chunked path, each size in fresh processes")
    parser.add_argument("--child", nargs=2, metavar=("ACTION", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # internal: one step in its own process
        action, path = args.child
        if action == "generate":
            generate(Path(path), args.rows[0], args.classes)
        else:
            print(json.dumps(run_stream(Path(path), args.classes, Path(path).parent)), flush=True)
        return
    out = args.out or Path("bench/score_stream.json" if args.stream else "bench/score_throughput.json")
    results = []
    with tempfile.TemporaryDirectory(dir=Path(__file__).resolve().parent if args.stream else None) as folder:
        for n in args.rows:
            if args.stream:
                import subprocess

                table = Path(folder) / f"labels_{n}.parquet"
                me = [sys.executable, __file__, "--rows", str(n), "--classes", str(args.classes), "--child"]
                subprocess.run([*me, "generate", str(table)], check=True)
                reply = subprocess.run([*me, "score", str(table)], check=True, capture_output=True, text=True)
                result = json.loads(reply.stdout.strip().splitlines()[-1])
                table.unlink()
            else:
                result = run(n, args.classes, Path(folder))
            print(json.dumps(result), flush=True)
            results.append(result)
    out.write_text(json.dumps({"machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
                                    "command": "python " + " ".join(sys.argv), "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
