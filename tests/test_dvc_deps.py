"""The demo dvc.yaml's code dependencies are true: every stage lists (as a file or a folder above it) each module of
src/labelgate that its command can import, so editing any of them re-runs the stage instead of DVC serving a result
the current code would not produce.

What a command imports is read statically by scripts/source_deps.py (ast, nothing is imported; its docstring says
how), the walk that scripts/render_demo_pipeline.py lists the deps with: these tests check the committed dvc.yaml
against it, whoever wrote the file, and check the walk itself on modules whose imports are known.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from source_deps import cli_commands, command_modules, module_files, module_imports, source_deps  # noqa: E402


def stage_command(cmd: str) -> str:
    words = shlex.split(cmd)
    assert words[0] == "labelgate", f"a demo stage runs the package CLI, not {cmd!r}"
    assert words[1] in cli_commands(), f"{cmd!r}: no command {words[1]!r} in labelgate.cli"
    return words[1]


def stages() -> dict[str, dict]:
    """Each stage of the demo dvc.yaml with `cmd` and `deps` (foreach/matrix stages: their `do` body or the stage)."""
    document = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    return {name: stage.get("do", stage) for name, stage in document["stages"].items()}


def covered(path: Path, deps: list[str]) -> bool:
    relative = path.relative_to(ROOT)
    return any(relative == Path(dep) or Path(dep) in relative.parents for dep in deps)


@pytest.mark.parametrize("name", sorted(stages()))
def test_each_stage_depends_on_every_module_its_command_imports(name):
    stage = stages()[name]
    deps = [str(d) for d in stage.get("deps", [])]
    files = module_files()
    missing = sorted(str(files[m].relative_to(ROOT)) for m in command_modules(stage_command(stage["cmd"]))
                     if not covered(files[m], deps))
    assert not missing, f"dvc.yaml stage {name!r} runs code it does not depend on: add {missing}"


@pytest.mark.parametrize("name", sorted(stages()))
def test_each_source_dependency_exists(name):
    gone = [d for d in stages()[name].get("deps", []) if str(d).startswith("src/") and not (ROOT / d).exists()]
    assert not gone, f"dvc.yaml stage {name!r} depends on source that is not there: {gone}"


class TestTheWalk:
    """The walk itself, on modules whose imports are known, so a walk that finds nothing cannot pass."""

    def test_lazy_imports_inside_functions_count(self):
        # learning_curve imports labelgate.outputs only inside functions
        assert "labelgate.outputs" in module_imports("labelgate.learning_curve")

    def test_a_submodule_brings_its_packages(self):
        assert {"labelgate", "labelgate.signals", "labelgate.signals.entropy"} <= command_modules("score")

    def test_a_command_reaches_its_stage_and_not_the_others(self):
        validate = command_modules("validate")
        assert {"labelgate.cli", "labelgate.validate", "labelgate.expectations", "labelgate.contract"} <= validate
        assert not validate & {"labelgate.score", "labelgate.train.run", "labelgate.gate"}
        assert "labelgate.train.loop" in command_modules("learning-curve")

    def test_an_omitted_module_is_named(self):
        files = module_files()
        deps = ["src/labelgate/validate.py", "src/labelgate/cli"]
        missing = {m for m in command_modules("validate") if not covered(files[m], deps)}
        assert "labelgate.expectations" in missing and "labelgate.validate" not in missing
        assert not {m for m in command_modules("validate") if not covered(files[m], ["src/labelgate"])}

    def test_deps_name_subpackages_as_folders_and_modules_as_files(self):
        deps = source_deps("validate")
        assert {"src/labelgate/__init__.py", "src/labelgate/cli", "src/labelgate/validate.py",
                "src/labelgate/expectations.py"} <= set(deps)
        assert "src/labelgate/score.py" not in deps and deps == sorted(deps)
        train = source_deps("train")
        assert "src/labelgate/train" in train and "src/labelgate/train/run.py" not in train
