"""The `labelgate` command line: thin commands that read params, parse options and do file I/O.

Each command hands off to the pure functions of its stage module. Exit codes: 0 pass, 1 blocked by the gate,
2 bad input or usage. Errors print one line on stderr (`--debug` or LABELGATE_DEBUG=1 adds the traceback); the gate
fails closed, so any unexpected error inside `gate` or `check` exits 1, never 0.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer

from labelgate.errors import EXIT_BAD_INPUT, EXIT_BLOCKED, LabelgateError
from labelgate.progress import progress_mode

app = typer.Typer(
    name="labelgate",
    help="Measure the risk of LLM-produced labels and block risky label sets before a BERT classifier ships.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
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


def run_command(*, fail_closed: bool = False, name: str | None = None):
    """Map labelgate errors to exit codes with a one-line message; unexpected errors exit 2 (1 when fail_closed).
    `name` is the command as typed (default: the function name with dashes)."""

    def decorate(func):
        command = name or func.__name__.replace("_", "-")

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            try:
                return func(*args, **kwargs)
            except typer.Exit:
                raise
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


def _name(func) -> str:
    return func.__name__.removesuffix("_command").replace("_", "-")


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
    """params.yaml: an explicitly given --params file must exist; the implicit default may be absent."""
    from labelgate.config import DEFAULT_PARAMS_PATH, load_params
    from labelgate.errors import ConfigError

    if path is not None and not path.is_file():
        raise ConfigError(f"{path}: params file not found (--params)")
    return load_params(DEFAULT_PARAMS_PATH if path is None else path)


def _labels(params: dict, labels: str | None) -> tuple[str, ...]:
    """--labels when given, else params base.labels; both pass BaseParams' checks (unique, at least two)."""
    from labelgate.config import BaseParams, section
    from labelgate.errors import ConfigError

    if labels:
        try:
            return BaseParams(labels=tuple(label.strip() for label in labels.split(",") if label.strip())).labels
        except ValueError as exc:
            raise ConfigError(f"--labels: {exc}") from None
    return section(params, "base", BaseParams).labels


def _validated(labels_path: Path, params: dict, labels: str | None, expectations: Path, frame=None):
    from labelgate.config import section
    from labelgate.validate import ValidateParams, validate_label_table

    return validate_label_table(labels_path, labels=_labels(params, labels),
                                params=section(params, "validate", ValidateParams), expectations_dir=expectations,
                                frame=frame)


LabelsOption = Annotated[
    str | None, typer.Option("--labels", help="Comma-separated label set; default params base.labels or inferred.")
]


@app.command()
@run_command()
def validate(
    labels_path: Annotated[Path, typer.Argument(metavar="LABELS", help="Label table (.csv, .parquet, .jsonl).")],
    out: Annotated[Path | None, typer.Option(help="Write the normalised table here (Parquet).")] = None,
    labels: LabelsOption = None,
    params: ParamsOption = None,
    expectations: ExpectationsOption = Path("expectations"),
) -> None:
    """Check a label table against the data contract (GX suite expectations/label_contract.json)."""
    from labelgate.outputs import refuse_overwriting_inputs, write_table

    refuse_overwriting_inputs({"LABELS": labels_path, "--params": params}, {"--out": out})
    table = _validated(labels_path, _params(params), labels, expectations)
    if out is not None:
        write_table(out, table.frame)
    typer.echo(f"{labels_path}: ok, {len(table.frame)} rows, labels {', '.join(table.labels)}")


def _score(labels_path: Path, params_path: Path | dict, labels: str | None, test: Path | None, expectations: Path,
           frame=None):
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from labelgate.config import section
    from labelgate.score import ScoreParams, score_labels
    from labelgate.validate import validate_test_table

    params = params_path if isinstance(params_path, dict) else _params(params_path)
    table = _validated(labels_path, params, labels, expectations, frame=frame)
    test_labels = None
    if test is not None:
        test_labels = validate_test_table(test, labels=table.labels, expectations_dir=expectations)["label"]
    score_params = section(params, "score", ScoreParams)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  transient=True, disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task("scoring", total=None)
        return score_labels(table, score_params, test_labels=test_labels,
                            progress=lambda name: progress.update(task, description=f"signal: {name}"))


def _score_streaming(labels_path: Path, out: Path, summary: Path, params_path: Path, labels: str | None,
                     test: Path | None, expectations: Path):
    """The chunked score path (score_stream) when the table is large enough for it; None otherwise."""
    from labelgate.config import section
    from labelgate.score import ScoreParams
    from labelgate.score_stream import infer_labels, score_parquet_streaming, should_stream
    from labelgate.validate import ValidateParams, validate_test_table

    params = _params(params_path)
    score_params = section(params, "score", ScoreParams)
    if not should_stream(labels_path, score_params):
        return None
    label_set = _labels(params, labels) or infer_labels(labels_path, score_params.chunk_rows)
    test_labels = None
    if test is not None:
        test_labels = validate_test_table(test, labels=label_set, expectations_dir=expectations)["label"]
    log = (lambda message: typer.echo(f"score: {message}", err=True)) if sys.stderr.isatty() else None
    return score_parquet_streaming(labels_path, out, summary, labels=label_set, params=score_params,
                                   validate_params=section(params, "validate", ValidateParams),
                                   expectations_dir=expectations, test_labels=test_labels, progress=log)


ProgressOption = Annotated[
    bool | None, typer.Option("--progress/--no-progress", help="Progress on stderr; default: a bar on a terminal, "
                                                              "else a line per ~10% with rate and ETA.")
]

TestOption = Annotated[Path | None, typer.Option("--test", help="Gold test set (text, label) for class balance.")]


HeadlineOption = Annotated[Path | None, typer.Option(
    "--headline", help="Also write the stage's few headline figures here (flat JSON, for DVC metrics).")]


