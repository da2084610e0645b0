"""Exceptions that map to the CLI's exit codes.

Exit codes are part of the product's contract: 0 pass, 1 blocked by the gate, 2 bad input or usage.
"""

from __future__ import annotations

EXIT_BLOCKED = 1
EXIT_BAD_INPUT = 2


class LabelgateError(Exception):
    """Base class; every subclass knows its exit code."""

    exit_code = EXIT_BAD_INPUT


class BadInputError(LabelgateError):
    """Input that breaks the data contract. The message is one line naming file, row(s) and column."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, path, message: str, *, rows=None, column: str | None = None):
        self.path = str(path)
        self.rows = list(rows) if rows is not None else []
        self.column = column
        where = [self.path]
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:5])
            more = f" (+{len(self.rows) - 5} more)" if len(self.rows) > 5 else ""
            where.append(f"row {shown}{more}" if len(self.rows) == 1 else f"rows {shown}{more}")
        if column:
            where.append(f"column '{column}'")
        super().__init__(f"{': '.join(where)}: {message}")


class ConfigError(LabelgateError):
    """params.yaml (or a CLI option) holds a value outside its documented range."""

    exit_code = EXIT_BAD_INPUT


class StageError(LabelgateError):
    """A library (Great Expectations, cleanlab, pandas...) failed inside a stage; the message names the stage."""

    exit_code = EXIT_BAD_INPUT
