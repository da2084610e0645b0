"""`labelgate init`: the packaged scaffold mirrors the repository's pipeline files, and init copies it safely."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from labelgate.init import (
    SCAFFOLD_DIR,
    packaged_name,
    repository_files,
    scaffold_files,
    sync_scaffold,
)

REPO = Path(__file__).resolve().parents[1]
EXPECTED = {"dvc.yaml", "params.yaml", ".github/workflows/labelgate.yml", "expectations/label_contract.json",
            "expectations/label_risk.json", "expectations/label_summary.json", "expectations/test_contract.json",
            "expectations/training_stability.json"}


class TestScaffoldCopies:
    def test_byte_identical_to_the_repository(self):
        repo = {name: path.read_bytes() for name, path in repository_files(REPO).items()}
        assert EXPECTED <= set(repo)
        packaged = scaffold_files()
        stale = sorted(name for name in set(repo) | set(packaged) if repo.get(name) != packaged.get(name))
        assert not stale, f"scaffold out of date for {stale}: run `make scaffold-sync`"

    def test_source_tree_holds_the_copies(self):
        """The copies the wheel ships are the ones in src/, not only an installed package's."""
        folder = REPO / "src" / "labelgate" / SCAFFOLD_DIR
        names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()
                 and "__pycache__" not in p.parts}
        assert names == {packaged_name(name) for name in repository_files(REPO)}

    def test_sync_updates_adds_and_removes(self, tmp_path):
        root, package = tmp_path / "repo", tmp_path / "scaffold"
        for name in ("dvc.yaml", "params.yaml", ".github/workflows/labelgate.yml", "expectations/a.json"):
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(f"new {name}\n")
        (package / "expectations").mkdir(parents=True)
        (package / "params.yaml").write_text("new params.yaml\n")  # already current
        (package / "dvc.yaml").write_text("old\n")
        (package / "expectations" / "gone.json").write_text("{}")
        changes = sync_scaffold(root, package)
        assert changes == ["updated dvc.yaml", "updated expectations/a.json", "updated github/workflows/labelgate.yml",
                           "removed expectations/gone.json"]
        assert (package / "github" / "workflows" / "labelgate.yml").read_text() == \
            "new .github/workflows/labelgate.yml\n"
        assert sync_scaffold(root, package) == []

    def test_sync_refuses_a_folder_that_is_not_the_repository(self, tmp_path):
        from labelgate.errors import BadInputError

        with pytest.raises(BadInputError, match="dvc.yaml, params.yaml, .github/workflows/labelgate.yml missing"):
            sync_scaffold(tmp_path, tmp_path / "scaffold")

    def test_built_wheel_ships_the_scaffold(self, tmp_path):
        """Build a wheel from the sources; importlib.resources inside the unpacked wheel finds every file."""
        pytest.importorskip("setuptools")
        source = tmp_path / "source"
        shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        shutil.copy(REPO / "pyproject.toml", source)
        readme = REPO / "README.md"
        (source / "README.md").write_bytes(readme.read_bytes() if readme.exists() else b"labelgate\n")
        build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                                "-w", str(tmp_path / "dist"), str(source)], capture_output=True, text=True,
                               timeout=300)
        assert build.returncode == 0, build.stderr[-2000:]
        (wheel,) = (tmp_path / "dist").glob("labelgate-*.whl")
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(tmp_path / "site")
        script = ("import json, labelgate.init as i; print(json.dumps({k: v.decode() for k, v in "
                  "i.scaffold_files().items()}), i.__file__)")
        # -S: no site-packages, so only the unpacked wheel can provide labelgate
        found = subprocess.run([sys.executable, "-S", "-c", script], capture_output=True, text=True, timeout=60,
                               env={"PYTHONPATH": str(tmp_path / "site")}, cwd=tmp_path)
        assert found.returncode == 0, found.stderr[-2000:]
        files, origin = found.stdout.rsplit(" ", 1)
        assert origin.strip().startswith(str(tmp_path / "site"))
        assert {k: v.encode() for k, v in json.loads(files).items()} == scaffold_files()


@pytest.fixture()
def target(tmp_path) -> Path:
    folder = tmp_path / "repo"
    folder.mkdir()
    return folder


class TestInit:
    def test_scaffolds_a_folder_without_git(self, cli, target):
        result = cli("init", target)
        assert result.exit_code == 0, result.output
        for name, content in scaffold_files().items():
            assert (target / name).read_bytes() == content
        assert "not a git repository, skipped `dvc init`" in result.output
        assert "next steps:" in result.output and "dvc repro" in result.output
        assert not (target / ".dvc").exists()

    def test_refuses_to_overwrite_without_force(self, cli, target):
        (target / "params.yaml").write_text("mine\n")
        result = cli("init", target)
        assert result.exit_code == 2
        assert result.output.strip() == (f"labelgate init: error: {target / 'params.yaml'}: already exists; "
                                         "pass --force to overwrite")
        assert (target / "params.yaml").read_text() == "mine\n"
        assert not (target / "dvc.yaml").exists()  # all or nothing

    def test_names_how_many_more_exist(self, cli, target):
        assert cli("init", target, "--no-dvc").exit_code == 0
        result = cli("init", target, "--no-dvc")
        assert result.exit_code == 2 and f"(+{len(scaffold_files()) - 1} more)" in result.output

    def test_force_overwrites(self, cli, target):
        (target / "params.yaml").write_text("mine\n")
        result = cli("init", target, "--force", "--no-dvc")
        assert result.exit_code == 0, result.output
        assert (target / "params.yaml").read_bytes() == scaffold_files()["params.yaml"]
        assert "skipped `dvc init` (--no-dvc)" in result.output

    def test_missing_folder_is_bad_input(self, cli, tmp_path):
        result = cli("init", tmp_path / "absent")
        assert result.exit_code == 2 and "not a folder" in result.output

    @pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
    def test_runs_dvc_init_in_a_git_repository_once(self, cli, target):
        subprocess.run(["git", "init", "-q", str(target)], check=True)
        result = cli("init", target)
        assert result.exit_code == 0, result.output
        assert (target / ".dvc").is_dir() and "ran `dvc init`" in result.output
        result = cli("init", target, "--force")
        assert result.exit_code == 0 and "already initialised" in result.output
