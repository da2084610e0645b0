"""The gated pipeline's stages, built once (`build_stages`) for every dvc.yaml labelgate has: the adopter's, which
`labelgate init` writes (`pipeline`, `render_dvc_yaml`), and the labelgate repository's demo, which
scripts/render_demo_pipeline.py writes from the same stages plus the demo's own. A `Layout` says what differs
between them: the input paths, whether annotate and the gold-pool stages are in, and what a stage's code is (the
demo: the source folders its command imports; an adopter: the installed `labelgate.version`, a param)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import yaml

from labelgate.scaffold.checks import dvc_escape, shell_path
from labelgate.scaffold.options import HEADER, TODO, InitOptions


def _train_params() -> list[str]:
    import dataclasses

    from labelgate.train.run import TrainParams

    return [f"train.{f.name}" for f in dataclasses.fields(TrainParams) if f.name != "seeds"]


VERSION = "labelgate.version"  # the param every adopter stage lists: a new labelgate version re-runs them

#: The gated subset's learning curve (learning_curve_gated's output).
GATED_CURVE = "metrics/learning_curve/gated.json"

#: Comments written above a stage (render_yaml's `comments`), for every pipeline that has the stage.
STAGE_COMMENTS = {
    "learning_curve_gated": "The gated subset's curve: its decline is gated with or without a gold pool (the pool "
                            "adds the plateau gap). One fixed file (it names its subset inside): switching "
                            "gate.subset overwrites it, leaving no stale curve.",
    "audit_reference": "The audit reference: the gated subset's gold-audited rows trained with their gold labels "
                       "and with their LLM labels (train seeds), so the training checks can block without a gold "
                       "pool; needs only the label table's gold_label audit and the gold test set.",
    "evaluate": "filter.strategies and train.seeds: evaluate removes the outputs of subsets and seeds no longer "
                "configured.",
}


@dataclass(frozen=True)
class Paths:
    """The input paths as given (deps, outs: DVC's templating escaped) and as shell words (cmd: quoted, then
    escaped); "" for a gold pool not given."""

    texts: str
    test: str
    table: str
    pool: str
    sh_texts: str
    sh_test: str
    sh_table: str
    sh_pool: str

    @classmethod
    def of(cls, texts: str, test: str, table: str, pool: str = "") -> Paths:
        return cls(*(dvc_escape(x) for x in (texts, test, table)), dvc_escape(pool) if pool else "",
                   *(shell_path(x) for x in (texts, test, table)), shell_path(pool) if pool else "")


@dataclass(frozen=True)
class Layout:
    """What differs between the pipelines built from the one list of stages.

    paths       the label texts, gold test set, label table and gold pool (`Paths`)
    annotates   whether the pipeline annotates texts (an `annotate` stage) or starts from a label table
    code_deps   labelgate command -> the dependencies that stand for its code (the demo: the source folders it
                imports); None: the stage lists the param `labelgate.version` instead (an adopter)
    """

    paths: Paths
    annotates: bool
    code_deps: Callable[[str], Sequence[str]] | None = None

    @property
    def gold_pool(self) -> bool:
        return bool(self.paths.pool)

    def stage(self, command: str, cmd: str, deps: Sequence[str], params: Sequence[str] = (), **rest) -> dict:
        """One stage running `labelgate <command>`: its data deps, then its code (deps or the version param)."""
        body: dict = {"cmd": cmd, "deps": [*deps, *(self.code_deps(command) if self.code_deps else ())]}
        if params:
            body["params"] = [*params, *(() if self.code_deps else (VERSION,))]
        return {**body, **rest}


def options_layout(options: InitOptions) -> Layout:
    """An adopter's layout: the options' paths (TODO markers for those not given), labelgate.version as the code."""
    paths = Paths.of(options.texts or TODO["texts"], options.test or TODO["test"], options.label_table,
                     options.gold_pool or "")
    return Layout(paths, options.annotates)


def pipeline(options: InitOptions) -> dict:
    """The adopter's dvc.yaml content (a mapping) for the options."""
    return {"stages": build_stages(options_layout(options))}


def build_stages(layout: Layout) -> dict[str, dict]:
    """Every stage of the gated pipeline, in pipeline order: annotate (when the layout annotates), validate, score,
    filter, reference (with a gold pool), train, the learning curves, audit_reference, evaluate, gate, enforce."""
    return {**_label_stages(layout), **_train_stages(layout), **_verdict_stages(layout)}


