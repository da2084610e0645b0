"""params.yaml loading: the single source of thresholds.

Each stage module owns a frozen dataclass for its own section of params.yaml, with documented defaults and range
checks in `__post_init__`. This module only reads the YAML and builds those dataclasses, rejecting unknown keys so a
typo in params.yaml is an error instead of a silently ignored threshold. Nothing happens at import time.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, TypeVar

import yaml

from labelgate.errors import ConfigError

DEFAULT_PARAMS_PATH = Path("params.yaml")

T = TypeVar("T")


def load_params(path: str | os.PathLike = DEFAULT_PARAMS_PATH) -> dict[str, Any]:
    """Read params.yaml; a missing file means every section takes its defaults."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    return data


def build(cls: type[T], values: dict[str, Any] | None, *, section: str) -> T:
    """Build dataclass `cls` from a params section, rejecting keys it does not define."""
    values = dict(values or {})
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"params.yaml: unknown key(s) {', '.join(unknown)} in section '{section}'")
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"params.yaml: section '{section}': {exc}") from exc


def section(params: dict[str, Any], name: str, cls: type[T]) -> T:
    """The dataclass for one section of params (e.g. section(params, 'score', ScoreParams))."""
    value = params.get(name, {})
    if value is not None and not isinstance(value, dict):
        raise ConfigError(f"params.yaml: section '{name}' must be a mapping")
    return build(cls, value, section=name)


def check_range(name: str, value: float, low: float | None = None, high: float | None = None) -> None:
    """Raise ValueError (turned into ConfigError by `build`) when value lies outside [low, high]."""
    if low is not None and value < low or high is not None and value > high:
        raise ValueError(f"{name}={value!r} must lie in [{low}, {high}]")


@dataclasses.dataclass(frozen=True)
class BaseParams:
    """Shared settings: the label set and the seed every stage derives its randomness from."""

    labels: tuple[str, ...] = ()  # empty: inferred from the data
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "labels", tuple(str(label) for label in (self.labels or ())))
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"labels must be unique, got {list(self.labels)}")
        if self.labels and len(self.labels) < 2:
            raise ValueError("labels needs at least two classes")
