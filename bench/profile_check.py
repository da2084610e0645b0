"""Where `labelgate check` spends its time: wall and CPU seconds per phase of one run in this (fresh) process,
interpreter start and imports included.

Usage: python bench/profile_check.py TABLE [--out phases.json]   (TABLE: e.g. one bench_check.py would build)

The phases: the interpreter's start (until this script runs: python, site, this script's own imports), importing
numpy, pandas and labelgate's score modules and the CLI, then the steps of `labelgate check` (bench_score.PhaseClock: the innermost wrapped function is charged,
CPU counts every thread and the TF-IDF's worker processes). The verdict table goes to /dev/null; the verdict JSON
to a temporary file. Not counted: the interpreter's exit (bench_check.py's wall and CPU include it).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

CHECK_PHASES = (  # (module, function, phase): the steps of `labelgate check`, outermost first
    ("labelgate.packaged", "resolve_sources", "params and suites: find and load"),
    ("labelgate.gate", "preflight", "gate preflight: check the label suites (imports GX)"),
    ("labelgate.check", "check_table", "read the table"),
    ("labelgate.check", "check_labels", "label set"),
    ("labelgate.validate", "main", "validate: other"),
    ("labelgate.validate", "_check_contract_suite", "validate: check the contract suite"),
    ("labelgate.validate", "_check_header", "validate: header, numbers, ids"),
    ("labelgate.validate", "_with_derived_columns", "validate: derived columns"),
    ("labelgate.validate", "run_suite", "validate: contract suite (GX)"),
    ("labelgate.signals.runner", "release_memory", "signals: release_memory (gc)"),
    ("labelgate.signals.context", "release_memory", "signals: release_memory (gc)"),
    ("labelgate.gate", "run_gate", "gate: build the figures, decide"),
    ("labelgate.gate.stage", "run_suite_json", "gate: label suites (GX)"),
    ("labelgate.outputs", "write_json", "write the verdict JSON"),
    ("labelgate.verdict", "print_verdict", "print the verdict"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table", type=Path)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    process = psutil.Process()
    own = process.cpu_times()
    start = {"wall_s": round(time.time() - process.create_time(), 2), "cpu_s": round(own.user + own.system, 2)}

    before = (time.perf_counter(), process.cpu_times())
    from bench_score import SUB_PHASES, PhaseClock  # imports numpy, pandas, labelgate's config, score, validate

    clock = PhaseClock()
    first = "imports: numpy, pandas, labelgate.score (bench_score, which check would import)"
    clock.wall[first] = clock.mark[0] - before[0]
    clock.cpu[first] = clock.mark[1] - sum(before[1][:2])
    clock.base("import the CLI (typer, rich, labelgate.cli)")
    from labelgate.cli import app
    from labelgate.signals import SIGNALS

    clock.base("check: other (typer, say, exit)")
    for module, name, phase in CHECK_PHASES + SUB_PHASES:
        module = importlib.import_module(module)
        if hasattr(module, name):
            clock.wrap(module, name, phase)
    for name, signal in SIGNALS.items():
        clock.wrap(signal, "score", f"signal: {name}")
    wall0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder, open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        try:
            app(["check", str(args.table), "--out", str(Path(folder) / "verdict.json"), "--no-enforce"])
        except SystemExit as exc:
            code = exc.code
        verdict = json.loads((Path(folder) / "verdict.json").read_text())
    phases = clock.table()
    record = {"table": str(args.table), "exit_code": code, "status": verdict.get("status"),
              "load_average": [round(x, 2) for x in os.getloadavg()],
              "interpreter start (python, site, psutil, argparse)": start,
              "total_wall_s": round(time.time() - process.create_time(), 2),
              "total_cpu_s": round(clock.cpu_now(), 2),
              "check_wall_s": round(time.perf_counter() - wall0, 2),
              "phases": phases}
    text = json.dumps(record, indent=2)
    print(text, file=sys.stderr)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
