"""Run a function over a few items in forked processes, for work that holds the GIL (the text model's fold fits:
scipy's L-BFGS-B and sparse products run in one thread, so Python threads queue on the GIL and a second core stays
idle).

The parent forks `n_jobs - 1` children and works through its own share meanwhile; item i goes to worker
i % n_jobs (the parent is worker 0, and takes over the share of a child that could not be forked), each child
returns its results once, pickled through a pipe. A child inherits
everything the function reads (the TF-IDF matrix, the labels) copy-on-write, so nothing is pickled on the way in
and the results are what the same calls in one process would return. A child's warnings are re-issued in the
parent (its filters decide, as for a thread); a child's exception is raised in the parent; a child that dies is
an error naming its exit status; an exception in the parent (Ctrl-C included) kills and reaps the children. The
children end by os._exit: no exit handler, buffered output or test-runner hook of the parent's runs in them.
While they run, each worker's BLAS uses (usable cores) // n_jobs threads (threadpoolctl), so n_jobs pools do not
oversubscribe the cores; on the text model's folds this changes no bit of the probabilities (bench/check_profile.md).

Forking is used on Linux only (`can_fork`); elsewhere (no os.fork, or macOS, where system libraries are not safe
to use after fork) and with n_jobs == 1 the items run in `n_jobs` threads as before.
"""

from __future__ import annotations

import os
import pickle
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any


#: Rows below which the text model's work stays in this process: a fork's fixed cost (its copied and faulted pages,
#: its exit) outweighs the work it moves (a 10k-row check: 0.16 s less wall for 0.33 CPU s more; 25k: 0.7 s less
#: for 0.4 more; 100k: 3.1-3.4 s less for 0.2-0.8 more; bench/check_profile.md)
FORK_MIN_ROWS = 20_000

_PENDING = object()


class _Died(RuntimeError):
    """A forked child ended without an answer (killed, out of memory)."""


def can_fork() -> bool:
    """Whether forked workers are used here: on Linux, where os.fork is."""
    return hasattr(os, "fork") and sys.platform.startswith("linux")


def map_in_processes(function: Callable[[Any], Any], items: Sequence, *, n_jobs: int, fork: bool = True) -> list:
    """[function(item) for item in items], the items shared among `n_jobs` processes (this one and n_jobs - 1
    forked children); in `n_jobs` threads where forking is not used (can_fork) or `fork` is False (work too small
    to pay for a fork). The results in the items' order."""
    items = list(items)
    workers = max(1, min(n_jobs, len(items)))
    if workers == 1 or not fork or not can_fork():
        from joblib import Parallel, delayed

        return Parallel(n_jobs=workers, prefer="threads")(delayed(function)(item) for item in items)
    from threadpoolctl import threadpool_limits

    results: list = [None] * len(items)
    children: dict[int, tuple[int, int]] = {}  # worker -> (pid, read end of its pipe)
    reaped: set[int] = set()
    registry: dict = {}
    # the cores shared among the workers' BLAS pools (a child inherits the limit), not each worker taking them all
    with threadpool_limits(limits=max(1, len(os.sched_getaffinity(0)) // workers), user_api="blas"):
        try:
            for worker in range(1, workers):
                try:
                    children[worker] = _fork(function, items[worker::workers])
                except OSError:  # no process to spare (memory, process limit): this process does the rest
                    break
            for worker in range(workers):
                if worker not in children:
                    results[worker::workers] = [function(item) for item in items[worker::workers]]
            for worker, (pid, reader) in children.items():
                results[worker::workers] = _collect(pid, reader, registry, reaped)
        finally:
            for pid, reader in children.values():
                _end(pid, reader, pid in reaped)
    return results


def _fork(function: Callable[[Any], Any], items: list) -> tuple[int, int]:
    """A child computing function(item) for `items`; (its pid, the read end of the pipe of its answer)."""
    reader, writer = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(reader)
        os.close(writer)
        raise
    if pid:
        os.close(writer)
        return pid, reader
    code = 1
    try:  # the child: never returns into the caller
        os.close(reader)
        with warnings.catch_warnings(record=True) as caught:
            try:
                answer = ("ok", [function(item) for item in items])
            except BaseException as exc:  # noqa: BLE001 - handed to the parent, which raises it
                answer = ("error", exc)
        answer += ([(w.message, w.category, w.filename, w.lineno) for w in caught],)
        try:
            payload = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - an exception or warning that does not pickle
            payload = pickle.dumps(("error", RuntimeError(f"a forked worker failed: {answer[1]!r} ({exc})"), []))
        with os.fdopen(writer, "wb") as out:
            out.write(payload)
        code = 0
    finally:
        os._exit(code)


def _collect(pid: int, reader: int, registry: dict, reaped: set[int]) -> list:
    """The child's results (its warnings re-issued here, `registry` deduplicating them as the warnings module does
    per code location), or its exception raised here. Reaps the child (its pid goes to `reaped`)."""
    with os.fdopen(os.dup(reader), "rb") as stream:
        payload = stream.read()
    _, status = os.waitpid(pid, 0)
    reaped.add(pid)
    if not payload:
        raise _Died(f"a forked worker process died without an answer (wait status {status})")
    try:
        kind, value, caught = pickle.loads(payload)
    except Exception as exc:  # noqa: BLE001 - e.g. an exception class that does not unpickle
        raise RuntimeError(f"a forked worker's answer could not be read back: {exc}") from exc
    for message, category, filename, lineno in caught:
        warnings.warn_explicit(message, category, filename, lineno, registry=registry)
    if kind == "error":
        raise value
    return value


def _end(pid: int, reader: int, reaped: bool) -> None:
    """Close the pipe; kill and reap the child unless _collect reaped it (the parent failed before)."""
    import signal

    os.close(reader)
    if not reaped:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


class Ahead:
    """function(*args) computed in a forked child from now on, while this process does other work: `result()`
    waits for it and returns its value (raises its exception, re-issues its warnings); `cancel()` kills and reaps
    the child (an error here before the result was needed: nothing of it is kept). Use it as a context manager,
    which cancels on exit. Where forking is not used (can_fork) or fails, and where the child died without an
    answer, result() calls function(*args) here: the same value, later."""

    def __init__(self, function: Callable[..., Any], *args: Any):
        self.function, self.args = function, args
        self.value: Any = _PENDING
        self.child: tuple[int, int] | None = None
        self.reaped: set[int] = set()
        if can_fork():
            try:
                self.child = _fork(lambda call: function(*call), [args])
            except OSError:  # no process to spare: result() computes it here
                self.child = None

    def result(self) -> Any:
        if self.value is _PENDING and self.child is not None:
            pid, reader = self.child
            try:
                self.value = _collect(pid, reader, {}, self.reaped)[0]
            except _Died:
                pass
            finally:
                self.cancel()
        if self.value is _PENDING:
            self.value = self.function(*self.args)
        return self.value

    def cancel(self) -> None:
        if self.child is not None:
            pid, reader = self.child
            self.child = None
            _end(pid, reader, pid in self.reaped)

    def __enter__(self) -> Ahead:
        return self

    def __exit__(self, *exc) -> None:
        self.cancel()
