"""`labelgate init`: wire labelgate into another repository.

It writes, for the user's own files:
  dvc.yaml                          the pipeline on their paths: annotate (or their existing label table) ->
                                    validate -> score -> filter -> [reference] -> train -> [learning curves] ->
                                    evaluate -> gate -> enforce. Stages depend on the data, suites and params they
                                    read, never on labelgate's source; the installed labelgate version is the param
                                    `labelgate.version`, which every stage lists (a new version re-runs them).
  params.yaml                       the packaged defaults (`labelgate/defaults/params.yaml`) with their labels, the
                                    filter strategies their table supports and a generic annotation prompt built
                                    from the label set (no annotate section when they start from a label table)
  expectations/*.json               the packaged Great Expectations suites
  .github/workflows/labelgate.yml   the PR check: installs labelgate (pinned) with CPU torch, runs `dvc repro
                                    gate`, comments the verdict, fails on a block (told apart from a crash)
  .gitignore                        the pipeline's outputs (models/ etc.), so they stay ignored even after a
                                    blocked or failed run, when DVC has dropped the entries it wrote itself

Re-running init never clobbers: a file identical to what init would write is left alone, params.yaml and .gitignore
get only what they lack (appended), an expectation suite that differs is kept, and a dvc.yaml or workflow that
differs is refused (exit 2, nothing written) unless --force. Missing paths become TODO markers that `dvc repro`
names in its error. Pure planning (`plan_files`) is separate from writing (`apply_plan`).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from labelgate.errors import BadInputError, ConfigError, LabelgateError

ANNOTATORS = ("local", "openai")
TODO = {"texts": "TODO_texts.csv", "test": "TODO_test.csv"}
WORKFLOW_PATH = ".github/workflows/labelgate.yml"
HEADER = "# Written by `labelgate init`"
# Outputs of the scaffolded pipeline that must never be committed (DVC drops its own .gitignore entries when a
# stage fails).
IGNORED = ("/data/llm_labels.csv", "/data/validated.parquet", "/data/scores.parquet", "/data/subsets/", "/models/",
           "/pr-comment.md")
LABEL_TABLE_OUT = "data/llm_labels.csv"
# DVC writes .gitignore files beside the outputs in models/ and data/subsets/; evaluate and gate depend on those
# folders, and hashing the .gitignore files would re-run them when only a threshold changed.
DVCIGNORED = ("models/*/.gitignore", "data/subsets/.gitignore")


def installed_version() -> str:
    from labelgate import __version__

    return __version__


# Control characters (newline, tab, escape, ...) and Unicode line separators: a value holding one could start a new
# YAML key or shell command in a generated file, so init refuses it.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def checked_value(name: str, value: str) -> str:
    """A value init writes into a generated file, refused (ConfigError, exit 2) when it holds a control character."""
    if _CONTROL.search(value):
        raise ConfigError(f"{name} {value!r}: holds a control character (newline, tab, ...); init writes it into "
                          "dvc.yaml/params.yaml/the workflow, so rename it")
    return value


def checked_path(name: str, value: str) -> str:
    """A path option of init: relative, no control character, not read as an option (a leading '-')."""
    checked_value(name, value)
    if Path(value).is_absolute():
        raise ConfigError(f"{name} {value}: give a path relative to the repository, not an absolute one")
    if value.startswith("-"):
        raise ConfigError(f"{name} {value}: starts with '-', which a command reads as an option; write ./{value}")
    return value


def shell_path(path: str) -> str:
    """`path` as one word of a dvc.yaml `cmd`: quoted for the shell (shlex.quote), and each `${` escaped as `\\${`
    so DVC's templating (which unescapes `\\${` in every stage string) leaves it as written."""
    return dvc_escape(shlex.quote(path))


def dvc_escape(value: str) -> str:
    """Escape DVC's `${...}` interpolation in a user's string (a dep, an out or a cmd word)."""
    return value.replace("${", "\\${")


