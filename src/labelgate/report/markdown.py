"""The Markdown summary of a run for a PR comment: verdict line, failed expectations, label-set figures, subsets.

Every string taken from an input is Markdown-escaped (`md_escape`): it cannot add markup, HTML, @-mentions or
table cells.
"""

from __future__ import annotations

import re
from typing import Any

from labelgate.estimation import estimate_text
from labelgate.harm import figures_text
from labelgate.report.inputs import (
    METRIC_NAMES,
    ReportInputs,
    before_after,
    blocking,
    counts_text,
    eval_subsets,
    failed_outcomes,
    fmt,
    label_error,
    loss_verdict,
    mean_std,
    next_steps,
    observed_text,
    one_line,
    share_text,
    verdict_reason,
)
from labelgate.verdict import BANNER, verdict_status
from labelgate.vocabulary import BLOCK, ERRORED, FAILED, PASS, WARN

MARKDOWN_MAX_CHECKS = 15  # failed expectations listed in the PR summary; the rest are counted
MARKDOWN_MAX_SUBSETS = 10
MARKDOWN_ICON = {PASS: "✅", WARN: "⚠️", BLOCK: "❌", None: "❔"}

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~#])")


def md_escape(value: Any) -> str:
    """Text safe inside a GitHub Markdown table cell: no markup, no HTML, no @-mentions, one line."""
    text = _MD_SPECIAL.sub(r"\\\1", one_line(value))
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("@", "&#64;")


def build_markdown(inputs: ReportInputs, *, html_name: str | None = None) -> str:
    """A PR-comment summary: verdict line, failed expectations, label-set figures, key metrics per subset."""
    verdict = inputs.verdict
    status = verdict_status(verdict)
    lines = [f"## {MARKDOWN_ICON[status]} labelgate: {BANNER[status]}", "",
             f"**{md_escape(verdict_reason(verdict, inputs))}**"]
    if verdict is not None:
        subset = f" · gated subset: {md_escape(verdict['subset'])}" if verdict.get("subset") else ""
        lines[-1] += f" — {md_escape(counts_text(verdict))}{subset}"
    if status == BLOCK:  # every blocker, one line each, before any table
        lines += ["", "Blocked by:"] + [f"- {md_escape(line)}" for line in blocking(verdict)]
    scope = (verdict or {}).get("label_scope")
    if isinstance(scope, dict) and scope.get("rows") == "subset":
        lines += ["", f"Label-level figures of the gated subset {md_escape(scope.get('subset'))}: "
                      f"{md_escape(fmt(scope.get('n_rows')))} of {md_escape(fmt(scope.get('rows_in')))} rows"]
    changes = before_after(inputs)
    if changes:
        lines += ["", "| Figure | Before (base) | After (this change) |", "|---|--:|--:|"]
        lines += [f"| {md_escape(name)} | {md_escape(a)} | {md_escape(b)} |" for name, a, b in changes]
    lines += _failed_table(verdict)
    metrics = (inputs.label_risk or {}).get("metrics") or {}
    loss = loss_verdict(inputs)
    if loss.get("text"):
        lines += ["", f"**accuracy loss {md_escape(loss['text'])}** ({md_escape(str(loss.get('accuracy_loss_source')))})"
                  f" · limit {100 * loss.get('max_accuracy_loss', 0):g} points on the upper bound: "
                  f"{md_escape(str(loss.get('status')))}"]
        predicted = loss.get("predicted") or {}
        if loss.get("accuracy_loss_source") != predicted.get("accuracy_loss_source"):
            lines.append(f"- predicted by check: {md_escape(figures_text(predicted, 'accuracy_loss'))}")
        lines += [f"- next: {md_escape(str(step))}" for step in loss.get("next_steps") or []]
    estimate = label_error(inputs)
    scope = (verdict or {}).get("label_scope") or {}
    if isinstance(scope, dict) and scope.get("rows") == "subset":  # the gated subset's own estimate decides
        estimate = (verdict or {}).get("label_error") or {"available": False}
    if estimate is not None and estimate.get("available") is not False:
        lines += ["", f"**label_error_rate {md_escape(estimate_text(estimate))}** "
                  f"({md_escape(estimate.get('method', ''))}) · systematic share of audited errors "
                  f"{md_escape(share_text(estimate, 'systematic_error_share'))} · cleanlab's estimate "
                  f"{md_escape(fmt(metrics.get('estimated_noise_rate')))}"]
        lines += [f"- next: {md_escape(step)}" for step in next_steps(inputs)]
    shown = [f"{METRIC_NAMES[k]} {fmt(metrics[k])}" for k in METRIC_NAMES
             if metrics.get(k) is not None and not k.startswith(("label_error_rate", "n_audited", "systematic_"))]
    if inputs.label_risk is not None:
        lines += ["", f"**Label set:** {md_escape(fmt(inputs.label_risk.get('n_rows')))} rows"
                  + "".join(f" · {md_escape(s)}" for s in shown)]
    lines += _subsets_table(inputs)
    lines += ["", f"Full report with plots: {md_escape(html_name)}" if html_name
              else "The HTML report holds the plots and every expectation."]
    return "\n".join(lines) + "\n"


def _failed_table(verdict) -> list[str]:
    """The failed expectations (at most MARKDOWN_MAX_CHECKS, then how many more), one table row each."""
    failed = failed_outcomes(verdict)
    if not failed:
        return []
    lines = ["", "| | Expectation | Observed | Threshold | Mitigation |", "|---|---|---|---|---|"]
    for o in failed[:MARKDOWN_MAX_CHECKS]:
        icon = "⚠️ warn" if o.get("status") == FAILED and o.get("severity") == WARN else (
            "❌ error" if o.get("status") == ERRORED else "❌ block")
        check = md_escape(o.get("description") or o.get("expectation") or "")
        if o.get("column"):
            check += f" ({md_escape(o['column'])})"
        lines.append(f"| {icon} | {check} | {md_escape(observed_text(o))} | "
                     f"{md_escape(o.get('threshold') or '—')} | {md_escape(o.get('mitigation') or '')} |")
    if len(failed) > MARKDOWN_MAX_CHECKS:
        lines.append(f"\n…and {len(failed) - MARKDOWN_MAX_CHECKS} more failed expectation(s) in the report.")
    return lines


def _subsets_table(inputs: ReportInputs) -> list[str]:
    evaluated = eval_subsets(inputs)
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
        cells = [md_escape(name) + tag, kept, audit, share_text(s, "label_error_rate") if s else "—",
                 mean_std(f, "accuracy") if f else "—",
                 mean_std(f, "macro_f1") if f else "—", fmt(f.get("krippendorff_alpha")) if f else "—",
                 fmt(f.get("accuracy_gap_to_reference")) if f else "—"]
        lines.append("| " + " | ".join(cells) + " |")
    if len(names) > MARKDOWN_MAX_SUBSETS:
        lines.append(f"\n…and {len(names) - MARKDOWN_MAX_SUBSETS} more subset(s) in the report.")
    return lines
