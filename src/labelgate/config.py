"""params.yaml loading: the single source of thresholds.

Each stage module owns a frozen dataclass for its own section of params.yaml, with documented defaults and range
checks in `__post_init__`. This module only reads the YAML and builds those dataclasses, rejecting unknown keys so a
typo in params.yaml is an error instead of a silently ignored threshold. Nothing happens at import time.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from labelgate.errors import ConfigError

DEFAULT_PARAMS_PATH = Path("params.yaml")

T = TypeVar("T")


class Params(dict):
    """params as read from a file: a plain mapping of sections that remembers which file (`source`), so an error
    in one of its sections names that file (e.g. the one given with --params), not params.yaml."""

    def __init__(self, data: dict[str, Any], *, source: str):
        super().__init__(data)
        self.source = source


yaml.SafeDumper.add_representer(Params, yaml.SafeDumper.represent_dict)


def params_source(params: Any) -> str:
    """The file `params` came from (`Params.source`), else params.yaml."""
    return getattr(params, "source", None) or str(DEFAULT_PARAMS_PATH)


def load_params(path: str | os.PathLike = DEFAULT_PARAMS_PATH) -> dict[str, Any]:
    """Read params.yaml; a missing file means every section takes its defaults."""
    path = Path(path)
    if not path.exists():
        return Params({}, source=str(path))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    return Params(data, source=str(path))


def read_params(path: str | os.PathLike | None) -> dict[str, Any]:
    """params.yaml for a command: a file given explicitly (--params) must exist; the implicit default
    (./params.yaml) may be absent, which means the documented defaults."""
    if path is not None and not Path(path).is_file():
        raise ConfigError(f"{path}: params file not found (--params)")
    return load_params(DEFAULT_PARAMS_PATH if path is None else path)


def build(cls: type[T], values: dict[str, Any] | None, *, section: str) -> T:
    """Build dataclass `cls` from a params section, rejecting keys it does not define. A class whose section also
    holds other dataclasses' keys (ScoreParams: the signals' settings) splits it with its `from_section`."""
    values = dict(values or {})
    split = getattr(cls, "from_section", None)
    if split is not None:
        return split(values, section=section)
    return build_fields(cls, values, section=section)


def build_fields(cls: type[T], values: dict[str, Any], *, section: str) -> T:
    """Build dataclass `cls` from the keys of a params section that it declares, checking their types."""
    values = dict(values)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"params.yaml: unknown key(s) {', '.join(unknown)} in section '{section}'")
    hints = _type_hints(cls)
    for key, value in values.items():
        if key in hints and not _conforms(value, hints[key]):
            raise ConfigError(f"params.yaml: section '{section}': {key}={value!r} must be {_describe(hints[key])}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"params.yaml: section '{section}': {exc}") from exc


def _type_hints(cls) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - an annotation we cannot resolve is left to the dataclass's own checks
        return {}


def _conforms(value: Any, hint: Any) -> bool:
    """Whether a YAML value fits a field's annotation. Only plain types are checked (YAML booleans are not numbers,
    numbers are not strings); anything more complex is left to the dataclass's __post_init__."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return is_number(value)
    if hint is str:
        return isinstance(value, str)
    if origin in (tuple, list) and isinstance(value, (list, tuple)):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return len(args) != 1 or all(_conforms(item, args[0]) for item in value)
    if origin in (tuple, list):
        return False
    return True


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if hint is bool:
        return "true or false"
    if hint is int:
        return "an integer"
    if hint is float:
        return "a number"
    if hint is str:
        return "a string"
    if origin in (tuple, list):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return f"a list of {_describe(args[0])} values" if len(args) == 1 else "a list"
    return str(hint)


def is_number(value: Any) -> bool:
    """A real number that is not a boolean (YAML `true` is not 1) and not NaN."""
    return (isinstance(value, numbers.Real) and not isinstance(value, bool) and type(value).__name__ != "bool_"
            and not math.isnan(float(value)))


def section(params: dict[str, Any], name: str, cls: type[T]) -> T:
    """The dataclass for one section of params (e.g. section(params, 'score', ScoreParams)); an error names the
    file the params came from."""
    source = params_source(params)
    value = params.get(name, {})
    if value is not None and not isinstance(value, dict):
        raise ConfigError(f"{source}: section '{name}' must be a mapping")
    try:
        return build(cls, value, section=name)
    except ConfigError as exc:
        text = str(exc)
        if source != str(DEFAULT_PARAMS_PATH) and text.startswith(f"{DEFAULT_PARAMS_PATH}: "):
            raise ConfigError(f"{source}: {text.removeprefix(f'{DEFAULT_PARAMS_PATH}: ')}") from None
        raise


def check_range(name: str, value: float, low: float | None = None, high: float | None = None) -> None:
    """Raise ValueError (turned into ConfigError by `build`) when value is not a number or lies outside [low, high].

    Booleans and NaN are refused: `max_estimated_noise_rate: true` is a typo, not the threshold 1.0."""
    if not is_number(value):
        raise ValueError(f"{name}={value!r} must be a number")
    if low is not None and value < low or high is not None and value > high:
        raise ValueError(f"{name}={value!r} must lie in [{low}, {high}]")


@dataclasses.dataclass(frozen=True)
class BaseParams:
    """Shared settings: the label set. (Each stage that draws random numbers has its own `seed` key.)"""

    labels: tuple[str, ...] = ()  # empty: inferred from the data

    def __post_init__(self):
        object.__setattr__(self, "labels", tuple(str(label) for label in (self.labels or ())))
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"labels must be unique, got {list(self.labels)}")
        if self.labels and len(self.labels) < 2:
            raise ValueError("labels needs at least two classes")


def base_labels(params: dict[str, Any]) -> tuple[str, ...]:
    """params base.labels (empty: inferred from the data)."""
    return section(params, "base", BaseParams).labels
