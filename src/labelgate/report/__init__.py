"""Stage `report`: one self-contained HTML page and a Markdown PR summary of a labelgate run.

inputs (reading the run's files), plots (every plot, Figure API; `evaluate` draws its PNGs with it too), html (the
page, from Jinja2 templates) and markdown (the PR comment). `write_report` writes both files atomically.
"""

from __future__ import annotations

from pathlib import Path

from labelgate.report.inputs import PathLike, ReportInputs, load_inputs
from labelgate.verdict import BANNER, verdict_status  # noqa: F401 - re-exported for the CLI

__all__ = ["BANNER", "ReportInputs", "load_inputs", "verdict_status", "write_report"]


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