def install_spec(direct_url: dict | None, version: str) -> str:
    """The pip requirement the PR workflow installs, from how this labelgate was installed (PEP 610 direct_url.json):
    none (a package index) -> `labelgate[demo]==VERSION`; a VCS checkout -> `labelgate[demo] @ git+URL@COMMIT`; an
    archive URL -> `labelgate[demo] @ URL`; a local folder or editable install -> ConfigError naming --install."""
    if not direct_url:
        return f"labelgate[demo]=={version}"
    url = str(direct_url.get("url") or "")
    subdirectory = direct_url.get("subdirectory")
    fragment = f"#subdirectory={subdirectory}" if subdirectory else ""
    vcs = direct_url.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("vcs") and vcs.get("commit_id") and not url.startswith("file:"):
        return f"labelgate[demo] @ {vcs['vcs']}+{url}@{vcs['commit_id']}{fragment}"
    if "archive_info" in direct_url and url.startswith(("https://", "http://")):
        return f"labelgate[demo] @ {url}{fragment}"
    where = url.removeprefix("file://") or "a local folder"
    kind = "editable" if (direct_url.get("dir_info") or {}).get("editable") else "local"
    raise ConfigError(f"labelgate is installed from {where} ({kind}), which the PR workflow cannot install: pass "
                      f"--install with a requirement it can reach, e.g. --install 'labelgate[demo]=={version}' or "
                      "'labelgate[demo] @ git+https://github.com/OWNER/labelgate@COMMIT'")


def installed_direct_url() -> dict | None:
    """PEP 610 direct_url.json of the installed labelgate distribution (None: installed from a package index);
    labelgate running from a source tree without being installed counts as a local folder."""
    from importlib import metadata

    try:
        text = metadata.distribution("labelgate").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return {"url": "", "dir_info": {}}
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return {"url": "", "dir_info": {}}
    return data if isinstance(data, dict) else {"url": "", "dir_info": {}}


def default_install_spec(version: str | None = None) -> str:
    """What the workflow pip-installs by default: this labelgate as it was installed here (`install_spec`)."""
    return install_spec(installed_direct_url(), version or installed_version())


def checked_install(spec: str) -> str:
    """--install: one pip requirement, written into the workflow's env (YAML-quoted) and passed to pip quoted."""
    checked_value("--install", spec)
    if spec.lstrip().startswith("-"):
        raise ConfigError(f"--install {spec!r}: starts with '-', which pip reads as an option; give a requirement")
    if "${{" in spec:
        raise ConfigError(f"--install {spec!r}: holds '${{{{', which GitHub Actions would evaluate as an expression")
    return spec


@dataclass(frozen=True)
class InitOptions:
    """What `labelgate init` wires up. Paths are relative to the target repository."""

    texts: str | None = None  # texts to annotate (annotate stage)
    labels_table: str | None = None  # an existing LLM label table (no annotate stage)
    test: str | None = None  # gold test set: text, label
    gold_pool: str | None = None  # gold pool: text, label (the gold-label reference run)
    labels: tuple[str, ...] = ()
    annotator: str = "local"
    install: str = ""  # pip requirement of the workflow; default labelgate[demo]==<installed version>
    strategies: tuple[str, ...] = ()  # filter strategies; default: what the table supports
    version: str = ""

    def __post_init__(self):
        if self.texts and self.labels_table:
            raise ConfigError("--texts and --labels-table exclude each other: annotate texts, or start from a table")
        if self.annotator not in ANNOTATORS:
            raise ConfigError(f"--annotator must be one of {', '.join(ANNOTATORS)}, got {self.annotator!r}")
        for name, value in (("--texts", self.texts), ("--labels-table", self.labels_table), ("--test", self.test),
                            ("--gold-pool", self.gold_pool)):
            if value:
                checked_path(name, value)
        if self.gold_pool and self.gold_pool in (self.texts, self.labels_table):
            raise ConfigError(f"--gold-pool {self.gold_pool}: is the table being checked; the gold pool is a separate "
                              "set of texts with gold labels (not the audited rows, which stay in the table)")
        from labelgate.config import BaseParams

        for label in self.labels:
            checked_value("--labels", str(label))
        try:
            object.__setattr__(self, "labels", BaseParams(labels=tuple(self.labels)).labels)
        except ValueError as exc:
            raise ConfigError(f"--labels: {exc}") from None
        object.__setattr__(self, "version", checked_value("version", self.version or installed_version()))
        object.__setattr__(self, "install", checked_install(self.install or default_install_spec(self.version)))

    @property
    def annotates(self) -> bool:
        return not self.labels_table

    @property
    def label_table(self) -> str:
        return self.labels_table or LABEL_TABLE_OUT

    def todo(self) -> list[str]:
        """Options left unset, which the scaffold marks as TODO."""
        missing = []
        if not (self.texts or self.labels_table):
            missing.append("--texts (or --labels-table)")
        if not self.test:
            missing.append("--test")
        return missing