def _label_stages(layout: Layout) -> dict[str, dict]:
    """annotate (when the layout annotates texts), validate, score, filter (one subset per strategy)."""
    paths, stage = layout.paths, layout.stage
    stages: dict[str, dict] = {}
    if layout.annotates:
        stages["annotate"] = stage("annotate", f"labelgate annotate {paths.sh_texts} --out {paths.sh_table}",
                                   [paths.texts], ["base.labels", "annotate"], outs=[paths.table])
    stages["validate"] = stage(
        "validate", f"labelgate validate {paths.sh_table} --out data/validated.parquet",
        [paths.table, "expectations/label_contract.json"], ["base.labels", "validate"],
        outs=["data/validated.parquet"])
    stages["score"] = stage(
        "score", (f"labelgate score data/validated.parquet --test {paths.sh_test} --out data/scores.parquet "
                  "--summary metrics/label_risk.json --headline metrics/headline/label_risk.json"),
        ["data/validated.parquet", paths.test, "expectations/test_contract.json"], ["base.labels", "score"],
        outs=["data/scores.parquet", {"metrics/label_risk.json": {"cache": False}}],
        metrics=[{"metrics/headline/label_risk.json": {"cache": False}}])
    stages["filter"] = {
        "foreach": "${filter.strategies}",
        "do": stage(
            "filter", ("labelgate filter data/scores.parquet --strategy ${item} --label-risk metrics/label_risk.json "
                       "--out data/subsets/${item}.parquet"),
            ["data/scores.parquet", "metrics/label_risk.json"],
            ["base.labels", "filter.entropy_max", "filter.entropy_quantile", "filter.cleanlab_min_quality",
             "filter.consensus_min_agreement", "filter.min_class_count"],
            outs=["data/subsets/${item}.parquet", "data/subsets/${item}.json"]),
    }
    return stages


def _train_stages(layout: Layout) -> dict[str, dict]:
    """reference and its training runs and curve (with a gold pool), train (subset x seed), the gated subset's
    learning curve, the audit reference."""
    paths, stage = layout.paths, layout.stage
    test, sh_test = paths.test, paths.sh_test
    train_params = ["base.labels", *_train_params()]
    curve_params = ["base.labels", "learning_curve", "evaluate.reference", *_train_params()]
    stages: dict[str, dict] = {}
    if layout.gold_pool:
        stages["reference"] = stage("reference", f"labelgate reference {paths.sh_pool} --out data/subsets/gold.parquet",
                                    [paths.pool, "expectations/test_contract.json"], ["base.labels"],
                                    outs=["data/subsets/gold.parquet"])
    stages["train"] = {
        "matrix": {"subset": "${filter.strategies}", "seed": "${train.seeds}"},
        **stage("train", _train_cmd("${item.subset}", "${item.seed}", sh_test),
                ["data/subsets/${item.subset}.parquet", test], train_params,
                outs=["models/${item.subset}/seed_${item.seed}"]),
    }
    if layout.gold_pool:
        stages["train_gold"] = {"foreach": "${train.seeds}", "do": stage(
            "train", _train_cmd("gold", "${item}", sh_test), ["data/subsets/gold.parquet", test], train_params,
            outs=["models/gold/seed_${item}"])}
        stages["learning_curve_gold"] = stage(
            "learning-curve", f"labelgate learning-curve --subset gold --test {sh_test} --full-run models/gold/seed_0",
            ["data/subsets/gold.parquet", test, "models/gold/seed_0"], curve_params,
            outs=[{"metrics/learning_curve/gold.json": {"cache": False}}])
    gold_curve = ["metrics/learning_curve/gold.json"] if layout.gold_pool else []
    stages["learning_curve_gated"] = stage(
        "learning-curve", (f"labelgate learning-curve --subset ${{gate.subset}} --test {sh_test} "
                           f"--full-run models/${{gate.subset}}/seed_0"
                           f"{''.join(f' --reference {c}' for c in gold_curve)} --out {GATED_CURVE}"),
        ["data/subsets/${gate.subset}.parquet", test, "models/${gate.subset}/seed_0", *gold_curve],
        [*curve_params, "gate.subset"], outs=[{GATED_CURVE: {"cache": False}}])
    stages["audit_reference"] = stage(
        "audit-reference", (f"labelgate audit-reference data/validated.parquet --subset ${{gate.subset}} "
                            f"--test {sh_test} --out metrics/audit_reference.json"),
        ["data/validated.parquet", "data/subsets/${gate.subset}.parquet", test],
        ["base.labels", "audit_reference", "gate.subset", "learning_curve.fractions", "learning_curve.seed",
         "learning_curve.equal_steps", "train"],
        outs=[{"metrics/audit_reference.json": {"cache": False}}])
    return stages


def _train_cmd(subset: str, seed: str, sh_test: str) -> str:  # no str.format: a path may hold braces
    return f"labelgate train --subset {subset} --seed {seed} --test {sh_test} --out models/{subset}/seed_{seed}"


