"""The package's layers (pyproject.toml [tool.importlinter], explained in docs/architecture.md): import-linter checks
them on this checkout's src/, so a back-arrow (a lower layer importing a higher one), an import between two stages
declared independent, a module left out of the layers, or an import cycle fails the suite."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """`lint-imports` on `root`'s pyproject.toml, with `root`/src first on the path (not the installed package)."""
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    command = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
               "sys.exit(lint_imports_command())", "--config", str(root / "pyproject.toml"), "--no-cache"]
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_the_import_contracts_are_kept():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


@pytest.fixture
def copy(tmp_path) -> Path:
    """A copy of src/ and pyproject.toml to break on purpose."""
    shutil.copytree(ROOT / "src" / "labelgate", tmp_path / "src" / "labelgate",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def add_lazy_import(copy: Path, module: str, imported: str) -> None:
    """Append a function to `module` (a path under src/labelgate) that imports `imported` when called."""
    path = copy / "src" / "labelgate" / module
    path.write_text(path.read_text() + f"\n\ndef _late():\n    import {imported}  # noqa: F401\n")


def test_a_lazy_back_arrow_and_the_cycle_it_closes_are_refused(copy):
    add_lazy_import(copy, "learning_curve.py", "labelgate.evaluate")  # evaluate already reaches learning_curve
    result = lint_imports(copy)
    assert result.returncode == 1
    assert "labelgate.learning_curve is not allowed to import labelgate.evaluate" in result.stdout
    assert "No cycles are allowed in labelgate" in result.stdout


def test_a_core_module_importing_a_stage_is_refused(copy):
    add_lazy_import(copy, "vocabulary.py", "labelgate.score")
    result = lint_imports(copy)
    assert result.returncode == 1
    assert "labelgate.vocabulary is not allowed to import labelgate.score" in result.stdout


def test_independent_stages_may_not_import_each_other(copy):
    add_lazy_import(copy, "filter.py", "labelgate.audit")  # both in one `|` layer and in the independence list
    result = lint_imports(copy)
    assert result.returncode == 1
    assert "labelgate.filter is not allowed to import labelgate.audit" in result.stdout
    assert "stages that share no code" in result.stdout.split("Broken contracts")[1]


def test_a_module_outside_every_layer_is_refused(copy):
    (copy / "src" / "labelgate" / "newcomer.py").write_text('"""A module nobody placed in a layer."""\n')
    result = lint_imports(copy)
    assert result.returncode == 1
    assert "labelgate.newcomer" in result.stdout


# --- Size: no module over 400 lines, no function over 60 ------------------------------------------------------------

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60  # from the first decorator to the last line, docstring included

#: The only modules and functions allowed over the limits, each with its reason. Keys: a module's path under
#: src/labelgate, or "path:function". An entry that is no longer over its limit fails the suite: remove it.
ALLOWED_OVERSIZE: dict[str, str] = {}


def oversized(package: Path) -> dict[str, int]:
    """Every module over MAX_MODULE_LINES and function (method, nested function) over MAX_FUNCTION_LINES under
    `package`, as {"path" or "path:function": lines}."""
    import ast

    found = {}
    for path in sorted(package.rglob("*.py")):
        name = path.relative_to(package).as_posix()
        source = path.read_text()
        if len(source.splitlines()) > MAX_MODULE_LINES:
            found[name] = len(source.splitlines())
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                if node.end_lineno - first + 1 > MAX_FUNCTION_LINES:
                    found[f"{name}:{node.name}"] = node.end_lineno - first + 1
    return found


def test_no_module_or_function_over_the_size_limits():
    found = oversized(ROOT / "src" / "labelgate")
    over = {name: lines for name, lines in found.items() if name not in ALLOWED_OVERSIZE}
    assert not over, f"split these along their jobs (limits {MAX_MODULE_LINES} / {MAX_FUNCTION_LINES} lines): {over}"
    stale = sorted(set(ALLOWED_OVERSIZE) - set(found))
    assert not stale, f"within the limits now: remove from ALLOWED_OVERSIZE {stale}"


def test_the_size_check_finds_a_long_function_and_a_long_module(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))  # def line + 60 = 61 lines
    (tmp_path / "long_function.py").write_text(f"@decorator\ndef f():\n{body}\n\n\ndef g():\n    return 1\n")
    (tmp_path / "long_module.py").write_text("x = 1\n" * (MAX_MODULE_LINES + 1))
    (tmp_path / "fits.py").write_text("x = 1\n" * MAX_MODULE_LINES)
    assert oversized(tmp_path) == {"long_function.py:f": MAX_FUNCTION_LINES + 2, "long_module.py": MAX_MODULE_LINES + 1}