def supported_strategies(columns: Iterable[str] | None) -> tuple[str, ...]:
    """Filter strategies a label table supports, without duplicates (None: annotated here, so all of them).

    entropy needs llm_prob_* or annotator_* columns, consensus needs annotator_* columns, and combined intersects
    the available ones, so it is a distinct subset only when at least two of entropy, cleanlab, consensus are.
    """
    from labelgate.vocabulary import ANNOTATOR_PREFIX, LLM_PROB_PREFIX, STRATEGIES

    if columns is None:
        return STRATEGIES
    columns = list(columns)
    probs = any(c.startswith(LLM_PROB_PREFIX) for c in columns)
    annotators = any(c.startswith(ANNOTATOR_PREFIX) for c in columns)
    found = ["raw", "cleanlab"]
    if probs or annotators:
        found.insert(1, "entropy")
    if annotators:
        found.append("consensus")
    if len(found) - 1 >= 2:
        found.append("combined")
    return tuple(found)


def table_columns(path: Path) -> list[str] | None:
    """The columns of the user's label table, or None when it does not exist yet."""
    if not path.is_file():
        return None
    from labelgate.contract import read_table

    return [str(c) for c in read_table(path).columns]


def _train_params() -> list[str]:
    import dataclasses

    from labelgate.train.run import TrainParams

    return [f"train.{f.name}" for f in dataclasses.fields(TrainParams) if f.name != "seeds"]


