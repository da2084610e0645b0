"""Stage 7, report: one self-contained HTML page and a Markdown PR summary of a labelgate run.

Inputs (each optional; a section whose input is missing or unreadable says so instead of failing):
  verdict      metrics/gate.json          banner (PASSED / WARN / BLOCKED and why), the verdict table and next steps
  label_risk   metrics/label_risk.json    the audit's label error rate, label-set figures, the cleanlab noise matrix
  scores       data/scores.parquet        per-example normalised entropy: a histogram per LLM label
  evaluation   metrics/evaluate.json      accuracy and macro-F1 per subset and seed
  curves       metrics/learning_curve/    learning-curve points per subset (else evaluate.json
                                          subsets.*.learning_curve when it holds points)
  subsets      data/subsets/*.json        the filter subsets' summaries

The page loads nothing from outside: inline CSS, plots as inline base64 PNGs drawn with matplotlib's Agg canvas
(no pyplot state), and a Content-Security-Policy that allows only data: images and the page's own style and script
by hash. The one script marks <body> once every image has decoded (`data-images-decoded`), which the browser test
reads. Every string taken from an input (label names, descriptions, reasons) is HTML-escaped in the page and
Markdown-escaped in the summary; plots draw label names with mathtext off.

`load_inputs` reads files and never raises for a missing or malformed one; `build_html` and `build_markdown` are
pure; `write_report` writes both atomically.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelgate.estimation import estimate_text
from labelgate.verdict import BANNER, verdict_status  # noqa: F401 - re-exported for the CLI

SCORE_COLUMNS = ("llm_label", "entropy_normalised")
MAX_HISTOGRAM_CLASSES = 12  # the most frequent classes get a histogram; the rest are named
MAX_ANNOTATED_CLASSES = 12  # heatmap cells carry their value up to this many classes
MARKDOWN_MAX_CHECKS = 15  # failed expectations listed in the PR summary; the rest are counted
MARKDOWN_MAX_SUBSETS = 10
STRATEGY_ORDER = ("raw", "entropy", "cleanlab", "consensus", "combined")

MARKDOWN_ICON = {"pass": "✅", "warn": "⚠️", "block": "❌", None: "❔"}

# Label-set figures (label_risk.json `metrics`) in reading order, with their names in the report.
METRIC_NAMES = {
    "label_error_rate": "label error rate (gold audit)",
    "label_error_rate_lower": "label error rate, lower bound",
    "label_error_rate_upper": "label error rate, upper bound",
    "n_audited": "audited rows",
    "systematic_error_share": "systematic share of audited errors (cleanlab misses them)",
    "text_error_auc": "audited errors predictable from the text (AUC)",
    "estimated_noise_rate": "estimated noise rate (cleanlab)",
    "label_issue_rate": "label-issue rate (cleanlab)",
    "audit_accuracy": "audit accuracy",
    "audit_accuracy_lower": "audit accuracy, lower bound",
    "median_normalised_entropy": "median normalised entropy",
    "high_entropy_rate": "high-entropy rate",
    "annotator_alpha": "annotator alpha",
    "agreement_rate": "all-agree rate",
    "class_balance_tvd": "class-balance TVD vs gold",
}


@dataclass
class ReportInputs:
    """What the report draws from; None (or empty) where an input is absent, with the reason in `missing`."""

    verdict: dict[str, Any] | None = None
    label_risk: dict[str, Any] | None = None
    scores: pd.DataFrame | None = None  # llm_label and entropy_normalised only
    evaluation: dict[str, Any] | None = None
    curves: dict[str, dict[str, Any]] = field(default_factory=dict)  # subset -> curve JSON
    subsets: dict[str, dict[str, Any]] = field(default_factory=dict)  # strategy -> subset summary
    missing: dict[str, str] = field(default_factory=dict)  # input name -> why it is absent
    sources: dict[str, str] = field(default_factory=dict)  # input name -> path it came from

    def found(self) -> list[str]:
        """Names of the inputs that were read."""
        return [name for name in self.sources if name not in self.missing]


# ----------------------------------------------------------------------------------------------------- loading


PathLike = str | os.PathLike


def load_inputs(
    *,
    verdict: PathLike | None = None,
    label_risk: PathLike | None = None,
    scores: PathLike | None = None,
    evaluation: PathLike | None = None,
    subsets: PathLike | None = None,
    curves: PathLike | None = None,
) -> ReportInputs:
    """Read whichever inputs exist. A missing or malformed file is noted in `missing`, never raised."""
    inputs = ReportInputs()
    for name, path in (("verdict", verdict), ("label_risk", label_risk), ("evaluation", evaluation)):
        setattr(inputs, name, _read(inputs, name, path, _json_object))
    inputs.scores = _read(inputs, "scores", scores, _score_table)
    inputs.subsets = _read(inputs, "subsets", subsets, _subset_summaries) or {}
    inputs.curves = _read(inputs, "curves", curves, _curve_files) or {}
    return inputs


def _read(inputs: ReportInputs, name: str, path: PathLike | None, reader: Callable[[Path], Any]):
    if path is None:
        inputs.missing[name] = "not given"
        return None
    path = Path(path)
    inputs.sources[name] = str(path)
    if not path.exists():
        inputs.missing[name] = f"{path} not found"
        return None
    try:
        return reader(path)
    except Exception as exc:  # noqa: BLE001 - a bad input costs its section, not the report
        inputs.missing[name] = f"{path}: could not read ({type(exc).__name__}: {_one_line(exc)})"
        return None


def _json_object(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def _score_table(path: Path) -> pd.DataFrame:
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        names = set(pq.read_schema(path).names)
        frame = pd.read_parquet(path, columns=[c for c in SCORE_COLUMNS if c in names])
    else:
        from labelgate.contract import read_table

        frame = read_table(path)
    return frame[[c for c in SCORE_COLUMNS if c in frame.columns]]


def _subset_summaries(folder: Path) -> dict[str, dict[str, Any]]:
    if not folder.is_dir():
        raise ValueError("not a folder")
    found = {}
    for path in sorted(folder.glob("*.json")):
        data = _json_object(path)
        if "rows_kept" in data:  # other JSON files in the folder are not subset summaries
            found[str(data.get("strategy") or path.stem)] = data
    return dict(sorted(found.items(), key=lambda item: _strategy_rank(item[0])))


def _curve_files(folder: Path) -> dict[str, dict[str, Any]]:
    if not folder.is_dir():
        raise ValueError("not a folder")
    found = {}
    for path in sorted(folder.glob("*.json")):
        data = _json_object(path)
        if isinstance(data.get("points"), list):
            found[str(data.get("subset") or path.stem)] = data
    return found


def _strategy_rank(name: str) -> tuple[int, str]:
    return (STRATEGY_ORDER.index(name) if name in STRATEGY_ORDER else len(STRATEGY_ORDER), name)


# ----------------------------------------------------------------------------------------------------- verdict


def verdict_reason(verdict: Mapping[str, Any] | None, inputs: ReportInputs | None = None) -> str:
    if verdict is None:
        why = (inputs.missing.get("verdict") if inputs else None) or "not given"
        return f"no gate verdict ({why}); run `labelgate gate` or `labelgate check --out`"
    reason = str(verdict.get("reason") or "")
    if verdict.get("status") not in ("pass", "warn", "block"):
        reason = f"unrecognised verdict status {verdict.get('status')!r}; treated as blocked. {reason}".strip()
    return reason


_RANK = {"error": 0, "fail": 1, "pass": 3, "skipped": 4}


def ordered_outcomes(verdict: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Outcomes worst first: errors, blocking failures, warnings, passes, skipped; input order within each."""
    outcomes = [o for o in (verdict or {}).get("outcomes") or [] if isinstance(o, dict)]

    def rank(o):
        r = _RANK.get(o.get("status"), 0)
        return r + (1 if r == 1 and o.get("severity") == "warn" else 0)

    return sorted(outcomes, key=rank)


