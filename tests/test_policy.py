"""policy.py / `labelgate policy-diff`: a pull request's gate policy against the base branch's."""

from __future__ import annotations

import copy
import shutil

import pytest
import yaml

from labelgate.gate import GateParams
from labelgate.policy import PREFIX, gate_policy, params_changes, policy_changes, read_suites, suite_changes


@pytest.fixture()
def suites(repo):
    return read_suites(repo / "expectations")


def test_same_policy_has_no_change(repo, suites):
    params = yaml.safe_load((repo / "params.yaml").read_text())
    assert policy_changes(params, copy.deepcopy(params), suites, copy.deepcopy(suites)) == []


def test_a_loosened_threshold_is_one_line_with_its_direction():
    lines = policy_changes({"gate": {"max_label_error": 0.13}}, {"gate": {"max_label_error": 0.5}}, {}, {})
    assert lines == [f"{PREFIX}: max_label_error 0.13 -> 0.5 (looser)"]
    lines = policy_changes({"gate": {"min_seed_alpha": 0.75}}, {"gate": {"min_seed_alpha": 0.8}}, {}, {})
    assert lines == [f"{PREFIX}: min_seed_alpha 0.75 -> 0.8 (stricter)"]


def test_a_deleted_key_compares_with_its_default():
    default = GateParams().max_label_error
    assert params_changes(gate_policy({"gate": {"max_label_error": 0.05}}), gate_policy({})) == [
        f"{PREFIX}: max_label_error 0.05 -> {default:g} (looser)"]


def test_required_emptied_and_optional_widened_are_looser():
    base = gate_policy({})
    lines = params_changes(base, gate_policy({"gate": {"required": [], "optional": [*base["optional"],
                                                                                    "label_error_rate_upper"]}}))
    assert lines[0].startswith(f"{PREFIX}: gate.required removed ") and lines[0].endswith("(looser)")
    assert lines[1] == f"{PREFIX}: gate.optional added label_error_rate_upper (looser)"
    assert params_changes(base, gate_policy({"gate": {"subset": "cleanlab"}})) == [
        f"{PREFIX}: subset raw -> cleanlab"]


def test_suite_severity_threshold_removal_and_duplicates(suites):
    head = copy.deepcopy(suites)
    summary = head["label_summary.json"]["expectations"]
    summary[0]["severity"] = "warning"
    summary[0]["meta"] = {"description": "only words changed"}
    removed = summary.pop(1)
    lines = suite_changes(suites, head)
    assert len(lines) == 2, lines
    assert "severity critical -> warning (looser)" in lines[0] and "label_summary.json" in lines[0]
    assert lines[1].endswith(f"{removed['type']} on '{removed['kwargs']['column']}' removed (looser)")
    # a duplicate taken away is a change too (counted as a multiset)
    doubled = copy.deepcopy(suites)
    doubled["label_scores.json"]["expectations"].append(copy.deepcopy(doubled["label_scores.json"]["expectations"][0]))
    assert suite_changes(doubled, suites) and suite_changes(suites, doubled)


def test_a_removed_suite_and_changed_kwargs():
    base = {"s.json": {"expectations": [{"type": "expect_column_max_to_be_between",
                                         "kwargs": {"column": "x", "max_value": {"$PARAMETER": "max_a"}}}]}}
    head = {"s.json": {"expectations": [{"type": "expect_column_max_to_be_between",
                                         "kwargs": {"column": "x", "max_value": 0.9}}]}}
    assert suite_changes(base, head) == [f'{PREFIX}: expectations/s.json: expect_column_max_to_be_between on \'x\' '
                                         f'max_value {{"$PARAMETER": "max_a"}} -> 0.9']
    assert suite_changes(base, {}) == [f"{PREFIX}: expectations/s.json removed (looser)"]


@pytest.fixture()
def base(workdir):
    folder = workdir / "base"
    shutil.copytree(workdir / "expectations", folder / "expectations")
    shutil.copy(workdir / "params.yaml", folder / "params.yaml")
    return folder


def test_cli_unchanged_exits_0(cli, base):
    result = cli("policy-diff", "--base-params", base / "params.yaml", "--base-expectations", base / "expectations")
    assert result.exit_code == 0, result.output
    assert "gate policy unchanged against the base branch" in result.output


def test_cli_loosened_exits_1_unless_allowed(cli, workdir, base):
    text = (workdir / "params.yaml").read_text().replace("max_label_error: 0.3", "max_label_error: 0.5")
    (workdir / "params.yaml").write_text(text)
    suite = workdir / "expectations" / "label_summary.json"
    suite.write_text(suite.read_text().replace('"critical"', '"warning"', 1))
    args = ("policy-diff", "--base-params", base / "params.yaml", "--base-expectations", base / "expectations")
    result = cli(*args)
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert f"{PREFIX}: max_label_error 0.3 -> 0.5 (looser)" in lines
    assert any("label_summary.json" in line and "severity critical -> warning" in line for line in lines)
    allowed = cli(*args, "--allow-change")
    assert allowed.exit_code == 0 and "allowed" in allowed.stdout


def test_cli_names_a_broken_base_file(cli, workdir, base):
    (base / "params.yaml").write_text("gate:\n  max_label_error: true\n")
    result = cli("policy-diff", "--base-params", base / "params.yaml")
    assert result.exit_code == 2 and str(base / "params.yaml") in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = cli("policy-diff", "--base-params", workdir / "absent.yaml")
    assert result.exit_code == 2 and "base params file not found" in result.stderr


def test_read_suites_refuses_invalid_json(tmp_path):
    (tmp_path / "s.json").write_text("{nope")
    from labelgate.errors import BadInputError

    with pytest.raises(BadInputError, match="s.json: not valid JSON"):
        read_suites(tmp_path)
