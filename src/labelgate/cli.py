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
                if _debug():
                    traceback.print_exc()
                typer.echo(f"labelgate {_name(func)}: error: {_one_line(exc)}", err=True)
                raise typer.Exit(exc.exit_code) from None
            except Exception as exc:  # noqa: BLE001 - the CLI boundary: anything else is reported, never swallowed
                if _debug():
                    traceback.print_exc()
                typer.echo(f"labelgate {_name(func)}: internal error: {_library(exc)}{type(exc).__name__}: "
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
    params: ParamsOption = None,
    expectations: ExpectationsOption = Path("expectations"),
) -> None:
    """Check a label table against the data contract (GX suite expectations/label_contract.json)."""
    from labelgate.io import refuse_overwriting_inputs, write_table

    refuse_overwriting_inputs({"LABELS": labels_path, "--params": params}, {"--out": out})
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
    params: ParamsOption = None,
    expectations: ExpectationsOption = Path("expectations"),
) -> None:
    """Score the risk signals of a label set: entropy, cleanlab label issues, agreement, audit, class balance."""
    from labelgate.io import refuse_overwriting_inputs, write_outputs

    refuse_overwriting_inputs({"LABELS": labels_path, "--test": test, "--params": params},
                              {"--out": out, "--summary": summary})
    rows, result = _score(labels_path, params, labels, test, expectations)
    write_outputs((out, rows), (summary, result))  # both or neither
    shown = ", ".join(f"{k}={v:.3f}" for k, v in result["metrics"].items() if v is not None)
    typer.echo(f"scored {result['n_rows']} rows: {shown}")


@app.command()
@run_command(fail_closed=True)
def check(
    labels_path: Annotated[Path, typer.Argument(metavar="LABELS", help="Label table (.csv, .parquet, .jsonl).")],
    test: TestOption = None,
    labels: LabelsOption = None,
    params: ParamsOption = None,
    expectations: ExpectationsOption = Path("expectations"),
    out: Annotated[Path | None, typer.Option(help="Also write the verdict JSON here.")] = None,
) -> None:
    """Validate, score and run the label-level expectations in one go: exit 0 pass, 1 blocked, 2 bad input."""
    from labelgate.config import section
    from labelgate.gate import LABEL_SUITES, GateParams, preflight, run_gate
    from labelgate.io import refuse_overwriting_inputs, write_json

    refuse_overwriting_inputs({"LABELS": labels_path, "--test": test, "--params": params}, {"--out": out})
    gate_params = section(_params(params), "gate", GateParams)
    preflight(gate_params, LABEL_SUITES, expectations)  # a broken suite or gate.required: exit 2 before scoring
    rows, result = _score(labels_path, params, labels, test, expectations)
    verdict = run_gate(scores=rows, label_risk=result, evaluation=None, params=gate_params,
                       expectations_dir=expectations)
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
    label_risk: Annotated[Path | None, typer.Option(
        help="label_risk.json from `labelgate score`: its noise estimate is scaled per subset.")] = None,
    labels: LabelsOption = None,
    params: ParamsOption = None,
) -> None:
    """Write one mitigation subset (exit 1 when the class-balance guard refuses it)."""
    from labelgate.config import section
    from labelgate.contract import infer_labels, read_table
    from labelgate.filter import FilterParams, filter_subset
    from labelgate.io import read_json, refuse_overwriting_inputs, write_outputs

    summary = summary or out.with_suffix(".json")
    refuse_overwriting_inputs({"SCORES": scores, "--label-risk": label_risk, "--params": params},
                              {"--out": out, "--summary": summary})
    values = _params(params)
    frame = read_table(scores)
    label_set = list(infer_labels(frame, _labels(values, labels)))
    noise_rate = read_json(label_risk).get("metrics", {}).get("estimated_noise_rate") if label_risk else None
    subset, result = filter_subset(frame, strategy, section(values, "filter", FilterParams), label_set,
                                   source=str(scores), noise_rate=noise_rate)
    write_outputs((out, subset), (summary, result))  # both or neither
    typer.echo(f"{strategy}: kept {result['rows_kept']}/{result['rows_in']} rows {result['kept_per_class']}")