@app.command()
@run_command()
def score(
    labels_path: Annotated[Path, typer.Argument(metavar="LABELS", help="Label table (.csv, .parquet, .jsonl).")],
    out: Annotated[Path, typer.Option(help="Per-example scores (Parquet).")] = Path("data/scores.parquet"),
    summary: Annotated[Path, typer.Option(help="Summary metrics JSON.")] = Path("metrics/label_risk.json"),
    test: TestOption = None,
    labels: LabelsOption = None,
    params: ParamsOption = None,
    expectations: ExpectationsOption = Path("expectations"),
    headline: HeadlineOption = None,
) -> None:
    """Score the risk signals of a label set: entropy, cleanlab label issues, agreement, audit, class balance.

    Parquet tables above score.stream_rows rows are validated and scored in chunks in bounded memory."""
    from labelgate.headline import label_risk_headline
    from labelgate.outputs import refuse_overwriting_inputs, write_outputs

    refuse_overwriting_inputs({"LABELS": labels_path, "--test": test, "--params": params},
                              {"--out": out, "--summary": summary})
    result = _score_streaming(labels_path, out, summary, params, labels, test, expectations)
    if result is not None:  # scores and summary already written together; the headline follows
        if headline is not None:
            write_outputs((headline, label_risk_headline(result)))
    else:
        rows, result = _score(labels_path, params, labels, test, expectations)
        outputs = [(out, rows), (summary, result)]
        if headline is not None:
            outputs.append((headline, label_risk_headline(result)))
        write_outputs(*outputs)  # all or nothing
    shown = ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                      for k, v in result["metrics"].items() if v is not None)
    typer.echo(f"scored {result['n_rows']} rows: {shown}")


CheckParamsOption = Annotated[Path | None, typer.Option(
    "--params", help="params.yaml; default ./params.yaml, else labelgate's packaged defaults.")]
CheckExpectationsOption = Annotated[Path | None, typer.Option(
    "--expectations", help="Folder of GX suites; default ./expectations/, else labelgate's packaged suites.")]


@app.command()
@run_command(fail_closed=True)
def check(
    labels_path: Annotated[Path, typer.Argument(metavar="LABELS", help="Label table (.csv, .parquet, .jsonl).")],
    test: TestOption = None,
    labels: LabelsOption = None,
    params: CheckParamsOption = None,
    expectations: CheckExpectationsOption = None,
    out: Annotated[Path | None, typer.Option(help="Also write the verdict JSON here.")] = None,
    label_column: Annotated[str | None, typer.Option(
        "--label-column", help="Check this column as the labels (e.g. a gold or relabelled version of the "
                               "pool) instead of llm_label.")] = None,
    enforce: Annotated[bool, typer.Option(
        "--enforce/--no-enforce", help="Exit 1 when blocked (default); --no-enforce records the verdict and exits "
                                       "0, for a pipeline stage followed by `labelgate enforce`.")] = True,
) -> None:
    """Validate, score and run the label-level expectations in one go: exit 0 pass, 1 blocked, 2 bad input.

    Works in any folder: without params.yaml / expectations/ here it uses labelgate's packaged defaults."""
    from labelgate.config import section
    from labelgate.gate import LABEL_SUITES, GateParams, preflight, run_gate
    from labelgate.outputs import refuse_overwriting_inputs, write_json
    from labelgate.packaged import resolve_sources

    refuse_overwriting_inputs({"LABELS": labels_path, "--test": test, "--params": params}, {"--out": out})
    sources = resolve_sources(params, expectations)
    for line in sources.describe():
        typer.echo(line)
    gate_params = section(sources.params, "gate", GateParams)
    preflight(gate_params, LABEL_SUITES, sources.expectations)  # a broken suite or gate.required: exit 2 first
    table = _check_table(labels_path, label_column)
    label_set, why = _check_labels(table, sources, labels)
    typer.echo(f"labels: {', '.join(label_set) or '(from the table)'} ({why})")
    rows, result = _score(labels_path, sources.params, ",".join(label_set) or None, test, sources.expectations,
                          frame=table)
    verdict = run_gate(scores=rows, label_risk=result, evaluation=None, params=gate_params,
                       expectations_dir=sources.expectations)
    if out is not None:
        write_json(out, {**verdict.as_dict(), "table": str(labels_path), "labels": list(result["labels"])})
    _print_verdict(verdict)
    raise typer.Exit(EXIT_BLOCKED if verdict.blocked and enforce else 0)


def _check_table(path: Path, label_column: str | None):
    """The label table, with --label-column standing in for llm_label."""
    from labelgate.contract import LLM_LABEL, read_table
    from labelgate.errors import BadInputError

    frame = read_table(path)
    if label_column is None:
        return frame
    if label_column not in frame.columns:
        raise BadInputError(path, "column given by --label-column is missing", column=label_column)
    return frame.drop(columns=[LLM_LABEL], errors="ignore").rename(columns={label_column: LLM_LABEL})


def _check_labels(frame, sources, option: str | None) -> tuple[tuple[str, ...], str]:
    from labelgate.config import BaseParams, section
    from labelgate.packaged import choose_labels

    given = _labels({}, option) if option else ()
    configured = section(sources.params, "base", BaseParams).labels
    return choose_labels(frame, option=given, configured=configured, params_from=sources.params_from)


VERDICT_WIDTH = 80  # the verdict table fits an 80-column terminal
_SUITE_SHORT = {"label_risk": "risk", "label_summary": "summary", "training_stability": "stability"}


def verdict_rows(verdict) -> tuple[list[str], list[list[str]], list[str]]:
    """The verdict table (header, rows, with empty columns dropped) and one note per failed or errored check."""
    header = ["suite", "check", "observed", "limit", "result"]
    rows, notes = [], []
    for o in verdict.outcomes:
        observed = o["observed"]
        status = o["status"]
        observed = f"{observed:.4f}" if isinstance(observed, float) else "" if observed is None else str(observed)
        observed = "n/a" if status == "skipped" else observed
        result = {"pass": "pass", "skipped": "skipped", "error": "ERROR"}.get(
            status, "FAIL" if o["severity"] == "block" else "warn")
        check = o["description"] or o.get("column") or o.get("expectation", "")
        if o["error"]:
            observed = "error"
            notes.append(f"{check}: could not be evaluated: {o['error']}")
        elif status == "fail" and o["mitigation"]:
            notes.append(f"{check}: {o['mitigation']}")
        rows.append([_SUITE_SHORT.get(o["suite"], o["suite"]), check, observed,
                     "" if status == "skipped" else o["threshold"], result])
    keep = [i for i in range(len(header)) if any(row[i] for row in rows)]
    return [header[i] for i in keep], [[row[i] for i in keep] for row in rows], notes


