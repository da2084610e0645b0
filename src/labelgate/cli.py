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


ExpectationsOption = Annotated[
    Path, typer.Option("--expectations", help="Folder of Great Expectations suites (JSON).")
]


def _params(path: Path) -> dict:
    from labelgate.config import load_params

    return load_params(path)


def _labels(params: dict, labels: str | None) -> tuple[str, ...]:
    from labelgate.config import BaseParams, section

    if labels:
        return tuple(label.strip() for label in labels.split(",") if label.strip())
    return section(params, "base", BaseParams).labels


def _validated(labels_path: Path, params: dict, labels: str | None, expectations: Path):
    from labelgate.config import section
    from labelgate.validate import ValidateParams, validate_label_table

    return validate_label_table(labels_path, labels=_labels(params, labels),
                                params=section(params, "validate", ValidateParams), expectations_dir=expectations)


LabelsOption = Annotated[
    str | None, typer.Option("--labels", help="Comma-separated label set; default params base.labels or inferred.")
]


@app.command()
@run_command()
def validate(
    labels_path: Annotated[Path, typer.Argument(metavar="LABELS", help="Label table (.csv, .parquet, .jsonl).")],
    out: Annotated[Path | None, typer.Option(help="Write the normalised table here (Parquet).")] = None,
    labels: LabelsOption = None,
    params: ParamsOption = Path("params.yaml"),
    expectations: ExpectationsOption = Path("expectations"),
) -> None:
    """Check a label table against the data contract (GX suite expectations/label_contract.json)."""
    from labelgate.io import write_table

    table = _validated(labels_path, _params(params), labels, expectations)
    if out is not None:
        write_table(out, table.frame)
    typer.echo(f"{labels_path}: ok, {len(table.frame)} rows, labels {', '.join(table.labels)}")


def _score(labels_path: Path, params_path: Path, labels: str | None, test: Path | None, expectations: Path):
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from labelgate.config import section
    from labelgate.score import ScoreParams, score_labels
    from labelgate.validate import validate_test_table

    params = _params(params_path)
    table = _validated(labels_path, params, labels, expectations)
    test_labels = None
    if test is not None:
        test_labels = validate_test_table(test, labels=table.labels, expectations_dir=expectations)["label"]
    score_params = section(params, "score", ScoreParams)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  transient=True, disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task("scoring", total=None)
        return score_labels(table, score_params, test_labels=test_labels,
                            progress=lambda name: progress.update(task, description=f"signal: {name}"))


TestOption = Annotated[Path | None, typer.Option("--test", help="Gold test set (text, label) for class balance.")]


@app.command()
@run_command()
def score(
    labels_path: Annotated[Path, typer.Argument(metavar="LABELS", help="Label table (.csv, .parquet, .jsonl).")],
    out: Annotated[Path, typer.Option(help="Per-example scores (Parquet).")] = Path("data/scores.parquet"),
    summary: Annotated[Path, typer.Option(help="Summary metrics JSON.")] = Path("metrics/label_risk.json"),
    test: TestOption = None,
    labels: LabelsOption = None,
    params: ParamsOption = Path("params.yaml"),
    expectations: ExpectationsOption = Path("expectations"),
) -> None:
    """Score the risk signals of a label set: entropy, cleanlab label issues, agreement, audit, class balance."""
    from labelgate.io import write_json, write_table

    rows, result = _score(labels_path, params, labels, test, expectations)
    write_table(out, rows)
    write_json(summary, result)
    shown = ", ".join(f"{k}={v:.3f}" for k, v in result["metrics"].items() if v is not None)
    typer.echo(f"scored {result['n_rows']} rows: {shown}")


@app.command()
@run_command(fail_closed=True)
def check(
    labels_path: Annotated[Path, typer.Argument(metavar="LABELS", help="Label table (.csv, .parquet, .jsonl).")],
    test: TestOption = None,
    labels: LabelsOption = None,
    params: ParamsOption = Path("params.yaml"),
    expectations: ExpectationsOption = Path("expectations"),
    out: Annotated[Path | None, typer.Option(help="Also write the verdict JSON here.")] = None,
) -> None:
    """Validate, score and run the label-level expectations in one go: exit 0 pass, 1 blocked, 2 bad input."""
    from labelgate.config import section
    from labelgate.gate import GateParams, run_gate
    from labelgate.io import write_json

    rows, result = _score(labels_path, params, labels, test, expectations)
    verdict = run_gate(scores=rows, label_risk=result, evaluation=None,
                       params=section(_params(params), "gate", GateParams), expectations_dir=expectations)
    if out is not None:
        write_json(out, verdict.as_dict())
    _print_verdict(verdict)
    raise typer.Exit(EXIT_BLOCKED if verdict.blocked else 0)


def _print_verdict(verdict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=False, width=max(120, Console().width))
    table = Table(title=f"labelgate verdict: {verdict.status.upper()} ({verdict.reason})", show_lines=False)
    for column in ("suite", "check", "observed", "threshold", "result", "severity", "mitigation"):
        table.add_column(column, overflow="fold")
    style = {"pass": "green", "fail": "red", "error": "red", "skipped": "dim"}
    for o in verdict.outcomes:
        observed = o["observed"]
        observed = f"{observed:.4f}" if isinstance(observed, float) else str(observed)
        if o["error"]:
            observed = f"error: {o['error']}"
        table.add_row(o["suite"], o["description"], observed, o["threshold"],
                      f"[{style[o['status']]}]{o['status']}[/]", o["severity"],
                      o["mitigation"] if o["status"] in ("fail", "error") else "")
    console.print(table)
    console.print(f"[bold]{'BLOCKED' if verdict.blocked else 'PASSED'}[/]: {verdict.reason}")


