"""The packaged defaults, and where a one-shot command takes its params, suites and label set from.

`labelgate/defaults/` is package data and the single source of the default settings:
  params.yaml      the default params (generic annotation prompt, thresholds); `labelgate init` starts from it
  expectations/    the Great Expectations suites. In the labelgate repository this folder is a symbolic link to the
                   top-level expectations/ the demo pipeline runs, so the suites exist once; a built wheel holds
                   the files themselves.

`labelgate check` works in any folder: a params file or suite folder given explicitly must exist (exit 2
otherwise); without one, the folder's own params.yaml / expectations/ are used when present, else the packaged
defaults, and the command says which in one line. The label set comes from --labels, else from the table when its
columns agree on one (llm_prob_* columns naming every label that llm_label, gold_label and annotator_* use), else
from params base.labels.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from labelgate.errors import BadInputError, ConfigError

DEFAULTS_DIR = Path(__file__).resolve().parent / "defaults"
LOCAL_PARAMS = Path("params.yaml")
LOCAL_EXPECTATIONS = Path("expectations")


def default_params_path() -> Path:
    return DEFAULTS_DIR / "params.yaml"


def default_expectations_dir() -> Path:
    return DEFAULTS_DIR / "expectations"


def default_params() -> dict[str, Any]:
    from labelgate.config import load_params

    path = default_params_path()
    if not path.is_file():
        raise ConfigError(f"{path}: the labelgate package holds no default params; reinstall labelgate")
    return load_params(path)


@dataclass(frozen=True)
class Sources:
    """Where a command's params and suites came from, for the one line it prints."""

    params: dict[str, Any]
    params_from: str  # a path, or "packaged defaults"
    expectations: Path
    expectations_from: str

    def describe(self) -> list[str]:
        return [f"params: {self.params_from}", f"suites: {self.expectations_from}"]


def resolve_sources(params: str | os.PathLike | None, expectations: str | os.PathLike | None, *,
                    cwd: str | os.PathLike = ".") -> Sources:
    """Explicit paths must exist; otherwise the folder's params.yaml / expectations/, else the packaged defaults."""
    from labelgate.config import load_params, read_params

    cwd = Path(cwd)
    if params is not None:
        path = Path(params)
        values, params_from = read_params(path), str(path)
    elif (cwd / LOCAL_PARAMS).is_file():
        values, params_from = load_params(cwd / LOCAL_PARAMS), str(LOCAL_PARAMS)
    else:
        values, params_from = default_params(), f"packaged defaults (no {LOCAL_PARAMS} here)"
    if expectations is not None:
        folder = Path(expectations)
        if not folder.is_dir():
            raise BadInputError(folder, "expectation suite folder not found (--expectations)")
        expectations_from = str(folder)
    elif (cwd / LOCAL_EXPECTATIONS).is_dir():
        folder, expectations_from = cwd / LOCAL_EXPECTATIONS, f"{LOCAL_EXPECTATIONS}/"
    else:
        folder = default_expectations_dir()
        expectations_from = f"packaged defaults (no {LOCAL_EXPECTATIONS}/ here)"
    return Sources(values, params_from, folder, expectations_from)


def table_labels(frame: pd.DataFrame) -> tuple[tuple[str, ...], str] | None:
    """The label set a table states itself, or None when its columns disagree (or it names no labels).

    With llm_prob_* columns the set is theirs, in their order, provided every label used in llm_label, gold_label
    and annotator_* has one; without them it is the sorted set of labels used.
    """
    from labelgate.contract import GOLD, LLM_LABEL, LLM_PROB_PREFIX, annotator_columns, prob_columns

    used: set[str] = set()
    for column in [LLM_LABEL, GOLD, *annotator_columns(frame)]:
        if column in frame.columns:
            values = frame[column].dropna()
            used.update(str(v) for v in values if str(v).strip())
    from_probs = [c[len(LLM_PROB_PREFIX):] for c in prob_columns(frame)]
    if from_probs:
        if used - set(from_probs):
            return None
        return tuple(from_probs), "the table's llm_prob_* columns"
    if len(used) < 2:
        return None
    return tuple(sorted(used)), "the labels in the table"


def choose_labels(frame: pd.DataFrame, *, option: tuple[str, ...], configured: tuple[str, ...],
                  params_from: str) -> tuple[tuple[str, ...], str]:
    """The label set for a one-shot check and where it came from.

    --labels wins. Otherwise params base.labels, when the table's own labels fit inside it (or the table states
    none); otherwise the table's own consistent label set, so a table with another label set is not refused for
    the demo's base.labels. A table whose columns disagree falls back to base.labels and fails validation there.
    """
    if option:
        return option, "--labels"
    found = table_labels(frame)
    if configured and (found is None or set(found[0]) <= set(configured)):
        return configured, f"base.labels in {params_from}"
    if found is not None:
        labels, how = found
        why = f"inferred from {how}"
        if configured:
            why += "; base.labels in params differ"
        return labels, why
    return (), "inferred during validation"
