"""Stage `report`: one self-contained HTML page and a Markdown PR summary of a labelgate run.

inputs (reading the run's files), plots (every plot, Figure API; `evaluate` draws its PNGs with it too), html (the
page, from Jinja2 templates) and markdown (the PR comment). `write_report` writes both files atomically.
"""

from __future__ import annotations

from pathlib import Path

from labelgate.report.inputs import PathLike, ReportInputs, load_inputs
from labelgate.verdict import BANNER, verdict_status  # noqa: F401 - re-exported for the CLI

__all__ = ["BANNER", "ReportInputs", "describe", "load_inputs", "main", "verdict_status", "write_report"]


def write_report(inputs: ReportInputs, *, html_path: PathLike | None = None,
                 markdown_path: PathLike | None = None) -> list[Path]:
    """Write the HTML page and/or the Markdown summary atomically; return the paths written."""
    from labelgate.outputs import atomic_paths
    from labelgate.report.html import build_html
    from labelgate.report.markdown import build_markdown

    texts: dict[Path, str] = {}
    if html_path is not None:
        texts[Path(html_path)] = build_html(inputs)
    if markdown_path is not None:
        name = Path(html_path).name if html_path is not None else None
        texts[Path(markdown_path)] = build_markdown(inputs, html_name=name)
    with atomic_paths(*texts) as tmps:  # both or neither
        for tmp, text in zip(tmps, texts.values()):
            tmp.write_text(text, encoding="utf-8")
    return list(texts)


def main(*, verdict: PathLike, label_risk: PathLike, scores: PathLike, evaluation: PathLike, subsets: PathLike,
         curves: PathLike, audit_reference: PathLike, before: PathLike | None, html: PathLike,
         markdown: PathLike) -> ReportInputs:
    """The report stage on files: read whatever inputs exist and write the HTML page and the Markdown summary.
    Raises BadInputError for a `before` file that is absent or unreadable, and when none of the run's inputs exist
    (the audit reference or `before` alone make no report)."""
    from labelgate.errors import BadInputError

    if before is not None and not Path(before).exists():
        raise BadInputError(before, "file not found (the base commit's label_risk.json)")
    inputs = load_inputs(verdict=verdict, label_risk=label_risk, scores=scores, evaluation=evaluation,
                         subsets=subsets, curves=curves, audit_reference=audit_reference, before=before)
    if before is not None and "before" in inputs.missing:
        raise BadInputError(before, inputs.missing["before"])
    if not set(inputs.found()) - {"audit_reference", "before"}:  # those two alone make no report
        raise BadInputError(Path(verdict).parent, "none of the report inputs exist; run `labelgate check` or "
                                                  "`dvc repro`")
    write_report(inputs, html_path=html, markdown_path=markdown)
    return inputs


def describe(inputs: ReportInputs, html: PathLike, markdown: PathLike) -> str:
    """The command's last line: the two files written and the verdict they show."""
    return f"report: {html} and {markdown} (verdict {BANNER[verdict_status(inputs.verdict)]})"
