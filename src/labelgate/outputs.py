"""Atomic file output (tables, JSON, text, folders) and reading a JSON input.

Every output goes to a temporary file in the destination folder and is renamed into place, so a crash or a bad
input never leaves a partial or corrupted file behind (rename is atomic on POSIX within one filesystem).

Temporary files are named recognisably, `.<name>.labelgate-tmp-<pid>-<random>.tmp` beside the output `<name>`. A
run killed outright (SIGKILL, out of memory) cannot remove its own; the next run writing the same output removes
those older than its own start whose process is gone (`clean_stale_temporaries`). A full disk while writing is a
one-line error naming the output (exit 2), and nothing lands.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from labelgate.errors import BadInputError
from labelgate.vocabulary import CSV, PARQUET, TABLE_SUFFIXES

TEMP_TAG = "labelgate-tmp"
_STARTED = time.time()  # this process's start, near enough: the CLI imports this module before writing anything
_TEMP_PID = re.compile(rf"\.{TEMP_TAG}-(\d+)-")
#: Write errors that mean the destination cannot take the output (a full disk, a quota, a read-only filesystem).
_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def temp_prefix(path: str | os.PathLike) -> str:
    """The name prefix of this process's temporary files for output `path` (in its folder)."""
    return f".{Path(path).name}.{TEMP_TAG}-{os.getpid()}-"


def clean_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove temporary files and folders left beside output `path` by an earlier run that was killed: older than
    this process and made by a process that no longer runs. Returns what was removed."""
    path = Path(path)
    removed = []
    try:
        candidates = list(path.parent.glob(f".{glob.escape(path.name)}.{TEMP_TAG}-*"))
    except OSError:
        return removed
    for candidate in candidates:
        match = _TEMP_PID.search(candidate.name[len(path.name) + 1:])
        if match is None:
            continue
        pid = int(match.group(1))
        try:
            if pid == os.getpid() or _alive(pid) or candidate.lstat().st_mtime >= _STARTED:
                continue
            if candidate.is_dir() and not candidate.is_symlink():
                shutil.rmtree(candidate)
            else:
                candidate.unlink()
        except OSError:
            continue
        removed.append(candidate)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _full_disk(exc: OSError) -> bool:
    return exc.errno in _FULL or "No space left on device" in str(exc)



@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; move it onto `path` only if the block succeeds."""
    with atomic_paths(path) as (tmp_path,):
        yield tmp_path


@contextlib.contextmanager
def atomic_paths(*paths: str | os.PathLike) -> Iterator[tuple[Path, ...]]:
    """All or nothing across several outputs: yield one temporary path next to each of `paths`; only when the block
    succeeds are they all moved into place. Every temporary file is created before the block runs, so an unwritable
    destination fails before anything is written."""
    paths = tuple(Path(p) for p in paths)
    tmp_paths: list[Path] = []
    try:
        for path in paths:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                clean_stale_temporaries(path)
                fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=".tmp", dir=path.parent)
            except OSError as exc:
                raise BadInputError(path, f"cannot write here ({exc.strerror or exc})") from None
            os.close(fd)
            tmp_paths.append(Path(tmp))
        try:
            yield tuple(tmp_paths)
            for tmp_path in tmp_paths:
                os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp creates 0600; outputs get the usual mode
            for tmp_path, path in zip(tmp_paths, paths):
                os.replace(tmp_path, path)
        except OSError as exc:
            if not _full_disk(exc):
                raise
            where = next((path for tmp, path in zip(tmp_paths, paths) if exc.filename and Path(exc.filename) == tmp),
                         paths[0] if paths else Path("."))
            raise BadInputError(where, f"cannot write here ({exc.strerror or exc}); nothing was written") from None
    finally:
        for tmp_path in tmp_paths:
            if tmp_path.exists():
                tmp_path.unlink()


def refuse_overwriting_inputs(inputs: dict[str, str | os.PathLike | None],
                              outputs: dict[str, str | os.PathLike | None]) -> None:
    """Refuse (exit 2) an output path that is also an input, two outputs on one path, or an output inside an input
    folder (a report written among the subset summaries it reads) or over one (a folder output around an input):
    nothing is read or written afterwards, so no input is ever overwritten by its own command."""
    seen: dict[Path, str] = {}
    folders: dict[Path, str] = {}
    for name, path in inputs.items():
        if path is not None:
            seen.setdefault(_identity(path), name)
            if Path(path).is_dir():
                folders.setdefault(_identity(path), name)
    given = dict(seen)
    for name, path in outputs.items():
        if path is None:
            continue
        here = _identity(path)
        other = seen.get(here)
        if other is not None:
            raise BadInputError(path, f"{name} is the same file as {other}; write to another path")
        inside = next((folder_name for folder, folder_name in folders.items() if here.is_relative_to(folder)), None)
        if inside is not None:
            raise BadInputError(path, f"{name} lies inside {inside}, a folder this command reads; write elsewhere")
        around = next((input_name for known, input_name in given.items() if known.is_relative_to(here)), None)
        if around is not None:
            raise BadInputError(path, f"{name} is a folder holding {around}; write elsewhere")
        seen[here] = name
    for path in outputs.values():  # every destination writable before any output is written
        if path is not None and (problem := _unwritable(path)) is not None:
            raise BadInputError(path, f"cannot write here ({problem})")


