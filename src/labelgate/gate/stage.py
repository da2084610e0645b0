"""The gate stage: run the suites whose inputs are given (`run_gate`, after `preflight`), and `main`, the stage on
files (read the figures and the gated subset, write the verdict, its headline and the report)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pandas as pd

from labelgate.errors import BadInputError, ConfigError
from labelgate.expectations import (
    DEFAULT_EXPECTATIONS_DIR,
    check_suite,
    load_suite_json,
    run_suite_json,
    suite_columns,
    suite_path,
)
from labelgate.gate.advice import _accuracy_loss_advice, _label_error_advice, blocking_lines, note_uncalibrated
from labelgate.gate.decision import (
    Verdict,
    _decide,
    _for_rows,
    _label_scope,
    _row,
    _split_measured,
    failed_gate_verdict,
)
from labelgate.gate.figures import (
    _figures,
    check_figure_types,
    gated_label_risk,
    label_summary_frame,
    stability_frame,
    suite_figures,
)
from labelgate.gate.params import GATE_SUITES, GateParams, WHOLE_TABLE
from labelgate.train.params import TrainParams, uncalibrated_settings
from labelgate.vocabulary import (
    BLOCK,
    FAILED,
    PASS,
    SCORES_SUITE,
    SKIPPED,
    STABILITY_SUITE,
    SUBSET_FIGURES,
    SUMMARY_SUITE,
)


def preflight(params: GateParams, suites: tuple[str, ...],
              expectations_dir: str | os.PathLike = DEFAULT_EXPECTATIONS_DIR) -> dict[str, dict]:
    """Check the suites a run needs and gate.required/optional before anything runs; return the loaded suites.

    A suite expectation of an unknown type or severity, on a column its stage does not produce or with an undefined
    `$PARAMETER`, and a required or optional name that no gate suite checks, are configuration errors (exit 2)."""
    thresholds = params.thresholds()
    loaded = {}
    for suite in suites:
        loaded[suite] = load_suite_json(suite, expectations_dir)
        check_suite(loaded[suite], source=suite_path(suite, expectations_dir), parameters=thresholds,
                    columns=suite_figures(suite))
    known = set()
    for suite in GATE_SUITES:
        try:
            known |= suite_columns(loaded[suite] if suite in loaded else load_suite_json(suite, expectations_dir))
        except BadInputError:  # a suite this run does not use may be absent; its figures are then unknown
            continue
    unknown = sorted(params.figure_names() - known)
    if unknown:
        raise ConfigError(f"params.yaml: gate.required/gate.optional name '{unknown[0]}', which no suite in "
                          f"{expectations_dir} checks; checked figures: {', '.join(sorted(known))}")
    return loaded


def run_gate(
    *,
    scores: pd.DataFrame | None,
    label_risk: dict[str, Any] | None,
    evaluation: dict[str, Any] | None,
    params: GateParams,
    expectations_dir: str | os.PathLike = DEFAULT_EXPECTATIONS_DIR,
    suites: dict[str, dict] | None = None,
    subset: dict[str, Any] | None = None,
    train: TrainParams | None = None,
) -> Verdict:
    """Run the suites whose inputs are given; return the verdict. Never raises for a failed expectation.

    Raises ConfigError (before running anything) for a broken suite or an unknown name in gate.required/optional.
    `suites`: what `preflight` returned for these inputs, when the caller already ran it (else it runs here).
    `subset`: the gated subset's summary (filter.py) when gate.subset is a filter: the label-level figures are then
    the subset's (`scores` should hold only its rows: `subset_rows`). `train`: params `train:`, when the model it
    configures is known; a predicted loss calibrated for other settings then cannot PASS (advice.note_uncalibrated)."""
    thresholds = params.thresholds()
    outcomes: list[dict[str, Any]] = []
    risk = gated_label_risk(label_risk, subset) if label_risk is not None else None
    plan = []
    if scores is not None:
        plan.append((SCORES_SUITE, lambda: scores))
    if label_risk is not None:
        plan.append((SUMMARY_SUITE, lambda: label_summary_frame(risk, evaluation, subset=params.subset)))
    if evaluation is not None:
        plan.append((STABILITY_SUITE, lambda: stability_frame(evaluation, params.subset)))
    if not plan:
        reason = "nothing to check: no scores, label risk or evaluation given"
        return Verdict(BLOCK, [], reason=reason, blocking=[reason])
    if suites is None:
        suites = preflight(params, tuple(name for name, _ in plan), expectations_dir)
    figures: dict[str, Any] = {}
    for suite, make_frame in plan:
        frame = make_frame()
        suite_json = _for_rows(suites[suite], subset)
        measured, skipped = _split_measured(suite_json, frame, params.optional,
                                            numbers_only=suite != SCORES_SUITE)
        figures.update(_figures(suite_json, frame))
        outcomes.extend(_row(suite, outcome, SKIPPED) for outcome in skipped)
        if measured["expectations"]:
            for outcome in run_suite_json(measured, frame, thresholds, source=suite_path(suite, expectations_dir)):
                outcomes.append(_row(suite, outcome, PASS if outcome.success else FAILED))
    verdict = _decide(outcomes, params, {suite: suite_columns(suites[suite]) for suite, _ in plan})
    for o in outcomes:  # per-row suites: the figure is the expectation's observed statistic
        if o.get("column"):
            figures.setdefault(o["column"], None if o["status"] == SKIPPED else o["observed"])
    verdict.figures = figures
    if label_risk is not None:  # reason: an untrustworthy audit first, then the accuracy loss, then the error rate
        loss = _accuracy_loss_advice(verdict, risk, evaluation, params)
        integrity, too_small = _label_error_advice(verdict, risk, params)
        verdict.reason = "; ".join(part for part in (integrity, loss, too_small, verdict.reason) if part)
        if train is not None:
            note_uncalibrated(verdict, uncalibrated_settings(train))
    if label_risk is not None or scores is not None:
        verdict.label_scope = _label_scope(label_risk, subset, params, scores)
    verdict.blocking = blocking_lines(verdict)
    return verdict


def main(*, scores: str | os.PathLike | None, label_risk: str | os.PathLike | None,
         evaluation: str | os.PathLike | None, out: str | os.PathLike, params: GateParams,
         expectations_dir: str | os.PathLike = DEFAULT_EXPECTATIONS_DIR, headline: str | os.PathLike | None = None,
         report_dir: str | os.PathLike | None = None, subsets: str | os.PathLike | None = None,
         curves: str | os.PathLike | None = None, warn: Callable[[str], None] | None = None,
         train: TrainParams | None = None) -> Verdict:
    """The gate stage on files: run the suites whose inputs are given, write the verdict to `out` (with the gated
    subset), its headline figures to `headline` and the report to `report_dir`, blocked or not. `train`: as run_gate.

    Fails closed: a broken suite or gate params raise ConfigError before anything runs; when the gate itself fails,
    a blocked verdict (and headline and report) is written before the error propagates. The verdict and its headline
    are written all or nothing. A report that cannot be written goes to `warn` and never changes the verdict."""
    from labelgate.contract import read_table
    from labelgate.headline import gate_headline
    from labelgate.outputs import write_outputs

    suites = preflight(params, tuple(suite for suite, given in ((SCORES_SUITE, scores), (SUMMARY_SUITE, label_risk),
                                                                (STABILITY_SUITE, evaluation)) if given),
                       expectations_dir)
    # the report's audit-reference section reads the file beside evaluate.json (where the pipeline writes it)
    beside = None if evaluation is None else os.path.join(os.path.dirname(os.fspath(evaluation)),
                                                          "audit_reference.json")
    paths = {"scores": scores, "label_risk": label_risk, "evaluation": evaluation, "subsets": subsets,
             "curves": curves, "audit_reference": beside if beside and os.path.exists(beside) else None}
    evaluation_figures = None
    try:
        # A figure file that cannot be read, a boolean where a number belongs, or an evaluation without the gated
        # subset is bad input (exit 2, one line naming file and key); the verdict is still replaced by a blocked one.
        label_figures = read_figures(label_risk, where=("metrics",), names=suite_figures(SUMMARY_SUITE))
        evaluation_figures = read_figures(evaluation, where=("subsets", params.subset),
                                          names=suite_figures(STABILITY_SUITE))
        if evaluation_figures is not None:
            evaluated = evaluation_figures.get("subsets")
            if isinstance(evaluated, dict) and not isinstance(evaluated.get(params.subset), dict):
                raise BadInputError(evaluation, f"key 'subsets' has no evaluation of '{params.subset}' "
                                                f"(gate.subset); evaluated: {', '.join(sorted(map(str, evaluated)))}")
        score_rows = read_table(scores) if scores else None
        subset = None
        if params.subset != WHOLE_TABLE and (scores or label_risk):
            subset, ids = gated_subset(subsets, params.subset)
            score_rows = subset_rows(score_rows, ids)
        verdict = run_gate(
            scores=score_rows,
            label_risk=label_figures,
            evaluation=evaluation_figures,
            params=params, expectations_dir=expectations_dir, suites=suites, subset=subset, train=train,
        )
    except Exception as exc:  # fail closed: write a blocked verdict, then report the error
        failed = failed_gate_verdict(f"{type(exc).__name__}: {exc}").as_dict()
        write_outputs((out, failed), *(((headline, gate_headline(failed)),) if headline is not None else ()))
        _write_report(report_dir, failed, paths, warn)
        raise
    result = {**verdict.as_dict(), "subset": params.subset}
    # the verdict and its headline both or neither (the report is written after: it never changes the verdict)
    write_outputs((out, result), *(((headline, gate_headline(result, evaluation_figures, params.subset)),)
                                   if headline is not None else ()))
    _write_report(report_dir, result, paths, warn)
    return verdict


def gated_subset(subsets: str | os.PathLike | None, name: str) -> tuple[dict[str, Any], set[str]]:
    """The gated filter subset's summary (<subsets>/<name>.json, written by `labelgate filter`) and its row ids
    (<name>.parquet). Missing either is bad input: the label-level checks must not fall back to the whole table."""
    from pathlib import Path

    from labelgate.contract import ID
    from labelgate.outputs import read_json
    from labelgate.train.inputs import subset_table

    if subsets is None:
        raise BadInputError("--subsets", f"gate.subset is '{name}', a filter subset: pass --subsets DIR (its "
                                         "summary and table) so the label-level checks read that subset's figures")
    summary_path = Path(subsets) / f"{name}.json"
    if not summary_path.exists():
        raise BadInputError(summary_path, f"gate.subset '{name}' has no filter summary; run `labelgate filter "
                                          f"--strategy {name}` (or set gate.subset to one of filter.strategies)")
    summary = read_json(summary_path)
    check_figure_types(summary, summary_path, where=(SUBSET_FIGURES,), names=suite_figures(SUMMARY_SUITE))
    table = subset_table(name, subsets)
    frame = pd.read_parquet(table, columns=[ID]) if table.suffix == ".parquet" and table.exists() else None
    if frame is None:
        from labelgate.contract import read_table

        frame = read_table(table)
    if ID not in frame.columns:
        raise BadInputError(table, "subset table has no id column", column=ID)
    return summary, set(frame[ID].astype(str))


def subset_rows(scores: pd.DataFrame | None, ids: set[str]) -> pd.DataFrame | None:
    """The per-example scores of the gated subset's rows (what the label_scores suite checks)."""
    from labelgate.contract import ID

    if scores is None:
        return None
    if ID not in scores.columns:
        raise BadInputError("scores", "no id column to select the gated subset's rows", column=ID)
    return scores[scores[ID].astype(str).isin(ids)].reset_index(drop=True)


def read_figures(path: str | os.PathLike | None, *, where: tuple[str, ...], names: set[str]) -> dict | None:
    """A figures JSON file (None when not given), its checked figures typed (`check_figure_types`)."""
    if path is None:
        return None
    from labelgate.outputs import read_json

    data = read_json(path)
    check_figure_types(data, path, where=where, names=names)
    return data


def _write_report(report_dir, verdict: dict[str, Any], paths: dict[str, Any], warn) -> None:
    """The gate's report (report.html, summary.md in `report_dir`); a failure to write it only warns."""
    if report_dir is None:
        return
    from pathlib import Path

    from labelgate.report import load_inputs, write_report

    try:
        inputs = load_inputs(**paths)
        inputs.verdict = verdict
        inputs.missing.pop("verdict", None)
        write_report(inputs, html_path=Path(report_dir) / "report.html", markdown_path=Path(report_dir) / "summary.md")
    except Exception as exc:  # noqa: BLE001 - the verdict stands either way
        (warn or _stderr)(f"labelgate gate: warning: report not written: {type(exc).__name__}: {exc}")


def _stderr(line: str) -> None:
    import sys

    print(line, file=sys.stderr)