def pipeline(options: InitOptions) -> dict:
    """The dvc.yaml content (a mapping) for the options."""
    # Paths as given (deps, outs: DVC's templating escaped) and as shell words (cmd: quoted, then escaped).
    texts, test, table = (dvc_escape(p) for p in (options.texts or TODO["texts"], options.test or TODO["test"],
                                                  options.label_table))
    sh_texts, sh_test, sh_table = (shell_path(p) for p in (options.texts or TODO["texts"],
                                                           options.test or TODO["test"], options.label_table))
    pool, sh_pool = (dvc_escape(options.gold_pool), shell_path(options.gold_pool)) if options.gold_pool else ("", "")
    version = "labelgate.version"
    stages: dict[str, dict] = {}
    if options.annotates:
        stages["annotate"] = {
            "cmd": f"labelgate annotate {sh_texts} --out {sh_table}",
            "deps": [texts],
            "params": ["base.labels", "annotate", version],
            "outs": [table],
        }
    stages["validate"] = {
        "cmd": f"labelgate validate {sh_table} --out data/validated.parquet",
        "deps": [table, "expectations/label_contract.json"],
        "params": ["base.labels", "validate", version],
        "outs": ["data/validated.parquet"],
    }
    stages["score"] = {
        "cmd": (f"labelgate score data/validated.parquet --test {sh_test} --out data/scores.parquet "
                "--summary metrics/label_risk.json --headline metrics/headline/label_risk.json"),
        "deps": ["data/validated.parquet", test, "expectations/test_contract.json"],
        "params": ["base.labels", "score", version],
        "outs": ["data/scores.parquet", {"metrics/label_risk.json": {"cache": False}}],
        "metrics": [{"metrics/headline/label_risk.json": {"cache": False}}],
    }
    stages["filter"] = {
        "foreach": "${filter.strategies}",
        "do": {
            "cmd": ("labelgate filter data/scores.parquet --strategy ${item} --label-risk metrics/label_risk.json "
                    "--out data/subsets/${item}.parquet"),
            "deps": ["data/scores.parquet", "metrics/label_risk.json"],
            "params": ["base.labels", "filter.entropy_max", "filter.entropy_quantile", "filter.cleanlab_min_quality",
                       "filter.consensus_min_agreement", "filter.min_class_count", version],
            "outs": ["data/subsets/${item}.parquet", "data/subsets/${item}.json"],
        },
    }
    def train_cmd(subset: str, seed: str) -> str:  # no str.format: a path may hold braces
        return f"labelgate train --subset {subset} --seed {seed} --test {sh_test} --out models/{subset}/seed_{seed}"

    train_params = ["base.labels", *_train_params(), version]
    if options.gold_pool:
        stages["reference"] = {
            "cmd": f"labelgate reference {sh_pool} --out data/subsets/gold.parquet",
            "deps": [pool, "expectations/test_contract.json"],
            "params": ["base.labels", version],
            "outs": ["data/subsets/gold.parquet"],
        }
    stages["train"] = {
        "matrix": {"subset": "${filter.strategies}", "seed": "${train.seeds}"},
        "cmd": train_cmd("${item.subset}", "${item.seed}"),
        "deps": ["data/subsets/${item.subset}.parquet", test],
        "params": train_params,
        "outs": ["models/${item.subset}/seed_${item.seed}"],
    }
    evaluate_deps = ["models", "metrics/learning_curve", "metrics/audit_reference.json", test]
    curve_params = ["base.labels", "learning_curve", "evaluate.reference", *_train_params(), version]
    if options.gold_pool:
        stages["train_gold"] = {
            "foreach": "${train.seeds}",
            "do": {
                "cmd": train_cmd("gold", "${item}"),
                "deps": ["data/subsets/gold.parquet", test],
                "params": train_params,
                "outs": ["models/gold/seed_${item}"],
            },
        }
        stages["learning_curve_gold"] = {
            "cmd": f"labelgate learning-curve --subset gold --test {sh_test} --full-run models/gold/seed_0",
            "deps": ["data/subsets/gold.parquet", test, "models/gold/seed_0"],
            "params": curve_params,
            "outs": [{"metrics/learning_curve/gold.json": {"cache": False}}],
        }
    # the gated subset's curve: its decline is gated with or without a gold pool (the pool adds the plateau gap).
    # One fixed file (it names its subset inside): switching gate.subset overwrites it, leaving no stale curve.
    reference_curve = " --reference metrics/learning_curve/gold.json" if options.gold_pool else ""
    stages["learning_curve_gated"] = {
        "cmd": (f"labelgate learning-curve --subset ${{gate.subset}} --test {sh_test} "
                f"--full-run models/${{gate.subset}}/seed_0{reference_curve} --out {GATED_CURVE}"),
        "deps": ["data/subsets/${gate.subset}.parquet", test, "models/${gate.subset}/seed_0",
                 *(["metrics/learning_curve/gold.json"] if options.gold_pool else [])],
        "params": [*curve_params, "gate.subset"],
        "outs": [{GATED_CURVE: {"cache": False}}],
    }
    # the audit reference: the gated subset's gold-audited rows trained with gold and with LLM labels
    stages["audit_reference"] = {
        "cmd": (f"labelgate audit-reference data/validated.parquet --subset ${{gate.subset}} --test {sh_test} "
                "--out metrics/audit_reference.json"),
        "deps": ["data/validated.parquet", "data/subsets/${gate.subset}.parquet", test],
        "params": ["base.labels", "audit_reference", "gate.subset", "learning_curve.fractions",
                   "learning_curve.seed", "learning_curve.equal_steps", *_train_params(), "train.seeds", version],
        "outs": [{"metrics/audit_reference.json": {"cache": False}}],
    }
    stages["evaluate"] = {
        "cmd": f"labelgate evaluate --test {sh_test} --headline metrics/headline/evaluate.json",
        "deps": evaluate_deps,
        # filter.strategies and train.seeds: evaluate removes the outputs of subsets and seeds no longer configured
        "params": ["evaluate", "learning_curve.plateau_min_gain", "learning_curve.plateau_min_gap",
                   "filter.strategies", "train.seeds", version],
        "outs": [{"metrics/evaluate.json": {"cache": False}}, {"plots/evaluate": {"cache": False}}],
        "metrics": [{"metrics/headline/evaluate.json": {"cache": False}}],
    }
    stages["gate"] = {
        "cmd": ("labelgate gate --scores data/scores.parquet --label-risk metrics/label_risk.json "
                "--evaluation metrics/evaluate.json --out metrics/gate.json --report-dir reports "
                "--subsets data/subsets --curves metrics/learning_curve --headline metrics/headline/gate.json "
                "--no-enforce"),
        "deps": ["data/scores.parquet", "metrics/label_risk.json", "metrics/evaluate.json", "data/subsets",
                 "expectations/label_risk.json", "expectations/label_summary.json",
                 "expectations/training_stability.json"],
        "params": ["gate", version],
        "outs": [{"metrics/gate.json": {"cache": False}}, {"reports/report.html": {"cache": False}},
                 {"reports/summary.md": {"cache": False}}],
        "metrics": [{"metrics/headline/gate.json": {"cache": False}}],
    }
    stages["enforce"] = {"cmd": "labelgate enforce metrics/gate.json", "deps": ["metrics/gate.json"]}
    return {"stages": stages}


