"""The `labelgate` command line: each command parses its options, refuses an output over an input, loads
params.yaml and calls its stage module's `main` (docs/architecture.md lists which).

Exit codes: 0 pass, 1 blocked by the gate, 2 bad input or usage. Errors print one line on stderr (`--debug` or
LABELGATE_DEBUG=1 adds the traceback); the gate fails closed, so any unexpected error inside `gate` or `check` exits
1, never 0.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer
import typer.core

from labelgate.errors import EXIT_BAD_INPUT, EXIT_BLOCKED, LabelgateError
from labelgate.progress import progress_mode
from labelgate.vocabulary import GOLD

class _OneLineUsageErrors(typer.core.TyperGroup):
    """The command group with usage errors in one line on stderr ("labelgate check: error: Missing argument
    'LABELS'. (see labelgate check --help)", exit 2) instead of a multi-line box, as every other labelgate error."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
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
    from labelgate import reference as stage
    from labelgate.config import base_labels
    from labelgate.contract import resolve_labels
    from labelgate.outputs import refuse_overwriting_inputs

    refuse_overwriting_inputs({"GOLD": gold, "--params": params}, {"--out": out})
    subset = stage.main(gold, out, labels=resolve_labels(base_labels(_params(params)), option=labels),
                        expectations_dir=expectations)
    typer.echo(f"reference: {len(subset)} gold-labelled rows")


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
    verdict = stage.main(scores=scores, label_risk=label_risk, evaluation=evaluation, out=out,
                         params=section(_params(params), "gate", stage.GateParams), expectations_dir=expectations,
                         headline=headline, report_dir=report_dir, subsets=subsets, curves=curves,
                         warn=lambda line: typer.echo(line, err=True))
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
    from labelgate.annotate.stage import main as annotate_texts
    from labelgate.outputs import refuse_overwriting_inputs

    refuse_overwriting_inputs({"TEXTS": texts, "--params": params}, {"--out": out})
    report = annotate_texts(texts, out, params=_params(params), labels=labels, progress=progress_mode(progress))
    typer.echo(f"{out}: {report.summary()}")
    return report


SubsetsDirOption = Annotated[Path, typer.Option("--subsets-dir", help="Folder of subset tables <NAME>.parquet.")]
GoldTestOption = Annotated[Path, typer.Option("--test", help="Gold test set (text, label).")]


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
    from labelgate.outputs import refuse_overwriting_inputs
    from labelgate.train.device import prefer_passive_omp_wait
    from labelgate.train.run import main as train_subset

    _seed("--seed", seed)
    out = out or Path("models") / subset / f"seed_{seed}"
    refuse_overwriting_inputs({"--table": table, "--test": test, "--params": params}, {"--out": out})
    prefer_passive_omp_wait()  # before torch loads
    result = train_subset(subset, seed, out, params=_params(params), test=test, subsets_dir=subsets_dir, table=table,
                          progress=progress_mode(progress))
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
    from labelgate import learning_curve as stage
    from labelgate.outputs import refuse_overwriting_inputs
    from labelgate.train.device import prefer_passive_omp_wait

    out = out or Path("metrics/learning_curve") / f"{subset}.json"
    refuse_overwriting_inputs({"--table": table, "--test": test, "--reference": reference_curve, "--params": params},
                              {"--out": out})
    prefer_passive_omp_wait()  # before torch loads
    result = stage.main(subset, out, params=_params(params), test=test, subsets_dir=subsets_dir, table=table,
                        full_run=full_run, reference_curve=reference_curve, progress=progress_mode(progress),
                        warn=lambda line: typer.echo(line, err=True))
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
    from labelgate import audit_reference as stage
    from labelgate.outputs import refuse_overwriting_inputs
    from labelgate.train.device import prefer_passive_omp_wait

    prefer_passive_omp_wait()  # before torch loads
    refuse_overwriting_inputs({"LABELS": labels_path, "--table": table, "--test": test, "--params": params},
                              {"--out": out})
    result = stage.main(labels_path, out, params=_params(params), subset=subset, test=test, subsets_dir=subsets_dir,
                        table=table, progress=sys.stderr.isatty() if progress is None else progress,
                        note=lambda line: typer.echo(line, err=True))
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
    from labelgate import evaluate as stage
    from labelgate.outputs import refuse_overwriting_inputs

    refuse_overwriting_inputs({"--test": test, "--params": params, "--models": models, "--curves": curves,
                               "--audit": audit}, {"--out": out, "--plots": plots, "--headline": headline})
    metrics = stage.main(params=_params(params), models=models, test=test, curves=curves, audit=audit, out=out,
                         plots=plots, headline=headline)
    for line in stage.describe(metrics):
        typer.echo(line)
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
    audit_reference: Annotated[Path, typer.Option(
        "--audit-reference", help="audit_reference.json from `labelgate audit-reference`.")] = Path(
        "metrics/audit_reference.json"),
    before: Annotated[Path | None, typer.Option(
        "--before", help="The base commit's label_risk.json (e.g. `git show main:metrics/label_risk.json > "
                         "before.json`): the summary shows before -> after for the headline figures.")] = None,
):
    """Write the HTML report and the Markdown PR summary from whatever inputs exist (missing ones are noted)."""
    from labelgate.errors import BadInputError
    from labelgate.outputs import refuse_overwriting_inputs
    from labelgate.report import BANNER, load_inputs, verdict_status, write_report

    refuse_overwriting_inputs({"--verdict": verdict, "--label-risk": label_risk, "--scores": scores,
                               "--evaluation": evaluation, "--subsets": subsets, "--curves": curves,
                               "--audit-reference": audit_reference,
                               **({"--before": before} if before is not None else {})},
                              {"--html": html, "--markdown": markdown})
    if before is not None and not before.exists():
        raise BadInputError(before, "file not found (the base commit's label_risk.json)")
    inputs = load_inputs(verdict=verdict, label_risk=label_risk, scores=scores, evaluation=evaluation,
                         subsets=subsets, curves=curves, audit_reference=audit_reference, before=before)
    if before is not None and "before" in inputs.missing:
        raise BadInputError(before, inputs.missing["before"])
    if not set(inputs.found()) - {"audit_reference", "before"}:  # those two alone make no report
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
    gold_pool: Annotated[str | None, typer.Option(
        "--gold-pool", help="Gold pool: texts with gold labels (text, label), at least as many rows as the label "
                            "table, for the gold-label reference run; relative to DIR. Not the audited rows.")] = None,
    audit: Annotated[str | None, typer.Option("--audit", hidden=True, help="Renamed --gold-pool.")] = None,
    labels: Annotated[str | None, typer.Option("--labels", help="Comma-separated label set, e.g. a,b,c.")] = None,
    annotator: Annotated[str, typer.Option("--annotator", help="local | openai")] = "local",
    install: Annotated[str | None, typer.Option(
        "--install", help="pip requirement the PR workflow installs; default: how this labelgate was installed "
                          "(labelgate[demo]==<version> from a package index, or its git URL and commit); needed "
                          "for a local or editable install, e.g. 'labelgate[demo] @ "
                          "git+https://github.com/OWNER/labelgate@TAG'.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace files that differ instead of refusing.")] = False,
    dvc: Annotated[bool, typer.Option(
        "--dvc/--no-dvc", help="Run `dvc init` when DIR is a git repository without .dvc/.")] = True,
) -> list[Path]:
    """Write dvc.yaml, params.yaml, expectations/, the PR workflow and .gitignore entries wired to your data.

    Missing options are asked for on a terminal, else written as TODO markers. Re-running never clobbers."""
    from labelgate.scaffold import InitOptions
    from labelgate.scaffold import main as scaffold

    from labelgate.errors import ConfigError

    if audit is not None:
        raise ConfigError("--audit was renamed --gold-pool (a separate gold-labelled training set; the audited rows "
                          "stay in the table's gold_label column)")
    if _interactive() and not (texts or labels_table or test):
        texts, labels_table, test, gold_pool, labels = _ask_init(texts, labels_table, test, gold_pool, labels)
    options = InitOptions(texts=texts, labels_table=labels_table, test=test, gold_pool=gold_pool,
                          labels=tuple(x.strip() for x in (labels or "").split(",") if x.strip()),
                          annotator=annotator, install=install or "")
    return scaffold(directory, options, force=force, dvc=dvc, say=typer.echo,
                    warn=lambda line: typer.echo(line, err=True))


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
    show_llm_label: Annotated[bool, typer.Option(
        "--show-llm-label", help="Show the LLM's label (and the stratum and risk) in the sheet; default: a blind "
                                 "audit (docs/audit.md says why).")] = False,
    labels: LabelsOption = None,
    params: ParamsOption = None,
) -> dict:
    """Choose the next wave of rows for a human gold audit: rows no earlier wave drew, stratified by LLM label,
    optionally over-sampling risky rows; each row carries its wave and audit_weight (1 / inclusion probability)."""
    from labelgate.audit import sample_main
    from labelgate.outputs import refuse_overwriting_inputs

    refuse_overwriting_inputs({"TABLE": table, "--params": params}, {"--out": out})
    overrides = {k: v for k, v in (("size", size), ("oversample", oversample), ("seed", _seed("--seed", seed)))
                 if v is not None}
    summary = sample_main(table, out, params=_params(params), labels=labels, overrides=overrides,
                          show_llm_label=show_llm_label)
    typer.echo(f"audit sample: wave {summary['wave']}, {summary['chosen']} of {summary['candidates']} rows not "
               f"drawn yet -> {out} (risk: {summary['risk'] or 'none'}, oversample {summary['oversample']:g}); "
               f"per stratum {summary['per_stratum']}; "
               + ("blind: the LLM label is not shown" if summary["blind"] else "the LLM label is shown"))
    return summary