def failed_outcomes(verdict: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return [o for o in ordered_outcomes(verdict) if o.get("status") in ("fail", "error")]


def observed_text(outcome: Mapping[str, Any]) -> str:
    """The observed value as the report and the CLI show it (an error replaces it)."""
    if outcome.get("error"):
        return f"error: {outcome['error']}"
    return fmt(outcome.get("observed"), 4)


def counts_text(verdict: Mapping[str, Any]) -> str:
    outcomes = [o for o in verdict.get("outcomes") or [] if isinstance(o, dict)]
    errors = sum(1 for o in outcomes if o.get("status") == "error")
    block = sum(1 for o in outcomes if o.get("status") == "fail" and o.get("severity") != "warn")
    warn = sum(1 for o in outcomes if o.get("status") == "fail" and o.get("severity") == "warn")
    passed = sum(1 for o in outcomes if o.get("status") == "pass")
    skipped = sum(1 for o in outcomes if o.get("status") == "skipped")
    parts = [f"{block} blocking failed", f"{warn} warning(s)", f"{passed} passed", f"{skipped} skipped"]
    if errors:
        parts.insert(0, f"{errors} could not be evaluated")
    return " · ".join(parts)


# ----------------------------------------------------------------------------------------------------- formats


def fmt(value: Any, digits: int = 3) -> str:
    """A figure as text: fixed decimals for floats, yes/no for flags, an em dash for none."""
    if value is None:
        return "—"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return "—" if math.isnan(value) else f"{float(value):.{digits}f}"
    if isinstance(value, (dict, list, tuple)):
        text = json.dumps(value, default=str)
        return text if len(text) <= 200 else text[:197] + "..."
    return str(value)


def _mean_std(figures: Mapping[str, Any], name: str) -> str:
    mean, std = figures.get(f"{name}_mean"), figures.get(f"{name}_std")
    return fmt(mean) if std is None else f"{fmt(mean)} ± {fmt(std)}"


def _one_line(value: Any) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= 300 else text[:297] + "..."


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~#])")


def md_escape(value: Any) -> str:
    """Text safe inside a GitHub Markdown table cell: no markup, no HTML, no @-mentions, one line."""
    text = _MD_SPECIAL.sub(r"\\\1", _one_line(value))
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("@", "&#64;")


def _short(label: Any, width: int = 24) -> str:
    text = _one_line(label)
    return text if len(text) <= width else text[: width - 1] + "…"


# ----------------------------------------------------------------------------------------------------- plots


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96, metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _img(png: str, alt: str) -> str:
    return f'<img src="data:image/png;base64,{png}" alt="{_e(alt)}">'


def _no_mathtext():
    import matplotlib

    settings = {"text.parse_math": False} if "text.parse_math" in matplotlib.rcParams else {}
    return matplotlib.rc_context(settings)


def entropy_histograms(scores: pd.DataFrame, labels: Sequence[str], *, threshold: float | None) -> str:
    """Small multiples: the normalised-entropy histogram of each class (rows grouped by LLM label)."""
    bins = np.linspace(0.0, 1.0, 21)
    cols = min(4, len(labels))
    rows = math.ceil(len(labels) / cols)
    fig = _figure(2.9 * cols + 0.5, 2.1 * rows + 0.5)
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True)
    given = scores["llm_label"].astype(str)
    values = pd.to_numeric(scores["entropy_normalised"], errors="coerce")
    for ax, label in zip(axes.flat, labels):
        v = values[given == str(label)].dropna().to_numpy(float)
        ax.hist(np.clip(v, 0.0, 1.0), bins=bins, color="#4c72b0")
        if threshold is not None:
            ax.axvline(float(threshold), color="#b42318", linestyle="--", linewidth=1)
        ax.set_title(f"{_short(label)}  (n={len(v)})", fontsize=9)
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(labels):]:
        ax.set_visible(False)
    fig.supxlabel("normalised entropy of the LLM label distribution"
                  + (" (dashed: score.entropy_threshold)" if threshold is not None else ""), fontsize=9)
    fig.supylabel("rows", fontsize=9)
    return _png(fig)


