"""The report's inputs: reading the run's files, and the figures both renderers (HTML page, Markdown summary) show.

Inputs (each optional; a section whose input is missing or unreadable says so instead of failing):
  verdict      metrics/gate.json          banner (PASSED / WARN / BLOCKED and why), the verdict table and next steps
  label_risk   metrics/label_risk.json    the audit's label error rate, label-set figures, the cleanlab noise matrix
  scores       data/scores.parquet        per-example normalised entropy: a histogram per LLM label
  evaluation   metrics/evaluate.json      accuracy and macro-F1 per subset and seed
  curves       metrics/learning_curve/    learning-curve points per subset (else evaluate.json
                                          subsets.*.learning_curve when it holds points)
  subsets      data/subsets/*.json        the filter subsets' summaries
  audit_reference metrics/audit_reference.json  gold- vs LLM-trained accuracy per seed on the audited rows, curves
  before       the base commit's label_risk.json (`labelgate report --before`): before -> after of the headline

`load_inputs` reads files and never raises for a missing or malformed one; everything else here is pure.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelgate.harm import LOSS, figures_text
from labelgate.verdict import counts_line
from labelgate.vocabulary import ERRORED, FAILED, LLM_LABEL, PASS, SKIPPED, STRATEGIES, VERDICT_STATUSES, WARN

SCORE_COLUMNS = (LLM_LABEL, "entropy_normalised")

# Label-set figures (label_risk.json `metrics`) in reading order, with their names in the report.
METRIC_NAMES = {
    "label_error_rate": "label error rate (gold audit)",
    "label_error_rate_lower": "label error rate, lower bound",
    "label_error_rate_upper": "label error rate, upper bound",
    "n_audited": "audited rows",
    "unmeasured_share": "rows in unmeasured strata (bounded as all wrong)",
    "audit_representativeness_p": "audit representativeness (p-value)",
    "audit_rubber_stamp_flag_share": "flagged share of a no-error audit (rubber stamp)",
    "audit_contradiction": "audit contradicted by confident text-model disagreement (gap)",
    "duplicate_share": "duplicate rows (normalised text)",
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

PathLike = str | os.PathLike


@dataclass
class ReportInputs:
    """What the report draws from; None (or empty) where an input is absent, with the reason in `missing`."""

    verdict: dict[str, Any] | None = None
    label_risk: dict[str, Any] | None = None
    scores: pd.DataFrame | None = None  # llm_label and entropy_normalised only
    evaluation: dict[str, Any] | None = None
    curves: dict[str, dict[str, Any]] = field(default_factory=dict)  # subset -> curve JSON
    subsets: dict[str, dict[str, Any]] = field(default_factory=dict)  # strategy -> subset summary
    audit_reference: dict[str, Any] | None = None
    before: dict[str, Any] | None = None  # label_risk.json of the base commit
    missing: dict[str, str] = field(default_factory=dict)  # input name -> why it is absent
    sources: dict[str, str] = field(default_factory=dict)  # input name -> path it came from

    def found(self) -> list[str]:
        """Names of the inputs that were read."""
        return [name for name in self.sources if name not in self.missing]


def load_inputs(
    *,
    verdict: PathLike | None = None,
    label_risk: PathLike | None = None,
    scores: PathLike | None = None,
    evaluation: PathLike | None = None,
    subsets: PathLike | None = None,
    curves: PathLike | None = None,
    audit_reference: PathLike | None = None,
    before: PathLike | None = None,
) -> ReportInputs:
    """Read whichever inputs exist. A missing or malformed file is noted in `missing`, never raised."""
    inputs = ReportInputs()
    for name, path in (("verdict", verdict), ("label_risk", label_risk), ("evaluation", evaluation)):
        setattr(inputs, name, _read(inputs, name, path, _json_object))
    for name, path in (("audit_reference", audit_reference), ("before", before)):  # optional: only when given
        if path is not None:
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
        inputs.missing[name] = f"{path}: could not read ({type(exc).__name__}: {one_line(exc)})"
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
    found = _json_files(folder, "strategy", lambda data: "rows_kept" in data)  # other JSON files are not summaries
    return dict(sorted(found.items(), key=lambda item: _strategy_rank(item[0])))


def _curve_files(folder: Path) -> dict[str, dict[str, Any]]:
    return _json_files(folder, "subset", lambda data: isinstance(data.get("points"), list))


def _json_files(folder: Path, name: str, keep: Callable[[dict[str, Any]], bool]) -> dict[str, dict[str, Any]]:
    """The folder's JSON objects that `keep` accepts, by their `name` field (else the file's stem)."""
    if not folder.is_dir():
        raise ValueError("not a folder")
    found = {}
    for path in sorted(folder.glob("*.json")):
        data = _json_object(path)
        if keep(data):
            found[str(data.get(name) or path.stem)] = data
    return found


def _strategy_rank(name: str) -> tuple[int, str]:
    return (STRATEGIES.index(name) if name in STRATEGIES else len(STRATEGIES), name)


def verdict_reason(verdict: Mapping[str, Any] | None, inputs: ReportInputs | None = None) -> str:
    """The verdict's reason, or why there is none; an unrecognised status says it counts as blocked."""
    if verdict is None:
        why = (inputs.missing.get("verdict") if inputs else None) or "not given"
        return f"no gate verdict ({why}); run `labelgate gate` or `labelgate check --out`"
    reason = str(verdict.get("reason") or "")
    if verdict.get("status") not in VERDICT_STATUSES:
        reason = f"unrecognised verdict status {verdict.get('status')!r}; treated as blocked. {reason}".strip()
    return reason


