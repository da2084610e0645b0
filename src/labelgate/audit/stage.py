"""The audit commands on files: `sample_main` (`labelgate audit sample`) and `merge_main` (`labelgate audit merge`)
read the table, call the pure functions of sample.py and merge.py and write the sheet or the table, all or nothing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from labelgate.audit.annotations import read_annotations
from labelgate.audit.merge import merge_audit
from labelgate.audit.sample import AuditSampleParams, label_studio_config, sample_audit, write_export
from labelgate.contract import GOLD, LLM_LABEL, TEXT, read_table
from labelgate.errors import BadInputError


# ----------------------------------------------------------------------------------------------- reading sheets


# ---------------------------------------------------------------------------------------------------- the design


# ----------------------------------------------------------------------------------------------------- merging


def sample_main(table: str | os.PathLike, out: str | os.PathLike, *, params: dict[str, Any],
                labels: str | None = None, overrides: dict[str, Any] | None = None,
                show_llm_label: bool = False, label_config: str | os.PathLike | None = None) -> dict[str, Any]:
    """`labelgate audit sample` on files: params `audit:` with the command's `overrides` (size, oversample, seed),
    the audit sheet to `out` and, with `label_config`, Label Studio's labelling config for it (both or neither).
    Returns the sample's summary."""
    import dataclasses

    from labelgate.config import base_labels, build, section
    from labelgate.contract import resolve_labels

    audit_params = build(AuditSampleParams, {**dataclasses.asdict(section(params, "audit", AuditSampleParams)),
                                             **(overrides or {})}, section="audit")
    frame = read_table(table)
    for column in (TEXT, LLM_LABEL):
        if column not in frame.columns:
            raise BadInputError(table, "required column missing", column=column)
    _refuse_labelled_sheet(out)
    label_set = list(resolve_labels(base_labels(params), frame, option=labels))
    export, summary = sample_audit(frame, label_set, audit_params, show_llm_label=show_llm_label, source=str(table))
    if not len(export):
        raise BadInputError(table, "no row left to draw: every row has a gold label or was drawn by an earlier "
                                   "wave (label the drawn rows left blank)")
    if label_config is None:
        write_export(out, export)
        return summary
    from labelgate.outputs import atomic_path

    with atomic_path(label_config) as tmp:  # moved into place only once the sheet is written
        tmp.write_text(label_studio_config(label_set), encoding="utf-8")
        write_export(out, export)
    return summary


def _refuse_labelled_sheet(out: str | os.PathLike) -> None:
    """A new sheet must not replace one that holds a person's labels (an earlier wave, perhaps not merged yet)."""
    if not Path(out).is_file():
        return
    try:
        sheet = read_annotations(out, GOLD)
    except BadInputError:  # not a readable sheet: an ordinary file to replace
        return
    if GOLD in sheet.columns and sheet[GOLD].notna().any():
        raise BadInputError(out, f"holds {int(sheet[GOLD].notna().sum())} gold labels (a labelled audit sheet); "
                                 "write the new wave to another path", column=GOLD)


def merge_main(table: str | os.PathLike, annotations: str | os.PathLike, out: str | os.PathLike, *,
               params: dict[str, Any], labels: str | None = None, gold_column: str = GOLD) -> dict[str, Any]:
    """`labelgate audit merge` on files: the human's labels from `annotations` into the table as gold_label, the
    design recorded and the weights derived, written to `out`. A merge that changes nothing rewrites nothing: `out`
    is left alone when it is the table, else becomes a byte copy of it. Returns the merge's summary."""
    import shutil

    from labelgate.config import base_labels
    from labelgate.contract import resolve_labels
    from labelgate.outputs import atomic_path, table_suffix, write_table

    table_suffix(out)
    if Path(annotations).resolve() == Path(table).resolve():
        raise BadInputError(annotations, "ANNOTATIONS is the same file as TABLE; merge the sheet `audit sample` wrote")
    frame = read_table(table)
    for column in (TEXT, LLM_LABEL):
        if column not in frame.columns:
            raise BadInputError(table, "required column missing", column=column)
    label_set = list(resolve_labels(base_labels(params), frame, option=labels))
    merged, summary = merge_audit(frame, read_annotations(annotations, gold_column), label_set,
                                  gold_column=gold_column, source=str(annotations), table_source=str(table))
    same_file = Path(out).resolve() == Path(table).resolve()
    if summary["changed"]:
        write_table(out, merged)
    elif not same_file:
        if Path(out).suffix.lower() != Path(table).suffix.lower():
            write_table(out, merged)
        else:
            with atomic_path(out) as tmp:
                shutil.copyfile(table, tmp)
    return summary


def describe_sample(summary: dict[str, Any], out: str | os.PathLike,
                    label_config: str | os.PathLike | None = None) -> str:
    """`audit sample`'s line: the wave, how many rows it drew of those not drawn yet, the risk used, per stratum,
    and where Label Studio's config went (with --label-config)."""
    return (f"audit sample: wave {summary['wave']}, {summary['chosen']} of {summary['candidates']} rows not "
            f"drawn yet -> {out} (risk: {summary['risk'] or 'none'}, oversample {summary['oversample']:g}); "
            f"per stratum {summary['per_stratum']}; "
            + ("blind: the LLM label is not shown" if summary["blind"] else "the LLM label is shown")
            + (f"; Label Studio config -> {label_config}" if label_config is not None else ""))


def describe_merge(summary: dict[str, Any], out: str | os.PathLike) -> list[str]:
    """`audit merge`'s lines: the labels merged and left blank, then what the design assumes or lacks."""
    blanks = [f"{summary['unlabelled']} rows of the sheet unlabelled"]
    blanks += [f"{summary[k]} {k}" for k in ("cancelled", "unresolved") if summary[k]]
    lines = [f"audit merge: {summary['merged']} gold labels merged ({', '.join(blanks)}); "
             f"{summary['audited_rows']} audited rows in {out}"
             + ("" if summary["changed"] else " (unchanged: nothing rewritten)")]
    if summary["legacy_rows"]:
        lines.append(f"audit merge: {summary['legacy_rows']} rows audited before any recorded design (wave 0) are "
                     "treated as a simple random sample of the table")
    if summary["missing_rows"]:
        lines.append(f"audit merge: {summary['missing_rows']} drawn rows have no gold label "
                     f"(audit_missing_share {summary['audit_missing_share']:.3f}): label them; above "
                     "gate.max_audit_missing_share the gate blocks")
    if summary["unmeasured_labels"]:
        lines.append(f"audit merge: no audited row with LLM label {', '.join(summary['unmeasured_labels'])}")
    return lines
