"""Reading a verdict file: the one rule for what counts as blocked, importable without pandas or numpy.

`labelgate enforce` (the last stage of every pipeline, re-run by each `dvc repro` while the gate blocks) and the
report use it. Anything that is not a recognised pass or warn counts as blocked: the gate fails closed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from labelgate.vocabulary import (
    BLOCK,
    COUNT_ERRORS,
    COUNT_FAILED_BLOCK,
    COUNT_FAILED_WARN,
    COUNT_PASSED,
    COUNT_SKIPPED,
    ERRORED,
    FAILED,
    PASS,
    SKIPPED,
    WARN,
)

#: How each verdict status is shown (terminal, report banner, PR summary).
BANNER = {PASS: "PASSED", WARN: "WARN", BLOCK: "BLOCKED", None: "NO VERDICT"}


def verdict_status(verdict: Mapping[str, Any] | None) -> str | None:
    """pass | warn | block, or None without a verdict. Anything unrecognised counts as blocked (fail closed)."""
    if verdict is None:
        return None
    status = verdict.get("status")
    if verdict.get("blocked") or status not in (PASS, WARN):
        return BLOCK
    return status


def count_outcomes(outcomes: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """The verdict's `counts`: failed blocking and warning expectations, passed, skipped, errored."""
    outcomes = list(outcomes)
    return {
        COUNT_FAILED_BLOCK: sum(1 for o in outcomes if o["status"] == FAILED and o["severity"] == BLOCK),
        COUNT_FAILED_WARN: sum(1 for o in outcomes if o["status"] == FAILED and o["severity"] == WARN),
        COUNT_PASSED: sum(1 for o in outcomes if o["status"] == PASS),
        COUNT_SKIPPED: sum(1 for o in outcomes if o["status"] == SKIPPED),
        COUNT_ERRORS: sum(1 for o in outcomes if o["status"] == ERRORED),
    }
