"""Run Great Expectations 1.x suites kept as JSON in `expectations/` against in-memory tables.

Suites hold `{"$PARAMETER": name}` placeholders where a threshold belongs; the values come from params.yaml at run
time, so params.yaml stays the single source of thresholds and `dvc params diff` shows every change. Each
expectation's native GX `severity` decides its effect: "critical" blocks, "warning" only warns. The expectation's
`meta` carries a human description and a suggested mitigation for the verdict table.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

from labelgate.errors import BadInputError, ConfigError, LabelgateError, StageError
from labelgate.vocabulary import BLOCK, RENAMED_SUITES, WARN

DEFAULT_EXPECTATIONS_DIR = Path("expectations")
ROW_COLUMN = "_row"  # 1-based data row number, carried so failures can name rows

_SEVERITY = {"critical": BLOCK, "warning": WARN, "info": WARN}
# Keys an expectation may carry in a suite file; anything else (e.g. a misspelt "severty") is a configuration error.
_EXPECTATION_KEYS = {"type", "kwargs", "meta", "severity", "id", "notes", "description", "rendered_content"}
_COLUMN_KWARGS = ("column", "column_A", "column_B")


@dataclass(frozen=True)
class Outcome:
    """One expectation's result in plain values (no GX objects leak out of this module)."""

    expectation: str
    column: str | None
    success: bool
    severity: str
    description: str
    mitigation: str
    observed: Any = None
    threshold: str = ""
    rows: list[int] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "expectation": self.expectation,
            "column": self.column,
            "success": self.success,
            "severity": self.severity,
            "description": self.description,
            "observed": self.observed,
            "threshold": self.threshold,
            "mitigation": self.mitigation,
            "rows": self.rows[:50],
            "error": self.error,
        }


def suite_path(name: str, expectations_dir: str | os.PathLike = DEFAULT_EXPECTATIONS_DIR) -> Path:
    return Path(expectations_dir) / f"{name}.json"


def renamed_suite_advice(former: str, name: str, *, both: bool) -> str:
    """What to do with a suite file under its former name (`both`: the file under the new name exists too)."""
    how = f"move its expectations into {name}.json and delete it" if both else f"rename it to {name}.json"
    return (f"the suite '{former}' is called '{name}' now: {how}, and change the path in dvc.yaml's gate deps "
            "likewise (docs/policy.md, 'Suite names')")


def refuse_renamed_suite(name: str, expectations_dir: str | os.PathLike = DEFAULT_EXPECTATIONS_DIR) -> None:
    """ConfigError when `expectations_dir` still holds suite `name` under a former name (vocabulary.RENAMED_SUITES):
    such a file is never read in its place nor left unread."""
    for former in (old for old, new in RENAMED_SUITES.items() if new == name):
        old = suite_path(former, expectations_dir)
        if old.exists():
            both = suite_path(name, expectations_dir).exists()
            raise ConfigError(f"{old}: {renamed_suite_advice(former, name, both=both)}")


