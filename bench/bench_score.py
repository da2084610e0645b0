"""Scoring throughput: `validate` + `score` (every signal, cleanlab included) on synthetic label tables.

Usage: python bench/bench_score.py [--rows 100000 1000000] [--classes 8] [--out bench/score_throughput.json]
       python bench/bench_score.py --stream --rows 1000000 10000000 [--out bench/score_stream.json]

Each table has text (14 words), llm_label with 15% systematic noise, llm_prob_* for every class, two annotator
columns and a 5% gold audit subset: everything the signals read. Each size is generated into a Parquet file by one
child process and scored by a second, fresh one, so the peak RSS (the process's max RSS) is the scoring's alone.

In memory (default): the timed child reads and validates the table (`validate_label_table`) and runs `score_labels`,
with wall and CPU seconds per phase (PhaseClock: each signal, and the costly steps inside them), the peak RSS, and
the estimates next to the table's true share of wrong labels, so a speed change that costs accuracy shows.

--stream: the chunked path (`score_stream`, what `labelgate score` uses on Parquet tables above score.stream_rows):
`score_parquet_streaming` (validate + score + writing the scores Parquet, all timed).
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
    frame["true_wrong"] = given != truth  # generate() moves it out of the table
    return frame


class PhaseClock:
    """Exclusive wall and CPU seconds per phase. The base phase is set by the stage's progress callback (validate,
    each signal); wrapped functions (the shared TF-IDF, the text model's folds, cleanlab, the risk model ...) push a
    sub-phase while they run, and time is charged to the innermost phase. CPU time counts this process's threads and
    its child processes (the TF-IDF transform's workers: living ones through psutil, finished ones through
    RUSAGE_CHILDREN)."""

    def __init__(self):
        import psutil

        self.process = psutil.Process()
        self.stack = ["start"]
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.peak: dict[str, float] = {}  # the high-water mark (ru_maxrss) where a phase raised it
        self.resident: dict[str, float] = {}  # the largest RSS seen when a phase was entered or left
        self.high = self.maxrss()
        self.mark = (time.perf_counter(), self.cpu_now())

    @staticmethod
    def maxrss() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20

    def cpu_now(self) -> float:
        own = self.process.cpu_times()
        total = own.user + own.system
        for child in self.process.children(recursive=True):
            try:
                times = child.cpu_times()
                total += times.user + times.system
            except Exception:  # noqa: BLE001 - a worker that just ended is counted by RUSAGE_CHILDREN
                pass
        done = resource.getrusage(resource.RUSAGE_CHILDREN)
        return total + done.ru_utime + done.ru_stime

    def charge(self) -> None:
        now = (time.perf_counter(), self.cpu_now())
        phase = self.stack[-1]
        self.wall[phase] = self.wall.get(phase, 0.0) + now[0] - self.mark[0]
        self.cpu[phase] = self.cpu.get(phase, 0.0) + now[1] - self.mark[1]
        high = self.maxrss()
        if high > self.high:
            self.peak[phase], self.high = high, high
        rss = self.process.memory_info().rss / 2**30
        self.resident[phase] = max(self.resident.get(phase, 0.0), rss)
        self.mark = now

    def base(self, phase: str) -> None:
        self.charge()
        self.stack[0] = phase

    def wrap(self, module, name: str, phase: str) -> None:
        import functools

        inner = getattr(module, name)

        @functools.wraps(inner)
        def wrapped(*args, **kwargs):
            self.charge()
            self.stack.append(phase)
            try:
                return inner(*args, **kwargs)
            finally:
                self.charge()
                self.stack.pop()

        setattr(module, name, wrapped)

    def table(self) -> dict[str, dict[str, float]]:
        self.charge()
        return {phase: {"wall_s": round(self.wall[phase], 2), "cpu_s": round(self.cpu.get(phase, 0.0), 2),
                        "rss_at_ends_gib": round(self.resident.get(phase, 0.0), 2),
                        **({"raised_peak_rss_gib": round(self.peak[phase], 2)} if phase in self.peak else {})}
                for phase in self.wall if self.wall[phase] >= 0.005}


SUB_PHASES = (  # (module, function, phase): the costly steps inside the signals, timed on their own
    ("labelgate.signals.text_model", "tfidf_words", "text: TF-IDF of every row (shared)"),
    ("labelgate.signals.text_model", "_cross_validated", "text: out-of-fold classifiers"),
    ("cleanlab.filter", "find_label_issues", "cleanlab: find_label_issues"),
    ("cleanlab.multiannotator", "get_label_quality_multiannotator", "agreement: cleanlab consensus"),
    ("labelgate.signals.agreement", "crowdlab_consensus", "agreement: consensus (signals/consensus.py)"),
    ("labelgate.signals.label_error", "cross_fitted_risk", "label_error: risk model"),
    ("labelgate.signals.label_error", "text_error_auc", "label_error: text-error AUC"),
    ("labelgate.signals.label_error", "audit_representativeness", "label_error: representativeness"),
    ("labelgate.signals.label_error", "estimate_error_rate", "label_error: estimate"),
    ("labelgate.signals.label_error", "text_features", "label_error: risk model's TF-IDF (before the shared one)"),
    ("labelgate.signals.text_model", "_tfidf", "text: TF-IDF (before the shared one)"),
)


def score_params() -> ScoreParams:
    """The packaged score settings, with the `--score KEY=VALUE` overrides (passed to the child in LABELGATE_BENCH_SCORE)."""
    import yaml

    overrides = json.loads(os.environ.get("LABELGATE_BENCH_SCORE", "{}"))
    return ScoreParams.from_section({key: yaml.safe_load(value) for key, value in overrides.items()})


def run(path: Path, n_classes: int) -> dict:
    """`validate` + `score_labels` on the table at `path` in this (fresh) process: wall and CPU per phase, peak
    RSS, and the estimates against the table's true noise (the generator's 15%)."""
    import importlib

    labels = tuple(f"class_{k}" for k in range(n_classes))
    clock = PhaseClock()
    for module, name, phase in SUB_PHASES:
        module = importlib.import_module(module)
        if hasattr(module, name):  # older code (a before/after run) may lack a step
            clock.wrap(module, name, phase)
    start, cpu_start = time.perf_counter(), clock.cpu_now()
    clock.base("validate (read + contract suite)")
    table = validate_label_table(path, labels=BaseParams(labels=labels).labels,
                                 expectations_dir=Path(__file__).resolve().parents[1] / "expectations")
    rows, summary = score_labels(table, score_params(), progress=lambda name: clock.base(f"signal: {name}"))
    phases = clock.table()
    done, cpu_done = time.perf_counter(), clock.cpu_now()
    metrics = summary["metrics"]
    truth_file = path.with_suffix(".truth.json")
    truth = json.loads(truth_file.read_text())["true_noise_rate"] if truth_file.exists() else None
    return {
        "rows": len(rows), "classes": n_classes, "path": "in memory",
        "score_settings": json.loads(os.environ.get("LABELGATE_BENCH_SCORE", "{}")),
        "total_s": round(done - start, 2), "cpu_s": round(cpu_done - cpu_start, 2),
        "rows_per_s": round(len(rows) / (done - start)),
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "phases": phases,
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "true_noise_rate": truth,
        **{name: (round(metrics[name], 4) if metrics.get(name) is not None else None) for name in ESTIMATES},
    }


ESTIMATES = ("estimated_noise_rate", "label_error_rate", "label_error_rate_lower", "label_error_rate_upper",
             "expected_accuracy_loss", "expected_accuracy_loss_upper")


def generate(path: Path, n: int, n_classes: int, chunk: int = 1_000_000) -> None:
    """The same kind of table as build(), written chunk by chunk (each chunk its own seed) in bounded memory, with
    the share of wrong labels in `<path>.truth.json`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    wrong = 0
    for start in range(0, n, chunk):
        frame = build(min(chunk, n - start), n_classes, seed=start // chunk)
        wrong += int(frame.pop("true_wrong").sum())
        frame["id"] = [f"r{start + i}" for i in range(len(frame))]
        frame["gold_label"] = frame["gold_label"].astype(object)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if writer is None:
            schema = pa.schema([f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in table.schema])
            writer = pq.ParquetWriter(path, schema)
        writer.write_table(table.cast(schema))
    writer.close()
    path.with_suffix(".truth.json").write_text(json.dumps({"true_noise_rate": wrong / n}))


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
        path, folder / "scores.parquet", folder / "label_risk.json", labels=labels, params=score_params(),
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
    parser.add_argument("--score", nargs="*", default=[], metavar="KEY=VALUE",
                        help="params.yaml `score:` settings to use instead of the packaged ones")
    parser.add_argument("--child", nargs=2, metavar=("ACTION", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.score:
        os.environ["LABELGATE_BENCH_SCORE"] = json.dumps(dict(item.split("=", 1) for item in args.score))
    if args.child:  # internal: one step in its own process
        action, path = args.child
        if action == "generate":
            generate(Path(path), args.rows[0], args.classes)
        elif action == "memory":
            print(json.dumps(run(Path(path), args.classes)), flush=True)
        else:
            print(json.dumps(run_stream(Path(path), args.classes, Path(path).parent)), flush=True)
        return
    out = args.out or Path("bench/score_stream.json" if args.stream else "bench/score_throughput.json")
    results = []
    with tempfile.TemporaryDirectory(dir=Path(__file__).resolve().parent) as folder:
        for n in args.rows:
            import subprocess

            table = Path(folder) / f"labels_{n}.parquet"
            me = [sys.executable, __file__, "--rows", str(n), "--classes", str(args.classes), "--child"]
            subprocess.run([*me, "generate", str(table)], check=True)
            reply = subprocess.run([*me, "score" if args.stream else "memory", str(table)], check=True,
                                   stdout=subprocess.PIPE, text=True)
            result = json.loads(reply.stdout.strip().splitlines()[-1])
            table.unlink()
            print(json.dumps(result), flush=True)
            results.append(result)
    out.write_text(json.dumps({"machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
                                    "command": "python " + " ".join(sys.argv), "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
