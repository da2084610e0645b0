"""Reading a verdict file: the one rule for what counts as blocked, importable without pandas or numpy.

`labelgate enforce` (the last stage of every pipeline, re-run by each `dvc repro` while the gate blocks) and the
report use it. Anything that is not a recognised pass or warn counts as blocked: the gate fails closed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

BANNER = {"pass": "PASSED", "warn": "WARN", "block": "BLOCKED", None: "NO VERDICT"}


def verdict_status(verdict: Mapping[str, Any] | None) -> str | None:
    """pass | warn | block, or None without a verdict. Anything unrecognised counts as blocked (fail closed)."""
    if verdict is None:
        return None
    status = verdict.get("status")
    if verdict.get("blocked") or status not in ("pass", "warn"):
        return "block"
    return status