def load_suite_json(name: str, expectations_dir: str | os.PathLike = DEFAULT_EXPECTATIONS_DIR) -> dict:
    refuse_renamed_suite(name, expectations_dir)
    path = suite_path(name, expectations_dir)
    if not path.exists():
        raise BadInputError(path, "expectation suite not found (run `labelgate init` to scaffold expectations/)")
    try:
        suite = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BadInputError(path, f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(suite, dict) or not isinstance(suite.get("expectations"), list):
        raise BadInputError(path, "not a Great Expectations suite: needs 'name' and an 'expectations' list")
    return suite


def expectation_severity(expectation: dict) -> str:
    """BLOCK or WARN from an expectation's GX `severity` (absent: critical, GX's default)."""
    return _SEVERITY[str(expectation.get("severity", "critical"))]


def expectation_columns(expectation: dict) -> list[str]:
    """The columns an expectation reads (its `column`, `column_A`/`column_B`, `column_list`)."""
    kwargs = expectation.get("kwargs") or {}
    columns = [kwargs[k] for k in _COLUMN_KWARGS if isinstance(kwargs.get(k), str)]
    for key in ("column_list", "column_set"):
        if isinstance(kwargs.get(key), list):
            columns.extend(c for c in kwargs[key] if isinstance(c, str))
    return columns


def suite_columns(suite: dict) -> set[str]:
    return {c for expectation in suite["expectations"] for c in expectation_columns(expectation)}


def check_suite(
    suite: dict,
    *,
    source: str | os.PathLike,
    parameters: Collection[str],
    columns: Collection[str] | None = None,
) -> None:
    """Refuse a suite GX would run differently from how it reads: before anything runs, every expectation must be a
    known GX type with valid arguments, a known severity, only known columns (`columns`; None: not checked) and only
    `$PARAMETER`s that `parameters` defines. Raises ConfigError naming the suite file and the expectation."""
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    for number, expectation in enumerate(suite["expectations"], start=1):
        if not isinstance(expectation, dict) or not isinstance(expectation.get("type"), str):
            raise ConfigError(f"{source}: expectation {number}: needs a 'type' (the GX expectation name)")
        where = f"{source}: expectation {number} ({_label(expectation)})"
        unknown_keys = sorted(set(expectation) - _EXPECTATION_KEYS)
        if unknown_keys:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown_keys)}")
        if not isinstance(expectation.get("kwargs", {}), dict) or not isinstance(expectation.get("meta", {}), dict):
            raise ConfigError(f"{where}: 'kwargs' and 'meta' must be mappings")
        severity = expectation.get("severity", "critical")
        if severity not in _SEVERITY:
            raise ConfigError(f"{where}: unknown severity {severity!r}; use one of {', '.join(_SEVERITY)}")
        undefined = sorted(suite_parameters({"expectations": [expectation]}) - set(parameters))
        if undefined:
            raise ConfigError(f"{where}: $PARAMETER {', '.join(undefined)} is not defined in params.yaml")
        if columns is not None:
            unknown = [c for c in expectation_columns(expectation) if c not in columns]
            if unknown:
                raise ConfigError(f"{where}: column '{unknown[0]}' is not produced here; known columns: "
                                  f"{', '.join(sorted(columns))}")
        try:
            ExpectationConfiguration(type=expectation["type"], kwargs=expectation.get("kwargs", {}),
                                     severity=severity).to_domain_obj()
        except Exception as exc:  # noqa: BLE001 - GX raises several types for an expectation it cannot build
            raise ConfigError(f"{where}: Great Expectations cannot build it ({_first_line(exc)})") from None


def _label(expectation: dict) -> str:
    columns = expectation_columns(expectation)
    return f"{expectation['type']} on '{columns[0]}'" if columns else expectation["type"]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if type(exc).__name__ == "ValidationError":  # pydantic: the line after the header names the field
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        text = "; ".join(lines[1:3]) if len(lines) > 1 else text
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")


def suite_parameters(suite: dict) -> set[str]:
    """Names of the `$PARAMETER` placeholders a suite needs."""
    names: set[str] = set()

    def walk(value):
        if isinstance(value, dict):
            if set(value) == {"$PARAMETER"}:
                names.add(value["$PARAMETER"])
            else:
                for item in value.values():
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for expectation in suite["expectations"]:
        walk(expectation.get("kwargs", {}))
    return names


def run_suite(
    name: str,
    frame: pd.DataFrame,
    parameters: dict[str, Any],
    *,
    expectations_dir: str | os.PathLike = DEFAULT_EXPECTATIONS_DIR,
    columns: Collection[str] | None = None,
) -> list[Outcome]:
    """Validate `frame` against suite `name`, with `parameters` filling its `$PARAMETER` placeholders."""
    return run_suite_json(load_suite_json(name, expectations_dir), frame, parameters,
                          source=suite_path(name, expectations_dir), columns=columns)