def noise_heatmap(matrix: np.ndarray, labels: Sequence[str]) -> str:
    k = len(labels)
    side = min(2.0 + 0.55 * k, 12.0)
    fig = _figure(side + 1.2, side)
    ax = fig.subplots()
    image = ax.imshow(matrix, cmap="Reds", vmin=0.0, vmax=1.0)
    if k <= MAX_ANNOTATED_CLASSES:
        for (r, c), v in np.ndenumerate(matrix):
            ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if v > 0.55 else "black")
    names = [_short(label, 18) for label in labels]
    ax.set_xticks(range(k), names, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set_xlabel("estimated true label")
    ax.set_ylabel("LLM label")
    fig.colorbar(image, ax=ax, shrink=0.8)
    return _png(fig)


def seed_strip(evaluation_subsets: Mapping[str, Mapping[str, Any]]) -> str:
    names = list(evaluation_subsets)
    fig = _figure(max(6.0, 1.3 * len(names) * 2 + 1.5), 3.6)
    axes = fig.subplots(1, 2)
    for ax, metric, title in zip(axes, ("accuracy", "macro_f1"), ("test accuracy", "test macro-F1")):
        for i, name in enumerate(names):
            values = np.array([s.get(metric) for s in _seeds(evaluation_subsets[name]).values()
                               if isinstance(s.get(metric), (int, float))], dtype=float)
            if values.size:
                ax.scatter(i + np.linspace(-0.12, 0.12, values.size), values, s=22, color="#4c72b0", zorder=3)
                ax.hlines(values.mean(), i - 0.28, i + 0.28, colors="black", linewidth=1.5)
        ax.set_xticks(range(len(names)), [_short(n, 14) for n in names], rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{title} per seed (bar: mean)", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def curve_plot(curves: Mapping[str, Mapping[str, Any]]) -> str:
    fig = _figure(9.0, 3.6)
    axes = fig.subplots(1, 2)
    for ax, metric, title in zip(axes, ("accuracy", "macro_f1"), ("test accuracy", "test macro-F1")):
        ticks: set[float] = set()
        for name, curve in curves.items():
            points = [p for p in _curve_points(curve) if isinstance(p.get(metric), (int, float))]
            if not points:
                continue
            x = [float(p.get("n", p.get("fraction", 0)) or 0) for p in points]
            ticks.update(x)
            ax.plot(x, [p[metric] for p in points], marker="o", markersize=4, label=_short(name, 18))
        if ticks and min(ticks) > 0:  # doublings are evenly spaced on a log axis; ticks at the measured sizes
            ax.set_xscale("log", base=2)
            ax.minorticks_off()
            shown = sorted(ticks)[-8:] if len(ticks) > 8 else sorted(ticks)
            ax.set_xticks(shown, [f"{v:g}" for v in shown], fontsize=8)
        ax.set_xlabel("training examples", fontsize=9)
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
    handles, names = axes[0].get_legend_handles_labels()
    if handles:
        axes[0].legend(handles, names, fontsize=8)
    return _png(fig)


# ----------------------------------------------------------------------------------------------------- helpers


def _labels(inputs: ReportInputs) -> list[str]:
    labels = [str(label) for label in (inputs.label_risk or {}).get("labels") or []]
    if not labels and inputs.evaluation:
        labels = [str(label) for label in inputs.evaluation.get("labels") or []]
    if inputs.scores is not None and "llm_label" in inputs.scores.columns:
        seen = inputs.scores["llm_label"].dropna().astype(str).unique()
        labels += sorted(set(seen) - set(labels))
    return labels


def _signal(inputs: ReportInputs, name: str) -> dict[str, Any] | None:
    value = ((inputs.label_risk or {}).get("signals") or {}).get(name)
    return value if isinstance(value, dict) else None


def _eval_subsets(inputs: ReportInputs) -> dict[str, dict[str, Any]]:
    subsets = (inputs.evaluation or {}).get("subsets") or {}
    return {str(k): v for k, v in subsets.items() if isinstance(v, dict)}


def _seeds(figures: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    seeds = figures.get("seeds") or {}
    if not isinstance(seeds, dict):
        return {}

    def key(item):
        try:
            return (0, int(item[0]), "")
        except ValueError:
            return (1, 0, str(item[0]))

    return {str(k): v for k, v in sorted(seeds.items(), key=key) if isinstance(v, dict)}


def _curve_points(curve: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [p for p in curve.get("points") or [] if isinstance(p, dict)]


def all_curves(inputs: ReportInputs) -> dict[str, dict[str, Any]]:
    """Curve files first; else a subset's `learning_curve` in evaluate.json when it holds points."""
    curves = {name: curve for name, curve in inputs.curves.items() if _curve_points(curve)}
    for name, figures in _eval_subsets(inputs).items():
        embedded = figures.get("learning_curve")
        if isinstance(embedded, list):
            embedded = {"points": embedded}
        if name not in curves and isinstance(embedded, dict) and _curve_points(embedded):
            curves[name] = embedded
    return curves


def _missing(text: str) -> str:
    return f'<p class="missing">{_e(text)}</p>'


def _input_note(inputs: ReportInputs, name: str, what: str) -> str:
    why = inputs.missing.get(name, "not given")
    return _missing(f"No {what}: {why}.")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], *, numeric: Sequence[int] = (),
           row_classes: Sequence[str] | None = None, cls: str = "") -> str:
    """An HTML table; cells are already-escaped HTML."""
    head = "".join(f'<th{" class=num" if i in numeric else ""}>{_e(h)}</th>' for i, h in enumerate(header))
    body = []
    for r, row in enumerate(rows):
        cells = "".join(f'<td{" class=num" if i in numeric else ""}>{c}</td>' for i, c in enumerate(row))
        row_class = f' class="{row_classes[r]}"' if row_classes and row_classes[r] else ""
        body.append(f"<tr{row_class}>{cells}</tr>")
    cls_attr = f' class="{cls}"' if cls else ""
    return f"<table{cls_attr}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


# ----------------------------------------------------------------------------------------------------- sections


def _banner(inputs: ReportInputs) -> str:
    verdict = inputs.verdict
    status = verdict_status(verdict)
    css = status or "none"
    extra = []
    if verdict is not None:
        extra.append(counts_text(verdict))
        if verdict.get("subset"):
            extra.append(f"gated subset: {verdict['subset']}")
    counts = f'<div class="banner-counts">{_e(" · ".join(extra))}</div>' if extra else ""
    return (f'<header id="verdict-banner" class="banner status-{css}" data-status="{_e(css)}">'
            f'<div class="banner-title">labelgate verdict</div>'
            f'<div class="banner-status">{BANNER[status]}</div>'
            f'<div class="banner-reason">{_e(verdict_reason(verdict, inputs))}</div>{counts}</header>')


def _verdict_section(inputs: ReportInputs) -> str:
    if inputs.verdict is None:
        return _input_note(inputs, "verdict", "gate verdict")
    outcomes = ordered_outcomes(inputs.verdict)
    if not outcomes:
        return _missing("The verdict holds no expectation outcomes: " + verdict_reason(inputs.verdict))
    rows, classes = [], []
    for o in outcomes:
        status = str(o.get("status", "error"))
        where = " · ".join(str(x) for x in (o.get("suite"), o.get("column"), o.get("expectation")) if x)
        failed = status in ("fail", "error")
        rows.append([
            f'<div class="check">{_e(o.get("description") or o.get("expectation") or "")}</div>'
            f'<div class="muted">{_e(where)}</div>',
            f'<span class="observed">{_e(observed_text(o))}</span>',
            _e(o.get("threshold") or "—"),
            f'<span class="pill pill-{_e(status)}">{_e(status)}</span>',
            f'<span class="severity-{_e(o.get("severity", ""))}">{_e(o.get("severity", ""))}</span>',
            f'<span class="mitigation">{_e(o.get("mitigation") or "")}</span>' if failed
            else f'<span class="muted">{_e(o.get("mitigation") or "")}</span>',
        ])
        classes.append(f"row-{status}" + (f" sev-{o.get('severity')}" if failed else ""))
    return _table(["Expectation", "Observed", "Threshold", "Result", "Severity", "Suggested mitigation"],
                  rows, row_classes=classes, cls="verdict")


def _label_figures_section(inputs: ReportInputs) -> str:
    if inputs.label_risk is None:
        return _input_note(inputs, "label_risk", "label-risk summary")
    risk = inputs.label_risk
    metrics = risk.get("metrics") or {}
    names = [k for k in METRIC_NAMES if k in metrics] + [k for k in metrics if k not in METRIC_NAMES]
    rows = [[_e(METRIC_NAMES.get(k, k)), f"<code>{_e(k)}</code>", _e(fmt(metrics[k]) if metrics[k] is not None
                                                                      else "not measured")] for k in names]
    counts = risk.get("llm_label_counts") or {}
    intro = f"<p>{_e(fmt(risk.get('n_rows')))} rows; LLM label counts: " + _e(
        ", ".join(f"{label}: {fmt(n)}" for label, n in counts.items())) + ".</p>"
    unavailable = [f"{name}: {s.get('reason', 'did not run')}" for name, s in (risk.get("signals") or {}).items()
                   if isinstance(s, dict) and s.get("available") is False]
    notes = ("<p class='muted'>Signals that did not run: " + _e("; ".join(unavailable)) + "</p>") if unavailable else ""
    return intro + _table(["Figure", "Name", "Value"], rows, numeric=[2]) + notes


def _share_text(figures: Mapping[str, Any], name: str) -> str:
    value, low, high = figures.get(name), figures.get(f"{name}_lower"), figures.get(f"{name}_upper")
    if not isinstance(value, (int, float)):
        return "not measured"
    return f"{value:.2f} [{low:.2f}, {high:.2f}]" if isinstance(low, (int, float)) and isinstance(
        high, (int, float)) else f"{value:.2f}"


def _label_error(inputs: ReportInputs) -> dict[str, Any] | None:
    return _signal(inputs, "label_error")


def _next_steps(inputs: ReportInputs) -> list[str]:
    block = (inputs.verdict or {}).get("label_error")
    return [str(step) for step in (block or {}).get("next_steps") or []]


def _label_error_section(inputs: ReportInputs) -> str:
    estimate = _label_error(inputs)
    if estimate is None:
        return _input_note(inputs, "label_risk", "label-risk summary")
    if estimate.get("available") is False:
        return _missing(f"No label error estimate: {estimate.get('reason', 'the signal did not run')}.")
    metrics = (inputs.label_risk or {}).get("metrics") or {}
    confidence = estimate.get("confidence_level")
    level = f"{confidence:.0%} " if isinstance(confidence, (int, float)) else ""
    block = (inputs.verdict or {}).get("label_error") or {}
    threshold = block.get("max_label_error")
    head = (f"<p class='estimate'><strong>label_error_rate {_e(estimate_text(estimate))}</strong>"
            + (f" · accepted: at most {_e(fmt(threshold, 2))} (gate.max_label_error, on the upper bound)"
               if threshold is not None else "") + "</p>")
    rows = [
        ["label error rate (gold audit, " + _e(level) + "interval)", _e(estimate_text(estimate))],
        ["method", _e(f"{estimate.get('method', '')}; {estimate.get('interval', '')}")],
        ["systematic share of audited errors (not flagged by cleanlab)",
         _e(_share_text(estimate, "systematic_error_share") + f" of {fmt(estimate.get('audited_errors'))} "
            "audited errors")],
        ["audited errors predictable from the text (cross-validated AUC; 0.5 = random)",
         _e(_share_text(estimate, "text_error_auc"))],
        ["cleanlab's audit-free estimate, for comparison", _e(fmt(metrics.get("estimated_noise_rate")))],
    ]
    body = head + _table(["Figure", "Value"], rows)
    classes = estimate.get("per_class_error") or {}
    class_rows = [[_e(label), _e(fmt(c.get("llm_share"))), _e(fmt(c.get("audited"))),
                   _e(_share_text({"e": c.get("error"), "e_lower": c.get("lower"), "e_upper": c.get("upper")}, "e")),
                   _e(fmt(c.get("share_of_all_errors")))]
                  for label, c in sorted(classes.items(), key=lambda item: -(item[1].get("error") or 0))]
    if class_rows:
        body += _table(["LLM label", "share of rows", "audited rows", "audited error [interval]",
                        "share of all errors"], class_rows, numeric=[1, 2, 3, 4])
    steps = _next_steps(inputs)
    if steps:
        body += "<p><strong>Next steps</strong></p><ul>" + "".join(f"<li>{_e(s)}</li>" for s in steps) + "</ul>"
    return body


def _entropy_section(inputs: ReportInputs) -> str:
    if inputs.scores is None:
        return _input_note(inputs, "scores", "per-example scores")
    scores = inputs.scores
    if "entropy_normalised" not in scores.columns or "llm_label" not in scores.columns:
        entropy = _signal(inputs, "entropy") or {}
        why = entropy.get("reason") or "the entropy signal did not run"
        return _missing(f"The scores have no entropy_normalised column ({why}).")
    if scores.empty:
        return _missing("The scores table has no rows.")
    counts = scores["llm_label"].astype(str).value_counts()
    labels = [label for label in _labels(inputs) if counts.get(label, 0) > 0] or list(counts.index)
    note = ""
    if len(labels) > MAX_HISTOGRAM_CLASSES:
        shown = sorted(labels, key=lambda label: -counts.get(label, 0))[:MAX_HISTOGRAM_CLASSES]
        note = (f"<p class='muted'>Showing the {MAX_HISTOGRAM_CLASSES} most frequent of {len(labels)} classes; "
                "the table lists them all.</p>")
        plotted = [label for label in labels if label in shown]
    else:
        plotted = labels
    threshold = (_signal(inputs, "entropy") or {}).get("threshold")
    threshold = float(threshold) if isinstance(threshold, (int, float)) else None
    values = pd.to_numeric(scores["entropy_normalised"], errors="coerce")
    given = scores["llm_label"].astype(str)
    rows = []
    for label in labels:
        v = values[given == label].dropna()
        above = fmt(float((v > threshold).mean())) if threshold is not None and len(v) else "—"
        rows.append([_e(label), _e(len(v)), _e(fmt(v.median() if len(v) else None)), _e(above)])
    image = _img(entropy_histograms(scores, plotted, threshold=threshold),
                 "Histogram of normalised entropy per LLM label")
    header = ["LLM label", "rows", "median entropy",
              f"share above {fmt(threshold, 2)}" if threshold is not None else "share above threshold"]
    return image + note + _table(header, rows, numeric=[1, 2, 3])


def _noise_section(inputs: ReportInputs) -> str:
    if inputs.label_risk is None:
        return _input_note(inputs, "label_risk", "label-risk summary")
    cleanlab = _signal(inputs, "cleanlab")
    if cleanlab is None:
        return _missing("cleanlab was not among the scored signals (params.yaml score.signals).")
    if cleanlab.get("available") is False:
        return _missing(f"cleanlab did not run: {cleanlab.get('reason', 'no reason given')}.")
    if not cleanlab.get("noise_matrix"):
        return _missing("The cleanlab summary holds no noise matrix.")
    matrix = np.asarray(cleanlab["noise_matrix"], dtype=float)
    labels = _labels(inputs)[: len(matrix)]
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or len(labels) != matrix.shape[0]:
        return _missing(f"The noise matrix has shape {matrix.shape}, which does not match the "
                        f"{len(_labels(inputs))} labels.")
    caption = ("Cell (row, column) = estimated P(LLM label = row | true label = column); each column sums to 1, so "
               "mass off the diagonal is the LLM's estimated confusion.")
    noise = cleanlab.get("estimated_noise_rate", (inputs.label_risk.get("metrics") or {}).get("estimated_noise_rate"))
    return (_img(noise_heatmap(matrix, labels), "cleanlab noise matrix heatmap")
            + f"<p class='muted'>{_e(caption)} Estimated noise rate: {_e(fmt(noise))}.</p>")


def _seed_section(inputs: ReportInputs) -> str:
    if inputs.evaluation is None:
        return _input_note(inputs, "evaluation", "evaluation (train and evaluate the subsets first)")
    subsets = _eval_subsets(inputs)
    if not subsets:
        return _missing("The evaluation holds no subsets.")
    reference = inputs.evaluation.get("reference")
    gated = (inputs.verdict or {}).get("subset")
    summary = []
    for name, f in subsets.items():
        tags = [t for t, on in (("reference", name == reference), ("gated", name == gated)) if on]
        summary.append([
            _e(name) + (f' <span class="muted">({_e(", ".join(tags))})</span>' if tags else ""),
            _e(fmt(f.get("n_seeds", len(_seeds(f))))),
            _e(_mean_std(f, "accuracy")), _e(_mean_std(f, "macro_f1")),
            _e(fmt(f.get("krippendorff_alpha"))), _e(fmt(f.get("unchanged_prediction_rate"))),
            _e(fmt(f.get("ensemble_accuracy"))), _e(fmt(f.get("accuracy_gap_to_reference"))),
            _e(fmt(f.get("macro_f1_gap_to_reference"))), _e(fmt(f.get("plateau"))),
        ])
    per_seed = [[_e(name), _e(seed), _e(fmt(s.get("accuracy"))), _e(fmt(s.get("macro_f1")))]
                for name, f in subsets.items() for seed, s in _seeds(f).items()]
    parts = [_table(["Subset", "seeds", "accuracy", "macro-F1", "seed alpha", "unchanged", "ensemble acc.",
                     "acc. gap to ref.", "F1 gap to ref.", "plateau"], summary, numeric=list(range(1, 10)))]
    if per_seed:
        parts.insert(0, _img(seed_strip(subsets), "Accuracy and macro-F1 per subset and seed"))
        parts.append("<details><summary>Scores per seed</summary>"
                     + _table(["Subset", "seed", "accuracy", "macro-F1"], per_seed, numeric=[2, 3]) + "</details>")
    else:
        parts.append(_missing("The evaluation lists no per-seed scores."))
    return "".join(parts)


def _curve_section(inputs: ReportInputs) -> str:
    curves = all_curves(inputs)
    if not curves:
        why = inputs.missing.get("curves") or "no curve files with points"
        return _missing(f"No learning curves: {why}; evaluate.json holds no curve points either.")
    subsets = _eval_subsets(inputs)
    rows = []
    for name, curve in curves.items():
        figures = subsets.get(name, {})
        points = ", ".join(f"{fmt(p.get('n', p.get('fraction')))}: {fmt(p.get('accuracy'))}"
                           for p in _curve_points(curve))
        gain = curve.get("gain_last_doubling", figures.get("learning_curve_gain_last_doubling"))
        plateau = curve.get("plateau", figures.get("plateau"))
        rows.append([_e(name), _e(points), _e(fmt(gain)), _e(fmt(curve.get("gap_to_reference"))), _e(fmt(plateau))])
    return (_img(curve_plot(curves), "Learning curves: test accuracy and macro-F1 against training-set size")
            + _table(["Subset", "points (n: accuracy)", "gain over last doubling", "gap to reference", "plateau"],
                     rows, numeric=[2, 3, 4]))


def _subsets_section(inputs: ReportInputs) -> str:
    if not inputs.subsets:
        why = inputs.missing.get("subsets") or "no subset summaries (*.json with rows_kept)"
        return _missing(f"No filter subsets: {why}.")
    labels = _labels(inputs)
    for summary in inputs.subsets.values():
        labels += [str(k) for k in (summary.get("kept_per_class") or {}) if str(k) not in labels]
    wide = len(labels) <= 8
    rows = []
    for name, s in inputs.subsets.items():
        kept = {str(k): v for k, v in (s.get("kept_per_class") or {}).items()}
        per_class = ([_e(fmt(kept.get(label))) for label in labels] if wide
                     else [_e(", ".join(f"{k}: {fmt(v)}" for k, v in kept.items()))])
        rows.append([_e(name), _e(f"{fmt(s.get('rows_kept'))} / {fmt(s.get('rows_in'))}"),
                     _e(fmt(s.get("retained_fraction"))), *per_class,
                     _e(fmt(s.get("estimated_remaining_noise_rate"))), _e(fmt(s.get("audit_rows_kept"))),
                     _e(fmt(s.get("audit_error_rate_kept"))), _e(fmt(s.get("audit_error_rate_all"))),
                     _e(_share_text(s, "label_error_rate"))])
    class_header = [f"kept: {label}" for label in labels] if wide else ["kept per class"]
    header = ["Strategy", "rows kept", "retained", *class_header, "est. remaining noise", "audit rows kept",
              "audit error (kept)", "audit error (all)", "label_error_rate (kept) [interval]"]
    return _table(header, rows, numeric=list(range(1, len(header)))) + (
        "<p class='muted'>Audit error rate: share of gold-audited rows whose LLM label is wrong, among the rows the "
        "strategy keeps versus among all rows; a mitigation that works lowers it. label_error_rate (kept): the "
        "audit-first estimate for the kept rows, from their audited rows, with its interval.</p>")


# ----------------------------------------------------------------------------------------------------- page

_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: #1f2328; background: #ffffff; }
main { max-width: 1240px; margin: 0 auto; padding: 8px 24px 48px; }
.banner { padding: 18px 24px 16px; color: #ffffff; }
.banner-title { font-size: 12px; text-transform: uppercase; letter-spacing: .08em; opacity: .85; }
.banner-status { font-size: 34px; font-weight: 700; letter-spacing: .03em; }
.banner-reason { font-size: 17px; }
.banner-counts { font-size: 13px; opacity: .9; margin-top: 4px; }
.status-pass { background: #1a7f37; }
.status-warn { background: #9a6700; }
.status-block { background: #b42318; }
.status-none { background: #57606a; }
h2 { font-size: 19px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 1px solid #d0d7de; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 14px; }
th, td { border-bottom: 1px solid #d8dee4; padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; font-size: 13px; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
table.verdict td:nth-child(2), table.verdict td:nth-child(3) {
  white-space: nowrap; font-variant-numeric: tabular-nums; }
tr.row-fail td, tr.row-error td { background: #fff5f4; }
tr.row-fail.sev-warn td { background: #fff8e5; }
tr.row-skipped td { color: #57606a; }
.check { font-weight: 600; }
.pill { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px; font-weight: 600; }
.pill-pass { background: #dafbe1; color: #1a7f37; }
.pill-fail, .pill-error { background: #ffebe9; color: #b42318; }
.pill-skipped { background: #eaeef2; color: #57606a; }
.severity-block { font-weight: 600; }
.muted { color: #57606a; font-size: 12px; }
.missing { padding: 10px 12px; background: #f6f8fa; border-left: 4px solid #8c959f; }
img { display: block; max-width: 100%; height: auto; margin: 8px 0; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
details { margin: 6px 0 14px; }
footer { max-width: 1240px; margin: 0 auto; padding: 12px 24px 32px; color: #57606a; font-size: 12px; }
"""

# Marks <body> once every image decoded: data-images-decoded="true", data-image-count, data-images-ok.
_SCRIPT = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var ok = images.filter(function (img) { return img.complete && img.naturalWidth > 0; }).length;
  document.body.setAttribute("data-image-count", String(images.length));
  document.body.setAttribute("data-images-ok", String(ok));
  document.body.setAttribute("data-images-decoded", ok === images.length ? "true" : "false");
});
"""


def _csp_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii") + "'"


CONTENT_SECURITY_POLICY = (f"default-src 'none'; img-src data:; style-src {_csp_hash(_CSS)}; "
                           f"script-src {_csp_hash(_SCRIPT)}; base-uri 'none'; form-action 'none'")

SECTIONS: tuple[tuple[str, str, Callable[[ReportInputs], str]], ...] = (
    ("verdict", "Verdict", _verdict_section),
    ("label-error", "Label error rate (gold audit)", _label_error_section),
    ("label-set", "Label-set figures", _label_figures_section),
    ("entropy", "Entropy of the LLM labels per class", _entropy_section),
    ("noise-matrix", "cleanlab noise matrix", _noise_section),
    ("seeds", "Seed scores per subset", _seed_section),
    ("learning-curves", "Learning curves", _curve_section),
    ("subsets", "Filter subsets", _subsets_section),
)


def build_html(inputs: ReportInputs) -> str:
    """The whole report page as one self-contained HTML string."""
    sections = []
    with _no_mathtext():
        for anchor, title, render in SECTIONS:
            try:
                body = render(inputs)
            except Exception as exc:  # noqa: BLE001 - a malformed input costs its section, not the report
                body = _missing(f"Could not render this section: {type(exc).__name__}: {_one_line(exc)}")
            sections.append(f'<section id="{anchor}"><h2>{_e(title)}</h2>{body}</section>')
    status = BANNER[verdict_status(inputs.verdict)]
    sources = ", ".join(f"{name}: {path}" for name, path in inputs.sources.items() if name not in inputs.missing)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{_e(CONTENT_SECURITY_POLICY)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>labelgate report: {_e(status)}</title>\n<style>{_CSS}</style>\n</head>\n"
        '<body data-images-decoded="pending">\n'
        f"{_banner(inputs)}\n<main>\n" + "\n".join(sections) + "\n</main>\n"
        f"<footer>labelgate {_e(_version())} report. Inputs: {_e(sources or 'none')}.</footer>\n"
        f"<script>{_SCRIPT}</script>\n</body>\n</html>\n"
    )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("labelgate")
    except PackageNotFoundError:
        return "(not installed)"


# ----------------------------------------------------------------------------------------------------- markdown


def build_markdown(inputs: ReportInputs, *, html_name: str | None = None) -> str:
    """A PR-comment summary: verdict line, failed expectations, label-set figures, key metrics per subset."""
    verdict = inputs.verdict
    status = verdict_status(verdict)
    lines = [f"## {MARKDOWN_ICON[status]} labelgate: {BANNER[status]}", "",
             f"**{md_escape(verdict_reason(verdict, inputs))}**"]
    if verdict is not None:
        subset = f" · gated subset: {md_escape(verdict['subset'])}" if verdict.get("subset") else ""
        lines[-1] += f" — {md_escape(counts_text(verdict))}{subset}"
    failed = failed_outcomes(verdict)
    if failed:
        lines += ["", "| | Expectation | Observed | Threshold | Mitigation |", "|---|---|---|---|---|"]
        for o in failed[:MARKDOWN_MAX_CHECKS]:
            icon = "⚠️ warn" if o.get("status") == "fail" and o.get("severity") == "warn" else (
                "❌ error" if o.get("status") == "error" else "❌ block")
            check = md_escape(o.get("description") or o.get("expectation") or "")
            if o.get("column"):
                check += f" ({md_escape(o['column'])})"
            lines.append(f"| {icon} | {check} | {md_escape(observed_text(o))} | "
                         f"{md_escape(o.get('threshold') or '—')} | {md_escape(o.get('mitigation') or '')} |")
        if len(failed) > MARKDOWN_MAX_CHECKS:
            lines.append(f"\n…and {len(failed) - MARKDOWN_MAX_CHECKS} more failed expectation(s) in the report.")
    metrics = (inputs.label_risk or {}).get("metrics") or {}
    estimate = _label_error(inputs)
    if estimate is not None and estimate.get("available") is not False:
        lines += ["", f"**label_error_rate {md_escape(estimate_text(estimate))}** "
                  f"({md_escape(estimate.get('method', ''))}) · systematic share of audited errors "
                  f"{md_escape(_share_text(estimate, 'systematic_error_share'))} · cleanlab's estimate "
                  f"{md_escape(fmt(metrics.get('estimated_noise_rate')))}"]
        lines += [f"- next: {md_escape(step)}" for step in _next_steps(inputs)]
    shown = [f"{METRIC_NAMES[k]} {fmt(metrics[k])}" for k in METRIC_NAMES
             if metrics.get(k) is not None and not k.startswith(("label_error_rate", "n_audited", "systematic_"))]
    if inputs.label_risk is not None:
        lines += ["", f"**Label set:** {md_escape(fmt(inputs.label_risk.get('n_rows')))} rows"
                  + "".join(f" · {md_escape(s)}" for s in shown)]
    lines += _markdown_subsets(inputs)
    lines += ["", f"Full report with plots: {md_escape(html_name)}" if html_name
              else "The HTML report holds the plots and every expectation."]
    return "\n".join(lines) + "\n"


def _markdown_subsets(inputs: ReportInputs) -> list[str]:
    evaluated = _eval_subsets(inputs)
    names = list(evaluated) + [n for n in inputs.subsets if n not in evaluated]
    if not names:
        return []
    gated = (inputs.verdict or {}).get("subset")
    reference = (inputs.evaluation or {}).get("reference")
    lines = ["", "| Subset | Rows kept | Audit error kept / all | label_error_rate kept | Accuracy | Macro-F1 "
             "| Seed α | Gap to ref. |", "|---|--:|--:|--:|--:|--:|--:|--:|"]
    for name in names[:MARKDOWN_MAX_SUBSETS]:
        f, s = evaluated.get(name, {}), inputs.subsets.get(name, {})
        tag = " (gated)" if name == gated else " (reference)" if name == reference else ""
        kept = f"{fmt(s.get('rows_kept'))} / {fmt(s.get('rows_in'))}" if s else "—"
        audit = f"{fmt(s.get('audit_error_rate_kept'))} / {fmt(s.get('audit_error_rate_all'))}" if s else "—"
        cells = [md_escape(name) + tag, kept, audit, _share_text(s, "label_error_rate") if s else "—",
                 _mean_std(f, "accuracy") if f else "—",
                 _mean_std(f, "macro_f1") if f else "—", fmt(f.get("krippendorff_alpha")) if f else "—",
                 fmt(f.get("accuracy_gap_to_reference")) if f else "—"]
        lines.append("| " + " | ".join(cells) + " |")
    if len(names) > MARKDOWN_MAX_SUBSETS:
        lines.append(f"\n…and {len(names) - MARKDOWN_MAX_SUBSETS} more subset(s) in the report.")
    return lines


# ----------------------------------------------------------------------------------------------------- output


def write_report(inputs: ReportInputs, *, html_path: PathLike | None = None,
                 markdown_path: PathLike | None = None) -> list[Path]:
    """Write the HTML page and/or the Markdown summary atomically; return the paths written."""
    from labelgate.outputs import atomic_paths

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
