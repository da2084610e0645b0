"""`labelgate init` writes its files all or nothing: one file that cannot be written (here the workflow, whose
folder .github is a file) leaves no dvc.yaml, params.yaml or suite behind."""

from __future__ import annotations

import pytest

from labelgate import scaffold
from labelgate.errors import BadInputError
from labelgate.scaffold import WORKFLOW_PATH, InitOptions, apply_plan, plan_files


@pytest.fixture
def options(monkeypatch) -> InitOptions:
    monkeypatch.setattr(scaffold.install, "installed_direct_url", lambda: None)
    return InitOptions(texts="data/texts.csv", test="data/test.csv", labels=("bug", "feature"), version="1.0")


def test_every_planned_file_is_written(tmp_path, options):
    written = apply_plan(tmp_path, plan_files(tmp_path, options))
    assert {p.relative_to(tmp_path).as_posix() for p in written} >= {"dvc.yaml", "params.yaml", WORKFLOW_PATH}
    assert all(p.is_file() for p in written)


def test_one_unwritable_file_leaves_none_written(tmp_path, options):
    (tmp_path / ".github").write_text("a file where the workflow's folder should be\n")
    plan = plan_files(tmp_path, options)
    assert WORKFLOW_PATH in {f.path for f in plan.files if f.action == "create"}
    with pytest.raises(BadInputError, match="cannot write here"):
        apply_plan(tmp_path, plan)
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [".github"]  # (a folder may have been made)
