"""Fault injection (security): hostile values that `labelgate init` writes into generated files, typed
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
from hypothesis import given, settings
from hypothesis import strategies as st
from assertions import one_error_line as one_line

HOSTILE = "my labels it's \"q\" $(touch PWNED1) `touch PWNED2`; touch PWNED3 ${x} {seed} \u00e9\u2713.csv"
MARKERS = ("PWNED1", "PWNED2", "PWNED3")


@pytest.fixture()
def index_install(monkeypatch):
    import labelgate.scaffold as scaffold

    monkeypatch.setattr(scaffold.install, "installed_direct_url", lambda: None)


# ------------------------------------------------------------------------------ 1. init: hostile names and values


@pytest.mark.slow
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

    monkeypatch.setattr(scaffold.install, "installed_direct_url",
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


@pytest.mark.slow
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
    default = yaml.safe_load(params.read_text())["gate"]["max_label_error"]  # what init wrote
    params.write_text(params.read_text().replace(f"max_label_error: {default:g}", "max_label_error: 0.5"))
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
    assert f"gate policy changed in this PR: max_label_error {default:g} -> 0.5 (looser)" in result.stdout
    assert "severity critical -> warning (looser)" in result.stdout
    # the base verdict is computed (and then enforced) only when the change is not allowed
    assert (tmp_path / "runner" / "labelgate-base" / "params.yaml").exists() is (allow == "false")


# ------------------------------------------------------------------------------ 3. figures are typed


GOOD_METRICS = {"label_error_rate_upper": 0.08, "estimated_noise_rate": 0.1, "audit_accuracy_lower": 0.9,
                "annotator_alpha": 0.8, "class_balance_tvd": 0.05, "systematic_error_share": 0.2,
                "text_error_auc": 0.5, "expected_accuracy_loss": 0.005, "expected_accuracy_loss_lower": -0.01,
                "expected_accuracy_loss_upper": 0.02, "audit_representativeness_p": 0.5}


@pytest.mark.slow
@pytest.mark.parametrize("figures", [{"label_error_rate_upper": False, "audit_accuracy_lower": True},
                                     {"label_error_rate_upper": 0.05, "audit_accuracy_lower": True},
                                     {"annotator_alpha": True}])
def test_boolean_figure_in_label_risk_is_bad_input_and_blocks(workdir, cli, figures):
    (workdir / "label_risk.json").write_text(json.dumps({"metrics": {**GOOD_METRICS, **figures}}))
    result = cli("gate", "--label-risk", workdir / "label_risk.json", "--out", workdir / "gate.json")
    name = sorted(figures)[0]
    line = one_line(result, code=2, contains=("label_risk.json", f"key 'metrics.{name}'", "not a number"))
    assert "internal error" not in line
    verdict = json.loads((workdir / "gate.json").read_text())  # fail closed: the verdict file says blocked
    assert verdict["blocked"] is True and verdict["status"] == "block"
    assert cli("enforce", workdir / "gate.json").exit_code == 1


def test_the_control_without_booleans_passes_the_label_summary(workdir, cli):
    (workdir / "label_risk.json").write_text(json.dumps({"metrics": GOOD_METRICS}))
    result = cli("gate", "--label-risk", workdir / "label_risk.json", "--out", workdir / "gate.json")
    assert result.exit_code == 0, result.output


def test_boolean_figure_in_evaluation_is_bad_input(workdir, cli):
    from test_gate import evaluation

    data = evaluation(0.01, 0.9, 0.01)
    data["subsets"]["raw"]["krippendorff_alpha"] = True
    (workdir / "evaluate.json").write_text(json.dumps(data))
    result = cli("gate", "--evaluation", workdir / "evaluate.json", "--out", workdir / "gate.json")
    one_line(result, code=2, contains=("evaluate.json", "key 'subsets.raw.krippendorff_alpha' is true"))


def test_in_memory_booleans_block_and_a_flag_stays_a_flag():
    """The check route (figures computed in memory): a boolean where a number belongs errors its expectation."""
    from labelgate.gate import GateParams, run_gate
    from test_gate import evaluation

    params = GateParams(optional=("audit_accuracy_lower", "entropy_normalised", "accuracy_gap_to_reference",
                                  "audit_missing_share", "audit_rubber_stamp_flag_share",
                                  "audit_contradiction"))
    verdict = run_gate(scores=None, label_risk={"metrics": {**GOOD_METRICS, "audit_accuracy_lower": True,
                                                            "label_error_rate_upper": False}},
                       evaluation=None, params=params)
    assert verdict.blocked
    errored = {o["column"] for o in verdict.outcomes if o["status"] == "error"}
    assert errored == {"audit_accuracy_lower", "label_error_rate_upper"}
    for plateau, status in ((False, "pass"), (True, "fail")):
        data = evaluation(0.01, 0.9, 0.01, plateau=plateau)
        verdict = run_gate(scores=None, label_risk=None, evaluation=data, params=GateParams())
        (outcome,) = [o for o in verdict.outcomes if o["column"] == "plateau"]
        assert outcome["status"] == status


def test_in_memory_numpy_booleans_block():
    """The check route hands the gate the score stage's figures in memory, where a comparison gives a numpy
    boolean (np.True_ is no Python bool, so _figure passes it on): the figure frame's column is then boolean, and
    only _not_numbers stands between it and GX reading it as 1 / 0 (the bench's gate_14)."""
    import numpy as np

    from labelgate.gate import GateParams, run_gate

    figures = {"audit_accuracy_lower": np.True_, "label_error_rate_upper": np.False_}
    verdict = run_gate(scores=None, label_risk={"metrics": {**GOOD_METRICS, **figures}}, evaluation=None,
                       params=GateParams())
    assert verdict.blocked
    errored = {o["column"]: o["observed"] for o in verdict.outcomes if o["status"] == "error"}
    assert set(errored) == {"audit_accuracy_lower", "label_error_rate_upper"}
    assert errored["audit_accuracy_lower"] == "figure 'audit_accuracy_lower' = True is not a number"


def test_headline_never_turns_a_boolean_into_a_figure():
    from labelgate.headline import gate_headline, label_risk_headline

    assert label_risk_headline({"n_rows": 5, "metrics": {"audit_accuracy_lower": True, "text_error_auc": 0.5}}) == {
        "n_rows": 5, "audit_accuracy_lower": None, "text_error_auc": 0.5}
    assert gate_headline({"status": "pass", "blocked": False, "counts": {"failed_warn": True}})["failed_warn"] is None


@pytest.mark.parametrize("blocked", [0, "", "false", None, [], 1])
def test_a_verdict_whose_blocked_is_not_false_is_blocked(blocked):
    from labelgate.verdict import verdict_status

    assert verdict_status({"status": "pass", "blocked": blocked}) == "block"
    assert verdict_status({"status": "pass", "blocked": False}) == "pass"
    assert verdict_status({"status": "pass"}) == "pass"


# ------------------------------------------------------------------------------ 7. test strength


@pytest.mark.parametrize("order", ["blocked-first", "blocked-last", "blocked-middle"])
def test_enforce_blocks_when_any_verdict_is_blocked_in_any_order(tmp_path, cli, order):
    passed = {"status": "pass", "blocked": False, "reason": "ok"}
    blocked = {"status": "block", "blocked": True, "reason": "no"}
    files = []
    for i, verdict in enumerate({"blocked-first": [blocked, passed, passed], "blocked-last": [passed, passed, blocked],
                                 "blocked-middle": [passed, blocked, passed]}[order]):
        files.append(tmp_path / f"v{i}.json")
        files[-1].write_text(json.dumps(verdict))
    result = cli("enforce", *files)
    assert result.exit_code == 1, result.output
    assert result.output.count(": BLOCKED (") == 1 and result.output.count("PASSED") == 2
    assert result.output.rstrip().endswith("labelgate: BLOCKED - see reports/summary.md")
    assert cli("enforce", files[0] if order != "blocked-first" else files[1], files[2] if order != "blocked-last"
               else files[1]).exit_code == 0


def test_duplicate_expectations_both_run_and_a_dropped_duplicate_is_caught(monkeypatch):
    """Two expectations of one type on one column (a warning and a stricter critical one) both come back; when GX
    returns only one of the pair, count in != count out as a multiset, and that is a configuration error."""
    import pandas as pd

    import labelgate.expectations as expectations
    from labelgate.errors import ConfigError

    suite = {"name": "dup", "expectations": [
        {"type": "expect_column_max_to_be_between", "kwargs": {"column": "x", "max_value": 0.5},
         "severity": "warning"},
        {"type": "expect_column_max_to_be_between", "kwargs": {"column": "x", "max_value": 0.1},
         "severity": "critical"}]}
    frame = pd.DataFrame([{"x": 0.2}])
    outcomes = expectations.run_suite_json(suite, frame, {}, source="dup.json")
    assert sorted((o.severity, o.success) for o in outcomes) == [("block", False), ("warn", True)]
    real = expectations._validate

    def drop_the_critical_twin(gx, suite_json, frame, parameters):
        return [r for r in real(gx, suite_json, frame, parameters)
                if dict(r.expectation_config.kwargs).get("max_value") != 0.1]

    monkeypatch.setattr(expectations, "_validate", drop_the_critical_twin)
    with pytest.raises(ConfigError, match=r"2 expectation\(s\) in, 1 result\(s\) out; not evaluated: "
                                          r"expect_column_max_to_be_between on 'x'"):
        expectations.run_suite_json(suite, frame, {}, source="dup.json")


# ------------------------------------------------------------------------------ 5. outputs never overwrite inputs


def test_headline_equal_to_an_input_or_output_is_refused(workdir, cli):
    from test_faults import good_table

    good_table().to_csv(workdir / "labels.csv", index=False)
    before = (workdir / "labels.csv").read_bytes()
    result = cli("score", workdir / "labels.csv", "--out", workdir / "s.parquet", "--summary", workdir / "r.json",
                 "--headline", workdir / "labels.csv")
    one_line(result, code=2, contains="--headline is the same file as LABELS")
    assert (workdir / "labels.csv").read_bytes() == before
    assert not (workdir / "s.parquet").exists() and not (workdir / "r.json").exists()
    (workdir / "risk.json").write_text(json.dumps({"metrics": GOOD_METRICS}))
    result = cli("gate", "--label-risk", workdir / "risk.json", "--out", workdir / "gate.json",
                 "--headline", workdir / "gate.json")
    one_line(result, code=2, contains="--headline is the same file as --out")
    result = cli("gate", "--label-risk", workdir / "risk.json", "--out", workdir / "gate.json",
                 "--headline", workdir / "risk.json")
    one_line(result, code=2, contains="--headline is the same file as --label-risk")
    assert not (workdir / "gate.json").exists()


def test_report_into_the_subsets_folder_is_refused(workdir, cli):
    subsets = workdir / "data" / "subsets"
    subsets.mkdir(parents=True)
    (subsets / "raw.json").write_text(json.dumps({"strategy": "raw", "rows_kept": 10}))
    before = (subsets / "raw.json").read_bytes()
    (workdir / "gate.json").write_text(json.dumps({"status": "pass", "blocked": False, "reason": "ok"}))
    result = cli("report", "--verdict", workdir / "gate.json", "--subsets", subsets, "--html", subsets / "raw.json",
                 "--markdown", workdir / "summary.md")
    one_line(result, code=2, contains="--html lies inside --subsets")
    assert (subsets / "raw.json").read_bytes() == before and not (workdir / "summary.md").exists()


def test_gate_report_dir_inside_the_subsets_folder_is_refused(workdir, cli):
    subsets = workdir / "subsets"
    subsets.mkdir()
    (workdir / "risk.json").write_text(json.dumps({"metrics": GOOD_METRICS}))
    result = cli("gate", "--label-risk", workdir / "risk.json", "--out", workdir / "gate.json", "--report-dir",
                 subsets, "--subsets", subsets)
    one_line(result, code=2, contains="lies inside --subsets")
    assert not (workdir / "gate.json").exists() and list(subsets.iterdir()) == []


def test_a_killed_runs_temporaries_are_removed_by_the_next_run(workdir, cli):
    """SIGKILL leaves `.<name>.labelgate-tmp-<pid>-*.tmp` files and spool folders; the next run of the command
    writing that output removes those of dead processes, older than itself; nothing else."""
    from labelgate.outputs import TEMP_TAG

    dead = 2**22 + 12345  # above the default pid_max: no such process
    while True:
        try:
            os.kill(dead, 0)
            dead += 1
        except ProcessLookupError:
            break
        except PermissionError:
            dead += 1
    stale_file = workdir / f".gate.json.{TEMP_TAG}-{dead}-abc.tmp"
    stale_file.write_bytes(b"x" * 1000)
    stale_dir = workdir / f".gate.json.{TEMP_TAG}-{dead}-spool.tmp"
    (stale_dir / "sub").mkdir(parents=True)
    (stale_dir / "sub" / "normalised.parquet").write_bytes(b"y" * 1000)
    alive = workdir / f".gate.json.{TEMP_TAG}-1-live.tmp"  # pid 1 runs: another run's file in progress
    alive.write_text("z")
    other = workdir / ".gate.json.unrelated.tmp"  # not ours
    other.write_text("o")
    other_output = workdir / f".risk.json.{TEMP_TAG}-{dead}-abc.tmp"  # another output's: left to its command
    other_output.write_text("r")
    past = 1_000_000_000
    for path in (stale_file, stale_dir, alive, other, other_output):
        os.utime(path, (past, past))
    (workdir / "risk.json").write_text(json.dumps({"metrics": GOOD_METRICS}))
    result = cli("gate", "--label-risk", workdir / "risk.json", "--out", workdir / "gate.json")
    assert result.exit_code == 0, result.output
    assert not stale_file.exists() and not stale_dir.exists()
    assert alive.exists() and other.exists() and other_output.exists()


def test_full_disk_is_one_line_and_nothing_lands(workdir, cli, monkeypatch):
    import errno

    import labelgate.outputs as outputs

    def full(tmp, data):
        tmp.write_text("{")  # a partial write, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp))

    monkeypatch.setattr(outputs, "write_json_to", full)
    (workdir / "risk.json").write_text(json.dumps({"metrics": GOOD_METRICS}))
    result = cli("gate", "--label-risk", workdir / "risk.json", "--out", workdir / "gate.json")
    one_line(result, code=2, contains=("gate.json", "No space left on device"))
    assert not (workdir / "gate.json").exists()
    assert [p.name for p in workdir.iterdir() if p.name.startswith(".")] == []


def test_streamed_score_with_an_unwritable_headline_writes_nothing(workdir, cli):
    from test_faults import good_table

    good_table(1200).to_parquet(workdir / "labels.parquet")
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["score"].update(stream_rows=1000, chunk_rows=1000)
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    (workdir / "afile").write_text("x")
    result = cli("score", workdir / "labels.parquet", "--out", workdir / "scores.parquet", "--summary",
                 workdir / "risk.json", "--headline", workdir / "afile" / "headline.json")
    one_line(result, code=2, contains=("afile/headline.json", "cannot write here"))
    assert not (workdir / "scores.parquet").exists() and not (workdir / "risk.json").exists()
    assert [p.name for p in workdir.iterdir() if p.name.startswith(".")] == []


# ------------------------------------------------------------------------------ 6. smaller one-line errors


@pytest.mark.parametrize("args", [("audit", "sample", "t.csv", "--out", "s.csv", "--seed", "-1"),
                                  ("train", "--subset", "raw", "--seed", "-1", "--test", "t.csv")])
def test_negative_seed_is_one_line(workdir, cli, args):
    pd_table = "text,llm_label\n" + "".join(f"t{i},{'ab'[i % 2]}\n" for i in range(30))
    (workdir / "t.csv").write_text(pd_table)
    line = one_line(cli(*args), code=2, contains="--seed -1: a seed must lie in")
    assert "internal error" not in line
    assert not (workdir / "s.csv").exists() and not (workdir / "models").exists()


@pytest.mark.parametrize("args, contains", [
    (("check",), "labelgate check: error: Missing argument 'LABELS'"),
    (("gate", "--nope"), "labelgate gate: error: No such option: --nope"),
    (("train", "--subset", "raw", "--seed", "x", "--test", "t.csv"), "labelgate train: error: Invalid value for '--seed'"),
    (("train", "--subset", "raw", "--seed", "0"), "labelgate train: error: Missing option '--test'"),
    (("nocmd",), "labelgate: error: No such command 'nocmd'"),
])
def test_usage_errors_are_one_line(cli, args, contains):
    one_line(cli(*args), code=2, contains=contains)


def test_errors_name_the_params_file_given(workdir, cli):
    from test_faults import good_table

    good_table().to_csv(workdir / "labels.csv", index=False)
    (workdir / "strict.yaml").write_text("score:\n  entropy_threshold: true\n")
    result = cli("score", workdir / "labels.csv", "--params", workdir / "strict.yaml", "--out",
                 workdir / "s.parquet", "--summary", workdir / "r.json")
    line = one_line(result, code=2, contains=("strict.yaml: section 'score'", "entropy_threshold"))
    assert not line.split("error: ", 1)[1].startswith("params.yaml")


@pytest.mark.parametrize("url", ["https://alice:s3cret@llm.example.org/v1", "http://alice:s3cret@127.0.0.1:1/v1",
                                 "ftp://alice:s3cret@host/v1"])
def test_base_url_with_a_password_never_prints_it(workdir, cli, url):
    (workdir / "texts.csv").write_text("text\nhello\nworld\n")
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["annotate"].update(backend="openai", base_url=url)
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    result = cli("annotate", workdir / "texts.csv", "--out", workdir / "labels.csv")
    line = one_line(result, code=2, contains="base_url")
    assert "s3cret" not in result.output and "alice" not in result.output, line
    assert not (workdir / "labels.csv").exists()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_check_into_a_closed_pipe_keeps_the_verdicts_exit_code(workdir, repo):
    """`labelgate check | head -1`: the reader goes away; check still exits with its verdict's code (0 for a
    passing table), with no traceback and no BrokenPipeError on stderr."""
    from test_faults import good_table

    good_table().to_csv(workdir / "labels.csv", index=False)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": f"{repo / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    script = ('labelgate check labels.csv 2> err.txt | head -1 > first.txt; '
              'echo "${PIPESTATUS[0]}" > code.txt')
    subprocess.run(["bash", "-c", script], cwd=workdir, env=env, timeout=600, check=True)
    assert (workdir / "first.txt").read_text().startswith("params: ")
    assert (workdir / "code.txt").read_text().strip() == "0", (workdir / "err.txt").read_text()
    assert "Traceback" not in (workdir / "err.txt").read_text()
    assert "BrokenPipe" not in (workdir / "err.txt").read_text()


# ------------------------------------------------------------------------------ fuzzing: booleans never pass

_VALUE = st.one_of(st.floats(0, 1, allow_nan=False, allow_subnormal=False), st.booleans(), st.none(),
                   st.sampled_from(["0.05", "n/a", ""]))


@pytest.mark.slow
@settings(max_examples=15, deadline=None, derandomize=True, database=None)
@given(figures=st.fixed_dictionaries({name: _VALUE for name in GOOD_METRICS}))
def test_a_label_summary_with_a_non_number_never_passes(figures):
    """Any mix of numbers, nulls, booleans and strings: a boolean or string in a checked figure blocks, in memory
    (check) and from a file (gate: exit 2 for a boolean)."""
    from labelgate.gate import GateParams, run_gate

    verdict = run_gate(scores=None, label_risk={"metrics": figures}, evaluation=None, params=GateParams())
    checked = {o["column"] for o in verdict.outcomes}  # the predicted loss is checked as the deciding figure
    bad = sorted({name.replace("expected_accuracy_loss", "accuracy_loss") for name, value in figures.items()
                  if isinstance(value, (bool, str))} & checked)
    if bad:
        assert verdict.blocked, (figures, verdict.reason)
        errored = {o["column"] for o in verdict.outcomes if o["status"] == "error"}
        assert set(bad) <= errored, (bad, errored)


@pytest.mark.parametrize("option", ["--headline", "--out"])
def test_gate_checks_every_output_is_writable_before_writing_any(workdir, cli, option):
    (workdir / "risk.json").write_text(json.dumps({"metrics": GOOD_METRICS}))
    (workdir / "afile").write_text("x")
    paths = {"--out": workdir / "gate.json", "--headline": workdir / "headline.json"}
    paths[option] = workdir / "afile" / "x.json"
    result = cli("gate", "--label-risk", workdir / "risk.json", "--out", paths["--out"], "--headline",
                 paths["--headline"], "--report-dir", workdir / "reports")
    one_line(result, code=2, contains=("afile/x.json", "cannot write here"))
    assert sorted(p.name for p in workdir.iterdir()) == sorted(["afile", "risk.json", "expectations", "params.yaml"])
