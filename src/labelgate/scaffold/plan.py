"""Planning what `labelgate init` writes, without writing: each file new, unchanged, merged (params.yaml, dvc.yaml,
.gitignore get only what they lack) or refused when it differs (unless --force)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from labelgate.errors import BadInputError, ConfigError
from labelgate.scaffold.options import InitOptions, supported_strategies, table_columns
from labelgate.scaffold.stages import render_dvc_yaml
from labelgate.scaffold.render import (
    CONSTRAINTS_PATH,
    WORKFLOW_PATH,
    expectation_files,
    render_constraints,
    render_params,
    render_workflow,
)


# Outputs of the scaffolded pipeline that must never be committed (DVC drops its own .gitignore entries when a
# stage fails).
IGNORED = ("/data/llm_labels.csv", "/data/validated.parquet", "/data/scores.parquet", "/data/subsets/", "/models/",
           "/pr-comment.md")


# DVC writes .gitignore files beside the outputs in models/ and data/subsets/; evaluate and gate depend on those
# folders, and hashing the .gitignore files would re-run them when only a threshold changed.
DVCIGNORED = ("models/*/.gitignore", "data/subsets/.gitignore")


@dataclass
class FilePlan:
    path: str
    action: str  # create | unchanged | merge | keep | refuse | overwrite
    content: str = ""  # what is written (the whole file, merged where merging)
    note: str = ""

    def line(self) -> str:
        verb = {"create": "wrote", "unchanged": "unchanged", "merge": "merged", "keep": "kept yours",
                "refuse": "refused", "overwrite": "overwrote"}[self.action]
        return f"{verb} {self.path}{': ' + self.note if self.note else ''}"


@dataclass
class Plan:
    files: list[FilePlan] = field(default_factory=list)
    strategies: tuple[str, ...] = ()
    strategies_note: str = ""

    @property
    def refused(self) -> list[FilePlan]:
        return [f for f in self.files if f.action == "refuse"]


def plan_files(target: str | os.PathLike, options: InitOptions, *, force: bool = False) -> Plan:
    """Decide per file what init does; nothing is written."""
    target = Path(target)
    if not target.is_dir():
        raise BadInputError(target, "not a folder; create the repository first (git init)")
    check_gold_pool(target, options)
    columns = table_columns(target / options.labels_table) if options.labels_table else None
    plan = Plan()
    if options.strategies:
        plan.strategies = options.strategies
    else:
        plan.strategies = supported_strategies(columns)
        if options.labels_table and columns is None:
            plan.strategies = ("raw", "cleanlab")
            plan.strategies_note = (f"{options.labels_table} not found yet: filter.strategies [raw, cleanlab]; add "
                                    "entropy/consensus/combined when it has llm_prob_* / annotator_* columns")
        elif options.labels_table:
            plan.strategies_note = f"filter.strategies {list(plan.strategies)}: what {options.labels_table} supports"
    wanted = {
        "dvc.yaml": render_dvc_yaml(options),
        "params.yaml": render_params(options, plan.strategies),
        **expectation_files(),
        WORKFLOW_PATH: render_workflow(options),
        CONSTRAINTS_PATH: render_constraints(),
    }
    for name, content in wanted.items():
        plan.files.append(_plan_file(target, name, content, force=force))
    plan.files.append(_plan_gitignore(target))
    plan.files.extend(_renamed_suites(target))
    return plan


def _renamed_suites(target: Path) -> list[FilePlan]:
    """A suite file under its former name refuses the whole init (also with --force): writing the new suite beside
    it would leave the user's own expectations unread."""
    from labelgate.expectations import renamed_suite_advice
    from labelgate.vocabulary import RENAMED_SUITES

    folder = target / "expectations"
    return [FilePlan(f"expectations/{former}.json", "refuse",
                     note=renamed_suite_advice(former, name, both=(folder / f"{name}.json").exists()))
            for former, name in RENAMED_SUITES.items() if (folder / f"{former}.json").exists()]