def run_suite_json(
    suite_json: dict, frame: pd.DataFrame, parameters: dict[str, Any], *, source: str | os.PathLike = "suite",
    columns: Collection[str] | None = None,
) -> list[Outcome]:
    """Validate `frame` against an already loaded suite (e.g. one reduced to the figures that were measured).

    The suite is checked first (`check_suite`); every expectation must come back with a result."""
    import great_expectations as gx

    check_suite(suite_json, source=source, parameters=parameters, columns=columns)
    try:
        results = _validate(gx, suite_json, frame, parameters)
    except LabelgateError:
        raise
    except Exception as exc:  # noqa: BLE001 - the stage boundary: GX's own failure becomes one named line
        raise StageError(f"{source}: Great Expectations failed ({_first_line(exc)})") from exc
    # GX drops an expectation it cannot build without saying so: every expectation must come back with a result,
    # counted as a multiset (two expectations of one type on one column, e.g. a warning and a critical threshold,
    # both run; one of them missing is caught).
    expected = [(e["type"], (e.get("kwargs") or {}).get("column")) for e in suite_json["expectations"]]
    returned = [(r.expectation_config.type, dict(r.expectation_config.kwargs).get("column")) for r in results]
    if Counter(expected) != Counter(returned):
        dropped = list((Counter(expected) - Counter(returned)).elements()) or expected
        raise ConfigError(f"{source}: {len(expected)} expectation(s) in, {len(returned)} result(s) out; "
                          f"not evaluated: {dropped[0][0]} on '{dropped[0][1]}'")
    return [_outcome(item, parameters) for item in results]


def _validate(gx, suite_json: dict, frame: pd.DataFrame, parameters: dict[str, Any]) -> list:
    context = _context()
    suite_json = {k: v for k, v in suite_json.items() if k in ("name", "expectations", "meta", "notes")}
    suite = context.suites.add_or_update(gx.ExpectationSuite(**suite_json))
    data_source = context.data_sources.add_or_update_pandas("labelgate")
    asset = _asset(data_source, suite.name)
    batch = asset.add_batch_definition_whole_dataframe(f"{suite.name}-batch") if not asset.batch_definitions else (
        asset.batch_definitions[0])
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=f"{suite.name}-validation", data=batch, suite=suite)
    )
    index_columns = [ROW_COLUMN] if ROW_COLUMN in frame.columns else []
    result = definition.run(
        batch_parameters={"dataframe": frame},
        expectation_parameters=parameters,
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": index_columns}
        if index_columns else {"result_format": "SUMMARY"},
    )
    return list(result.results)


@cache
def _context():
    import great_expectations as gx

    # GX logs usage-statistics warnings and draws a progress bar per validation; neither helps a CLI user.
    # Its ERROR records carry multi-line tracebacks; labelgate reports every failure itself, in one line.
    logging.getLogger("great_expectations").setLevel(logging.CRITICAL)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    context = gx.get_context(mode="ephemeral")
    try:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    except Exception:  # noqa: BLE001 - cosmetic only; older GX 1.x lacks the setting
        pass
    return context


def _asset(data_source, name: str):
    try:
        return data_source.get_asset(name)
    except LookupError:
        return data_source.add_dataframe_asset(name)


def _outcome(item, parameters: dict[str, Any]) -> Outcome:
    config = item.expectation_config
    meta = dict(config.meta or {})
    kwargs = dict(config.kwargs)
    result = dict(item.result or {})
    rows = [int(entry[ROW_COLUMN]) for entry in result.get("unexpected_index_list") or []
            if isinstance(entry, dict) and ROW_COLUMN in entry]
    error = None
    if item.exception_info and item.exception_info.get("raised_exception"):
        error = str(item.exception_info.get("exception_message") or "expectation raised an exception").splitlines()[0]
    severity = _SEVERITY.get(str(getattr(config.severity, "value", config.severity)).lower(), BLOCK)
    return Outcome(
        expectation=config.type,
        column=kwargs.get("column"),
        success=bool(item.success) and error is None,
        severity=severity,
        description=meta.get("description", config.type),
        mitigation=meta.get("mitigation", ""),
        observed=_plain(result.get("observed_value", _unexpected_summary(result))),
        threshold=_threshold_text(kwargs),
        rows=sorted(set(rows)),
        error=error,
    )


def _unexpected_summary(result: dict) -> Any:
    if "unexpected_count" in result:
        return f"{result['unexpected_count']} unexpected"
    return None


def _threshold_text(kwargs: dict[str, Any]) -> str:
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is not None and high is not None:
        return f"in [{_fmt(low)}, {_fmt(high)}]"
    if low is not None:
        return f">= {_fmt(low)}"
    if high is not None:
        return f"<= {_fmt(high)}"
    if "value_set" in kwargs:
        return f"in {list(kwargs['value_set'])}"
    return ""


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _plain(value):
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    if isinstance(value, float):
        return round(value, 6)
    return value
