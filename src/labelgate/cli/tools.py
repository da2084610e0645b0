"""The commands that set a repository up or feed the pipeline: init (scaffold), the audit round trip (audit sample,
audit merge) and queue-grid."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from labelgate.cli.base import LabelsOption, ParamsOption, _params, _seed, app, run_command
from labelgate.vocabulary import GOLD


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
    label_config: Annotated[Path | None, typer.Option(
        "--label-config", help="Also write Label Studio's labelling config for the sheet (.xml): the text and a "
                               "single-choice `gold_label` control with the label set.")] = None,
    labels: LabelsOption = None,
    params: ParamsOption = None,
) -> dict:
    """Choose the next wave of rows for a human gold audit: rows no earlier wave drew, stratified by LLM label,
    optionally over-sampling risky rows; each row carries its wave and audit_weight (1 / inclusion probability)."""
    from labelgate.audit.stage import describe_sample, sample_main
    from labelgate.outputs import refuse_overwriting_inputs

    refuse_overwriting_inputs({"TABLE": table, "--params": params}, {"--out": out, "--label-config": label_config})
    overrides = {k: v for k, v in (("size", size), ("oversample", oversample), ("seed", _seed("--seed", seed)))
                 if v is not None}
    summary = sample_main(table, out, params=_params(params), labels=labels, overrides=overrides,
                          show_llm_label=show_llm_label, label_config=label_config)
    typer.echo(describe_sample(summary, out, label_config))
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
    from labelgate.audit.stage import describe_merge, merge_main
    from labelgate.outputs import refuse_overwriting_inputs

    refuse_overwriting_inputs({"ANNOTATIONS": annotations, "--params": params}, {"--out": out})
    summary = merge_main(table, annotations, out, params=_params(params), labels=labels, gold_column=gold_column)
    for line in describe_merge(summary, out):
        typer.echo(line)
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
