"""The `labelgate` command line: thin commands that read params, parse options and do file I/O.

Each command hands off to the pure functions of its stage module. Exit codes: 0 pass, 1 blocked by the gate,
2 bad input or usage. Errors print one line on stderr; the gate fails closed, so any unexpected error inside
`gate` or `check` exits 1, never 0.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated

import typer

from labelgate.errors import EXIT_BAD_INPUT, EXIT_BLOCKED, LabelgateError

app = typer.Typer(
    name="labelgate",
    help="Measure the risk of LLM-produced labels and block risky label sets before a BERT classifier ships.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

ParamsOption = Annotated[Path, typer.Option("--params", help="params.yaml with thresholds and settings.")]


def run_command(*, fail_closed: bool = False):
    """Map labelgate errors to exit codes with a one-line message; unexpected errors exit 2 (1 when fail_closed)."""

    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            try:
                return func(*args, **kwargs)
            except typer.Exit:
                raise
            except LabelgateError as exc:
                typer.echo(f"labelgate {func.__name__.replace('_', '-')}: error: {exc}", err=True)
                code = EXIT_BLOCKED if fail_closed and exc.exit_code == 0 else exc.exit_code
                raise typer.Exit(code) from None
            except Exception as exc:  # noqa: BLE001 - the CLI boundary: anything else is reported, never swallowed
                typer.echo(
                    f"labelgate {func.__name__.replace('_', '-')}: internal error: {type(exc).__name__}: {exc}",
                    err=True,
                )
                raise typer.Exit(EXIT_BLOCKED if fail_closed else EXIT_BAD_INPUT) from None

        return wrapper

    return decorate


@app.callback()
def main() -> None:
    """labelgate: a data-quality gate for BERT classifiers trained on LLM labels."""


def entry() -> None:  # pragma: no cover - console-script shim
    sys.exit(app())