#: The gated subset's learning curve (learning_curve_gated's output).
GATED_CURVE = "metrics/learning_curve/gated.json"


def render_dvc_yaml(options: InitOptions) -> str:
    lines = [
        f"{HEADER} {options.version}: the labelgate pipeline on this repository's data.",
        f"#   {'annotate -> ' if options.annotates else ''}validate -> score -> filter@{{filter.strategies}}"
        f"{' + reference (gold pool)' if options.gold_pool else ''}",
        "#   -> train@{subset x seed} -> evaluate -> gate (verdict, report) -> enforce (exits 1 when blocked)",
        "# `dvc repro gate` computes the verdict and fails only on a crash; `dvc repro` also enforces it.",
        "# Stages follow filter.strategies and train.seeds in params.yaml; labelgate.version there re-runs them",
        "# when labelgate is upgraded.",
    ]
    if options.todo():
        lines.append(f"# TODO: set {', '.join(options.todo())}: re-run `labelgate init --force` with them, or replace "
                     "the TODO_ paths below.")
    body = yaml.safe_dump(pipeline(options), sort_keys=False, width=1000, default_flow_style=False)
    return "\n".join(lines) + "\n" + _space_stages(body)


def _space_stages(body: str) -> str:
    """A blank line between stages, as people write dvc.yaml."""
    out = []
    for line in body.splitlines():
        if re.match(r"^  [A-Za-z_]+:$", line) and out and out[-1] != "stages:":
            out.append("")
        out.append(line)
    return "\n".join(out) + "\n"


def annotation_prompt_note(labels: tuple[str, ...]) -> str:
    shown = ", ".join(labels) if labels else "the label set (base.labels)"
    return f"# the prompts below ask for one of: {shown}"


def render_params(options: InitOptions, strategies: tuple[str, ...]) -> str:
    """The packaged default params with the user's labels, strategies, annotator and reference."""
    from labelgate.packaged import default_params_path

    text = default_params_path().read_text(encoding="utf-8")
    text = re.sub(r"^# labelgate default parameters:.*?(?=^base:)", "", text, flags=re.S | re.M)
    head = [f"{HEADER} {options.version}; the single source of settings and thresholds of this repository's "
            "labelgate pipeline.", "# Each stage in dvc.yaml lists only the keys it reads.", ""]
    text = _set(text, "base", "labels", _flow(list(options.labels)))
    if options.annotates:
        text = _set(text, "annotate", "backend", options.annotator)
        if options.annotator == "openai":  # a served model name; chat returns top logprobs for the label token
            text = _set(text, "annotate", "model", "gpt-4o-mini", "the served model's name (vLLM, Ollama: theirs)")
            text = _set(text, "annotate", "endpoint", "chat")
        text = text.replace("\nannotate:\n", f"\n{annotation_prompt_note(options.labels)}\nannotate:\n", 1)
    else:
        text = _drop_section(text, "annotate")
    text = _set(text, "filter", "strategies", _flow(list(strategies)))
    if not options.gold_pool:
        text = _set(text, "evaluate", "reference", '""')
    # The packaged comments cite labelgate's own benchmark files, which an adopting repository does not have.
    text = re.sub(r"\bbench/([\w./-]*[\w/])", r"labelgate's benchmark notes (\1, in labelgate's source)", text)
    version = f"labelgate:\n  version: {_scalar(options.version)}   # the installed labelgate; every stage lists it\n\n"
    return "\n".join(head) + version + text


