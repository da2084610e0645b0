"""The HTML report: one self-contained page rendered from the Jinja2 templates in report/templates/ (autoescape on).

Python prepares each section's data (texts and plots); the templates hold the markup, so every value taken from an
input (label names, descriptions, reasons) is HTML-escaped by Jinja2. The page loads nothing from outside: inline
CSS (templates/report.css), plots as inline base64 PNGs (labelgate.report.plots), and a Content-Security-Policy that
allows only data: images and the page's own style and script by hash. The one script (templates/report.js) marks
<body> once every image has decoded (`data-images-decoded`, `data-image-count`, `data-images-ok`), which the
browser test reads. A section whose input is missing, or that fails to render, shows a note instead.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Callable
from importlib.resources import files
from typing import Any

from labelgate.report.blockers import blockers_section
from labelgate.report.inputs import ReportInputs, counts_text, one_line, verdict_reason
from labelgate.report.sections import (
    Missing,
    accuracy_loss_section,
    before_after_section,
    entropy_section,
    label_error_section,
    label_set_section,
    learning_curves_section,
    noise_matrix_section,
    seeds_section,
    subsets_section,
    verdict_section,
)
from labelgate.verdict import BANNER, verdict_status

TEMPLATES = "templates"


@functools.cache
def _environment():
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(loader=PackageLoader("labelgate.report", TEMPLATES), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


@functools.cache
def _static(name: str) -> str:
    return (files("labelgate.report") / TEMPLATES / name).read_text(encoding="utf-8")


def _csp_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii") + "'"


def content_security_policy() -> str:
    """Nothing from outside: data: images, and only the page's own style and script (by hash)."""
    return (f"default-src 'none'; img-src data:; style-src {_csp_hash(_static('report.css'))}; "
            f"script-src {_csp_hash(_static('report.js'))}; base-uri 'none'; form-action 'none'")


# (anchor, heading, data, template): the page's sections in order.
SECTIONS: tuple[tuple[str, str, Callable[[ReportInputs], dict[str, Any]], str], ...] = (
    ("verdict", "Verdict", verdict_section, "verdict"),
    ("blockers", "What blocks, and the numbers behind it", blockers_section, "blockers"),
    ("before-after", "Before -> after (base commit)", before_after_section, "before_after"),
    ("accuracy-loss", "Accuracy loss (what these labels cost the trained model)", accuracy_loss_section,
     "accuracy_loss"),
    ("label-error", "Label error rate (gold audit)", label_error_section, "label_error"),
    ("label-set", "Label-set figures", label_set_section, "label_set"),
    ("entropy", "Entropy of the LLM labels per class", entropy_section, "entropy"),
    ("noise-matrix", "cleanlab noise matrix", noise_matrix_section, "noise_matrix"),
    ("seeds", "Seed scores per subset", seeds_section, "seeds"),
    ("learning-curves", "Learning curves", learning_curves_section, "learning_curves"),
    ("subsets", "Filter subsets", subsets_section, "subsets"),
)


def _section(inputs: ReportInputs, anchor: str, title: str, data: Callable[[ReportInputs], dict[str, Any]],
             template: str) -> str:
    section = _environment().get_template("section.html.j2")
    context = {"anchor": anchor, "title": title, "template": f"sections/{template}.html.j2", "note": None}
    try:
        return section.render(context, data=data(inputs))
    except Missing as missing:
        return section.render(context, note=str(missing))
    except Exception as exc:  # noqa: BLE001 - a malformed input costs its section, not the report
        return section.render(context, note=f"Could not render this section: {type(exc).__name__}: {one_line(exc)}")


def banner(inputs: ReportInputs) -> dict[str, str]:
    """The verdict banner: status, reason, outcome counts and the gated subset."""
    verdict = inputs.verdict
    status = verdict_status(verdict)
    extra = []
    if verdict is not None:
        extra.append(counts_text(verdict))
        if verdict.get("subset"):
            extra.append(f"gated subset: {verdict['subset']}")
    return {"css": status or "none", "status": BANNER[status], "reason": verdict_reason(verdict, inputs),
            "counts": " · ".join(extra)}


def build_html(inputs: ReportInputs) -> str:
    """The whole report page as one self-contained HTML string."""
    from markupsafe import Markup

    sections = [Markup(_section(inputs, *section)) for section in SECTIONS
                if section[0] != "before-after" or "before" in inputs.sources]  # only when asked for
    sources = ", ".join(f"{name}: {path}" for name, path in inputs.sources.items() if name not in inputs.missing)
    return _environment().get_template("page.html.j2").render(
        csp=content_security_policy(), css=Markup(_static("report.css")), script=Markup(_static("report.js")),
        banner=banner(inputs), sections=sections, version=_version(), sources=sources or "none")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("labelgate")
    except PackageNotFoundError:
        return "(not installed)"
