"""A verdict once made: the one rule for what counts as blocked, its counts, how it is shown on a terminal, and
`labelgate enforce`. Importable without pandas or numpy.

`labelgate enforce` (the last stage of every pipeline, re-run by each `dvc repro` while the gate blocks) and the
report read verdict files with it. Anything that is not a recognised pass or warn counts as blocked: the gate fails
closed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
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
    SCORES_SUITE,
    SKIPPED,
    STABILITY_SUITE,
    SUMMARY_SUITE,
    WARN,
)

#: How each verdict status is shown (terminal, report banner, PR summary).
BANNER = {PASS: "PASSED", WARN: "WARN", BLOCK: "BLOCKED", None: "NO VERDICT"}


def verdict_status(verdict: Mapping[str, Any] | None) -> str | None:
    """pass | warn | block, or None without a verdict. Anything unrecognised counts as blocked (fail closed): a
    status other than pass/warn, or a `blocked` that is anything but false (absent counts as false)."""
    if verdict is None:
        return None
    status = verdict.get("status")
    if verdict.get("blocked", False) is not False or status not in (PASS, WARN):
        return BLOCK
    return status


def count_outcomes(outcomes: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """The verdict's `counts`: failed blocking and warning expectations, passed, skipped, errored. The one counter
    (the gate's verdict, the report): a failed expectation of any severity but WARN counts as blocking (fail closed:
    an unknown or missing severity in a verdict file read back blocks), and anything but a mapping is not counted."""
    outcomes = [o for o in outcomes if isinstance(o, Mapping)]
    failed = [o for o in outcomes if o.get("status") == FAILED]
    return {
        COUNT_FAILED_BLOCK: sum(1 for o in failed if o.get("severity") != WARN),
        COUNT_FAILED_WARN: sum(1 for o in failed if o.get("severity") == WARN),
        COUNT_PASSED: sum(1 for o in outcomes if o.get("status") == PASS),
        COUNT_SKIPPED: sum(1 for o in outcomes if o.get("status") == SKIPPED),
        COUNT_ERRORS: sum(1 for o in outcomes if o.get("status") == ERRORED),
    }


def counts_line(outcomes: Iterable[Mapping[str, Any]]) -> str:
    """`count_outcomes` as one line: "1 blocking failed · 2 warning(s) · 5 passed · 0 skipped" (led by how many
    could not be evaluated, when any)."""
    counts = count_outcomes(outcomes)
    parts = [f"{counts[COUNT_FAILED_BLOCK]} blocking failed", f"{counts[COUNT_FAILED_WARN]} warning(s)",
             f"{counts[COUNT_PASSED]} passed", f"{counts[COUNT_SKIPPED]} skipped"]
    if counts[COUNT_ERRORS]:
        parts.insert(0, f"{counts[COUNT_ERRORS]} could not be evaluated")
    return " · ".join(parts)


#: The verdict table fits an 80-column terminal.
VERDICT_WIDTH = 80
_SUITE_SHORT = {SCORES_SUITE: "scores", SUMMARY_SUITE: "summary", STABILITY_SUITE: "stability"}
_RESULT = {PASS: "pass", SKIPPED: "skipped", ERRORED: "ERROR"}  # a failed one: FAIL when it blocks, else warn
_STYLE = {"pass": "green", "FAIL": "bold red", "ERROR": "bold red", "warn": "yellow", "skipped": "dim"}


def verdict_rows(verdict) -> tuple[list[str], list[list[str]], list[str]]:
    """The verdict table (header, rows, with empty columns dropped) and one note per failed or errored check."""
    header = ["suite", "check", "observed", "limit", "result"]
    rows, notes = [], []
    for o in verdict.outcomes:
        observed = o["observed"]
        status = o["status"]
        observed = f"{observed:.4f}" if isinstance(observed, float) else "" if observed is None else str(observed)
        observed = "n/a" if status == SKIPPED else observed
        result = _RESULT.get(status, "FAIL" if o["severity"] == BLOCK else "warn")
        check = o["description"] or o.get("column") or o.get("expectation", "")
        if o["error"]:
            observed = "error"
            notes.append(f"{check}: could not be evaluated: {o['error']}")
        elif status == FAILED and o["mitigation"]:
            notes.append(f"{check}: {o['mitigation']}")
        rows.append([_SUITE_SHORT.get(o["suite"], o["suite"]), check, observed,
                     "" if status == SKIPPED else o["threshold"], result])
    keep = [i for i in range(len(header)) if any(row[i] for row in rows)]
    return [header[i] for i in keep], [[row[i] for i in keep] for row in rows], notes


def print_verdict(verdict) -> None:
    """The verdict on stdout: status line, the table (fitted to the terminal), notes, the audit estimate, and the
    closing PASSED / WARN / BLOCKED line."""
    import sys

    from rich.console import Console
    from rich.table import Table, box

    width = min(VERDICT_WIDTH, Console(stderr=False).width) if sys.stdout.isatty() else VERDICT_WIDTH
    console = Console(stderr=False, width=width, soft_wrap=False)
    header, rows, notes = verdict_rows(verdict)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, expand=False)
    widths = [min(14, max(len(name), *(len(row[i]) for row in rows))) if rows else len(name)
              for i, name in enumerate(header)]
    if "check" in header:  # the description takes what the other columns leave, cut with an ellipsis
        at = header.index("check")
        widths[at] = max(12, width - 6 - sum(w for i, w in enumerate(widths) if i != at) - 2 * (len(header) - 1))
    for name, fixed in zip(header, widths):
        table.add_column(name, no_wrap=True, overflow="ellipsis", min_width=fixed, max_width=fixed)
    for row in rows:
        table.add_row(*row[:-1], f"[{_STYLE.get(row[-1], '')}]{row[-1]}[/]")
    console.print(f"[bold]labelgate verdict: {verdict.status.upper()}[/] ({verdict.reason})")
    from rich.markup import escape

    for line in blocking_list(verdict):
        console.print(f"[bold red]blocked by[/]: {escape(line)}", overflow="fold")
    if rows:
        console.print(table)
    for note in notes:
        console.print(f"- {note}", overflow="fold")
    if getattr(verdict, "accuracy_loss", None):
        from rich.markup import escape

        loss = verdict.accuracy_loss
        console.print(f"[bold]accuracy loss: {escape(loss['text'])}[/] ({escape(str(loss['accuracy_loss_source']))}); "
                      f"limit {100 * loss['max_accuracy_loss']:g} points on the upper bound: {loss['status']}",
                      overflow="fold")
        for step in loss["next_steps"]:
            console.print(f"  next: {escape(step)}", overflow="fold")
    if getattr(verdict, "label_error", None):
        from labelgate.estimation import estimate_text

        estimate = verdict.label_error
        console.print(f"label_error_rate: {estimate_text(estimate)} ({escape(str(estimate['method']))})",
                      overflow="fold")
        for step in estimate["next_steps"]:
            console.print(f"  next: {escape(step)}", overflow="fold")
    console.print(f"[bold]{BANNER[BLOCK] if verdict.blocked else BANNER.get(verdict.status, BANNER[PASS])}[/]: "
                  f"{verdict.reason}")


def blocking_list(verdict) -> list[str]:
    """The verdict's blockers, one line each (`blocking` in the verdict JSON; a Verdict object or its dict). An
    older verdict without the list, blocked, gives its reason as the one line."""
    get = verdict.get if isinstance(verdict, Mapping) else (lambda key, default=None: getattr(verdict, key, default))
    lines = get("blocking") or []
    if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
        lines = []
    if not lines and verdict_status(verdict if isinstance(verdict, Mapping) else
                                     {"status": get("status"), "blocked": get("blocked")}) == BLOCK:
        lines = [str(get("reason") or "no reason given")]
    return lines


#: What `labelgate enforce` prints last when it blocks (DVC's "failed to reproduce 'enforce'" error follows it).
ENFORCE_BLOCKED = "labelgate: BLOCKED - see {report}"


def enforce(paths: Iterable[str | os.PathLike], say: Callable[[str], None] = print) -> bool:
    """Read verdict files, `say` one line per file and one per blocker; True when any is blocked. An unreadable
    file is bad input (exit 2); a file that is not a recognised verdict counts as blocked (fail closed)."""
    import json
    from pathlib import Path

    from labelgate.errors import BadInputError

    blocked = False
    for path in paths:
        try:
            verdict = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BadInputError(path, "file not found") from None
        except (OSError, ValueError) as exc:
            raise BadInputError(path, f"not a readable verdict ({type(exc).__name__})") from None
        status = verdict_status(verdict if isinstance(verdict, dict) else {})
        blocked = blocked or status == BLOCK
        reason = verdict.get("reason", "") if isinstance(verdict, dict) else "not a verdict"
        say(f"{path}: {BANNER[status]} ({reason or 'no reason given'})")
        if status == BLOCK and isinstance(verdict, dict):
            for line in blocking_list(verdict):
                say(f"  blocked by: {line}")
    return blocked