def _scalar(value: str) -> str:
    """One YAML scalar that reads back as the string `value` (never a boolean, number or mapping)."""
    text = yaml.safe_dump(str(value), default_flow_style=True, width=10**6, allow_unicode=True)
    return text.removesuffix("\n...\n").strip()


def _flow(values: list[str]) -> str:
    """A YAML flow list of strings, each quoted where YAML would read it as something else (`yes`, `1.5`, `a: b`)."""
    return "[" + ", ".join(_scalar(v) for v in values) + "]"


def _set(text: str, section: str, key: str, value: str, comment: str | None = None) -> str:
    """Replace `key:`'s value inside `section:` of a params file, keeping its comment (or putting `comment`)."""
    block = re.search(rf"^{section}:.*?(?=^\S|\Z)", text, flags=re.S | re.M)
    if block is None:
        raise LabelgateError(f"packaged params.yaml has no section '{section}'")
    pattern = re.compile(rf"^(  {key}:)[ ]*([^#\n]*?)([ ]*#.*)?$", flags=re.M)
    def replace(m: re.Match) -> str:
        note = f"# {comment}" if comment is not None else (m.group(3) or "").strip()
        return f"{m.group(1)} {value}" + (f"  {note}" if note else "")

    inner, count = pattern.subn(replace, block.group(0), count=1)
    if not count:
        raise LabelgateError(f"packaged params.yaml has no key '{section}.{key}'")
    return text[:block.start()] + inner + text[block.end():]


def _drop_section(text: str, section: str) -> str:
    """Remove a top-level section together with the comment lines right above it."""
    return re.sub(rf"(?:^#[^\n]*\n)*^{section}:.*?(?=^\S|\Z)", "", text, count=1, flags=re.S | re.M)


def render_workflow(options: InitOptions) -> str:
    from labelgate.packaged import DEFAULTS_DIR

    template = (DEFAULTS_DIR / "workflow.yml").read_text(encoding="utf-8")
    # the env value as a YAML double-quoted scalar (JSON is one); the shell reads it only as "$LABELGATE_SPEC"
    template = template.replace('"@LABELGATE_SPEC@"', json.dumps(options.install, ensure_ascii=False))
    return template.replace("@LABELGATE_SPEC@", options.install)  # the header comment (no control characters)


def expectation_files() -> dict[str, str]:
    from labelgate.packaged import default_expectations_dir

    folder = default_expectations_dir()
    return {f"expectations/{p.name}": p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.json"))}


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
    }
    for name, content in wanted.items():
        plan.files.append(_plan_file(target, name, content, force=force))
    plan.files.append(_plan_gitignore(target))
    return plan


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


def apply_plan(target: str | os.PathLike, plan: Plan) -> list[Path]:
    """Write the plan; all or nothing: a refused file means nothing is written (exit 2 with every reason)."""
    target = Path(target)
    if plan.refused:
        reasons = "; ".join(f"{f.path}: {f.note}" for f in plan.refused)
        raise BadInputError(target, f"init refused, nothing written: {reasons}")
    from labelgate.outputs import write_text

    written = []
    for f in plan.files:
        if f.action in ("create", "merge", "overwrite"):
            write_text(target / f.path, f.content)
            written.append(target / f.path)
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