@audit_app.command("merge")
@run_command(name="audit merge")
def audit_merge(
    table: Annotated[Path, typer.Argument(help="The label table the audit was sampled from.")],
    annotations: Annotated[Path, typer.Argument(help="The labelled audit sheet (.csv, .jsonl, .json, Label "
                                                     "Studio JSON export), every drawn row, blank if unlabelled.")],
    out: Annotated[Path, typer.Option("--out", help="Label table with gold_label, the audit design (audit_wave, "
                                                    "audit_inclusion) and audit_weight; may be TABLE itself.")],
    gold_column: Annotated[str, typer.Option(
        "--gold-column", help="Column of the human's label in the annotations.")] = GOLD,
    labels: LabelsOption = None,
    params: ParamsOption = None,
) -> dict:
    """Bring the human's labels back into the label table as gold_label, record the sample's design and derive
    every audited row's weight (docs/audit.md)."""
    from labelgate.audit import merge_main
    from labelgate.outputs import refuse_overwriting_inputs

    refuse_overwriting_inputs({"ANNOTATIONS": annotations, "--params": params}, {"--out": out})
    summary = merge_main(table, annotations, out, params=_params(params), labels=labels, gold_column=gold_column)
    blanks = [f"{summary['unlabelled']} rows of the sheet unlabelled"]
    blanks += [f"{summary[k]} {k}" for k in ("cancelled", "unresolved") if summary[k]]
    typer.echo(f"audit merge: {summary['merged']} gold labels merged ({', '.join(blanks)}); "
               f"{summary['audited_rows']} audited rows in {out}"
               + ("" if summary["changed"] else " (unchanged: nothing rewritten)"))
    if summary["legacy_rows"]:
        typer.echo(f"audit merge: {summary['legacy_rows']} rows audited before any recorded design (wave 0) are "
                   "treated as a simple random sample of the table")
    if summary["missing_rows"]:
        typer.echo(f"audit merge: {summary['missing_rows']} drawn rows have no gold label "
                   f"(audit_missing_share {summary['audit_missing_share']:.3f}): label them; above "
                   "gate.max_audit_missing_share the gate blocks")
    if summary["unmeasured_labels"]:
        typer.echo(f"audit merge: no audited row with LLM label {', '.join(summary['unmeasured_labels'])}")
    return summary


def _interactive() -> bool:
    return sys.stdin.isatty()


def _ask_init(texts, labels_table, test, gold_pool, labels):
    """Prompt for what init needs (a terminal only); an empty answer leaves a TODO marker."""
    table = typer.prompt("Existing LLM label table (empty: annotate texts with an LLM)", default="",
                         show_default=False)
    if table:
        labels_table = table
    else:
        texts = typer.prompt("Texts to annotate (CSV/Parquet/JSONL with a 'text' column)", default="",
                             show_default=False) or None
    test = typer.prompt("Gold test set (text, label)", default="", show_default=False) or None
    gold_pool = typer.prompt("Gold pool for a reference run (text, label; empty: none)", default="",
                             show_default=False) or gold_pool
    labels = typer.prompt("Label set, comma-separated (empty: inferred)", default="", show_default=False) or labels
    return texts, labels_table or None, test, gold_pool, labels


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
    from labelgate.grid import main as run_grid

    return run_grid(params, overrides=overrides,
                    subsets=[s.strip() for s in subsets.split(",") if s.strip()] if subsets else (),
                    seeds=[int(k) for k in seeds.split(",") if k.strip()] if seeds else (), run=run, jobs=jobs,
                    timeout_s=timeout, say=typer.echo)
