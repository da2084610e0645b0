"""`labelgate policy-diff`: a pull request's gate policy against its base branch's.

The gate policy is the `gate:` section of params.yaml (thresholds, the required and optional figures, the gated
subset) and the Great Expectations suites in expectations/. Both live in the repository, so a pull request could
loosen the very gate that checks it (`gate.required: []`, `max_label_error: 0.5`, a suite's severity set to
warning) and turn its own check green. The PR workflow therefore takes params.yaml and expectations/ from the base
branch (`git show origin/$BASE:params.yaml`, `git archive origin/$BASE expectations`) and runs this command: every
difference is one line, "gate policy changed in this PR: max_label_error 0.13 -> 0.5 (looser)", and any difference
exits 1. A repository opts out per pull request: the workflow passes `--allow-change` when the PR carries the label
`gate-policy-change` (setting a label needs triage rights on the repository, which a PR's author may not have); the
lines are still printed.

The `gate:` sections are compared after defaults are filled in (a key deleted in the PR that falls back to a
different default is a change); suites are compared by what GX runs (type, kwargs, severity), not by their
descriptions.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labelgate.errors import BadInputError, ConfigError

PREFIX = "gate policy changed in this PR"
ALLOW_LABEL = "gate-policy-change"
#: What GX runs of an expectation; descriptions, mitigations and notes do not change a verdict.
_RUN_KEYS = ("type", "kwargs", "severity")


def gate_policy(params: Mapping[str, Any], *, source: str = "params.yaml") -> dict[str, Any]:
    """The `gate:` section of `params` as compared: every field of GateParams, defaults filled in."""
    from labelgate.config import section
    from labelgate.gate import GateParams

    try:
        gate = section(dict(params), "gate", GateParams)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {str(exc).removeprefix('params.yaml: ')}") from None
    return {"subset": gate.subset, "required": [list(entry) for entry in gate.required],
            "optional": list(gate.optional), **gate.thresholds()}


def threshold_direction(name: str, old: Any, new: Any) -> str:
    """'looser' or 'stricter' for a max_/min_ threshold, '' for anything else."""
    try:
        old, new = float(old), float(new)
    except (TypeError, ValueError):
        return ""
    if name.startswith("max_"):
        return "looser" if new > old else "stricter"
    if name.startswith("min_"):
        return "looser" if new < old else "stricter"
    return ""


def params_changes(base: Mapping[str, Any], head: Mapping[str, Any]) -> list[str]:
    """One line per `gate:` setting that differs (values as compared by `gate_policy`)."""
    lines = []
    for name in list(dict.fromkeys([*base, *head])):
        old, new = base.get(name), head.get(name)
        if old == new:
            continue
        if name in ("required", "optional"):
            old_set = {" or ".join(e) if isinstance(e, list) else e for e in old or []}
            new_set = {" or ".join(e) if isinstance(e, list) else e for e in new or []}
            removed, added = sorted(old_set - new_set), sorted(new_set - old_set)
            parts = [f"removed {', '.join(removed)}" if removed else "", f"added {', '.join(added)}" if added else ""]
            looser = (removed and name == "required") or (added and name == "optional")
            lines.append(f"{PREFIX}: gate.{name} {'; '.join(p for p in parts if p) or 'reordered'}"
                         f"{' (looser)' if looser else ''}")
            continue
        direction = threshold_direction(name, old, new)
        lines.append(f"{PREFIX}: {name} {_show(old)} -> {_show(new)}{f' ({direction})' if direction else ''}")
    return lines


def _show(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _run_form(expectation: Any) -> str:
    """An expectation as GX runs it, as canonical JSON (severity defaults to critical, as in GX)."""
    if not isinstance(expectation, dict):
        return json.dumps(expectation, sort_keys=True)
    form = {key: expectation.get(key) for key in _RUN_KEYS}
    form["severity"] = form["severity"] or "critical"
    form["kwargs"] = form["kwargs"] or {}
    return json.dumps(form, sort_keys=True)


def _name(form: str) -> str:
    data = json.loads(form)
    if not isinstance(data, dict):
        return form
    column = (data.get("kwargs") or {}).get("column")
    return f"{data.get('type')}" + (f" on '{column}'" if column else "")


def suite_changes(base: Mapping[str, dict | None], head: Mapping[str, dict | None]) -> list[str]:
    """One line per suite added or removed and per expectation removed, added or changed (a multiset: a duplicate
    removed counts)."""
    lines = []
    for name in sorted(set(base) | set(head)):
        old, new = base.get(name), head.get(name)
        if old is None and new is None:
            continue
        if old is None:
            lines.append(f"{PREFIX}: expectations/{name} added")
            continue
        if new is None:
            lines.append(f"{PREFIX}: expectations/{name} removed (looser)")
            continue
        old_forms = Counter(_run_form(e) for e in old.get("expectations") or [])
        new_forms = Counter(_run_form(e) for e in new.get("expectations") or [])
        removed, added = old_forms - new_forms, new_forms - old_forms
        pending = list(added.elements())
        for form in removed.elements():
            twin = next((f for f in pending if _name(f) == _name(form)), None)
            if twin is None:
                lines.append(f"{PREFIX}: expectations/{name}: {_name(form)} removed (looser)")
                continue
            pending.remove(twin)
            lines.append(f"{PREFIX}: expectations/{name}: {_name(form)} {_difference(form, twin)}")
        lines.extend(f"{PREFIX}: expectations/{name}: {_name(form)} added" for form in pending)
    return lines


def _difference(old: str, new: str) -> str:
    before, after = json.loads(old), json.loads(new)
    parts = []
    if before.get("severity") != after.get("severity"):
        looser = before.get("severity") == "critical"
        parts.append(f"severity {before.get('severity')} -> {after.get('severity')}{' (looser)' if looser else ''}")
    old_kwargs, new_kwargs = before.get("kwargs") or {}, after.get("kwargs") or {}
    for key in dict.fromkeys([*old_kwargs, *new_kwargs]):
        if old_kwargs.get(key) != new_kwargs.get(key):
            parts.append(f"{key} {json.dumps(old_kwargs.get(key))} -> {json.dumps(new_kwargs.get(key))}")
    return "; ".join(parts) or "changed"


def policy_changes(base_params: Mapping[str, Any], params: Mapping[str, Any], base_suites: Mapping[str, dict | None],
                   suites: Mapping[str, dict | None], *, base_source: str = "base params",
                   source: str = "params.yaml") -> list[str]:
    """Every difference between the base branch's gate policy and the PR's, one line each ([] when none)."""
    return (params_changes(gate_policy(base_params, source=base_source), gate_policy(params, source=source))
            + suite_changes(base_suites, suites))


def read_suites(folder: str | os.PathLike | None) -> dict[str, dict]:
    """Every suite (*.json) in `folder` by file name; a missing folder holds none."""
    if folder is None or not Path(folder).is_dir():
        return {}
    suites = {}
    for path in sorted(Path(folder).glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadInputError(path, f"not valid JSON ({str(exc).splitlines()[0]})") from None
        if not isinstance(data, dict):
            raise BadInputError(path, "not a Great Expectations suite (expected a JSON object)")
        suites[path.name] = data
    return suites


def main(*, base_params: str | os.PathLike, base_expectations: str | os.PathLike | None,
         params: str | os.PathLike | None, expectations: str | os.PathLike | None) -> list[str]:
    """The lines of `policy_changes` for files: the base branch's params file (must exist) and suites folder, and
    the PR's (params absent: every gate default)."""
    from labelgate.config import load_params

    if not Path(base_params).is_file():
        raise BadInputError(base_params, "base params file not found (--base-params)")
    if base_expectations is not None and not Path(base_expectations).is_dir():
        raise BadInputError(base_expectations, "base expectations folder not found (--base-expectations)")
    if params is not None and not Path(params).is_file():
        raise BadInputError(params, "params file not found (--params)")
    head_params = Path(params) if params is not None else Path("params.yaml")
    return policy_changes(load_params(base_params), load_params(head_params), read_suites(base_expectations),
                          read_suites(expectations) if base_expectations is not None else {},
                          base_source=str(base_params), source=str(head_params))