def _unwritable(path: str | os.PathLike) -> str | None:
    """Why `path` cannot be written (its nearest existing folder is a file or not writable), else None. Creates
    nothing; a full disk shows only when writing."""
    folder = Path(path).absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        return os.strerror(errno.ENOTDIR)
    if not os.access(folder, os.W_OK | os.X_OK):
        return os.strerror(errno.EACCES)
    return None


def _identity(path: str | os.PathLike) -> Path:
    return Path(path).expanduser().resolve()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder next to `path`; it replaces `path` as a whole only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(path)
    tmp_path = Path(tempfile.mkdtemp(prefix=temp_prefix(path), suffix=".tmp", dir=path.parent))
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o777 & ~_umask())  # mkdtemp creates 0700; outputs get the usual mode
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp_path, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            shutil.rmtree(tmp_path, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike, data) -> None:
    with atomic_path(path) as tmp:
        write_json_to(tmp, data)


def write_json_to(tmp: Path, data) -> None:
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_table(path: str | os.PathLike, frame: pd.DataFrame, *, metadata: dict[str, str] | None = None) -> None:
    """Write a table in the format its suffix names (.csv, .parquet or .jsonl). `metadata`: key-value pairs for a
    Parquet file's schema metadata (other formats have none; see `read_table_metadata`)."""
    table_suffix(path)
    with atomic_path(path) as tmp:
        write_table_to(tmp, frame, like=path, metadata=metadata)


def write_outputs(*outputs: tuple[str | os.PathLike, object]) -> None:
    """Write several outputs all or nothing: (path, DataFrame) as a table in its suffix's format, (path, anything
    else) as JSON. Nothing lands unless everything was written."""
    for path, data in outputs:
        if isinstance(data, pd.DataFrame):
            table_suffix(path)
    with atomic_paths(*(path for path, _ in outputs)) as tmps:
        for tmp, (path, data) in zip(tmps, outputs):
            if isinstance(data, pd.DataFrame):
                write_table_to(tmp, data, like=path)
            else:
                write_json_to(tmp, data)


def table_suffix(path: str | os.PathLike) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise BadInputError(path, f"unsupported table format '{suffix}'; use one of {', '.join(TABLE_SUFFIXES)}")
    return suffix


def write_table_to(tmp: Path, frame: pd.DataFrame, *, like: str | os.PathLike,
                   metadata: dict[str, str] | None = None) -> None:
    """Write `frame` to `tmp` in the format of `like`'s suffix."""
    suffix = table_suffix(like)
    if suffix == CSV:
        frame.to_csv(tmp, index=False)
    elif suffix == PARQUET and metadata:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        extra = {key.encode(): value.encode() for key, value in metadata.items()}
        pq.write_table(table.replace_schema_metadata({**(table.schema.metadata or {}), **extra}), tmp)
    elif suffix == PARQUET:
        frame.to_parquet(tmp, index=False)
    else:
        frame.to_json(tmp, orient="records", lines=True, force_ascii=False, double_precision=15)  # pandas: 10


def read_table_metadata(path: str | os.PathLike, key: str) -> str | None:
    """The value `write_table(..., metadata=)` stored under `key` in a Parquet file; None for anything else."""
    if Path(path).suffix.lower() != PARQUET:
        return None
    try:
        import pyarrow.parquet as pq

        value = (pq.read_schema(path).metadata or {}).get(key.encode())
    except Exception:  # noqa: BLE001 - unreadable here means unstamped; the reader reports the file itself
        return None
    return None if value is None else value.decode()


def load_json(path: str | os.PathLike) -> Any:
    """The JSON value in the file at `path`; a missing file, a folder or invalid JSON is a one-line BadInputError."""
    path = Path(path)
    if not path.exists():
        raise BadInputError(path, "file not found")
    if path.is_dir():
        raise BadInputError(path, "is a folder, expected a JSON file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInputError(path, f"not valid JSON ({str(exc).splitlines()[0]})") from None


def read_json(path: str | os.PathLike) -> dict:
    """A JSON object from the file at `path` (load_json, then anything but an object is a BadInputError)."""
    data = load_json(path)
    if not isinstance(data, dict):
        raise BadInputError(path, f"expected a JSON object, found {type(data).__name__}")
    return data


def _json_default(value):
    # numpy scalars and arrays appear in metrics; JSON has no type for them.
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