def _print_verdict(verdict) -> None:
    from rich.console import Console
    from rich.table import Table, box

    width = min(VERDICT_WIDTH, Console(stderr=False).width) if sys.stdout.isatty() else VERDICT_WIDTH
    console = Console(stderr=False, width=width, soft_wrap=False)
    header, rows, notes = verdict_rows(verdict)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, expand=False)
    style = {"pass": "green", "FAIL": "bold red", "ERROR": "bold red", "warn": "yellow", "skipped": "dim"}
    widths = [min(14, max(len(name), *(len(row[i]) for row in rows))) if rows else len(name)
              for i, name in enumerate(header)]
    if "check" in header:  # the description takes what the other columns leave, cut with an ellipsis
        at = header.index("check")
        widths[at] = max(12, width - 6 - sum(w for i, w in enumerate(widths) if i != at) - 2 * (len(header) - 1))
    for name, fixed in zip(header, widths):
        table.add_column(name, no_wrap=True, overflow="ellipsis", min_width=fixed, max_width=fixed)
    for row in rows:
        table.add_row(*row[:-1], f"[{style.get(row[-1], '')}]{row[-1]}[/]")
    console.print(f"[bold]labelgate verdict: {verdict.status.upper()}[/] ({verdict.reason})")
    if rows:
        console.print(table)
    for note in notes:
        console.print(f"- {note}", overflow="fold")
    if getattr(verdict, "label_error", None):
        from rich.markup import escape

        from labelgate.estimation import estimate_text

        estimate = verdict.label_error
        console.print(f"label_error_rate: {estimate_text(estimate)} ({escape(str(estimate['method']))})",
                      overflow="fold")
        for step in estimate["next_steps"]:
            console.print(f"  next: {escape(step)}", overflow="fold")
    console.print(f"[bold]{'BLOCKED' if verdict.blocked else 'PASSED'}[/]: {verdict.reason}")


@app.command("filter")
@run_command()
def filter_command(
    scores: Annotated[Path, typer.Argument(help="Per-example scores from `labelgate score` (Parquet).")],
    strategy: Annotated[str, typer.Option(help="raw | entropy | cleanlab | consensus | combined")],
    out: Annotated[Path, typer.Option(help="Training subset (Parquet: id, text, label).")],
    summary: Annotated[Path | None, typer.Option(help="Subset summary JSON; default OUT with .json.")] = None,
    label_risk: Annotated[Path | None, typer.Option(
        help="label_risk.json from `labelgate score`: its noise estimate is scaled per subset.")] = None,
    labels: LabelsOption = None,
    params: ParamsOption = None,
) -> None:
    """Write one mitigation subset (exit 1 when the class-balance guard refuses it)."""
    from labelgate.config import section
    from labelgate.contract import infer_labels, read_table
    from labelgate.filter import FilterParams, filter_subset
    from labelgate.outputs import read_json, refuse_overwriting_inputs, write_outputs

    summary = summary or out.with_suffix(".json")
    refuse_overwriting_inputs({"SCORES": scores, "--label-risk": label_risk, "--params": params},
                              {"--out": out, "--summary": summary})
    values = _params(params)
    frame = read_table(scores)
    label_set = list(infer_labels(frame, _labels(values, labels)))
    risk = read_json(label_risk) if label_risk else {}
    noise_rate = risk.get("metrics", {}).get("estimated_noise_rate")
    confidence = (risk.get("signals", {}).get("label_error") or {}).get("confidence_level") or 0.95
    subset, result = filter_subset(frame, strategy, section(values, "filter", FilterParams), label_set,
                                   source=str(scores), noise_rate=noise_rate, confidence=confidence)
    write_outputs((out, subset), (summary, result))  # both or neither
    estimate = ""
    if result.get("label_error_rate") is not None:
        from labelgate.estimation import estimate_text

        estimate = f"; label_error_rate {estimate_text(result)}"
    typer.echo(f"{strategy}: kept {result['rows_kept']}/{result['rows_in']} rows {result['kept_per_class']}{estimate}")


