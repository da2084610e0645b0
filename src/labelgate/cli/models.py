"""The commands that run a model (annotate, train, learning-curve, audit-reference, evaluate) and the report.
Each parses its options, refuses an output over an input, and calls its stage's `main`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from labelgate.cli.base import (
    GoldTestOption,
    HeadlineOption,
    LabelsOption,
    ParamsOption,
    ProgressOption,
    SubsetsDirOption,
    _params,
    _seed,
    app,
    run_command,
)
from labelgate.progress import progress_mode


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


@app.command()
@run_command()
def train(
    subset: Annotated[str, typer.Option("--subset", help="Subset name: trains on <subsets-dir>/<NAME>.parquet.")],
    seed: Annotated[int, typer.Option("--seed", help="Training seed (head init, dropout, batch order).")],
    test: GoldTestOption,
    params: ParamsOption = None,
    subsets_dir: SubsetsDirOption = Path("data/subsets"),
    table: Annotated[Path | None, typer.Option("--table", help="Train on this table instead (id, text, label).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Run folder; default models/<NAME>/seed_<SEED>.")] = None,
    progress: ProgressOption = None,
) -> dict:
    """Fine-tune the encoder (params train.model) on one subset with one seed; save checkpoint and test probs."""
    from labelgate.outputs import refuse_overwriting_inputs
    from labelgate.train.device import prefer_passive_omp_wait
    from labelgate.train.run import describe
    from labelgate.train.run import main as train_subset

    _seed("--seed", seed)
    out = out or Path("models") / subset / f"seed_{seed}"
    refuse_overwriting_inputs({"--table": table, "--test": test, "--params": params}, {"--out": out})
    prefer_passive_omp_wait()  # before torch loads
    result = train_subset(subset, seed, out, params=_params(params), test=test, subsets_dir=subsets_dir, table=table,
                          progress=progress_mode(progress))
    typer.echo(describe(result.record, subset, seed, out))
    return result.record.as_dict()


@app.command("learning-curve")
@run_command()
def learning_curve_command(
    subset: Annotated[str, typer.Option("--subset", help="Subset name: <subsets-dir>/<NAME>.parquet.")],
    test: GoldTestOption,
    params: ParamsOption = None,
    subsets_dir: SubsetsDirOption = Path("data/subsets"),
    table: Annotated[Path | None, typer.Option("--table", help="Use this table instead (id, text, label).")] = None,
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
    typer.echo(stage.describe(result, subset))
    return result


@app.command("audit-reference")
@run_command()
def audit_reference(
    labels_path: Annotated[Path, typer.Argument(
        metavar="LABELS", help="Validated label table with gold_label on the audited rows (id, gold_label).")],
    test: GoldTestOption,
    subset: Annotated[str, typer.Option("--subset", help="Trained subset: <subsets-dir>/<NAME>.parquet.")] = "raw",
    params: ParamsOption = None,
    subsets_dir: SubsetsDirOption = Path("data/subsets"),
    table: Annotated[Path | None, typer.Option("--table", help="Use this subset table instead (id, text, label).")] = None,
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
    typer.echo(stage.describe(result, subset))
    return result


@app.command()
@run_command()
def evaluate(
    test: GoldTestOption,
    params: ParamsOption = None,
    models: Annotated[Path, typer.Option("--models", help="Folder of run folders <subset>/seed_<k>/.")] = Path("models"),
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
    from labelgate import report as stage
    from labelgate.outputs import refuse_overwriting_inputs

    refuse_overwriting_inputs({"--verdict": verdict, "--label-risk": label_risk, "--scores": scores,
                               "--evaluation": evaluation, "--subsets": subsets, "--curves": curves,
                               "--audit-reference": audit_reference,
                               **({"--before": before} if before is not None else {})},
                              {"--html": html, "--markdown": markdown})
    inputs = stage.main(verdict=verdict, label_risk=label_risk, scores=scores, evaluation=evaluation,
                        subsets=subsets, curves=curves, audit_reference=audit_reference, before=before, html=html,
                        markdown=markdown)
    for name, why in inputs.missing.items():
        typer.echo(f"report: no {name}: {why}", err=True)
    typer.echo(stage.describe(inputs, html, markdown))
    return inputs
