"""What the score stage runs, shared by its in-memory path (labelgate.score) and its chunked path
(labelgate.score_stream): the stage's params (params.yaml section `score`, split among the signals' own Params) and
the loop that runs each enabled signal over a scoring context."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from labelgate.config import build_fields, check_range
from labelgate.errors import ConfigError, LabelgateError, StageError
from labelgate.signals import SIGNALS, RiskSignal, ScoringContext, SignalParams
from labelgate.signals.context import release_memory
from labelgate.signals.text_model import TextModelParams
from labelgate.vocabulary import LLM_LABEL

DEFAULT_SIGNALS = ("entropy", "cleanlab", "agreement", "audit", "label_error", "accuracy_loss", "class_balance")


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

    @property
    def audit_confidence(self) -> float:
        """The confidence level of every interval estimated from the gold audit (score.audit_confidence)."""
        return self.signal_params["audit"].audit_confidence

    def audit_settings(self) -> dict[str, Any]:
        """The audit settings every signal reads from the ScoringContext (score.audit_confidence,
        score.min_audited_per_stratum): ScoringContext(..., **params.audit_settings())."""
        audit = self.signal_params["audit"]
        return {"audit_confidence": audit.audit_confidence, "min_audited_per_stratum": audit.min_audited_per_stratum}

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


def run_signals(context: ScoringContext, params: ScoreParams, *, progress=None, keep=None
                ) -> tuple[list[Any], dict[str, Any]]:
    """Each signal `params` enables, over `context`: (the signals' per-row frames, the summary). Shared by
    score.score_labels and the chunked path (score_stream). A signal that raises stops the stage (fail closed).
    `keep`, when given, is called with each signal's per-row frame and what it returns is listed instead (the
    chunked path spools the frames to disk, so they take no memory while the next signals run)."""
    from threadpoolctl import threadpool_limits

    table = context.table
    rows: list[pd.DataFrame] = []
    signals: dict[str, Any] = {}
    metrics: dict[str, float | None] = {}
    for name in params.signals:
        if progress is not None:
            progress(name)
        release_memory()
        try:
            # BLAS on one thread: the signals' models are L-BFGS fits whose vector operations are too small for
            # OpenBLAS's threads, which then cost 10-50x the work on 2 cores (bench/score_profile.md); the text
            # model's folds run in parallel threads instead (score.n_jobs)
            with threadpool_limits(limits=1, user_api="blas"):
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