@app.command()
@run_command()
def reference(
    gold: Annotated[Path, typer.Argument(help="Gold pool: training texts with gold labels, columns 'text' and "
                                              "'label' (id optional); same label set as the LLM labels.")],
    out: Annotated[Path, typer.Option(help="Reference subset (Parquet: id, text, label).")],
    labels: LabelsOption = None,
    params: ParamsOption = None,
    expectations: ExpectationsOption = Path("expectations"),
) -> None:
    """Write the gold-label reference subset that the LLM-label subsets are compared with."""
    import pandas as pd

    from labelgate.contract import ID, TEXT, stable_id
    from labelgate.outputs import refuse_overwriting_inputs, write_table
    from labelgate.validate import validate_test_table

    from labelgate.contract import read_table
    from labelgate.errors import BadInputError

    refuse_overwriting_inputs({"GOLD": gold, "--params": params}, {"--out": out})
    label_set = _labels(_params(params), labels)
    for column in (TEXT, "label"):  # checked here so the message names the gold pool, not a test set
        if column not in read_table(gold).columns:
            raise BadInputError(gold, f"the gold pool needs columns 'text' and 'label' (the gold label of each "
                                      f"training text); '{column}' is missing", column=column)
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
    params: ParamsOption = None,
    expectations: ExpectationsOption = Path("expectations"),
    report_dir: Annotated[Path | None, typer.Option(
        "--report-dir", help="Also write report.html and summary.md here, blocked or not.")] = None,
    subsets: Annotated[Path, typer.Option(
        help="Filter subset summaries (*.json) for the report (with --report-dir).")] = Path("data/subsets"),
    curves: Annotated[Path, typer.Option(
        help="Learning-curve JSONs for the report (with --report-dir).")] = Path("metrics/learning_curve"),
    enforce: Annotated[bool, typer.Option(
        "--enforce/--no-enforce", help="Exit 1 when blocked (default). --no-enforce writes the verdict and exits 0 "
                                       "(a DVC stage DVC can cache); `labelgate enforce` then exits 1.")] = True,
    headline: HeadlineOption = None,
) -> None:
    """Run the GX suites over the figures given; exit 1 when a blocking expectation fails (fail closed)."""
    from labelgate.config import section
    from labelgate.contract import read_table
    from labelgate.gate import STABILITY_SUITE, GateParams, failed_gate_verdict, preflight, run_gate
    from labelgate.outputs import read_json, refuse_overwriting_inputs, write_json

    inputs = {"--scores": scores, "--label-risk": label_risk, "--evaluation": evaluation, "--params": params}
    reports = {"report.html": report_dir / "report.html", "summary.md": report_dir / "summary.md"} if report_dir else {}
    refuse_overwriting_inputs(inputs, {"--out": out, **reports})
    # Configuration errors (params, a broken suite, an unknown required figure) exit 2 before anything runs.
    gate_params = section(_params(params), "gate", GateParams)
    preflight(gate_params, tuple(suite for suite, given in (("label_risk", scores), ("label_summary", label_risk),
                                                             (STABILITY_SUITE, evaluation)) if given), expectations)
    try:
        verdict = run_gate(
            scores=read_table(scores) if scores else None,
            label_risk=read_json(label_risk) if label_risk else None,
            evaluation=read_json(evaluation) if evaluation else None,
            params=gate_params, expectations_dir=expectations,
        )
    except Exception as exc:  # fail closed: write a blocked verdict, then report the error
        failed = failed_gate_verdict(f"{type(exc).__name__}: {exc}").as_dict()
        write_json(out, failed)
        if headline is not None:
            from labelgate.headline import gate_headline

            write_json(headline, gate_headline(failed))
        _gate_report(report_dir, failed, scores=scores, label_risk=label_risk, evaluation=evaluation,
                     subsets=subsets, curves=curves)
        raise
    result = {**verdict.as_dict(), "subset": gate_params.subset}
    write_json(out, result)
    if headline is not None:
        from labelgate.headline import gate_headline

        write_json(headline, gate_headline(result, read_json(evaluation) if evaluation else None, gate_params.subset))
    _gate_report(report_dir, result, scores=scores, label_risk=label_risk, evaluation=evaluation,
                 subsets=subsets, curves=curves)
    _print_verdict(verdict)
    raise typer.Exit(EXIT_BLOCKED if verdict.blocked and enforce else 0)


@app.command()
@run_command(fail_closed=True)
def enforce(
    verdicts: Annotated[list[Path], typer.Argument(metavar="VERDICT...", help="Verdict JSONs of `labelgate gate` "
                                                                              "or `labelgate check --out`.")],
) -> None:
    """Exit 1 when a verdict says blocked (or cannot be read: fail closed), 0 when every one passed or warned."""
    import json

    from labelgate.errors import BadInputError
    from labelgate.verdict import BANNER, verdict_status

    blocked = False
    for path in verdicts:
        try:
            verdict = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BadInputError(path, "file not found") from None
        except (OSError, ValueError) as exc:
            raise BadInputError(path, f"not a readable verdict ({type(exc).__name__})") from None
        status = verdict_status(verdict if isinstance(verdict, dict) else {})
        blocked = blocked or status == "block"
        reason = verdict.get("reason", "") if isinstance(verdict, dict) else "not a verdict"
        typer.echo(f"{path}: {BANNER[status]} ({reason or 'no reason given'})")
    raise typer.Exit(EXIT_BLOCKED if blocked else 0)


def _gate_report(report_dir: Path | None, verdict: dict, **paths: Path | None) -> None:
    """The gate's report (--report-dir); a report that cannot be written warns and never changes the verdict."""
    if report_dir is None:
        return
    from labelgate.report import load_inputs, write_report

    try:
        inputs = load_inputs(**paths)
        inputs.verdict = verdict
        inputs.missing.pop("verdict", None)
        write_report(inputs, html_path=report_dir / "report.html", markdown_path=report_dir / "summary.md")
    except Exception as exc:  # noqa: BLE001 - the verdict stands either way
        typer.echo(f"labelgate gate: warning: report not written: {type(exc).__name__}: {exc}", err=True)


@app.command()
@run_command()
def annotate(
    texts: Annotated[Path, typer.Argument(help="Texts to label (.csv, .parquet, .jsonl) with a 'text' column; "
                                               "id, gold_label and other columns pass through.")],
    out: Annotated[Path, typer.Option("--out", help="Label table to write (.csv, .parquet or .jsonl).")],
    params: ParamsOption = None,
    labels: LabelsOption = None,
    progress: ProgressOption = None,
):
    """Label texts with an LLM (section annotate: of params.yaml): llm_label, llm_prob_*, annotator_* columns."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

    from labelgate.annotate import AnnotateParams, annotate_frame, resolve_labels
    from labelgate.config import section
    from labelgate.contract import read_table
    from labelgate.outputs import refuse_overwriting_inputs, write_table
    from labelgate.progress import progress as progress_display

    refuse_overwriting_inputs({"TEXTS": texts, "--params": params}, {"--out": out})
    values = _params(params)
    annotate_params = section(values, "annotate", AnnotateParams)
    label_set = resolve_labels(_labels(values, labels))
    frame = read_table(texts)
    columns = (TextColumn("annotate"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with progress_display(progress_mode(progress), *columns, transient=True) as bar:
        task = bar.add_task("annotate", total=None) if bar is not None else None
        report_progress = None if bar is None else (
            lambda done, total: bar.update(task, completed=done, total=total))
        table, report = annotate_frame(frame, label_set, annotate_params, source=str(texts), progress=report_progress)
    write_table(out, table)
    typer.echo(f"{out}: {report.summary()}")
    return report



# ----------------------------------------------------------------------------------------------------- train / evaluate

SubsetsDirOption = Annotated[Path, typer.Option("--subsets-dir", help="Folder of subset tables <NAME>.parquet.")]
GoldTestOption = Annotated[Path, typer.Option("--test", help="Gold test set (text, label).")]


def _subset_table(name: str, subsets_dir: Path, table: Path | None) -> Path:
    """The subset's table: --table when given, else <subsets-dir>/<name>.parquet (or .csv)."""
    if table is not None:
        return table
    for suffix in (".parquet", ".csv", ".jsonl"):
        candidate = subsets_dir / f"{name}{suffix}"
        if candidate.exists():
            return candidate
    return subsets_dir / f"{name}.parquet"  # read_table reports it missing