@app.command()
@run_command()
def reference(
    gold: Annotated[Path, typer.Argument(help="Gold training labels (text, label; id optional).")],
    out: Annotated[Path, typer.Option(help="Reference subset (Parquet: id, text, label).")],
    labels: LabelsOption = None,
    params: ParamsOption = None,
    expectations: ExpectationsOption = Path("expectations"),
) -> None:
    """Write the gold-label reference subset that the LLM-label subsets are compared with."""
    import pandas as pd

    from labelgate.contract import ID, TEXT, stable_id
    from labelgate.io import refuse_overwriting_inputs, write_table
    from labelgate.validate import validate_test_table

    refuse_overwriting_inputs({"GOLD": gold, "--params": params}, {"--out": out})
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
    params: ParamsOption = None,
    expectations: ExpectationsOption = Path("expectations"),
    report_dir: Annotated[Path | None, typer.Option(
        "--report-dir", help="Also write report.html and summary.md here, blocked or not.")] = None,
    subsets: Annotated[Path, typer.Option(
        help="Filter subset summaries (*.json) for the report (with --report-dir).")] = Path("data/subsets"),
    curves: Annotated[Path, typer.Option(
        help="Learning-curve JSONs for the report (with --report-dir).")] = Path("metrics/learning_curve"),
) -> None:
    """Run the GX suites over the figures given; exit 1 when a blocking expectation fails (fail closed)."""
    from labelgate.config import section
    from labelgate.contract import read_table
    from labelgate.gate import STABILITY_SUITE, GateParams, failed_gate_verdict, preflight, run_gate
    from labelgate.io import read_json, refuse_overwriting_inputs, write_json

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
        _gate_report(report_dir, failed, scores=scores, label_risk=label_risk, evaluation=evaluation,
                     subsets=subsets, curves=curves)
        raise
    result = {**verdict.as_dict(), "subset": gate_params.subset}
    write_json(out, result)
    _gate_report(report_dir, result, scores=scores, label_risk=label_risk, evaluation=evaluation,
                 subsets=subsets, curves=curves)
    _print_verdict(verdict)
    raise typer.Exit(EXIT_BLOCKED if verdict.blocked else 0)


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
):
    """Label texts with an LLM (section annotate: of params.yaml): llm_label, llm_prob_*, annotator_* columns."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from labelgate.annotate import AnnotateParams, annotate_frame, resolve_labels
    from labelgate.config import section
    from labelgate.contract import read_table
    from labelgate.io import refuse_overwriting_inputs, write_table

    refuse_overwriting_inputs({"TEXTS": texts, "--params": params}, {"--out": out})
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



# ----------------------------------------------------------------------------------------------------- train / evaluate

SubsetsDirOption = Annotated[Path, typer.Option("--subsets-dir", help="Folder of subset tables <NAME>.parquet.")]
GoldTestOption = Annotated[Path, typer.Option("--test", help="Gold test set (text, label).")]
ProgressOption = Annotated[
    bool | None, typer.Option("--progress/--no-progress", help="Progress bars on stderr; default: when a terminal.")
]


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
    from labelgate.io import atomic_dir, refuse_overwriting_inputs
    from labelgate.train import prefer_passive_omp_wait, save_run, train_run

    out = out or Path("models") / subset / f"seed_{seed}"
    refuse_overwriting_inputs({"--table": table, "--test": test, "--params": params}, {"--out": out})
    prefer_passive_omp_wait()  # before torch loads

    _, train_params, train_path, frame, test_frame, label_set = _train_inputs(subset, params, subsets_dir, table, test)
    result = train_run(frame, test_frame, label_set, train_params, subset=subset, seed=seed,
                       progress=sys.stderr.isatty() if progress is None else progress,
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
    from labelgate.io import read_json, refuse_overwriting_inputs, write_json
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
                            progress=sys.stderr.isatty() if progress is None else progress)
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
    from labelgate.io import refuse_overwriting_inputs, write_json
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
) -> dict:
    """Accuracy, macro-F1, seed stability (alpha, unchanged predictions), seed ensemble and gap to the reference."""
    from labelgate.config import section
    from labelgate.evaluate import EvaluateParams, evaluate_runs, load_curves, load_runs, plot_tables, write_plots
    from labelgate.io import atomic_dir, atomic_path, read_json, refuse_overwriting_inputs, write_json_to
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
    with atomic_path(out) as tmp_out, atomic_dir(plots) as tmp:  # the metrics and the plots, both or neither
        write_plots(tmp, tables, labels=runs.labels, png=evaluate_params.png)
        write_json_to(tmp_out, metrics)
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
    from labelgate.io import refuse_overwriting_inputs
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
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Existing repository to scaffold into.")] = Path(
        "."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite files that already exist.")] = False,
    dvc: Annotated[bool, typer.Option(
        "--dvc/--no-dvc", help="Run `dvc init` when DIR is a git repository without .dvc/.")] = True,
) -> list[Path]:
    """Scaffold dvc.yaml, params.yaml, expectations/*.json and the PR workflow into a repository."""
    from labelgate.init import dvc_init, next_steps, scaffold_files, write_scaffold

    written = write_scaffold(directory, scaffold_files(), force=force)
    for path in written:
        typer.echo(f"wrote {path}")
    typer.echo(dvc_init(directory) if dvc else "dvc: skipped `dvc init` (--no-dvc)")
    typer.echo(next_steps(directory))
    return written


def entry() -> None:  # pragma: no cover - console-script shim
    sys.exit(app())