_RANK = {ERRORED: 0, FAILED: 1, PASS: 3, SKIPPED: 4}


def ordered_outcomes(verdict: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Outcomes worst first: errors, blocking failures, warnings, passes, skipped; input order within each."""
    outcomes = [o for o in (verdict or {}).get("outcomes") or [] if isinstance(o, dict)]

    def rank(o):
        r = _RANK.get(o.get("status"), 0)
        return r + (1 if r == 1 and o.get("severity") == WARN else 0)

    return sorted(outcomes, key=rank)


def failed_outcomes(verdict: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The outcomes that failed or could not be evaluated, worst first."""
    return [o for o in ordered_outcomes(verdict) if o.get("status") in (FAILED, ERRORED)]


def observed_text(outcome: Mapping[str, Any]) -> str:
    """The observed value as the report and the CLI show it (an error replaces it)."""
    if outcome.get("error"):
        return f"error: {outcome['error']}"
    return fmt(outcome.get("observed"), 4)


def counts_text(verdict: Mapping[str, Any]) -> str:
    """How many expectations blocked, warned, passed, were skipped or could not be evaluated, counted from the
    verdict's outcomes (not its recorded `counts`, which a verdict file need not hold)."""
    outcomes = verdict.get("outcomes")
    return counts_line(outcomes if isinstance(outcomes, list) else [])


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


def mean_std(figures: Mapping[str, Any], name: str) -> str:
    """`<name>_mean ± <name>_std` as text (the mean alone without a standard deviation)."""
    mean, std = figures.get(f"{name}_mean"), figures.get(f"{name}_std")
    return fmt(mean) if std is None else f"{fmt(mean)} ± {fmt(std)}"


def share_text(figures: Mapping[str, Any], name: str) -> str:
    """A share with its interval, `0.18 [0.14, 0.23]`, from `<name>`, `<name>_lower` and `<name>_upper`."""
    value, low, high = figures.get(name), figures.get(f"{name}_lower"), figures.get(f"{name}_upper")
    if not isinstance(value, (int, float)):
        return "not measured"
    return f"{value:.2f} [{low:.2f}, {high:.2f}]" if isinstance(low, (int, float)) and isinstance(
        high, (int, float)) else f"{value:.2f}"


def one_line(value: Any) -> str:
    """Text on one line, whitespace collapsed, at most 300 characters."""
    text = " ".join(str(value).split())
    return text if len(text) <= 300 else text[:297] + "..."


def labels(inputs: ReportInputs) -> list[str]:
    """The label set: label_risk.json's, else evaluate.json's, plus any other LLM label the scores hold."""
    found = [str(label) for label in (inputs.label_risk or {}).get("labels") or []]
    if not found and inputs.evaluation:
        found = [str(label) for label in inputs.evaluation.get("labels") or []]
    if inputs.scores is not None and "llm_label" in inputs.scores.columns:
        seen = inputs.scores["llm_label"].dropna().astype(str).unique()
        found += sorted(set(seen) - set(found))
    return found


def signal(inputs: ReportInputs, name: str) -> dict[str, Any] | None:
    """One signal's summary from label_risk.json, None when absent."""
    value = ((inputs.label_risk or {}).get("signals") or {}).get(name)
    return value if isinstance(value, dict) else None


def label_error(inputs: ReportInputs) -> dict[str, Any] | None:
    """The audit-first label error estimate (the `label_error` signal)."""
    return signal(inputs, "label_error")


def accuracy_loss(inputs: ReportInputs) -> dict[str, Any] | None:
    """The expected accuracy loss (the `accuracy_loss` signal)."""
    return signal(inputs, "accuracy_loss")


def loss_verdict(inputs: ReportInputs) -> dict[str, Any]:
    """The verdict's deciding accuracy loss: value, source, status against the limit, next steps."""
    block = (inputs.verdict or {}).get("accuracy_loss")
    return block if isinstance(block, dict) else {}


def next_steps(inputs: ReportInputs) -> list[str]:
    """The verdict's suggested next steps for the label error rate."""
    block = (inputs.verdict or {}).get("label_error")
    return [str(step) for step in (block or {}).get("next_steps") or []]


def eval_subsets(inputs: ReportInputs) -> dict[str, dict[str, Any]]:
    """evaluate.json's figures per subset."""
    subsets = (inputs.evaluation or {}).get("subsets") or {}
    return {str(k): v for k, v in subsets.items() if isinstance(v, dict)}


def seeds(figures: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A subset's scores per seed, in seed order (numeric seeds first)."""
    found = figures.get("seeds") or {}
    if not isinstance(found, dict):
        return {}

    def key(item):
        try:
            return (0, int(item[0]), "")
        except ValueError:
            return (1, 0, str(item[0]))

    return {str(k): v for k, v in sorted(found.items(), key=key) if isinstance(v, dict)}


def seed_scores(subsets: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, list[float]]]:
    """subset -> {"accuracy": [per seed], "macro_f1": [per seed]}: the seed plot's data (numbers only)."""
    return {name: {metric: [s[metric] for s in seeds(figures).values() if isinstance(s.get(metric), (int, float))]
                   for metric in ("accuracy", "macro_f1")}
            for name, figures in subsets.items()}


def curve_points(curve: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A learning curve's points (dicts only)."""
    return [p for p in curve.get("points") or [] if isinstance(p, dict)]


def all_curves(inputs: ReportInputs) -> dict[str, dict[str, Any]]:
    """The learning-curve files that hold points (evaluate.json keeps no curve points of its own)."""
    return {name: curve for name, curve in inputs.curves.items() if curve_points(curve)}


def curve_series(curves: Mapping[str, Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The learning-curve plot's data: subset -> points with `n` (training examples, else the fraction)."""
    return {name: [{**p, "n": float(p.get("n", p.get("fraction", 0)) or 0)} for p in curve_points(curve)]
            for name, curve in curves.items()}


def blocking(verdict: Mapping[str, Any] | None) -> list[str]:
    """The verdict's blockers, one line each (verdict.blocking_list)."""
    from labelgate.verdict import blocking_list

    return blocking_list(verdict) if verdict is not None else []


def headline_figures(label_risk: Mapping[str, Any] | None) -> dict[str, Any]:
    """The figures a before -> after comparison shows: the label error rate with its interval, the expected
    accuracy loss with its interval (when the scorer reports it) and the audited error per LLM label."""
    risk = label_risk if isinstance(label_risk, Mapping) else {}
    metrics = risk.get("metrics") if isinstance(risk.get("metrics"), Mapping) else {}
    figures = {name: metrics.get(name) for name in BEFORE_AFTER if name in metrics}
    estimate = (risk.get("signals") or {}).get("label_error") if isinstance(risk.get("signals"), Mapping) else None
    classes = (estimate or {}).get("per_class_error") if isinstance(estimate, Mapping) else None
    for label, c in sorted((classes or {}).items()):
        if isinstance(c, Mapping) and isinstance(c.get("error"), (int, float)):
            figures[f"error of {label}"] = c["error"]
    return figures


#: Headline figures compared before -> after, with their interval figures beside them.
BEFORE_AFTER = ("label_error_rate", LOSS, "n_audited")


def before_after(inputs: "ReportInputs") -> list[list[str]]:
    """[figure, before, after] for each headline figure; per-class errors only for the classes whose error moved
    (the classes a re-prompt touched). Empty without a `before` file."""
    if inputs.before is None or inputs.label_risk is None:
        return []
    old, new = headline_figures(inputs.before), headline_figures(inputs.label_risk)
    rows = []
    for name in dict.fromkeys([*old, *new]):
        a, b = old.get(name), new.get(name)
        if name.startswith("error of ") and a is not None and b is not None and abs(a - b) < 5e-4:
            continue
        rows.append([name, _with_interval(inputs.before, name, a), _with_interval(inputs.label_risk, name, b)])
    return rows


def _with_interval(label_risk: Mapping[str, Any], name: str, value: Any) -> str:
    metrics = label_risk.get("metrics") or {}
    if name == LOSS and isinstance(value, (int, float)):
        return figures_text(metrics, LOSS)  # in accuracy points, as every output shows the loss
    if name == "label_error_rate" and isinstance(value, (int, float)):
        return share_text(metrics, name)
    return fmt(value)
