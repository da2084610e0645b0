"""GPU choice for parallel training runs: each process claims its own GPU when a machine has several.

`dvc queue start -j N` runs N queued experiments at once, in worker processes that share one environment, so
CUDA_VISIBLE_DEVICES cannot differ per worker. Instead, a training process that sees several GPUs claims the first
free one with a non-blocking exclusive lock on `<lock dir>/gpu<i>.lock` (fcntl.flock: the kernel releases it when
the process ends, even on a crash), and trains on `cuda:<i>`. With N workers and N GPUs every run gets its own GPU;
with more workers than GPUs the extra runs share GPU 0..N-1 round robin by process id rather than waiting. A user
who pins a process by hand (CUDA_VISIBLE_DEVICES=2) makes torch see one GPU, and nothing is claimed.

The lock folder is $LABELGATE_GPU_LOCK_DIR, else <tmp>/labelgate-gpu-locks: one per machine, shared by all runs.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

LOCK_DIR_ENV = "LABELGATE_GPU_LOCK_DIR"
_held: dict[int, object] = {}  # gpu index -> open lock file, kept for the life of the process


def lock_dir() -> Path:
    return Path(os.environ.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / "labelgate-gpu-locks")


def claim_gpu(n_gpus: int, *, folder: str | os.PathLike | None = None) -> int:
    """Index of a GPU this process now holds (the first free one), or a shared one when all are taken."""
    if n_gpus < 1:
        raise ValueError("claim_gpu needs at least one GPU")
    if _held:
        return next(iter(_held))
    folder = Path(folder) if folder is not None else lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(n_gpus):
        handle = open(folder / f"gpu{index}.lock", "a+")  # noqa: SIM115 - held open on purpose
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        _held[index] = handle
        return index
    return os.getpid() % n_gpus


def release_gpus() -> None:
    """Drop this process's claim (tests; a process that ends releases it anyway)."""
    for handle in _held.values():
        handle.close()
    _held.clear()
