"""The commands on the label set and its verdict: validate, score, check, filter, reference, gate, enforce,
policy-diff. Each parses its options, refuses an output over an input, and calls its stage's `main`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from labelgate.cli.base import (
    ExpectationsOption,
    HeadlineOption,
    LabelsOption,
    ParamsOption,
    TestOption,
    _echo,
    _params,
    _show,
    app,
    run_command,
)
from labelgate.errors import EXIT_BLOCKED


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
    from labelgate import validate as stage
    from labelgate.outputs import refuse_overwriting_inputs

    refuse_overwriting_inputs({"LABELS": labels_path, "--params": params}, {"--out": out})
    table = stage.main(labels_path, params=_params(params), labels=labels, expectations_dir=expectations, out=out)
    typer.echo(f"{labels_path}: ok, {len(table.frame)} rows, labels {', '.join(table.labels)}")


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
    from labelgate import score as stage
    from labelgate.outputs import refuse_overwriting_inputs

    refuse_overwriting_inputs({"LABELS": labels_path, "--test": test, "--params": params},
                              {"--out": out, "--summary": summary, "--headline": headline})
    say = (lambda message: typer.echo(f"score: {message}", err=True)) if sys.stderr.isatty() else None
    result = stage.main(labels_path, out, summary, params=_params(params), labels=labels, test=test,
                        expectations_dir=expectations, headline=headline, say=say)
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
    from labelgate import check as stage
    from labelgate.outputs import refuse_overwriting_inputs
    from labelgate.verdict import print_verdict

    refuse_overwriting_inputs({"LABELS": labels_path, "--test": test, "--params": params}, {"--out": out})
    verdict, _ = stage.main(labels_path, params=params, expectations=expectations, labels=labels, test=test,
                            label_column=label_column, out=out, say=_echo)
    _show(print_verdict, verdict)  # `check | head`: the exit code is still the verdict's
    raise typer.Exit(EXIT_BLOCKED if verdict.blocked and enforce else 0)


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
    from labelgate import filter as stage
    from labelgate.outputs import refuse_overwriting_inputs

    summary = summary or out.with_suffix(".json")
    refuse_overwriting_inputs({"SCORES": scores, "--label-risk": label_risk, "--params": params},
                              {"--out": out, "--summary": summary})
    result = stage.main(scores, strategy, out, summary, params=_params(params), labels=labels, label_risk=label_risk)
    typer.echo(stage.describe(result, strategy))


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
    from labelgate import reference as stage
    from labelgate.config import base_labels
    from labelgate.contract import resolve_labels
    from labelgate.outputs import refuse_overwriting_inputs

    refuse_overwriting_inputs({"GOLD": gold, "--params": params}, {"--out": out})
    subset = stage.main(gold, out, labels=resolve_labels(base_labels(_params(params)), option=labels),
                        expectations_dir=expectations)
    typer.echo(stage.describe(subset))


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
    from labelgate import gate as stage
    from labelgate.config import section
    from labelgate.outputs import refuse_overwriting_inputs
    from labelgate.verdict import print_verdict

    inputs = {"--scores": scores, "--label-risk": label_risk, "--evaluation": evaluation, "--params": params}
    reports = {"report.html": report_dir / "report.html", "summary.md": report_dir / "summary.md"} if report_dir else {}
    folders = {"--subsets": subsets, "--curves": curves} if report_dir else {}
    refuse_overwriting_inputs({**inputs, **folders}, {"--out": out, "--headline": headline, **reports})
    from labelgate.train.params import TrainParams

    settings = _params(params)
    verdict = stage.main(scores=scores, label_risk=label_risk, evaluation=evaluation, out=out,
                         params=section(settings, "gate", stage.GateParams), expectations_dir=expectations,
                         headline=headline, report_dir=report_dir, subsets=subsets, curves=curves,
                         warn=lambda line: typer.echo(line, err=True), train=section(settings, "train", TrainParams))
    _show(print_verdict, verdict)
    raise typer.Exit(EXIT_BLOCKED if verdict.blocked and enforce else 0)


@app.command()
@run_command(fail_closed=True)
def enforce(
    verdicts: Annotated[list[Path], typer.Argument(metavar="VERDICT...", help="Verdict JSONs of `labelgate gate` "
                                                                              "or `labelgate check --out`.")],
    report: Annotated[str, typer.Option("--report", help="Where the reviewer reads why (named in the last line "
                                                         "when blocked).")] = "reports/summary.md",
) -> None:
    """Exit 1 when a verdict says blocked (or cannot be read: fail closed), 0 when every one passed or warned.

    Blocked, it prints each blocker and then one line, `labelgate: BLOCKED - see reports/summary.md`, so the
    `dvc repro` error that follows (failed to reproduce 'enforce') reads as the verdict, not a crash."""
    from labelgate.verdict import ENFORCE_BLOCKED
    from labelgate.verdict import enforce as enforce_verdicts

    if enforce_verdicts(verdicts, say=_echo):
        typer.echo(ENFORCE_BLOCKED.format(report=report), err=True)
        raise typer.Exit(EXIT_BLOCKED)
    raise typer.Exit(0)


@app.command("policy-diff")
@run_command(fail_closed=True)
def policy_diff(
    base_params: Annotated[Path, typer.Option(
        "--base-params", help="params.yaml of the base branch (e.g. from `git show origin/main:params.yaml`).")],
    base_expectations: Annotated[Path | None, typer.Option(
        "--base-expectations", help="expectations/ folder of the base branch (e.g. from `git archive`); without "
                                    "it only the gate: sections are compared.")] = None,
    params: Annotated[Path | None, typer.Option(
        "--params", help="This branch's params.yaml [default: params.yaml; absent: every gate default].")] = None,
    expectations: Annotated[Path, typer.Option(
        "--expectations", help="This branch's folder of GX suites.")] = Path("expectations"),
    allow_change: Annotated[bool, typer.Option(
        "--allow-change", help="Print the changes but exit 0 (the PR workflow passes it when the pull request "
                               "carries the label gate-policy-change).")] = False,
) -> list[str]:
    """Compare the gate policy (params gate: and expectations/) with the base branch's: one line per change, exit 1
    when anything changed (a PR must not loosen the gate that checks it), 0 when unchanged or --allow-change."""
    from labelgate import policy as stage

    lines = stage.main(base_params=base_params, base_expectations=base_expectations, params=params,
                       expectations=expectations)
    for line in lines:
        typer.echo(line)
    if not lines:
        typer.echo(f"gate policy unchanged against the base branch ({base_params}"
                   f"{', ' + str(base_expectations) if base_expectations else ''})")
        return lines
    if allow_change:
        typer.echo(f"policy-diff: {len(lines)} change(s) allowed (--allow-change: label {stage.ALLOW_LABEL})")
        return lines
    raise typer.Exit(EXIT_BLOCKED)