def _train_inputs(subset: str, params_path: Path, subsets_dir: Path, table: Path | None, test: Path):
    from labelgate.config import section
    from labelgate.train import TrainParams, read_test_table, read_training_table, resolve_labels

    values = _params(params_path)
    train_params = section(values, "train", TrainParams)
    train_path = _subset_table(subset, subsets_dir, table)
    frame = read_training_table(train_path)
    test_frame = read_test_table(test)
    label_set = resolve_labels(_labels(values, None), (frame, "label"), (test_frame, "label"))
    return values, train_params, train_path, frame, test_frame, label_set


@app.command()
@run_command()
def train(
    subset: Annotated[str, typer.Option("--subset", help="Subset name: trains on <subsets-dir>/<NAME>.parquet.")],
    seed: Annotated[int, typer.Option("--seed", help="Training seed (head init, dropout, batch order).")],
    params: ParamsOption = None,
    subsets_dir: SubsetsDirOption = Path("data/subsets"),
    table: Annotated[Path | None, typer.Option("--table", help="Train on this table instead (id, text, label).")] = None,
    test: GoldTestOption = Path("data/demo/test.csv"),
    out: Annotated[Path | None, typer.Option("--out", help="Run folder; default models/<NAME>/seed_<SEED>.")] = None,
    progress: ProgressOption = None,
) -> dict:
    """Fine-tune the encoder (params train.model) on one subset with one seed; save checkpoint and test probs."""
    from labelgate.outputs import atomic_dir, refuse_overwriting_inputs
    from labelgate.train import prefer_passive_omp_wait, save_run, train_run

    out = out or Path("models") / subset / f"seed_{seed}"
    refuse_overwriting_inputs({"--table": table, "--test": test, "--params": params}, {"--out": out})
    prefer_passive_omp_wait()  # before torch loads

    _, train_params, train_path, frame, test_frame, label_set = _train_inputs(subset, params, subsets_dir, table, test)
    result = train_run(frame, test_frame, label_set, train_params, subset=subset, seed=seed,
                       progress=progress_mode(progress),
                       train_path=train_path, test_path=test)
    with atomic_dir(out) as tmp:
        save_run(result, tmp)
    r = result.record
    typer.echo(f"train {subset} seed {seed}: n={r.n_train} test accuracy {r.test_accuracy:.4f}, "
               f"{r.train_samples_per_second:.0f} train/s, {r.inference_samples_per_second:.0f} infer/s, "
               f"{r.wall_seconds:.0f} s -> {out}")
    return r.as_dict()


