"""The command line's frame: the typer app, one-line usage errors, `run_command` (errors to one line and an exit
code), the options several commands share, and output that survives a closed pipe."""

from __future__ import annotations

import atexit
import functools
import gc
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer
import typer.core

from labelgate.errors import EXIT_BAD_INPUT, EXIT_BLOCKED, LabelgateError


class _OneLineUsageErrors(typer.core.TyperGroup):
    """The command group with usage errors in one line on stderr ("labelgate check: error: Missing argument
    'LABELS'. (see labelgate check --help)", exit 2) instead of a multi-line box, as every other labelgate error."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        # The command's objects live until the process ends: frozen at exit (the last exit handler), the interpreter's
        # shutdown does not walk them in its collections (2 s after a 100k-row `check`, 0.15 s frozen). Memory goes
        # back to the system as before; an object left in a reference cycle is not finalised (labelgate writes and
        # closes its outputs before it returns). Registered once, however often main runs in a process.
        atexit.unregister(gc.freeze)
        atexit.register(gc.freeze)
        click = typer.core._click  # the click typer runs on (typer >= 0.2x vendors its own copy)

        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # `labelgate` alone: the help, as before
                exc.show()
                sys.exit(exc.exit_code)
            where = exc.ctx.command_path if exc.ctx is not None else "labelgate"
            message = " ".join(exc.format_message().split())
            typer.echo(f"{where}: error: {message} (see {where} --help)", err=True)
            sys.exit(exc.exit_code)
        except click.exceptions.ClickException as exc:
            typer.echo(f"labelgate: error: {' '.join(exc.format_message().split())}", err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.echo("labelgate: aborted", err=True)
            sys.exit(1)
        # not standalone, click returns typer.Exit's code, or the command's own return value (exit 0)
        sys.exit(result if isinstance(result, int) and not isinstance(result, bool) else 0)


app = typer.Typer(
    name="labelgate",
    help="Measure the risk of LLM-produced labels and block risky label sets before a BERT classifier ships.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=_OneLineUsageErrors,
)

ParamsOption = Annotated[Path | None, typer.Option(
    "--params", help="params.yaml with thresholds and settings [default: params.yaml; when that is absent, the "
                     "documented defaults]. A file given here must exist.")]


class _State:
    debug = False  # set by the --debug option of the `labelgate` callback


def _debug() -> bool:
    return _State.debug or os.environ.get("LABELGATE_DEBUG", "").strip().lower() in ("1", "true", "yes")


def _one_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


def _stdout_closed() -> None:
    """After a broken pipe (`labelgate check | head`): the rest of stdout goes to /dev/null, so neither later
    writes nor the interpreter's last flush fail; the command still ends with its own exit code."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file descriptor (a test runner's buffer)
        pass


def _echo(line: str = "") -> None:
    """typer.echo on stdout that survives a reader who stopped reading (a broken pipe)."""
    try:
        typer.echo(line)
    except BrokenPipeError:
        _stdout_closed()


def _show(show, *args) -> None:
    """Run a printing function (the verdict table); a broken pipe silences stdout instead of failing."""
    try:
        show(*args)
        sys.stdout.flush()
    except BrokenPipeError:
        _stdout_closed()


def _seed(option: str, value: int | None) -> int | None:
    """A seed option: NumPy's range [0, 2**32 - 1], else a one-line error (exit 2)."""
    from labelgate.errors import ConfigError

    if value is not None and not 0 <= value <= 2**32 - 1:
        raise ConfigError(f"{option} {value}: a seed must lie in [0, {2**32 - 1}]")
    return value


def run_command(*, fail_closed: bool = False, name: str | None = None):
    """Map labelgate errors to exit codes with a one-line message; unexpected errors exit 2 (1 when fail_closed).
    `name` is the command as typed (default: the function name with dashes)."""

    def decorate(func):
        command = name or func.__name__.removesuffix("_command").replace("_", "-")

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            try:
                return func(*args, **kwargs)
            except typer.Exit:
                raise
            except BrokenPipeError:  # stdout's reader went away before the command finished printing
                _stdout_closed()
                typer.echo(f"labelgate {command}: error: stdout closed (broken pipe) before the output was printed",
                           err=True)
                raise typer.Exit(EXIT_BLOCKED if fail_closed else EXIT_BAD_INPUT) from None
            except LabelgateError as exc:
                if _debug():
                    traceback.print_exc()
                typer.echo(f"labelgate {command}: error: {_one_line(exc)}", err=True)
                raise typer.Exit(exc.exit_code) from None
            except Exception as exc:  # noqa: BLE001 - the CLI boundary: anything else is reported, never swallowed
                if _debug():
                    traceback.print_exc()
                typer.echo(f"labelgate {command}: internal error: {_library(exc)}{type(exc).__name__}: "
                           f"{_one_line(exc)} (run with --debug for the traceback)", err=True)
                raise typer.Exit(EXIT_BLOCKED if fail_closed else EXIT_BAD_INPUT) from None

        return wrapper

    return decorate


def _library(exc: BaseException) -> str:
    """'in great_expectations: ' when the exception was raised inside a library, so the one line names it."""
    tb, inside = exc.__traceback__, False
    while tb is not None:
        top = str(tb.tb_frame.f_globals.get("__name__", "")).split(".")[0]
        if top == "labelgate":
            inside = True
        elif inside and top not in ("", "__main__", "functools", "contextlib"):
            return f"in {top}: "
        tb = tb.tb_next
    return ""


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="Print the traceback of an error (or LABELGATE_DEBUG=1).")]
    = False,
) -> None:
    """labelgate: a data-quality gate for BERT classifiers trained on LLM labels."""
    _State.debug = debug


ExpectationsOption = Annotated[
    Path, typer.Option("--expectations", help="Folder of Great Expectations suites (JSON).")
]


def _params(path: Path | None) -> dict:
    from labelgate.config import read_params

    return read_params(path)


LabelsOption = Annotated[
    str | None, typer.Option("--labels", help="Comma-separated label set; default params base.labels or inferred.")
]


ProgressOption = Annotated[
    bool | None, typer.Option("--progress/--no-progress", help="Progress on stderr; default: a bar on a terminal, "
                                                              "else a line per ~10% with rate and ETA.")
]


TestOption = Annotated[Path | None, typer.Option("--test", help="Gold test set (text, label) for class balance.")]


HeadlineOption = Annotated[Path | None, typer.Option(
    "--headline", help="Also write the stage's few headline figures here (flat JSON, for DVC metrics).")]


SubsetsDirOption = Annotated[Path, typer.Option("--subsets-dir", help="Folder of subset tables <NAME>.parquet.")]


GoldTestOption = Annotated[Path, typer.Option("--test", help="Gold test set (text, label).")]
