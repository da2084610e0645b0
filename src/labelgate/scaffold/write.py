"""Writing what `labelgate init` planned (all or nothing), `dvc init`, and `main`, the command on a folder."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from labelgate.errors import BadInputError, LabelgateError
from labelgate.scaffold.options import InitOptions
from labelgate.scaffold.plan import DVCIGNORED, Plan, plan_files
from labelgate.scaffold.render import WORKFLOW_PATH


def apply_plan(target: str | os.PathLike, plan: Plan) -> list[Path]:
    """Write the plan; all or nothing: a refused file means nothing is written (exit 2 with every reason)."""
    target = Path(target)
    if plan.refused:
        reasons = "; ".join(f"{f.path}: {f.note}" for f in plan.refused)
        raise BadInputError(target, f"init refused, nothing written: {reasons}")
    from labelgate.outputs import atomic_paths

    chosen = [f for f in plan.files if f.action in ("create", "merge", "overwrite")]
    written = [target / f.path for f in chosen]
    with atomic_paths(*written) as tmps:  # every file or none: one that cannot be written stops them all
        for tmp, f in zip(tmps, chosen):
            tmp.write_text(f.content, encoding="utf-8")
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


def ensure_dvcignore(target: str | os.PathLike) -> str:
    """Append labelgate's .dvcignore entries (after `dvc init`, which writes the file); return what happened."""
    path = Path(target) / ".dvcignore"
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    missing = [entry for entry in DVCIGNORED if entry not in {line.strip() for line in current.splitlines()}]
    if not missing:
        return "unchanged .dvcignore"
    block = "# DVC's own .gitignore files beside labelgate's outputs: not inputs of evaluate and gate\n" + \
        "\n".join(missing) + "\n"
    path.write_text((current.rstrip("\n") + "\n\n" if current.strip() else "") + block, encoding="utf-8")
    return f"{'merged' if current else 'wrote'} .dvcignore: added {', '.join(missing)}"


def next_steps(target: str | os.PathLike, options: InitOptions) -> str:
    steps = ["next steps:"]
    if options.todo():
        steps.append(f"  0. set {', '.join(options.todo())}: re-run `labelgate init {target} --force` with them "
                     "(or replace the TODO_ paths in dvc.yaml)")
    data = (f"the gold test set {options.test or '(--test)'}"
            + (f" and the gold pool {options.gold_pool} (text, label: trains the gold-label reference run)"
               if options.gold_pool else " (no gold pool: no reference run, the gap-to-gold checks are skipped)"))
    steps += [
        f"  1. cd {target}; the pipeline reads {options.texts or options.labels_table or '(--texts)'} and {data}",
        "  2. `dvc repro`: exits non-zero when the gate blocks (`dvc repro gate` only computes the verdict); "
        "read reports/report.html",
        "  3. tune the gate thresholds in params.yaml (gate:) and commit dvc.yaml, params.yaml, dvc.lock, metrics/, "
        "reports/, expectations/, .github/ and .gitignore",
        f"  4. push: every pull request runs {WORKFLOW_PATH} (labelgate installed as {options.install}) and gets "
        "the verdict as a comment",
    ]
    return "\n".join(steps)


def main(directory: str | os.PathLike, options: InitOptions, *, force: bool = False, dvc: bool = True,
         say: Callable[[str], None] = print, warn: Callable[[str], None] = print) -> list[Path]:
    """`labelgate init` on a folder: plan the files, write those that are new or unchanged (or differ, with
    `force`), `say` what happened and what to do next; refused files go to `warn`. Returns the files written."""
    plan = plan_files(directory, options, force=force)
    for f in plan.refused:
        warn(f"labelgate init: {f.path}: {f.note}")
    written = apply_plan(directory, plan)
    for f in plan.files:
        say(f.line())
    if plan.strategies_note:
        say(plan.strategies_note)
    if options.todo():
        say(f"TODO: {', '.join(options.todo())} not given: dvc.yaml holds TODO_ paths that `dvc repro` will name")
    say(dvc_init(directory) if dvc else "dvc: skipped `dvc init` (--no-dvc)")
    say(ensure_dvcignore(directory))
    say(next_steps(directory, options))
    return written
