"""`labelgate init`: scaffold labelgate into an existing repository.

The scaffold is this repository's own pipeline definition, shipped as package data in `labelgate/scaffold/`:
dvc.yaml, params.yaml, expectations/*.json and the PR workflow (kept as `github/workflows/labelgate.yml` in the
package, because setuptools' package-data globs skip dot-folders, and written to `.github/workflows/`).
`sync_scaffold` refreshes those copies from the repository's top-level files (`make scaffold-sync`); a test
asserts they are byte-identical, so the scaffold cannot drift from the pipeline the project itself runs.

`labelgate init` writes nothing when any target file exists, unless forced; then it runs `dvc init` when the target
is a git repository without `.dvc/`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from labelgate.errors import BadInputError, LabelgateError

SCAFFOLD_DIR = "scaffold"
# Files the scaffold mirrors, as paths in a repository: fixed files plus glob patterns.
SCAFFOLD_FILES = ("dvc.yaml", "params.yaml", ".github/workflows/labelgate.yml")
SCAFFOLD_GLOBS = ("expectations/*.json",)
_PACKAGED_PREFIX = {".github/": "github/"}  # repository path prefix -> package-data path prefix


def packaged_name(repo_path: str) -> str:
    """Where a repository file lives inside labelgate/scaffold/."""
    for repo_prefix, package_prefix in _PACKAGED_PREFIX.items():
        if repo_path.startswith(repo_prefix):
            return package_prefix + repo_path[len(repo_prefix):]
    return repo_path


def repository_name(packaged: str) -> str:
    """Where a labelgate/scaffold/ file goes in a repository."""
    for repo_prefix, package_prefix in _PACKAGED_PREFIX.items():
        if packaged.startswith(package_prefix):
            return repo_prefix + packaged[len(package_prefix):]
    return packaged


def repository_files(root: str | os.PathLike) -> dict[str, Path]:
    """The scaffolded files of a repository (e.g. this project's checkout): repository path -> file."""
    root = Path(root)
    found = {name: root / name for name in SCAFFOLD_FILES if (root / name).is_file()}
    for pattern in SCAFFOLD_GLOBS:
        found.update({p.relative_to(root).as_posix(): p for p in sorted(root.glob(pattern)) if p.is_file()})
    return dict(sorted(found.items()))


def scaffold_files() -> dict[str, bytes]:
    """The packaged scaffold: repository path -> file content, read through importlib.resources."""
    files: dict[str, bytes] = {}

    def walk(node, prefix: str) -> None:
        for child in node.iterdir():
            if child.name.startswith((".", "__")):
                continue
            if child.is_dir():
                walk(child, f"{prefix}{child.name}/")
            elif child.is_file():
                files[repository_name(prefix + child.name)] = child.read_bytes()

    root = resources.files("labelgate").joinpath(SCAFFOLD_DIR)
    if root.is_dir():
        walk(root, "")
    if not files:
        raise LabelgateError("the labelgate package holds no scaffold files (labelgate/scaffold/); reinstall it")
    return dict(sorted(files.items()))


def existing_targets(target: str | os.PathLike, names: list[str] | dict[str, bytes]) -> list[Path]:
    """Target files that already exist (init refuses to overwrite them without --force)."""
    target = Path(target)
    return [target / name for name in names if (target / name).exists()]


def write_scaffold(target: str | os.PathLike, files: dict[str, bytes], *, force: bool = False) -> list[Path]:
    """Copy the scaffold into an existing folder; all or nothing when a file exists and force is off."""
    target = Path(target)
    if not target.is_dir():
        raise BadInputError(target, "not a folder; create the repository first (git init)")
    existing = existing_targets(target, files)
    if existing and not force:
        more = f" (+{len(existing) - 1} more)" if len(existing) > 1 else ""
        raise BadInputError(existing[0], f"already exists{more}; pass --force to overwrite")
    from labelgate.io import atomic_path

    written = []
    for name, content in files.items():
        with atomic_path(target / name) as tmp:
            tmp.write_bytes(content)
        written.append(target / name)
    return written


def dvc_init(target: str | os.PathLike, *, run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> str:
    """Run `dvc init` when the target is a git repository without .dvc/; return what happened, in one line."""
    target = Path(target)
    if (target / ".dvc").exists():
        return "dvc: already initialised (.dvc/ exists), skipped `dvc init`"
    if not (target / ".git").exists():
        return "dvc: not a git repository, skipped `dvc init` (run `git init && dvc init` there)"
    result = run([sys.executable, "-m", "dvc", "init", "--quiet"], cwd=target, capture_output=True, text=True)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip().splitlines()
        raise LabelgateError(f"dvc init failed in {target}: {detail[-1] if detail else f'exit {result.returncode}'}")
    return "dvc: ran `dvc init` (commit .dvc/ and .dvcignore)"


def next_steps(target: str | os.PathLike) -> str:
    return "\n".join([
        "next steps:",
        f"  1. cd {target}; set base.labels in params.yaml and point the dvc.yaml stages at your texts, gold test "
        "set and gold audit (the scaffold uses the demo paths data/demo/...)",
        "  2. adjust the gate thresholds in params.yaml (gate:) and the expectations in expectations/*.json",
        "  3. run `dvc repro`: it exits 1 when the gate blocks; read reports/report.html",
        "  4. check the install step of .github/workflows/labelgate.yml, then commit: every pull request gets the "
        "verdict as a comment",
    ])


def sync_scaffold(repo_root: str | os.PathLike, package_dir: str | os.PathLike | None = None) -> list[str]:
    """Refresh labelgate/scaffold/ from the repository's files; return the changes (for `make scaffold-sync`)."""
    repo_root = Path(repo_root)
    package_dir = Path(package_dir) if package_dir else Path(__file__).parent / SCAFFOLD_DIR
    wanted = {packaged_name(name): path.read_bytes() for name, path in repository_files(repo_root).items()}
    missing = [name for name in SCAFFOLD_FILES if packaged_name(name) not in wanted]
    if missing:
        raise BadInputError(repo_root, f"not the labelgate repository root: {', '.join(missing)} missing")
    changes = []
    for name, content in sorted(wanted.items()):
        path = package_dir / name
        if not path.is_file() or path.read_bytes() != content:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            changes.append(f"updated {name}")
    for path in sorted(p for p in package_dir.rglob("*") if p.is_file()):
        name = path.relative_to(package_dir).as_posix()
        if name not in wanted and "__pycache__" not in name:
            path.unlink()
            changes.append(f"removed {name}")
    return changes


if __name__ == "__main__":  # `python -m labelgate.init [REPO_ROOT]`: what `make scaffold-sync` runs
    for change in sync_scaffold(sys.argv[1] if len(sys.argv) > 1 else ".") or ["scaffold up to date"]:
        print(change)