@app.command("filter")
@run_command()
def filter_command(
    scores: Annotated[Path, typer.Argument(help="Per-example scores from `labelgate score` (Parquet).")],
    strategy: Annotated[str, typer.Option(help="raw | entropy | cleanlab | consensus | combined")],
    out: Annotated[Path, typer.Option(help="Training subset (Parquet: id, text, label).")],
    summary: Annotated[Path | None, typer.Option(help="Subset summary JSON; default OUT with .json.")] = None,
    labels: LabelsOption = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Write one mitigation subset (exit 1 when the class-balance guard refuses it)."""
    from labelgate.config import section
    from labelgate.contract import infer_labels, read_table
    from labelgate.filter import FilterParams, filter_subset
    from labelgate.io import write_json, write_table

    values = _params(params)
    frame = read_table(scores)
    label_set = list(infer_labels(frame, _labels(values, labels)))
    subset, result = filter_subset(frame, strategy, section(values, "filter", FilterParams), label_set,
                                   source=str(scores))
    write_table(out, subset)
    write_json(summary or out.with_suffix(".json"), result)
    typer.echo(f"{strategy}: kept {result['rows_kept']}/{result['rows_in']} rows {result['kept_per_class']}")


@app.command()
@run_command()
def reference(
    gold: Annotated[Path, typer.Argument(help="Gold training labels (text, label; id optional).")],
    out: Annotated[Path, typer.Option(help="Reference subset (Parquet: id, text, label).")],
    labels: LabelsOption = None,
    params: ParamsOption = Path("params.yaml"),
    expectations: ExpectationsOption = Path("expectations"),
) -> None:
    """Write the gold-label reference subset that the LLM-label subsets are compared with."""
    import pandas as pd

    from labelgate.contract import ID, TEXT, stable_id
    from labelgate.io import write_table
    from labelgate.validate import validate_test_table

    label_set = _labels(_params(params), labels)
    frame = validate_test_table(gold, labels=label_set, expectations_dir=expectations)
    ids = frame[ID].astype(str) if ID in frame.columns else frame[TEXT].map(stable_id)
    write_table(out, pd.DataFrame({ID: ids, TEXT: frame[TEXT], "label": frame["label"]}))
    typer.echo(f"reference: {len(frame)} gold-labelled rows")


@app.command()
@run_command(fail_closed=True)
def gate(
    scores: Annotated[Path | None, typer.Option(help="Per-example scores from `labelgate score` (Parquet).")] = None,
    label_risk: Annotated[Path | None, typer.Option(help="label_risk.json from `labelgate score`.")] = None,
    evaluation: Annotated[Path | None, typer.Option(help="evaluate.json from `labelgate evaluate`.")] = None,
    out: Annotated[Path, typer.Option(help="Verdict JSON (also a DVC metrics file).")] = Path("metrics/gate.json"),
    params: ParamsOption = Path("params.yaml"),
    expectations: ExpectationsOption = Path("expectations"),
) -> None:
    """Run the GX suites over the figures given; exit 1 when a blocking expectation fails (fail closed)."""
    from labelgate.config import section
    from labelgate.contract import read_table
    from labelgate.gate import GateParams, failed_gate_verdict, run_gate
    from labelgate.io import read_json, write_json

    try:
        gate_params = section(_params(params), "gate", GateParams)
        verdict = run_gate(
            scores=read_table(scores) if scores else None,
            label_risk=read_json(label_risk) if label_risk else None,
            evaluation=read_json(evaluation) if evaluation else None,
            params=gate_params, expectations_dir=expectations,
        )
    except Exception as exc:  # fail closed: write a blocked verdict, then report the error
        write_json(out, failed_gate_verdict(f"{type(exc).__name__}: {exc}").as_dict())
        raise
    write_json(out, {**verdict.as_dict(), "subset": gate_params.subset})
    _print_verdict(verdict)
    raise typer.Exit(EXIT_BLOCKED if verdict.blocked else 0)


@app.command()
@run_command()
def annotate(
    texts: Annotated[Path, typer.Argument(help="Texts to label (.csv, .parquet, .jsonl) with a 'text' column; "
                                               "id, gold_label and other columns pass through.")],
    out: Annotated[Path, typer.Option("--out", help="Label table to write (.csv, .parquet or .jsonl).")],
    params: ParamsOption = Path("params.yaml"),
    labels: LabelsOption = None,
):
    """Label texts with an LLM (section annotate: of params.yaml): llm_label, llm_prob_*, annotator_* columns."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from labelgate.annotate import AnnotateParams, annotate_frame, resolve_labels
    from labelgate.config import section
    from labelgate.contract import read_table
    from labelgate.io import write_table

    values = _params(params)
    annotate_params = section(values, "annotate", AnnotateParams)
    label_set = resolve_labels(_labels(values, labels))
    frame = read_table(texts)
    with Progress(TextColumn("annotate"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  transient=True, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task("annotate", total=None)
        table, report = annotate_frame(frame, label_set, annotate_params, source=str(texts),
                                       progress=lambda done, total: bar.update(task, completed=done, total=total))
    write_table(out, table)
    typer.echo(f"{out}: {report.summary()}")
    return report


def entry() -> None:  # pragma: no cover - console-script shim
    sys.exit(app())
