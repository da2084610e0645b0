"""Fault injection, issue 19 (security): hostile values that `labelgate init` writes into generated files, typed
figures, a PR that changes its own gate policy, outputs over inputs, and the smaller one-line errors. Each case ends
in exit 1 or 2 with one line and nothing written, or runs as written without running anything it should not."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

HOSTILE = "my labels it's \"q\" $(touch PWNED1) `touch PWNED2`; touch PWNED3 ${x} {seed} \u00e9\u2713.csv"
MARKERS = ("PWNED1", "PWNED2", "PWNED3")


def one_line(result, *, code: int, contains: str | tuple[str, ...] = ()) -> str:
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for text in (contains,) if isinstance(contains, str) else contains:
        assert text in lines[0], lines[0]
    return lines[0]


@pytest.fixture()
def index_install(monkeypatch):
    import labelgate.scaffold as scaffold

    monkeypatch.setattr(scaffold, "installed_direct_url", lambda: None)


# ------------------------------------------------------------------------------ 1. init: hostile names and values


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_hostile_file_name_runs_no_command_under_dvc_repro(tmp_path, cli, index_install):
    """`dvc repro validate` on the scaffold with a hostile label-table name: DVC templating and the shell hand the
    name to `labelgate` as one argument, and none of the embedded commands runs (no marker file anywhere)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / HOSTILE).write_text("text,llm_label\nx,a\n")
    result = cli("init", repo, "--labels-table", HOSTILE, "--test", "test.csv", "--labels", "yes,no")
    assert result.exit_code == 0, result.output
    assert yaml.safe_load((repo / "params.yaml").read_text())["base"]["labels"] == ["yes", "no"]
    # a stand-in `labelgate` that records its arguments and writes validate's output
    stub = tmp_path / "bin" / "labelgate"
    stub.parent.mkdir()
    stub.write_text("#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$LABELGATE_ARGS\"\nmkdir -p data\n"
                    "echo stub > data/validated.parquet\n")
    stub.chmod(0o755)
    env = {**os.environ, "PATH": f"{stub.parent}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}"
                                 f"{os.environ.get('PATH', '')}", "LABELGATE_ARGS": str(tmp_path / "args.txt")}
    repro = subprocess.run([sys.executable, "-m", "dvc", "repro", "validate"], cwd=repo, env=env,
                           capture_output=True, text=True, timeout=300)
    assert repro.returncode == 0, repro.stdout + repro.stderr
    args = (tmp_path / "args.txt").read_text(encoding="utf-8").splitlines()
    assert args == ["validate", HOSTILE, "--out", "data/validated.parquet"]
    for marker in MARKERS:
        assert not list(tmp_path.rglob(marker)), marker


@pytest.mark.parametrize("args, contains", [
    (("--labels-table", "t\n.csv"), "control character"),
    (("--texts", "t.csv", "--labels", "a,b\nc: d"), "control character"),
    (("--texts", "t.csv", "--install", "labelgate\nrun: x"), "control character"),
    (("--texts", "t.csv", "--install", "${{ secrets.GITHUB_TOKEN }}"), "expression"),
    (("--texts", "-x.csv"), "starts with '-'"),
    (("--texts", "t.csv", "--audit", "pool.csv"), "--audit was renamed --gold-pool"),
    (("--labels-table", "t.csv", "--gold-pool", "t.csv"), "is the table being checked"),
], ids=["newline-path", "newline-label", "newline-install", "expression-install", "option-path", "old-audit-flag",
        "pool-is-the-table"])
def test_init_refuses_in_one_line_and_writes_nothing(tmp_path, cli, index_install, args, contains):
    result = cli("init", tmp_path, *args, "--no-dvc")
    one_line(result, code=2, contains=contains)
    assert list(tmp_path.iterdir()) == []


def test_init_refuses_a_gold_pool_smaller_than_the_table(tmp_path, cli, index_install):
    (tmp_path / "t.csv").write_text("text,llm_label\n" + "".join(f"t{i},{'ab'[i % 2]}\n" for i in range(40)))
    (tmp_path / "pool.csv").write_text("text,label\n" + "".join(f"p{i},{'ab'[i % 2]}\n" for i in range(12)))
    result = cli("init", tmp_path, "--labels-table", "t.csv", "--gold-pool", "pool.csv", "--no-dvc")
    one_line(result, code=2, contains=("12 rows, fewer than the 40 rows", "--gold-pool pool.csv"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pool.csv", "t.csv"]


def test_init_refuses_a_local_install_naming_the_option(tmp_path, cli, monkeypatch):
    import labelgate.scaffold as scaffold

    monkeypatch.setattr(scaffold, "installed_direct_url",
                        lambda: {"url": "file:///src/labelgate", "dir_info": {"editable": True}})
    one_line(cli("init", tmp_path, "--texts", "t.csv", "--no-dvc"), code=2, contains="pass --install")
    assert list(tmp_path.iterdir()) == []
    result = cli("init", tmp_path, "--texts", "t.csv", "--no-dvc", "--install", "labelgate[demo]==9.9")
    assert result.exit_code == 0, result.output
    workflow = yaml.safe_load((tmp_path / ".github" / "workflows" / "labelgate.yml").read_text())
    assert workflow["jobs"]["gate"]["env"]["LABELGATE_SPEC"] == "labelgate[demo]==9.9"


# ------------------------------------------------------------------------- 4. a PR cannot loosen its own gate


def workflow_step(text: str, name_start: str) -> dict:
    (step,) = [s for s in yaml.safe_load(text)["jobs"]["gate"]["steps"] if s.get("name", "").startswith(name_start)]
    return step


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
@pytest.mark.parametrize("allow, code", [("false", 1), ("true", 0)])
def test_the_generated_workflow_fails_a_pr_that_loosens_its_gate(tmp_path, cli, index_install, repo, allow, code):
    """The scaffolded workflow's policy step, run with bash on a repository whose PR commit raises max_label_error
    and demotes a critical expectation: it fails with one line per change (passes with the opt-out label)."""
    root = tmp_path / "repo"
    root.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    assert cli("init", root, "--labels-table", "t.csv", "--test", "test.csv", "--no-dvc").exit_code == 0
    subprocess.run([*git, "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "base"], cwd=root, check=True)
    subprocess.run(["git", "update-ref", "refs/remotes/origin/main", "HEAD"], cwd=root, check=True)
    params = root / "params.yaml"
    params.write_text(params.read_text().replace("max_label_error: 0.13", "max_label_error: 0.5"))
    suite = root / "expectations" / "label_summary.json"
    suite.write_text(suite.read_text().replace('"critical"', '"warning"', 1))
    subprocess.run([*git, "commit", "-qam", "loosen"], cwd=root, check=True)
    step = workflow_step((root / ".github" / "workflows" / "labelgate.yml").read_text(), "Gate policy")
    (tmp_path / "runner").mkdir()
    env = {**os.environ, "BASE_REF": "main", "ALLOW_POLICY_CHANGE": allow, "RUNNER_TEMP": str(tmp_path / "runner"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": f"{repo / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    result = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=root, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == code, result.stdout + result.stderr
    assert "gate policy changed in this PR: max_label_error 0.13 -> 0.5 (looser)" in result.stdout
    assert "severity critical -> warning (looser)" in result.stdout
    # the base verdict is computed (and then enforced) only when the change is not allowed
    assert (tmp_path / "runner" / "labelgate-base" / "params.yaml").exists() is (allow == "false")