def check_gold_pool(target: Path, options: InitOptions) -> None:
    """Refuse a gold pool that cannot be a reference: the checked table itself (by path or same file), or fewer rows
    than the training set (a reference trained on less data than the LLM labels says nothing about them)."""
    if not options.gold_pool:
        return
    pool = target / options.gold_pool
    table = target / (options.labels_table or options.texts or "")
    if not (options.labels_table or options.texts) or not pool.is_file() or not table.is_file():
        return
    if pool.resolve() == table.resolve() or pool.read_bytes() == table.read_bytes():
        raise ConfigError(f"--gold-pool {options.gold_pool}: is the same file as the table being checked; the gold "
                          "pool is a separate set of texts with gold labels")
    from labelgate.contract import read_table

    n_pool, n_table = len(read_table(pool)), len(read_table(table))
    if n_pool < n_table:
        raise ConfigError(f"--gold-pool {options.gold_pool}: {n_pool} rows, fewer than the {n_table} rows of "
                          f"{options.labels_table or options.texts}; a reference trained on less data than the LLM "
                          "labels cannot show what they cost (the audited rows are no gold pool: leave them in the "
                          "table's gold_label column)")


def _plan_file(target: Path, name: str, content: str, *, force: bool) -> FilePlan:
    path = target / name
    if not path.exists():
        return FilePlan(name, "create", content)
    current = path.read_text(encoding="utf-8", errors="replace")
    if current == content:
        return FilePlan(name, "unchanged")
    if force:
        return FilePlan(name, "overwrite", content, "--force")
    if name == "params.yaml":
        return _merge_params(name, current, content)
    if name.startswith("expectations/"):
        return FilePlan(name, "keep", note="differs from labelgate's suite; yours is used")
    if name == "dvc.yaml":
        return _merge_dvc_yaml(name, current, content)
    return FilePlan(name, "refuse", note="exists and differs; move it away or pass --force to replace it")


def _merge_params(name: str, current: str, wanted: str) -> FilePlan:
    """Append the sections the user's params.yaml lacks; keep every value they set."""
    try:
        mine = yaml.safe_load(current) or {}
    except yaml.YAMLError as exc:
        return FilePlan(name, "refuse", note=f"not valid YAML ({str(exc).splitlines()[0]}); fix it or pass --force")
    if not isinstance(mine, dict):
        return FilePlan(name, "refuse", note="top level is not a mapping; fix it or pass --force")
    spans = list(re.finditer(r"(?:^#[^\n]*\n)*^([A-Za-z_]+):.*?(?=^\S|\Z)", wanted, flags=re.S | re.M))
    missing = [m for m in spans if m.group(1) not in mine]
    if not missing:
        return FilePlan(name, "keep", note="has every section; your values are kept (keys it lacks take defaults)")
    added = "".join(m.group(0) for m in missing)
    content = current.rstrip("\n") + "\n\n# Added by `labelgate init`:\n" + added
    return FilePlan(name, "merge", content, f"added section(s) {', '.join(m.group(1) for m in missing)}")


def _merge_dvc_yaml(name: str, current: str, wanted: str) -> FilePlan:
    """Add labelgate's stages to a dvc.yaml that has none of them; refuse when stage names collide."""
    try:
        mine = yaml.safe_load(current) or {}
    except yaml.YAMLError as exc:
        return FilePlan(name, "refuse", note=f"not valid YAML ({str(exc).splitlines()[0]}); fix it or pass --force")
    ours = yaml.safe_load(wanted)["stages"]
    theirs = (mine.get("stages") or {}) if isinstance(mine, dict) else {}
    clash = sorted(set(ours) & set(theirs))
    if clash:
        return FilePlan(name, "refuse", note=f"already has stage(s) {', '.join(clash)} that differ from labelgate's; "
                                             "rename or remove them, or pass --force to replace the file")
    if re.search(r"^stages:\s*$", current, flags=re.M) is None and theirs:
        return FilePlan(name, "refuse", note="its stages: block is not in block style; pass --force to replace it")
    ours_text = wanted.split("\nstages:\n", 1)[1]
    if theirs:
        content = current.rstrip("\n") + "\n\n  # labelgate stages (added by `labelgate init`)\n" + ours_text
    else:
        content = current.rstrip("\n") + "\n\nstages:\n" + ours_text
    return FilePlan(name, "merge", content, f"added labelgate's {len(ours)} stages after your {len(theirs)}")


def _plan_gitignore(target: Path) -> FilePlan:
    path = target / ".gitignore"
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    have = {line.strip() for line in current.splitlines()}
    missing = [entry for entry in IGNORED if entry not in have]
    if not missing:
        return FilePlan(".gitignore", "unchanged")
    block = "# labelgate pipeline outputs (kept ignored even after a blocked or failed dvc repro)\n" + \
        "\n".join(missing) + "\n"
    content = (current.rstrip("\n") + "\n\n" if current.strip() else "") + block
    return FilePlan(".gitignore", "merge" if current else "create", content,
                    f"added {', '.join(missing)}" if current else "")
