"""Stage 2, score: run the enabled risk signals over a validated label table.

Output: a per-example table (the input columns plus every signal's columns) and a summary with each signal's
figures and a flat `metrics` mapping, which DVC shows as metrics and the gate checks.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from labelgate.config import build_fields, check_range
from labelgate.contract import LabelTable
from labelgate.errors import ConfigError, LabelgateError, StageError
from labelgate.expectations import DEFAULT_EXPECTATIONS_DIR
from labelgate.signals import SIGNALS, RiskSignal, ScoringContext, SignalParams
from labelgate.signals.text_model import TextModelParams
from labelgate.vocabulary import LABEL, LLM_LABEL

DEFAULT_SIGNALS = ("entropy", "cleanlab", "agreement", "audit", "label_error", "class_balance")


@dataclass(frozen=True)
class ScoreParams:
    """The score stage's own settings (params.yaml section `score`). The same flat section also holds the keys of
    the text model (TextModelParams) and of each signal (its `Params`): `from_section` hands each key to its owner."""

    signals: tuple[str, ...] = DEFAULT_SIGNALS  # which signals run, in this order
    seed: int = 0
    stream_rows: int = 2_000_000  # Parquet tables with more rows are validated and scored in chunks (score_stream)
    chunk_rows: int = 250_000  # rows per chunk when streaming
    # built by from_section from the keys their dataclasses declare; not keys themselves
    text: TextModelParams = field(default_factory=TextModelParams, metadata={"key": False})
    signal_params: Mapping[str, SignalParams] = field(default_factory=dict, metadata={"key": False})  # missing: defaults

    def __post_init__(self):
        object.__setattr__(self, "signals", tuple(self.signals))
        unknown = [s for s in self.signals if s not in SIGNALS]
        if unknown:
            raise ValueError(f"unknown signal(s) {unknown}; known: {sorted(SIGNALS)}")
        for name, params in self.signal_params.items():
            if name not in SIGNALS or not isinstance(params, SIGNALS[name].Params):
                raise ValueError(f"signal_params[{name!r}] must be the {name!r} signal's Params")
        defaults = {name: signal.Params() for name, signal in SIGNALS.items()}
        object.__setattr__(self, "signal_params", {**defaults, **self.signal_params})
        check_range("stream_rows", self.stream_rows, 1000)
        check_range("chunk_rows", self.chunk_rows, 1000)

    @classmethod
    def from_section(cls, values: Mapping[str, Any], *, section: str = "score") -> ScoreParams:
        """Build from the flat params.yaml section: each key goes to the one dataclass that declares it (this one,
        TextModelParams, or a signal's Params); a key none declares is an error naming it."""
        owners = section_owners()
        unknown = sorted(set(values) - set(owners))
        if unknown:
            raise ConfigError(f"params.yaml: unknown key(s) {', '.join(unknown)} in section '{section}'")

        def keys_of(owner: type) -> dict[str, Any]:
            return {key: value for key, value in values.items() if owners[key] is owner}

        own = build_fields(cls, keys_of(cls), section=section)
        text = build_fields(TextModelParams, keys_of(TextModelParams), section=section)
        signal_params = {name: build_fields(signal.Params, keys_of(signal.Params), section=section)
                         for name, signal in SIGNALS.items()}
        return dataclasses.replace(own, text=text, signal_params=signal_params)

    def signal(self, name: str) -> RiskSignal:
        """The registered signal `name` with its params."""
        return SIGNALS[name](self.signal_params[name])


def section_owners() -> dict[str, type]:
    """Each key of params.yaml section `score` -> the dataclass that declares it. A key declared by two different
    dataclasses is a programming error: the section's keys must have one meaning each."""
    owners: dict[str, type] = {}
    candidates = [ScoreParams, TextModelParams, *dict.fromkeys(signal.Params for signal in SIGNALS.values())]
    for owner in candidates:
        for f in dataclasses.fields(owner):
            if not f.metadata.get("key", True):
                continue
            if owners.setdefault(f.name, owner) is not owner:
                raise TypeError(f"score.{f.name} is declared by both {owners[f.name].__name__} and {owner.__name__}")
    return owners


def score_labels(
    table: LabelTable, params: ScoreParams, *, test_labels: pd.Series | None = None, progress=None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Run each enabled signal; return (per-row table, summary with per-signal results and flat metrics)."""
    context = ScoringContext(table, text=params.text, seed=params.seed, test_labels=test_labels)
    rows, summary = run_signals(context, params, progress=progress)
    return pd.concat([table.frame.reset_index(drop=True), *rows], axis=1), summary


def run_signals(context: ScoringContext, params: ScoreParams, *, progress=None, keep=None
                ) -> tuple[list[Any], dict[str, Any]]:
    """Each signal `params` enables, over `context`: (the signals' per-row frames, the summary). Shared by
    score_labels and the chunked path (score_stream). A signal that raises stops the stage (fail closed).
    `keep`, when given, is called with each signal's per-row frame and what it returns is listed instead (the
    chunked path spools the frames to disk, so they take no memory while the next signals run)."""
    table = context.table
    rows: list[pd.DataFrame] = []
    signals: dict[str, Any] = {}
    metrics: dict[str, float | None] = {}
    for name in params.signals:
        if progress is not None:
            progress(name)
        try:
            result = params.signal(name).score(context)
        except LabelgateError:
            raise
        except Exception as exc:  # noqa: BLE001 - the stage boundary: a library failure becomes one named line
            lines = str(exc).strip().splitlines()
            raise StageError(f"{table.path}: signal '{name}' failed on this table ({type(exc).__name__}: "
                             f"{lines[0] if lines else ''}); disable it in score.signals or fix the table") from exc
        if not result.rows.empty:
            rows.append(result.rows.reset_index(drop=True) if keep is None else keep(result.rows))
        signals[name] = result.summary
        metrics.update(result.metrics)
        del result  # not held while the next signal runs
    counts = table.frame[LLM_LABEL].value_counts().reindex(table.labels, fill_value=0)
    summary = {
        "n_rows": len(table.frame),
        "labels": list(table.labels),
        "llm_label_counts": {str(k): int(v) for k, v in counts.items()},
        "metrics": metrics,
        "signals": signals,
    }
    return rows, summary


def score_table(labels_path: str | os.PathLike, *, params: dict[str, Any], labels: str | None = None,
                test: str | os.PathLike | None = None,
                expectations_dir: str | os.PathLike = DEFAULT_EXPECTATIONS_DIR,
                frame: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Validate the label table (`frame`: already read), check the gold test set and run the signals in memory,
    with a spinner naming the running signal on a terminal. Returns (per-row scores, summary)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from labelgate.config import section
    from labelgate.validate import main as validate
    from labelgate.validate import validate_test_table

    table = validate(labels_path, params=params, labels=labels, expectations_dir=expectations_dir, frame=frame)
    test_labels = None
    if test is not None:
        test_labels = validate_test_table(test, labels=table.labels, expectations_dir=expectations_dir)[LABEL]
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  transient=True, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task("scoring", total=None)
        return score_labels(table, section(params, "score", ScoreParams), test_labels=test_labels,
                            progress=lambda name: bar.update(task, description=f"signal: {name}"))


def main(labels_path: str | os.PathLike, out: str | os.PathLike, summary: str | os.PathLike, *,
         params: dict[str, Any], labels: str | None = None, test: str | os.PathLike | None = None,
         expectations_dir: str | os.PathLike = DEFAULT_EXPECTATIONS_DIR,
         headline: str | os.PathLike | None = None, say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The score stage: scores to `out`, the summary to `summary` and its headline figures to `headline`, all or
    nothing. Parquet tables above score.stream_rows rows are validated and scored in chunks (score_stream, which
    writes scores and summary itself); `say` gets its progress lines. Returns the summary."""
    from labelgate.config import base_labels, section
    from labelgate.contract import resolve_labels
    from labelgate.headline import headline_output, label_risk_headline
    from labelgate.outputs import write_outputs
    from labelgate.score_stream import infer_labels, score_parquet_streaming, should_stream
    from labelgate.validate import ValidateParams, validate_test_table

    score_params = section(params, "score", ScoreParams)
    if should_stream(labels_path, score_params):
        label_set = resolve_labels(base_labels(params), option=labels) or infer_labels(labels_path,
                                                                                     score_params.chunk_rows)
        test_labels = None
        if test is not None:
            test_labels = validate_test_table(test, labels=label_set, expectations_dir=expectations_dir)[LABEL]
        from labelgate.outputs import atomic_paths, write_json_to

        # the headline's temporary file first: an unwritable --headline fails before scores and summary are written
        with atomic_paths(*([headline] if headline is not None else [])) as headline_tmp:
            result = score_parquet_streaming(labels_path, out, summary, labels=label_set, params=score_params,
                                             validate_params=section(params, "validate", ValidateParams),
                                             expectations_dir=expectations_dir, test_labels=test_labels,
                                             progress=say)
            for tmp in headline_tmp:
                write_json_to(tmp, label_risk_headline(result))
        return result
    rows, result = score_table(labels_path, params=params, labels=labels, test=test,
                               expectations_dir=expectations_dir)
    write_outputs((out, rows), (summary, result), *headline_output(headline, label_risk_headline(result)))
    return result