def _verdict_stages(layout: Layout) -> dict[str, dict]:
    """evaluate, gate (verdict, headline, report) and enforce."""
    paths, stage = layout.paths, layout.stage
    return {
        "evaluate": stage(
            "evaluate", f"labelgate evaluate --test {paths.sh_test} --headline metrics/headline/evaluate.json",
            ["models", "metrics/learning_curve", "metrics/audit_reference.json", paths.test],
            ["evaluate", "learning_curve.plateau_min_gain", "learning_curve.plateau_min_gap", "filter.strategies",
             "train.seeds"],
            outs=[{"metrics/evaluate.json": {"cache": False}}],
            metrics=[{"metrics/headline/evaluate.json": {"cache": False}}],
            plots=[{"plots/evaluate": {"cache": False}}]),
        "gate": stage(
            "gate", ("labelgate gate --scores data/scores.parquet --label-risk metrics/label_risk.json "
                     "--evaluation metrics/evaluate.json --out metrics/gate.json --report-dir reports "
                     "--subsets data/subsets --curves metrics/learning_curve --headline metrics/headline/gate.json "
                     "--no-enforce"),
            ["data/scores.parquet", "metrics/label_risk.json", "metrics/evaluate.json", "data/subsets",
             "expectations/label_scores.json", "expectations/label_summary.json",
             "expectations/training_stability.json"],
            ["gate"],
            outs=[{"metrics/gate.json": {"cache": False}}, {"reports/report.html": {"cache": False}},
                  {"reports/summary.md": {"cache": False}}],
            metrics=[{"metrics/headline/gate.json": {"cache": False}}]),
        "enforce": stage("enforce", "labelgate enforce metrics/gate.json", ["metrics/gate.json"]),
    }


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
    return render_yaml(pipeline(options), lines, STAGE_COMMENTS)


class _Dumper(yaml.SafeDumper):
    """Lists indented under their key, as people write dvc.yaml."""

    def increase_indent(self, flow: bool = False, indentless: bool = False):
        return super().increase_indent(flow, False)


# words that fold and unfold unchanged: no quotes, no YAML indicators, single spaces
_FOLDABLE = re.compile(r"^[A-Za-z0-9_./@${}=:-]+( [A-Za-z0-9_./@${}=:-]+)*$")
_PLACEHOLDER = re.compile(r"^( *)cmd: __folded_(\d+)__$")


def render_yaml(document: Mapping, header: Sequence[str], comments: Mapping[str, str] | None = None, *,
                fold: int | None = None) -> str:
    """`document` as dvc.yaml text: the header comment lines, a blank line between top-level keys and between
    stages, each stage's comment (`comments`, wrapped) above it. With `fold`, a `cmd` whose line would be longer
    than `fold` columns is written folded (`>-`) in lines of at most `fold` columns (tame commands only: one with
    quotes or odd characters stays on one line). The text is read back and must equal `document`."""
    import textwrap

    folded: list[str] = []

    def placeholders(value):
        if isinstance(value, dict):
            return {k: _placeholder(v, folded) if k == "cmd" and fold and _FOLDABLE.match(v)
                    else placeholders(v) for k, v in value.items()}
        return [placeholders(v) for v in value] if isinstance(value, list) else value

    body = yaml.dump(placeholders(dict(document)), Dumper=_Dumper, sort_keys=False, width=1000,
                     default_flow_style=False)
    out, first = list(header), True
    for line in body.splitlines():
        stage = re.match(r"^  ([A-Za-z_][A-Za-z0-9_]*):$", line)
        if (re.match(r"^\S", line) and not first) or (stage and out[-1] != "stages:"):
            out.append("")
        if stage and stage[1] in (comments or {}):
            out += [f"  # {part}" for part in textwrap.wrap(comments[stage[1]], 114)]
        first = False
        if (cmd := _PLACEHOLDER.match(line)) and len(indent := cmd[1]) + 5 + len(folded[int(cmd[2])]) > fold:
            out += [f"{indent}cmd: >-"] + [f"{indent}  {part}" for part in _fold(folded[int(cmd[2])],
                                                                                   fold - len(indent) - 2)]
        elif cmd:  # short enough: one line, quoted as the dumper would
            out.append(f"{indent}cmd: {_scalar(folded[int(cmd[2])])}")
        else:
            out.append(line)
    text = "\n".join(out) + "\n"
    if yaml.safe_load(text) != document:  # a folded or commented line that would change the pipeline
        raise ValueError("dvc.yaml text does not read back as the pipeline it was rendered from")
    return text


def _placeholder(cmd: str, folded: list[str]) -> str:
    """A stand-in the dumper writes as is; render_yaml replaces its line by the command, folded where too long."""
    folded.append(cmd)
    return f"__folded_{len(folded) - 1}__"


def _scalar(value: str) -> str:
    """A string as the dumper writes it on one line: plain, or quoted where YAML needs it."""
    return yaml.safe_dump(value, width=1000).removesuffix("\n...\n").strip()


def _fold(cmd: str, width: int) -> list[str]:
    """`cmd`'s words in lines of at most `width` characters (a longer word alone), an option kept with its value."""
    units: list[str] = []
    for word in cmd.split(" "):
        if units and units[-1].startswith("--") and " " not in units[-1] and not word.startswith("--"):
            units[-1] += f" {word}"
        else:
            units.append(word)
    lines: list[str] = []
    for unit in units:
        if lines and len(lines[-1]) + 1 + len(unit) <= width:
            lines[-1] += f" {unit}"
        else:
            lines.append(unit)
    return lines
