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
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

from labelgate.errors import BadInputError

DEFAULT_EXPECTATIONS_DIR = Path("expectations")
ROW_COLUMN = "_row"  # 1-based data row number, carried so failures can name rows

BLOCK = "block"
WARN = "warn"
_SEVERITY = {"critical": BLOCK, "warning": WARN, "info": WARN}


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


def load_suite_json(name: str, expectations_dir: str | os.PathLike = DEFAULT_EXPECTATIONS_DIR) -> dict:
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
) -> list[Outcome]:
    """Validate `frame` against suite `name`, with `parameters` filling its `$PARAMETER` placeholders."""
    return run_suite_json(load_suite_json(name, expectations_dir), frame, parameters,
                          source=suite_path(name, expectations_dir))


def run_suite_json(
    suite_json: dict, frame: pd.DataFrame, parameters: dict[str, Any], *, source: str | os.PathLike = "suite"
) -> list[Outcome]:
    """Validate `frame` against an already loaded suite (e.g. one reduced to the figures that were measured)."""
    import great_expectations as gx

    missing = sorted(suite_parameters(suite_json) - set(parameters))
    if missing:
        raise BadInputError(source, f"suite needs parameter(s) {', '.join(missing)} that params.yaml does not provide")

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
    return [_outcome(item, parameters) for item in result.results]


@cache
def _context():
    import great_expectations as gx

    # GX logs usage-statistics warnings and draws a progress bar per validation; neither helps a CLI user.
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
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