@app.command("learning-curve")
@run_command()
def learning_curve_command(
    subset: Annotated[str, typer.Option("--subset", help="Subset name: <subsets-dir>/<NAME>.parquet.")],
    params: ParamsOption = None,
    subsets_dir: SubsetsDirOption = Path("data/subsets"),
    table: Annotated[Path | None, typer.Option("--table", help="Use this table instead (id, text, label).")] = None,
    test: GoldTestOption = Path("data/demo/test.csv"),
    full_run: Annotated[Path | None, typer.Option(
        "--full-run", help="Run folder of `train` with the curve's seed: its test probs stand in for fraction 1.0 "
                           "(skipped with a note when its settings differ).")] = None,
    reference_curve: Annotated[Path | None, typer.Option(
        "--reference", help="The reference subset's curve JSON (gap to reference; no flag without it).")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Curve JSON; default metrics/learning_curve/<NAME>.json.")] = None,
    progress: ProgressOption = None,
) -> dict:
    """Train one seed on growing fractions of a subset (no checkpoints); flag a premature plateau."""
    import pandas as pd

    from labelgate.config import section
    from labelgate.evaluate import EvaluateParams
    from labelgate.outputs import read_json, refuse_overwriting_inputs, write_json
    from labelgate.learning_curve import CurveParams, full_run_matches, learning_curve
    from labelgate.train import PROBS_FILE, RUN_FILE, prefer_passive_omp_wait, prob_column, texts_fingerprint

    out = out or Path("metrics/learning_curve") / f"{subset}.json"
    refuse_overwriting_inputs({"--table": table, "--test": test, "--reference": reference_curve, "--params": params},
                              {"--out": out})
    prefer_passive_omp_wait()  # before torch loads

    values, train_params, _, frame, test_frame, label_set = _train_inputs(subset, params, subsets_dir, table, test)
    curve_params = section(values, "learning_curve", CurveParams)
    reference_name = section(values, "evaluate", EvaluateParams).reference or None
    full_probs = None
    if full_run is not None:
        record = read_json(full_run / RUN_FILE)
        why = full_run_matches(record, seed=curve_params.seed, n_train=len(frame),
                               test_sha256=texts_fingerprint(test_frame["text"].tolist()), train_params=train_params)
        if why is None and list(record.get("labels", [])) == list(label_set):
            full_probs = pd.read_parquet(full_run / PROBS_FILE)[[prob_column(x) for x in label_set]].to_numpy(float)
        else:
            typer.echo(f"learning-curve: not reusing {full_run}: {why or 'its label set differs'}; retraining",
                       err=True)
    reference_accuracy = None
    if reference_curve is not None and reference_curve.exists():
        reference_accuracy = read_json(reference_curve).get("final_accuracy")
    result = learning_curve(frame, test_frame, label_set, train_params, curve_params, subset=subset,
                            full_run_probs=full_probs, reference_accuracy=reference_accuracy,
                            reference_name=reference_name,
                            progress=progress_mode(progress))
    write_json(out, result)
    points = ", ".join(f"{p['n']}: {p['accuracy']:.3f}" for p in result["points"])
    typer.echo(f"learning-curve {subset}: {points}; gain over last doubling {result['gain_last_doubling']}, "
               f"plateau {result['plateau']}")
    return result


@app.command("audit-reference")
@run_command()
def audit_reference(
    labels_path: Annotated[Path, typer.Argument(
        metavar="LABELS", help="Validated label table with gold_label on the audited rows (id, gold_label).")],
    subset: Annotated[str, typer.Option("--subset", help="Trained subset: <subsets-dir>/<NAME>.parquet.")] = "raw",
    params: ParamsOption = None,
    subsets_dir: SubsetsDirOption = Path("data/subsets"),
    table: Annotated[Path | None, typer.Option("--table", help="Use this subset table instead (id, text, label).")] = None,
    test: GoldTestOption = Path("data/demo/test.csv"),
    out: Annotated[Path, typer.Option("--out", help="Audit reference JSON.")] = Path("metrics/audit_reference.json"),
    progress: ProgressOption = None,
) -> dict:
    """Train the subset's audited rows with gold labels and with LLM labels (train seeds); write the gap."""
    from labelgate.audit_reference import AuditReferenceParams, audit_tables
    from labelgate.audit_reference import audit_reference as run_audit_reference
    from labelgate.config import section
    from labelgate.contract import read_table
    from labelgate.outputs import refuse_overwriting_inputs, write_json
    from labelgate.learning_curve import CurveParams
    from labelgate.train import prefer_passive_omp_wait

    prefer_passive_omp_wait()  # before torch loads
    refuse_overwriting_inputs({"LABELS": labels_path, "--table": table, "--test": test, "--params": params},
                              {"--out": out})

    values, train_params, _, frame, test_frame, label_set = _train_inputs(subset, params, subsets_dir, table, test)
    audit_params = section(values, "audit_reference", AuditReferenceParams)
    gold, llm = audit_tables(read_table(labels_path), frame, labels=label_set, path=str(labels_path))
    curve_params = section(values, "learning_curve", CurveParams)
    result = run_audit_reference(gold, llm, test_frame, label_set, train_params, curve_params, audit_params,
                                 subset=subset, progress=sys.stderr.isatty() if progress is None else progress,
                                 note=lambda line: typer.echo(line, err=True))
    write_json(out, result)
    if result["measured"]:
        typer.echo(f"audit-reference {subset}: {result['audit_rows']} audited rows, gold-trained accuracy "
                   f"{result['gold_accuracy_mean']:.4f}, LLM-trained {result['llm_accuracy_mean']:.4f}, gap "
                   f"{result['audit_accuracy_gap']:+.4f} [{result['audit_accuracy_gap_lower']:+.4f}, "
                   f"{result['audit_accuracy_gap_upper']:+.4f}] over {result['n_seeds']} seeds")
    else:
        typer.echo(f"audit-reference {subset}: not measured: {result['reason']}")
    return result


@app.command()
@run_command()
def evaluate(
    params: ParamsOption = None,
    models: Annotated[Path, typer.Option("--models", help="Folder of run folders <subset>/seed_<k>/.")] = Path("models"),
    test: GoldTestOption = Path("data/demo/test.csv"),
    curves: Annotated[Path | None, typer.Option(
        "--curves", help="Folder of learning-curve JSONs (optional).")] = Path("metrics/learning_curve"),
    audit: Annotated[Path | None, typer.Option(
        "--audit", help="Audit reference JSON from `labelgate audit-reference` (optional; absent: not measured).")
    ] = Path("metrics/audit_reference.json"),
    out: Annotated[Path, typer.Option("--out", help="Metrics JSON (DVC metrics).")] = Path("metrics/evaluate.json"),
    plots: Annotated[Path, typer.Option("--plots", help="Folder for DVC plot tables and PNGs.")] = Path(
        "plots/evaluate"),
    headline: HeadlineOption = None,
) -> dict:
    """Accuracy, macro-F1, seed stability (alpha, unchanged predictions), seed ensemble and gap to the reference."""
    from labelgate.config import section
    from labelgate.evaluate import EvaluateParams, evaluate_runs, load_curves, load_runs, plot_tables, write_plots
    from labelgate.outputs import atomic_dir, atomic_paths, read_json, refuse_overwriting_inputs, write_json_to
    from labelgate.learning_curve import CurveParams
    from labelgate.train import read_test_table

    refuse_overwriting_inputs({"--test": test, "--params": params, "--models": models, "--curves": curves,
                               "--audit": audit}, {"--out": out, "--plots": plots})
    values = _params(params)
    evaluate_params = section(values, "evaluate", EvaluateParams)
    curve_params = section(values, "learning_curve", CurveParams)
    test_frame = read_test_table(test)
    runs = load_runs(models, test_frame)
    curve_data = load_curves(curves)
    truth = test_frame["label"].astype(str).tolist()
    outside = sorted(set(truth) - set(runs.labels))
    if outside:
        from labelgate.errors import BadInputError

        raise BadInputError(test, f"labels {outside} are not in the runs' label set {list(runs.labels)}",
                            column="label")
    metrics = evaluate_runs(runs.probabilities, truth, runs.labels, reference=evaluate_params.reference or None,
                            curves=curve_data, curve_params=curve_params,
                            audit=read_json(audit) if audit is not None and audit.exists() else None)
    tables = plot_tables(metrics, runs.probabilities, truth, curve_data)
    outputs = [(out, metrics)]
    if headline is not None:
        from labelgate.headline import evaluate_headline

        outputs.append((headline, evaluate_headline(metrics)))
    with atomic_paths(*(path for path, _ in outputs)) as tmps, atomic_dir(plots) as tmp:  # all or nothing
        write_plots(tmp, tables, labels=runs.labels, png=evaluate_params.png)
        for tmp_path, (_, data) in zip(tmps, outputs):
            write_json_to(tmp_path, data)
    for name, m in metrics["subsets"].items():
        gap = m["accuracy_gap_to_reference"]
        alpha = m["krippendorff_alpha"]
        typer.echo(f"{name}: accuracy {m['accuracy_mean']:.4f} (std {m['accuracy_std'] or 0:.4f}, "
                   f"{m['n_seeds']} seeds), macro-F1 {m['macro_f1_mean']:.4f}, alpha "
                   f"{'n/a' if alpha is None else f'{alpha:.3f}'}, unchanged {m['unchanged_prediction_rate']:.3f}, "
                   f"gap {'n/a' if gap is None else f'{gap:+.4f}'}, plateau {m['plateau']}"
                   + (f", audit gap {m['audit_accuracy_gap']:+.4f}" if m.get("audit_accuracy_gap") is not None else ""))
    return metrics


@app.command()
@run_command()
def report(
    verdict: Annotated[Path, typer.Option("--verdict", help="Gate verdict JSON.")] = Path("metrics/gate.json"),
    label_risk: Annotated[Path, typer.Option(
        "--label-risk", help="label_risk.json from `labelgate score`.")] = Path("metrics/label_risk.json"),
    scores: Annotated[Path, typer.Option(
        "--scores", help="Per-example scores from `labelgate score`.")] = Path("data/scores.parquet"),
    evaluation: Annotated[Path, typer.Option(
        "--evaluation", help="evaluate.json from `labelgate evaluate`.")] = Path("metrics/evaluate.json"),
    subsets: Annotated[Path, typer.Option("--subsets", help="Folder of filter subset summaries (*.json).")] = Path(
        "data/subsets"),
    curves: Annotated[Path, typer.Option("--curves", help="Folder of learning-curve JSONs.")] = Path(
        "metrics/learning_curve"),
    html: Annotated[Path, typer.Option("--html", help="Self-contained HTML report to write.")] = Path(
        "reports/report.html"),
    markdown: Annotated[Path, typer.Option("--markdown", help="Markdown summary for a PR comment.")] = Path(
        "reports/summary.md"),
):
    """Write the HTML report and the Markdown PR summary from whatever inputs exist (missing ones are noted)."""
    from labelgate.errors import BadInputError
    from labelgate.outputs import refuse_overwriting_inputs
    from labelgate.report import BANNER, load_inputs, verdict_status, write_report

    refuse_overwriting_inputs({"--verdict": verdict, "--label-risk": label_risk, "--scores": scores,
                               "--evaluation": evaluation}, {"--html": html, "--markdown": markdown})
    inputs = load_inputs(verdict=verdict, label_risk=label_risk, scores=scores, evaluation=evaluation,
                         subsets=subsets, curves=curves)
    if not inputs.found():
        raise BadInputError(verdict.parent, "none of the report inputs exist; run `labelgate check` or `dvc repro`")
    write_report(inputs, html_path=html, markdown_path=markdown)
    for name, why in inputs.missing.items():
        typer.echo(f"report: no {name}: {why}", err=True)
    typer.echo(f"report: {html} and {markdown} (verdict {BANNER[verdict_status(inputs.verdict)]})")
    return inputs


@app.command()
@run_command()
def init(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Existing repository to wire labelgate into.")] = Path(
        "."),
    texts: Annotated[str | None, typer.Option(
        "--texts", help="Texts to annotate (text; id, gold_label optional), relative to DIR.")] = None,
    labels_table: Annotated[str | None, typer.Option(
        "--labels-table", help="An existing LLM label table instead (no annotate stage), relative to DIR.")] = None,
    test: Annotated[str | None, typer.Option("--test", help="Gold test set (text, label), relative to DIR.")] = None,
    audit: Annotated[str | None, typer.Option(
        "--audit", help="Gold pool (text, label) for the gold-label reference run, relative to DIR.")] = None,
    labels: Annotated[str | None, typer.Option("--labels", help="Comma-separated label set, e.g. a,b,c.")] = None,
    annotator: Annotated[str, typer.Option("--annotator", help="local | openai")] = "local",
    install: Annotated[str | None, typer.Option(
        "--install", help="pip requirement the PR workflow installs; default labelgate[demo]==<this version>, "
                          "or e.g. 'labelgate[demo] @ git+https://github.com/OWNER/labelgate@TAG'.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace files that differ instead of refusing.")] = False,
    dvc: Annotated[bool, typer.Option(
        "--dvc/--no-dvc", help="Run `dvc init` when DIR is a git repository without .dvc/.")] = True,
) -> list[Path]:
    """Write dvc.yaml, params.yaml, expectations/, the PR workflow and .gitignore entries wired to your data.

    Missing options are asked for on a terminal, else written as TODO markers. Re-running never clobbers."""
    from labelgate.scaffold import InitOptions, apply_plan, dvc_init, ensure_dvcignore, next_steps, plan_files

    if _interactive() and not (texts or labels_table or test):
        texts, labels_table, test, audit, labels = _ask_init(texts, labels_table, test, audit, labels)
    options = InitOptions(texts=texts, labels_table=labels_table, test=test, audit=audit,
                          labels=tuple(x.strip() for x in (labels or "").split(",") if x.strip()),
                          annotator=annotator, install=install or "")
    plan = plan_files(directory, options, force=force)
    for f in plan.refused:
        typer.echo(f"labelgate init: {f.path}: {f.note}", err=True)
    written = apply_plan(directory, plan)
    for f in plan.files:
        typer.echo(f.line())
    if plan.strategies_note:
        typer.echo(plan.strategies_note)
    if options.todo():
        typer.echo(f"TODO: {', '.join(options.todo())} not given: dvc.yaml holds TODO_ paths that `dvc repro` "
                   "will name")
    typer.echo(dvc_init(directory) if dvc else "dvc: skipped `dvc init` (--no-dvc)")
    typer.echo(ensure_dvcignore(directory))
    typer.echo(next_steps(directory, options))
    return written


