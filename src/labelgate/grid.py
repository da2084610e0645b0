"""The training grid (subsets x seeds) on DVC's experiment queue: N cells train at once, one GPU each.

How it works (`labelgate queue-grid`):
1. optional overrides (e.g. params-gpu.yaml, full fine-tuning) are merged into params.yaml, as `dvc exp run -S`
   would: the workspace and every queued experiment then agree on the train params;
2. each `train@<subset>-<seed>` cell of dvc.yaml (and `train_gold@<seed>`, the gold pool's runs) becomes one queued
   experiment targeting only that stage (`dvc exp run --queue train@raw-0`): upstream stages already in dvc.lock are
   checked out from the cache, not re-run;
3. `dvc queue start -j N` starts N workers; each runs one experiment at a time in its own temporary workspace. A run
   that sees several GPUs claims a free one (labelgate.gpu_claim), so N workers on N GPUs use one GPU each;
4. when the queue is empty, `dvc repro` in the workspace finds every cell in DVC's run-cache (same command, deps and
   params; the workers share the workspace's cache), restores its outputs without training, and runs the learning
   curves, `evaluate` and the gate exactly as a sequential `dvc repro` would.

Run the upstream stages first (`dvc repro filter reference`, or a full `dvc repro` once) so the experiments find the
subsets in dvc.lock; otherwise every experiment would run them itself.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labelgate.errors import ConfigError, LabelgateError

TRAIN_STAGE = "train"
GOLD_STAGE = "train_gold"  # the gold pool's runs: one stage per seed (the train matrix runs over filter.strategies)
_CELL = re.compile(r"^train@(?P<subset>.+)-(?P<seed>\d+)$")
_GOLD_CELL = re.compile(r"^train_gold@(?P<seed>\d+)$")


class GridError(LabelgateError):
    """A dvc command of the grid failed, or a queued experiment did not succeed."""


@dataclass(frozen=True)
class Cell:
    subset: str
    seed: int
    pool_stage: bool = False  # a cell of the gold pool's stage (train_gold@<seed>), not of the train matrix

    @property
    def stage(self) -> str:
        return f"{GOLD_STAGE}@{self.seed}" if self.pool_stage else f"{TRAIN_STAGE}@{self.subset}-{self.seed}"


def parse_cells(stage_names: Sequence[str]) -> list[Cell]:
    """The train cells among DVC stage names ('train@raw-0' -> Cell('raw', 0), 'train_gold@1' -> the gold subset's
    seed 1), in dvc.yaml order."""
    cells = []
    for name in stage_names:
        if match := _CELL.match(name.strip()):
            cells.append(Cell(match["subset"], int(match["seed"])))
        elif match := _GOLD_CELL.match(name.strip()):
            cells.append(Cell("gold", int(match["seed"]), pool_stage=True))
    return cells


def select_cells(cells: Sequence[Cell], *, subsets: Sequence[str] = (), seeds: Sequence[int] = ()) -> list[Cell]:
    """The cells of the given subsets and seeds (all when empty); unknown names are a ConfigError."""
    checks = ((subsets, {c.subset for c in cells}, "subset"), (seeds, {c.seed for c in cells}, "seed"))
    for wanted, known, what in checks:
        unknown = sorted(set(wanted) - known, key=str)
        if unknown:
            raise ConfigError(f"queue-grid: {what}(s) {unknown} are not in dvc.yaml's train matrix "
                              f"({sorted(known, key=str)})")
    return [c for c in cells if (not subsets or c.subset in subsets) and (not seeds or c.seed in seeds)]


def merge_overrides(params: dict[str, Any], overrides: dict[str, Any], *, source: str = "overrides") -> dict:
    """params with each section of `overrides` merged key by key (one level deep, as `-S section.key=value`)."""
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in params.items()}
    for name, values in overrides.items():
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: section '{name}' must be a mapping of keys to values")
        current = merged.get(name) or {}
        if not isinstance(current, dict):
            raise ConfigError(f"params.yaml: section '{name}' must be a mapping")
        merged[name] = {**current, **values}
    return merged


def override_flags(overrides: dict[str, Any]) -> list[str]:
    """`-S section.key=value` flags for the same overrides (shown in the README's by-hand recipe)."""
    flags = []
    for name, values in overrides.items():
        for key, value in values.items():
            flags += ["-S", f"{name}.{key}={value if isinstance(value, str) else json.dumps(value)}"]
    return flags


def gpu_count() -> int:
    """GPUs torch sees (0 without CUDA); only used to suggest the number of workers."""
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # noqa: BLE001 - a broken CUDA install means no GPU for this purpose
        return 0



def run_dvc(args: list[str], *, cwd: str | os.PathLike = ".", detach: bool = False) -> subprocess.CompletedProcess:
    """`dvc ARGS`; GridError naming the last line of its output when it fails. `detach`: for a command that leaves
    daemons behind (`dvc queue start`): its output goes through a temporary file, not a pipe, since a daemon that
    inherits the pipe would hold it open (the call would then wait for the workers to exit, forever if one hangs in
    its shutdown), and its stdin is /dev/null."""
    if detach:
        with tempfile.TemporaryFile("w+") as log:
            code = subprocess.run(["dvc", *args], cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
                                  stderr=subprocess.STDOUT, text=True).returncode
            log.seek(0)
            done = subprocess.CompletedProcess(["dvc", *args], code, log.read(), "")
    else:
        done = subprocess.run(["dvc", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise GridError(f"dvc {' '.join(args)} failed (exit {done.returncode}): {detail[-1] if detail else ''}")
    return done


def train_cells(cwd: str | os.PathLike = ".") -> list[Cell]:
    names = run_dvc(["stage", "list", "--name-only"], cwd=cwd).stdout.split()
    cells = parse_cells(names)
    if not cells:
        raise ConfigError(f"{Path(cwd) / 'dvc.yaml'}: no train@<subset>-<seed> stages")
    return cells


def queue_cells(cells: Sequence[Cell], *, cwd: str | os.PathLike = ".") -> list[str]:
    """Queue one experiment per cell; returns the experiment names (grid-<subset>-<seed>-<time>)."""
    stamp = time.strftime("%H%M%S")
    names = []
    for cell in cells:
        name = f"grid-{cell.subset}-{cell.seed}-{stamp}"
        run_dvc(["exp", "run", "--queue", "--name", name, cell.stage], cwd=cwd)
        names.append(name)
    return names


def queue_states(names: Sequence[str], cwd: str | os.PathLike = ".") -> dict[str, str]:
    """Experiment name -> Queued | Running | Success | Failed (Queued while `dvc queue status` does not list it)."""
    states = dict.fromkeys(names, "Queued")
    for line in run_dvc(["queue", "status"], cwd=cwd).stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] in states and parts[-1] in ("Queued", "Running", "Success", "Failed"):
            states[parts[1]] = parts[-1]
    return states


def run_queue(names: Sequence[str], *, jobs: int, cwd: str | os.PathLike = ".", poll_s: float = 3.0,
              timeout_s: float | None = None, say: Callable[[str], None] = lambda _: None) -> None:
    """Start `jobs` workers and wait until every named experiment finished; GridError when one did not succeed."""
    run_dvc(["queue", "start", "-j", str(jobs)], cwd=cwd, detach=True)
    start = time.monotonic()
    last = None
    while True:
        ours = queue_states(names, cwd)
        summary = ", ".join(f"{s} {sum(1 for v in ours.values() if v == s)}"
                            for s in ("Success", "Running", "Queued", "Failed") if s in ours.values())
        if summary != last:
            say(summary)
            last = summary
        if all(v in ("Success", "Failed") for v in ours.values()):
            break
        if timeout_s is not None and time.monotonic() - start > timeout_s:
            raise GridError(f"queue-grid: experiments still {summary} after {timeout_s:.0f}s")
        time.sleep(poll_s)
    failed = [n for n, v in ours.items() if v == "Failed"]
    if failed:
        raise GridError(f"queue-grid: experiment(s) {', '.join(failed)} failed; see `dvc queue logs <name>`")


def apply_overrides(params_path: str | os.PathLike, overrides: dict[str, Any]) -> None:
    """Write the overrides into params.yaml in place, keeping its comments and order (ruamel, as DVC's -S does)."""
    from ruamel.yaml import YAML

    from labelgate.outputs import atomic_path

    path = Path(params_path)
    merge_overrides({}, overrides, source=str(path))  # shape check
    yaml_rt = YAML()
    yaml_rt.preserve_quotes = True
    data = yaml_rt.load(path.read_text(encoding="utf-8")) if path.exists() else None
    if data is None:
        data = {}
    for name, values in overrides.items():
        if name not in data or data[name] is None:
            data[name] = {}
        for key, value in values.items():
            data[name][key] = value
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        yaml_rt.dump(data, handle)


def main(params_path: str | os.PathLike, *, overrides: str | os.PathLike | None = None,
         subsets: Sequence[str] = (), seeds: Sequence[int] = (), run: bool = True, jobs: int | None = None,
         timeout_s: float | None = None, say: Callable[[str], None] = print) -> list[str]:
    """`labelgate queue-grid`: merge `overrides` into params, queue the chosen train cells as DVC experiments and,
    with `run`, work them off on `jobs` workers (default one per GPU) and `dvc repro` to collect them."""
    from labelgate.config import load_params

    if overrides is not None:
        values = load_params(overrides)
        apply_overrides(params_path, values)
        say(f"{params_path}: merged {overrides} ({' '.join(override_flags(values))})")
    chosen = select_cells(train_cells(), subsets=subsets, seeds=seeds)
    names = queue_cells(chosen)
    say(f"queued {len(names)} experiment(s): {', '.join(c.stage for c in chosen)}")
    if not run:
        say("next: dvc queue start -j N; when `dvc queue status` shows them done: dvc repro")
        return names
    workers = jobs or max(1, gpu_count())
    run_queue(names, jobs=workers, timeout_s=timeout_s, say=lambda line: say(f"queue: {line}"))
    say(f"all {len(names)} experiment(s) succeeded on {workers} worker(s); dvc repro collects them")
    say(run_dvc(["repro"]).stdout.rstrip())
    return names
