"""Which modules of src/labelgate a `labelgate <command>` can import, read statically (ast, nothing is imported):
in the cli package, every cli module's top-level imports, the command function's body and decorators, and the cli
functions it calls; from there every labelgate module reached, transitively, with all its imports (top level and
lazy ones inside functions), plus the packages above each module (importing labelgate.signals.runner runs
labelgate/signals/__init__.py). The cli package itself is a dependency of every stage: the command runs through it.

`source_deps(command)` lists them as a demo dvc.yaml stage's dependencies (scripts/render_demo_pipeline.py);
tests/test_dvc_deps.py checks the committed dvc.yaml against the same walk.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = "labelgate"


@cache
def module_files() -> dict[str, Path]:
    """Dotted module name -> its file, for every module of src/labelgate (a package by its __init__.py)."""
    files = {}
    for path in (SRC / PACKAGE).rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        files[".".join(parts)] = path
    return files


def imported_modules(node: ast.AST, module: str) -> set[str]:
    """The labelgate modules imported anywhere under `node` (in `module`), relative imports resolved."""
    files = module_files()
    is_package = files[module].name == "__init__.py"
    found: set[str] = set()
    for item in ast.walk(node):
        if isinstance(item, ast.Import):
            names = [alias.name for alias in item.names]
        elif isinstance(item, ast.ImportFrom):
            base = item.module or ""
            if item.level:
                parts = module.split(".")[: len(module.split(".")) - item.level + is_package]
                base = ".".join(parts + ([item.module] if item.module else []))
            # `from labelgate import validate` imports the module labelgate.validate; `from x import name` only x
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base for alias in item.names]
        else:
            continue
        for name in names:
            while name and name not in files:  # `import labelgate.a.b` of a name inside a module: its module
                name = name.rpartition(".")[0]
            if name.split(".")[0] == PACKAGE:
                found.add(name)
    return found


def with_parents(modules: set[str]) -> set[str]:
    """Each module and the packages above it (their __init__.py runs on import)."""
    out = set()
    for name in modules:
        parts = name.split(".")
        out.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return out


@cache
def module_imports(module: str) -> frozenset[str]:
    tree = ast.parse(module_files()[module].read_text())
    return frozenset(with_parents(imported_modules(tree, module)) - {module})


def closure(start: set[str], *, seen: set[str] | None = None) -> set[str]:
    """`start`, the packages above, and every module they import, transitively (modules in `seen`: not opened)."""
    seen = set(seen or ())
    todo = list(with_parents(start) - seen)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(module_imports(name))
    return seen


def cli_modules() -> tuple[str, ...]:
    """The modules of the command line package (labelgate.cli and its submodules: its __init__ imports them all)."""
    return tuple(sorted(m for m in module_files() if m == f"{PACKAGE}.cli" or m.startswith(f"{PACKAGE}.cli.")))


@cache
def cli_functions() -> dict[str, tuple[str, ast.FunctionDef]]:
    """Top-level function name -> (its cli module, its definition), over every module of the cli package."""
    functions = {}
    for module in cli_modules():
        tree = ast.parse(module_files()[module].read_text())
        functions.update({node.name: (module, node) for node in tree.body if isinstance(node, ast.FunctionDef)})
    return functions


@cache
def cli_commands() -> dict[str, tuple[tuple[str, ast.FunctionDef], ...]]:
    """Command name -> (the command function, the cli functions it reaches by name), each with its module."""
    functions = cli_functions()

    def command_name(function: ast.FunctionDef) -> str | None:
        for decorator in function.decorator_list:
            call = decorator if isinstance(decorator, ast.Call) else None
            if call and isinstance(call.func, ast.Attribute) and call.func.attr == "command" \
                    and isinstance(call.func.value, ast.Name) and call.func.value.id == "app":
                if call.args and isinstance(call.args[0], ast.Constant):
                    return call.args[0].value
                return function.name.replace("_", "-")
        return None

    commands = {name: command for name, (_, function) in functions.items() if (command := command_name(function))}

    def reached(function: str) -> tuple[tuple[str, ast.FunctionDef], ...]:
        """The function and the cli helpers it calls (decorators included), transitively; a call to another
        command's function is not followed (a local variable may share a command's name: `report`)."""
        out, todo = {}, [function]
        while todo:
            current = todo.pop()
            if current in out:
                continue
            out[current] = functions[current]
            todo.extend(n.func.id for n in ast.walk(functions[current][1])
                        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in functions
                        and n.func.id not in commands and n.func.id not in out)
        return tuple(out.values())

    return {name: reached(function) for function, name in commands.items()}


def command_modules(command: str) -> set[str]:
    """Every labelgate module `labelgate <command>` can import, the cli package included."""
    start: set[str] = set()
    for cli in cli_modules():  # importing labelgate.cli runs every cli module's top-level imports
        tree = ast.parse(module_files()[cli].read_text())
        top_level = ast.Module(body=[n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))],
                               type_ignores=[])
        start |= imported_modules(top_level, cli)
    for module, function in cli_commands()[command]:
        start |= imported_modules(function, module)
    # the cli modules: only what this command's path imports, not the other commands' lazy imports
    return closure(start, seen=set(cli_modules()))


def source_deps(command: str) -> list[str]:
    """The source `labelgate <command>` imports, as dvc.yaml deps: a module of a subpackage as the subpackage's
    folder (`src/labelgate/train`), a top-level module as its file, the root package as its __init__.py; sorted."""
    files = module_files()
    deps = set()
    for module in command_modules(command):
        parts = module.split(".")
        top = ".".join(parts[:2])
        if len(parts) == 1:
            deps.add(f"{SRC.name}/{PACKAGE}/__init__.py")
        elif files[top].name == "__init__.py":
            deps.add(f"{SRC.name}/{PACKAGE}/{parts[1]}")
        else:
            deps.add(f"{SRC.name}/{PACKAGE}/{parts[1]}.py")
    return sorted(deps)