audit_app = typer.Typer(
    name="audit", help="The gold audit: choose rows for a human to label, merge the labels back.",
    no_args_is_help=True,
)
app.add_typer(audit_app, name="audit")


@audit_app.command("sample")
@run_command(name="audit sample")
def audit_sample(
    table: Annotated[Path, typer.Argument(help="Scores from `labelgate score` (risk-aware) or a label table.")],
    out: Annotated[Path, typer.Option("--out", help="Audit sheet to write: .csv, .jsonl or .json (Label Studio, "
                                                    "Argilla).")],
    size: Annotated[int | None, typer.Option(help="Rows to audit; default params audit.size.")] = None,
    oversample: Annotated[float | None, typer.Option(
        help="Weight of the riskiest rows (1 = proportional); default params audit.oversample.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed; default params audit.seed.")] = None,
    labels: LabelsOption = None,
    params: ParamsOption = None,
) -> dict:
    """Choose rows for a human gold audit: stratified by LLM label, optionally over-sampling risky rows; each row
    carries audit_weight (1 / inclusion probability) so the estimates stay unbiased."""
    import dataclasses

    from labelgate.audit import AuditParams, sample_audit, write_export
    from labelgate.config import build, section
    from labelgate.contract import infer_labels, read_table

    values = _params(params)
    overrides = {k: v for k, v in (("size", size), ("oversample", oversample), ("seed", seed)) if v is not None}
    audit_params = build(AuditParams, {**dataclasses.asdict(section(values, "audit", AuditParams)), **overrides},
                         section="audit")
    frame = read_table(table)
    for column in ("text", "llm_label"):
        if column not in frame.columns:
            from labelgate.errors import BadInputError

            raise BadInputError(table, "required column missing", column=column)
    export, summary = sample_audit(frame, list(infer_labels(frame, _labels(values, labels))), audit_params)
    write_export(out, export)
    typer.echo(f"audit sample: {summary['chosen']} of {summary['candidates']} unaudited rows -> {out} "
               f"(risk: {summary['risk'] or 'none'}, oversample {summary['oversample']:g}); per stratum "
               f"{summary['per_stratum']}")
    return summary


