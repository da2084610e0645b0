"""Progress for long jobs (annotate, train, score and check on long tables): a rich bar on a terminal, plain log lines elsewhere.

CI logs and `dvc repro` output piped to a file get no bar (it would print control characters or nothing), so a
job that runs for minutes would be silent. `LogProgress` offers the small part of rich's `Progress` API the jobs use
(`add_task`, `update`) and prints one line per ~10% of the work, with the rate and the estimated time left:

    train raw seed 0: 40% (50/125) 3.1 it/s, 16 s elapsed, ETA 24 s

`progress_mode(flag)` turns a `--progress/--no-progress` flag (None: decide from stderr) into "bar", "log" or "off".
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, TextIO

BAR, LOG, OFF = "bar", "log", "off"
MODES = (BAR, LOG, OFF)


def progress_mode(flag: bool | str | None, *, stream: TextIO | None = None) -> str:
    """None: a bar when stderr is a terminal, log lines otherwise; True: the same; False: nothing; or a mode."""
    if isinstance(flag, str):
        if flag not in MODES:
            raise ValueError(f"progress mode must be one of {MODES}, got {flag!r}")
        return flag
    if flag is False:
        return OFF
    stream = stream or sys.stderr
    return BAR if stream.isatty() else LOG


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class LogProgress:
    """rich.progress.Progress look-alike that writes a line per `step` share of each task (default 10%)."""

    def __init__(self, *, stream: TextIO | None = None, step: float = 0.1,
                 clock: Callable[[], float] = time.perf_counter, unit: str = "it"):
        if not 0 < step <= 1:
            raise ValueError(f"step must lie in (0, 1], got {step}")
        self.stream = stream or sys.stderr
        self.step = step
        self.clock = clock
        self.unit = unit
        self._tasks: dict[int, dict[str, Any]] = {}

    def add_task(self, description: str, total: float | None = None, **fields: Any) -> int:
        task = len(self._tasks)
        self._tasks[task] = {"description": description, "total": total, "completed": 0.0, "start": self.clock(),
                             "next": self.step, "fields": dict(fields)}
        return task

    def update(self, task: int, *, advance: float | None = None, completed: float | None = None,
               total: float | None = None, description: str | None = None, **fields: Any) -> None:
        state = self._tasks[task]
        if description is not None:
            state["description"] = description
        if total is not None:
            state["total"] = total
        if completed is not None:
            state["completed"] = float(completed)
        if advance is not None:
            state["completed"] += advance
        state["fields"].update(fields)
        total_now = state["total"]
        if not total_now:
            return
        share = state["completed"] / total_now
        if share + 1e-9 < state["next"]:
            return
        while state["next"] <= share + 1e-9:
            state["next"] += self.step
        self.stream.write(self.line(task) + "\n")
        self.stream.flush()

    def line(self, task: int) -> str:
        state = self._tasks[task]
        done, total = state["completed"], state["total"]
        elapsed = self.clock() - state["start"]
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate > 0 else None
        status = state["fields"].get("status") or ""
        text = (f"{state['description']}: {done / total:.0%} ({done:.0f}/{total:.0f}) {rate:.1f} {self.unit}/s, "
                f"{_duration(elapsed)} elapsed, ETA {'?' if eta is None else _duration(eta)}")
        return f"{text}, {status}" if status else text

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


@contextlib.contextmanager
def progress(mode: bool | str | None, *columns: Any, unit: str = "it", **options: Any) -> Iterator[Any]:
    """A rich Progress (mode "bar", with `columns`), a LogProgress ("log", rates in `unit`s per second) or None
    ("off")."""
    mode = progress_mode(mode)
    if mode == OFF:
        yield None
    elif mode == LOG:
        yield LogProgress(unit=unit)
    else:
        from rich.console import Console
        from rich.progress import Progress

        with Progress(*columns, console=Console(stderr=True), **options) as bar:
            yield bar


class PhaseProgress:
    """Progress of a job made of phases of known relative cost (the score stage: each signal), for
    jobs with no per-item loop to count: `phase(name)` at the start of each phase moves the bar (or writes a log
    line) to the share of the work done before it, with the rate in `unit`s per second and the time left, both
    estimated from `costs` (relative cost of each phase; an unlisted phase counts `default_cost`). The estimates
    are rough before the first costly phase ends and improve as phases finish."""

    def __init__(self, bar: Any, description: str, items: int, costs: dict[str, float], *,
                 default_cost: float = 0.02):
        self.bar, self.items, self.costs, self.default_cost = bar, items, dict(costs), default_cost
        self.done = 0.0
        self.total = sum(self.costs.values())
        self.current: str | None = None
        self.task = bar.add_task(description, total=items, status="") if bar is not None else None

    def phase(self, name: str) -> None:
        if self.current is not None:
            self.done += self.costs.get(self.current, self.default_cost)
        if name not in self.costs:
            self.total += self.default_cost
            self.costs[name] = self.default_cost
        self.current = name
        if self.bar is not None:
            self.bar.update(self.task, completed=self.items * min(1.0, self.done / self.total), status=name)

    def finish(self) -> None:
        self.phase("done")
        if self.bar is not None:
            self.bar.update(self.task, completed=self.items, status="done")
