"""On-disk annotation cache: a crash or a rerun loses nothing and pays for no prompt twice.

One append-only JSONL file per backend identity (backend, model, and what changes its numbers, never an API key)
inside the cache folder. Each line is `{"key": ..., "logprobs": {word: logprob}, "floor": logprob|null}`, where the
key is the SHA-256 of (backend identity, label words, full prompt text); the prompt itself is not stored. Lines are
written batch by batch with flush + fsync, so every finished batch survives a crash; on reload a truncated or
corrupt line (the tail of a crashed write) is skipped with a warning and the next append starts on a fresh line.
The folder is meant to be committed next to the data: a fresh clone then re-runs the stage from the cache in seconds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

log = logging.getLogger(__name__)


def cache_key(identity: str, words: Sequence[str], prompt: str) -> str:
    """SHA-256 hex digest of (backend identity, label words, prompt)."""
    payload = json.dumps([identity, list(words), prompt], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class AnnotationCache:
    """Scores by cache key for one backend identity; `folder=None` keeps them in memory only."""

    def __init__(self, folder: str | os.PathLike | None, identity: str):
        self.identity = identity
        self.path: Path | None = None
        self._records: dict[str, dict] = {}
        if folder:
            slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", identity).strip("-.")[:80]
            digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:12]
            self.path = Path(folder) / f"{slug}-{digest}.jsonl"
            self._load()

    def __len__(self) -> int:
        return len(self._records)

    def key(self, words: Sequence[str], prompt: str) -> str:
        return cache_key(self.identity, words, prompt)

    def get(self, key: str) -> dict | None:
        return self._records.get(key)

    def put_many(self, records: Iterable[tuple[str, Mapping]]) -> None:
        """Add records {logprobs, floor} by key and make them durable (one write, flush, fsync)."""
        lines = []
        for key, record in records:
            entry = {"key": key, "logprobs": dict(record["logprobs"]), "floor": record.get("floor")}
            self._records[key] = entry
            lines.append(json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n")
        if not lines or self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+b") as handle:
            handle.seek(0, os.SEEK_END)
            prefix = b""
            if handle.tell() > 0:
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    prefix = b"\n"  # the previous writer crashed mid-line: start on a fresh line
            handle.write(prefix + "".join(lines).encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())

    def _load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        skipped = []
        with open(self.path, encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                    key, logprobs = entry["key"], entry["logprobs"]
                    if not isinstance(key, str) or not isinstance(logprobs, dict):
                        raise ValueError("bad record")
                    floor = entry.get("floor")
                    self._records[key] = {"key": key, "logprobs": {str(w): float(v) for w, v in logprobs.items()},
                                          "floor": None if floor is None else float(floor)}
                except (ValueError, KeyError, TypeError, AttributeError):
                    skipped.append(number)
        if skipped:
            log.warning("%s: skipped %d unreadable cache line(s) (%s); they are recomputed",
                        self.path, len(skipped), ", ".join(map(str, skipped[:5])))