@audit_app.command("merge")
@run_command(name="audit merge")
def audit_merge(
    table: Annotated[Path, typer.Argument(help="The label table the audit was sampled from.")],
    annotations: Annotated[Path, typer.Argument(help="The labelled audit sheet (.csv, .jsonl, .json, Label "
                                                     "Studio JSON export).")],
    out: Annotated[Path, typer.Option("--out", help="Label table with gold_label (and audit_weight) filled.")],
    gold_column: Annotated[str, typer.Option(
        "--gold-column", help="Column of the human's label in the annotations.")] = "gold_label",
    labels: LabelsOption = None,
    params: ParamsOption = None,
) -> dict:
    """Bring the human's labels back into the label table as gold_label, with the audit weights."""
    from labelgate.audit import merge_audit, read_annotations
    from labelgate.contract import infer_labels, read_table
    from labelgate.outputs import write_table

    frame = read_table(table)
    label_set = list(infer_labels(frame, _labels(_params(params), labels)))
    merged, summary = merge_audit(frame, read_annotations(annotations, gold_column), label_set,
                                  gold_column=gold_column, source=str(annotations))
    write_table(out, merged)
    typer.echo(f"audit merge: {summary['merged']} gold labels merged ({summary['unlabelled']} rows of the sheet "
               f"unlabelled); {summary['audited_rows']} audited rows in {out}")
    return summary


def _interactive() -> bool:
    return sys.stdin.isatty()


def _ask_init(texts, labels_table, test, audit, labels):
    """Prompt for what init needs (a terminal only); an empty answer leaves a TODO marker."""
    table = typer.prompt("Existing LLM label table (empty: annotate texts with an LLM)", default="",
                         show_default=False)
    if table:
        labels_table = table
    else:
        texts = typer.prompt("Texts to annotate (CSV/Parquet/JSONL with a 'text' column)", default="",
                             show_default=False) or None
    test = typer.prompt("Gold test set (text, label)", default="", show_default=False) or None
    audit = typer.prompt("Gold pool for a reference run (text, label; empty: none)", default="",
                         show_default=False) or audit
    labels = typer.prompt("Label set, comma-separated (empty: inferred)", default="", show_default=False) or labels
    return texts, labels_table or None, test, audit, labels


@app.command("queue-grid")
@run_command()
def queue_grid(
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", min=1, help=(
        "Parallel queue workers; default: the number of GPUs, else 1."))] = None,
    subsets: Annotated[str | None, typer.Option(help="Comma-separated subsets; default every one in dvc.yaml.")] = None,
    seeds: Annotated[str | None, typer.Option(help="Comma-separated seeds; default every one in dvc.yaml.")] = None,
    overrides: Annotated[Path | None, typer.Option(help=(
        "YAML of params sections to merge into params.yaml first (e.g. params-gpu.yaml)."))] = None,
    run: Annotated[bool, typer.Option("--run/--queue-only", help=(
        "Start the workers, wait, then `dvc repro` (cells come from the run-cache); or only queue."))] = True,
    params: ParamsOption = Path("params.yaml"),
    timeout: Annotated[float | None, typer.Option(help="Give up waiting after this many seconds.")] = None,
) -> list[str]:
    """Run the train grid (subsets x seeds) as queued DVC experiments on parallel workers, one GPU each."""
    from labelgate import grid
    from labelgate.config import load_params

    if overrides is not None:
        values = load_params(overrides)
        grid.apply_overrides(params, values)
        typer.echo(f"{params}: merged {overrides} ({' '.join(grid.override_flags(values))})")
    chosen = grid.select_cells(
        grid.train_cells(), subsets=[s.strip() for s in subsets.split(",") if s.strip()] if subsets else (),
        seeds=[int(k) for k in seeds.split(",") if k.strip()] if seeds else ())
    names = grid.queue_cells(chosen)
    typer.echo(f"queued {len(names)} experiment(s): {', '.join(c.stage for c in chosen)}")
    if not run:
        typer.echo("next: dvc queue start -j N; when `dvc queue status` shows them done: dvc repro")
        return names
    workers = jobs or max(1, grid.gpu_count())
    grid.run_queue(names, jobs=workers, timeout_s=timeout, say=lambda line: typer.echo(f"queue: {line}"))
    typer.echo(f"all {len(names)} experiment(s) succeeded on {workers} worker(s); dvc repro collects them")
    done = grid.run_dvc(["repro"])
    typer.echo(done.stdout.rstrip())
    return names


def entry() -> None:  # pragma: no cover - console-script shim
    sys.exit(app())
