"""Fault injection: the per-row scores suite is `label_scores` (it was `label_risk`, the name of the summary file
that `label_summary` checks). A repository that still holds the suite under its former name gets one line naming
the file and the migration, exit 2 and nothing written: the old file is neither read in place of the new one nor
skipped. A pull request cannot dodge the policy check by deleting or renaming a suite file."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from assertions import one_error_line

from test_policy import base  # noqa: F401 - the fixture: the base branch's params and suites, copied

from labelgate.policy import PREFIX

GOOD_METRICS = {"label_error_rate_upper": 0.08, "estimated_noise_rate": 0.1, "audit_accuracy_lower": 0.9,
                "annotator_alpha": 0.8, "class_balance_tvd": 0.05, "systematic_error_share": 0.2,
                "text_error_auc": 0.5, "expected_accuracy_loss": 0.005, "expected_accuracy_loss_lower": -0.01,
                "expected_accuracy_loss_upper": 0.02, "audit_representativeness_p": 0.5}


@pytest.fixture()
def label_risk(workdir):
    path = workdir / "label_risk.json"
    path.write_text(json.dumps({"metrics": GOOD_METRICS}))
    return path


def gate(cli, workdir, label_risk):
    return cli("gate", "--label-risk", label_risk, "--out", workdir / "gate.json")


def test_the_control_passes_with_label_scores(workdir, cli, label_risk):
    result = gate(cli, workdir, label_risk)
    assert result.exit_code == 0, result.output


def test_only_the_former_suite_file_is_refused_with_the_migration(workdir, cli, label_risk):
    suites = workdir / "expectations"
    (suites / "label_scores.json").rename(suites / "label_risk.json")
    # the gate of the label-set figures alone does not run the per-row suite: still refused, not skipped
    old = os.path.join("expectations", "label_risk.json")
    line = one_error_line(gate(cli, workdir, label_risk), code=2,
                          contains=(old, "rename it to label_scores.json", "dvc.yaml"))
    assert "is called 'label_scores'" in line
    assert not (workdir / "gate.json").exists()


def test_check_refuses_the_former_suite_file_before_reading_the_table(workdir, cli):
    suites = workdir / "expectations"
    (suites / "label_scores.json").rename(suites / "label_risk.json")
    (workdir / "labels.csv").write_text("text,llm_label\n")  # never read: the suites are checked first
    result = cli("check", workdir / "labels.csv", "--out", workdir / "v.json")
    one_error_line(result, code=2, contains=("label_risk.json", "rename it to label_scores.json"))
    assert not (workdir / "v.json").exists()


def test_the_former_file_beside_the_new_one_is_refused(workdir, cli, label_risk):
    """A label_scores.json put beside the user's label_risk.json (by hand: init refuses to): the user's
    expectations must not be dropped unread."""
    suites = workdir / "expectations"
    shutil.copy(suites / "label_scores.json", suites / "label_risk.json")
    one_error_line(gate(cli, workdir, label_risk), code=2,
                   contains=("label_risk.json", "move its expectations into label_scores.json and delete it"))
    assert not (workdir / "gate.json").exists()


def policy_diff(cli, base):
    return cli("policy-diff", "--base-params", base / "params.yaml", "--base-expectations", base / "expectations")


@pytest.mark.parametrize("new_name", [None, "label_risk.json", "label_scores_off.json"],
                         ids=["deleted", "former-name", "other-name"])
def test_a_pr_that_deletes_or_renames_a_suite_file_changes_the_policy(workdir, cli, base, new_name):
    scores = workdir / "expectations" / "label_scores.json"
    if new_name is None:
        scores.unlink()
    else:
        scores.rename(scores.with_name(new_name))
    result = policy_diff(cli, base)
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert f"{PREFIX}: expectations/label_scores.json removed (looser)" in lines
    if new_name is not None:
        assert f"{PREFIX}: expectations/{new_name} added" in lines


def test_the_migration_pr_is_a_policy_change_and_its_base_is_refused(workdir, cli, base, label_risk):
    """The base branch still has the former name; the PR renames it. policy-diff reports both files (exit 1: the PR
    needs the gate-policy-change label), and the base branch's suites cannot run (exit 2), never silently."""
    (base / "expectations" / "label_scores.json").rename(base / "expectations" / "label_risk.json")
    result = policy_diff(cli, base)
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert f"{PREFIX}: expectations/label_risk.json removed (looser)" in lines
    assert f"{PREFIX}: expectations/label_scores.json added" in lines
    base_verdict = cli("gate", "--label-risk", label_risk, "--expectations", base / "expectations",
                       "--out", workdir / "base_gate.json")
    one_error_line(base_verdict, code=2, contains=("label_risk.json", "rename it to label_scores.json"))


@pytest.mark.parametrize("force", [(), ("--force",)], ids=["plain", "force"])
def test_init_over_the_former_suite_file_refuses_and_writes_nothing(tmp_path, cli, monkeypatch, force):
    """Re-running `labelgate init` in a repository scaffolded before the rename would write label_scores.json beside
    the user's label_risk.json: refused (exit 2, naming the file and the rename), nothing written, even with
    --force."""
    import labelgate.scaffold as scaffold

    monkeypatch.setattr(scaffold.install, "installed_direct_url", lambda: None)  # as if installed from an index
    repo = tmp_path / "repo"
    (repo / "expectations").mkdir(parents=True)
    mine = '{"name": "label_risk", "expectations": []}\n'
    (repo / "expectations" / "label_risk.json").write_text(mine)
    result = cli("init", repo, "--labels-table", "t.csv", "--test", "test.csv", "--no-dvc", *force)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    # init's way: each refused file on a line of its own, then the one error line naming them all
    *refusals, error = [line for line in result.stderr.splitlines() if line.strip()]
    assert refusals == [f"labelgate init: {error.split('nothing written: ', 1)[1]}"]
    for text in ("init refused, nothing written", "expectations/label_risk.json",
                 "rename it to label_scores.json", "dvc.yaml"):
        assert text in error, error
    assert sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*")) == ["expectations",
                                                                               "expectations/label_risk.json"]
    assert (repo / "expectations" / "label_risk.json").read_text() == mine
