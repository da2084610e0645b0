"""`labelgate init`: a pipeline wired to the user's paths, generic params, never clobbering on a re-run."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from labelgate.scaffold import (
    CONSTRAINTS_PATH,
    IGNORED,
    TODO,
    WORKFLOW_PATH,
    InitOptions,
    pipeline,
    plan_files,
    render_params,
    supported_strategies,
)

REPO = Path(__file__).resolve().parents[1]
FLAGS = ("--texts", "data/texts.csv", "--test", "data/test.csv", "--gold-pool", "data/pool.csv",
         "--labels", "bug,feature,question")
SUITES = sorted(f"expectations/{p.name}" for p in (REPO / "expectations").glob("*.json"))


@pytest.fixture(autouse=True)
def index_install(monkeypatch):
    """labelgate as if installed from a package index (this checkout is an editable install, which init refuses to
    write into the workflow without --install)."""
    import labelgate.scaffold as scaffold

    monkeypatch.setattr(scaffold.install, "installed_direct_url", lambda: None)


@pytest.fixture()
def target(tmp_path) -> Path:
    folder = tmp_path / "repo"
    folder.mkdir()
    return folder


def written(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*"))
            if p.is_file() and ".git/" not in p.as_posix() and "/.dvc/" not in p.as_posix()}


class TestStrategies:
    @pytest.mark.parametrize("columns, expected", [
        (None, ("raw", "entropy", "cleanlab", "consensus", "combined")),  # annotated here: every signal
        (["text", "llm_label"], ("raw", "cleanlab")),
        (["text", "llm_label", "llm_prob_a", "llm_prob_b"], ("raw", "entropy", "cleanlab", "combined")),
        (["text", "llm_label", "annotator_x"], ("raw", "entropy", "cleanlab", "consensus", "combined")),
    ])
    def test_follow_what_the_table_supports(self, columns, expected):
        assert supported_strategies(columns) == expected


class TestPipeline:
    def test_wired_to_the_users_paths_only(self):
        options = InitOptions(texts="in/texts.csv", test="in/test.csv", gold_pool="in/pool.csv", labels=("a", "b"))
        text = yaml.safe_dump(pipeline(options))
        assert "src/labelgate" not in text and "data/demo" not in text
        stages = pipeline(options)["stages"]
        assert stages["annotate"]["deps"] == ["in/texts.csv"]
        for name in ("score", "train", "evaluate", "learning_curve_gold"):
            assert "--test in/test.csv" in stages[name]["cmd"], name
        assert stages["reference"]["cmd"].startswith("labelgate reference in/pool.csv ")
        assert stages["train"]["matrix"]["subset"] == "${filter.strategies}"
        assert stages["train_gold"]["foreach"] == "${train.seeds}"
        assert all("labelgate.version" in (s.get("params") or s.get("do", {}).get("params"))
                   for name, s in stages.items() if name != "enforce")
        assert "--no-enforce" in stages["gate"]["cmd"] and stages["enforce"]["cmd"].startswith("labelgate enforce")

    def test_label_table_drops_annotate_and_no_pool_drops_reference(self):
        stages = pipeline(InitOptions(labels_table="t.parquet", test="test.csv"))["stages"]
        assert "annotate" not in stages and "reference" not in stages and "train_gold" not in stages
        assert stages["validate"]["deps"][0] == "t.parquet"
        assert "learning_curve_gold" not in stages  # no gold pool: no gold curve, and no reference for the gated one
        assert "--reference" not in stages["learning_curve_gated"]["cmd"]
        assert "metrics/learning_curve/gold.json" not in stages["learning_curve_gated"]["deps"]
        assert stages["audit_reference"]["deps"][0] == "data/validated.parquet"  # the audit is the reference
        assert "metrics/audit_reference.json" in stages["evaluate"]["deps"]

    def test_missing_paths_are_todo_markers(self):
        stages = pipeline(InitOptions())["stages"]
        assert stages["annotate"]["deps"] == [TODO["texts"]] and TODO["test"] in stages["score"]["deps"]

    def test_options_are_checked(self):
        from labelgate.errors import ConfigError

        with pytest.raises(ConfigError, match="exclude each other"):
            InitOptions(texts="a", labels_table="b")
        with pytest.raises(ConfigError, match="--annotator"):
            InitOptions(annotator="gpt")
        with pytest.raises(ConfigError, match="--labels: labels must be unique"):
            InitOptions(labels=("a", "a"))


class TestRenderYaml:
    def test_a_long_tame_command_is_folded_and_reads_back(self):
        from labelgate.scaffold.stages import render_yaml

        cmd = " ".join(f"--option-{i} data/path_{i}.csv" for i in range(8))
        document = {"stages": {"one": {"cmd": cmd, "deps": ["a"]}, "two": {"cmd": "labelgate x"}}}
        text = render_yaml(document, ["# head"], {"two": "Why two."}, fold=60)
        assert "cmd: >-" in text and max(len(line) for line in text.splitlines()) < len(cmd)
        assert yaml.safe_load(text) == document
        assert text.startswith("# head\nstages:\n  one:") and "\n\n  # Why two.\n  two:\n" in text

    def test_a_command_with_quotes_stays_on_one_line(self):
        from labelgate.scaffold.stages import render_yaml

        cmd = "labelgate validate 'in/a  b.csv' " + "--out data/validated.parquet " * 4
        text = render_yaml({"stages": {"validate": {"cmd": cmd}}}, [], fold=40)
        assert ">-" not in text and yaml.safe_load(text)["stages"]["validate"]["cmd"] == cmd

    @pytest.mark.parametrize("cmd", ["a: b", "{x}", "@a b", "labelgate x --y: z"])
    def test_a_short_command_yaml_would_misread_is_quoted(self, cmd):
        from labelgate.scaffold.stages import render_yaml

        text = render_yaml({"stages": {"s": {"cmd": cmd}}}, [], fold=118)
        assert yaml.safe_load(text)["stages"]["s"]["cmd"] == cmd and ">-" not in text


class TestParams:
    def test_users_labels_generic_prompt_and_version(self):
        text = render_params(InitOptions(texts="t.csv", labels=("bug", "feature"), annotator="openai"),
                             ("raw", "cleanlab"))
        values = yaml.safe_load(text)
        assert values["base"]["labels"] == ["bug", "feature"]
        assert values["annotate"]["backend"] == "openai" and values["annotate"]["few_shot"] == []
        assert values["annotate"]["model"] == "gpt-4o-mini" and values["annotate"]["endpoint"] == "chat"
        assert "tweet" not in text.lower() and "the prompts below ask for one of: bug, feature" in text
        assert values["filter"]["strategies"] == ["raw", "cleanlab"]
        assert values["evaluate"]["reference"] == ""  # no gold pool
        from labelgate import __version__

        assert values["labelgate"]["version"] == __version__

    def test_label_table_has_no_annotate_section(self):
        values = yaml.safe_load(render_params(InitOptions(labels_table="t.csv", gold_pool="p.csv"), ("raw",)))
        assert "annotate" not in values and values["evaluate"]["reference"] == "gold"


class TestInitCommand:
    def test_writes_everything_wired(self, cli, target):
        (target / ".gitignore").write_text("*.pyc\n")
        result = cli("init", target, *FLAGS, "--no-dvc")
        assert result.exit_code == 0, result.output
        files = written(target)
        assert set(files) == {"dvc.yaml", "params.yaml", WORKFLOW_PATH, CONSTRAINTS_PATH, ".gitignore", ".dvcignore",
                              *SUITES}
        assert files[".gitignore"].startswith("*.pyc\n") and all(e in files[".gitignore"] for e in IGNORED)
        assert "labelgate[demo]==" in files[WORKFLOW_PATH] and ".ci/run" not in files[WORKFLOW_PATH]
        # the workflow installs labelgate under the versions this labelgate's own tests passed with
        assert f'pip install -c {CONSTRAINTS_PATH} "$LABELGATE_SPEC"' in files[WORKFLOW_PATH]
        assert files[CONSTRAINTS_PATH] == (REPO / "src/labelgate/defaults/constraints.txt").read_text()
        pins = [line for line in files[CONSTRAINTS_PATH].splitlines() if line and not line.startswith("#")]
        assert pins and all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[^\s=]+", line) for line in pins)
        assert "make install" not in files[WORKFLOW_PATH]
        for name in SUITES:
            assert files[name] == (REPO / name).read_text()
        assert "gold pool data/pool.csv" in result.output and "gold audit" not in result.output

    def test_rerun_changes_nothing(self, cli, target):
        assert cli("init", target, *FLAGS, "--no-dvc").exit_code == 0
        before = written(target)
        result = cli("init", target, *FLAGS, "--no-dvc")
        assert result.exit_code == 0, result.output
        assert written(target) == before
        assert result.output.count("unchanged ") == len(before)

    def test_params_merge_keeps_the_users_values(self, cli, target):
        (target / "params.yaml").write_text("# mine\ngate:\n  max_median_entropy: 0.9\nmy_stage:\n  x: 1\n")
        result = cli("init", target, *FLAGS, "--no-dvc")
        assert result.exit_code == 0, result.output
        text = (target / "params.yaml").read_text()
        assert text.startswith("# mine\ngate:\n  max_median_entropy: 0.9\nmy_stage:\n  x: 1\n")
        values = yaml.safe_load(text)
        assert values["gate"] == {"max_median_entropy": 0.9} and values["base"]["labels"] == ["bug", "feature",
                                                                                             "question"]
        assert "merged params.yaml: added section(s) labelgate, base, annotate" in result.output

    def test_dvc_yaml_with_other_stages_is_merged(self, cli, target):
        (target / "dvc.yaml").write_text("stages:\n  prepare:\n    cmd: python prep.py\n")
        result = cli("init", target, *FLAGS, "--no-dvc")
        assert result.exit_code == 0, result.output
        stages = yaml.safe_load((target / "dvc.yaml").read_text())["stages"]
        assert stages["prepare"] == {"cmd": "python prep.py"} and "gate" in stages

    def test_clashing_stage_or_workflow_is_refused_and_nothing_written(self, cli, target):
        (target / "dvc.yaml").write_text("stages:\n  train:\n    cmd: python train.py\n")
        (target / ".github" / "workflows").mkdir(parents=True)
        (target / WORKFLOW_PATH).write_text("name: mine\n")
        result = cli("init", target, *FLAGS, "--no-dvc")
        assert result.exit_code == 2
        assert "dvc.yaml: already has stage(s) train that differ from labelgate's" in result.output
        assert f"{WORKFLOW_PATH}: exists and differs" in result.output
        assert set(written(target)) == {"dvc.yaml", WORKFLOW_PATH}
        assert (target / "dvc.yaml").read_text() == "stages:\n  train:\n    cmd: python train.py\n"
        result = cli("init", target, *FLAGS, "--no-dvc", "--force")
        assert result.exit_code == 0 and "overwrote dvc.yaml: --force" in result.output

    def test_a_changed_suite_is_kept(self, cli, target):
        assert cli("init", target, *FLAGS, "--no-dvc").exit_code == 0
        suite = target / "expectations" / "label_scores.json"
        suite.write_text(suite.read_text().replace('"critical"', '"warning"'))
        mine = suite.read_text()
        result = cli("init", target, *FLAGS, "--no-dvc")
        assert result.exit_code == 0 and "kept yours expectations/label_scores.json" in result.output
        assert suite.read_text() == mine

    def test_label_table_strategies_follow_its_columns(self, cli, target):
        (target / "labels.csv").write_text("text,llm_label\n" + "".join(f"t{i},{'ab'[i % 2]}\n" for i in range(60)))
        result = cli("init", target, "--labels-table", "labels.csv", "--test", "test.csv", "--no-dvc")
        assert result.exit_code == 0, result.output
        assert "filter.strategies ['raw', 'cleanlab']: what labels.csv supports" in result.output
        assert yaml.safe_load((target / "params.yaml").read_text())["filter"]["strategies"] == ["raw", "cleanlab"]

    def test_absolute_paths_are_refused(self, cli, target):
        result = cli("init", target, "--texts", str(target / "t.csv"), "--no-dvc")
        assert result.exit_code == 2 and "relative to the repository" in result.output

    def test_missing_folder_is_bad_input(self, cli, tmp_path):
        result = cli("init", tmp_path / "absent")
        assert result.exit_code == 2 and "not a folder" in result.output

    @pytest.mark.slow  # runs dvc repro
    @pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
    def test_todo_markers_make_dvc_repro_fail_in_one_line(self, cli, target):
        subprocess.run(["git", "init", "-q", str(target)], check=True)
        result = cli("init", target)
        assert result.exit_code == 0, result.output
        assert (target / ".dvc").is_dir() and "ran `dvc init`" in result.output
        assert "merged .dvcignore: added models/*/.gitignore, data/subsets/.gitignore" in result.output
        assert "TODO: --texts (or --labels-table), --test not given" in result.output
        repro = subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=target, capture_output=True, text=True,
                               timeout=120)
        assert repro.returncode != 0
        errors = [line for line in repro.stderr.splitlines() if line.startswith("ERROR")]
        assert len(errors) == 1 and TODO["texts"] in errors[0], repro.stderr
        again = cli("init", target)
        assert again.exit_code == 0 and "already initialised" in again.output
        assert "unchanged .dvcignore" in again.output


@pytest.mark.slow  # builds a wheel
def test_built_wheel_ships_the_defaults(tmp_path):
    """Build a wheel from the sources: the packaged params, suites (the link resolved) and workflow are inside."""
    pytest.importorskip("setuptools")
    source = tmp_path / "source"
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(REPO / "pyproject.toml", source)
    (source / "README.md").write_bytes((REPO / "README.md").read_bytes())
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path / "dist"), str(source)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("labelgate-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for suite in SUITES:
            packaged = f"labelgate/defaults/{suite}"
            assert packaged in names
            assert archive.read(packaged) == (REPO / suite).read_bytes()
        assert {"labelgate/defaults/params.yaml", "labelgate/defaults/workflow.yml",
                "labelgate/defaults/constraints.txt"} <= names


def test_asks_on_a_terminal(cli, target, monkeypatch):
    """Without flags on a terminal, init asks; an empty answer keeps the TODO marker."""
    from typer.testing import CliRunner

    from labelgate.cli import tools as cli_module

    monkeypatch.setattr(cli_module, "_interactive", lambda: True)
    answers = "\n".join(["", "in/texts.csv", "", "in/pool.csv", "spam,ham"]) + "\n"
    result = CliRunner().invoke(cli_module.app, ["init", str(target), "--no-dvc"], input=answers)
    assert result.exit_code == 0, result.output
    stages = yaml.safe_load((target / "dvc.yaml").read_text())["stages"]
    assert stages["annotate"]["deps"] == ["in/texts.csv"] and TODO["test"] in stages["score"]["deps"]
    assert stages["reference"]["deps"][0] == "in/pool.csv"
    assert yaml.safe_load((target / "params.yaml").read_text())["base"]["labels"] == ["spam", "ham"]
    assert "TODO: --test not given" in result.output
