"""The adopter's dvc.yaml: the pipeline on their paths, built as one dict (`pipeline`) and rendered as YAML."""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from labelgate.scaffold.checks import dvc_escape, shell_path
from labelgate.scaffold.options import HEADER, TODO, InitOptions


def _train_params() -> list[str]:
    import dataclasses

    from labelgate.train.run import TrainParams

    return [f"train.{f.name}" for f in dataclasses.fields(TrainParams) if f.name != "seeds"]


VERSION = "labelgate.version"  # the param every adopter stage lists: a new labelgate version re-runs them


@dataclass(frozen=True)
class _Paths:
    """The user's paths as given (deps, outs: DVC's templating escaped) and as shell words (cmd: quoted, then
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
    def of(cls, options: InitOptions) -> _Paths:
        texts, test, table = (options.texts or TODO["texts"], options.test or TODO["test"], options.label_table)
        pool = options.gold_pool or ""
        return cls(*(dvc_escape(x) for x in (texts, test, table)), dvc_escape(pool) if pool else "",
                   *(shell_path(x) for x in (texts, test, table)), shell_path(pool) if pool else "")


def pipeline(options: InitOptions) -> dict:
    """The dvc.yaml content (a mapping) for the options."""
    paths = _Paths.of(options)
    return {"stages": {**_label_stages(options, paths), **_train_stages(options, paths), **_verdict_stages(paths)}}


def _label_stages(options: InitOptions, paths: _Paths) -> dict[str, dict]:
    """annotate (when init annotates texts), validate, score, filter (one subset per strategy)."""
    stages: dict[str, dict] = {}
    if options.annotates:
        stages["annotate"] = {
            "cmd": f"labelgate annotate {paths.sh_texts} --out {paths.sh_table}",
            "deps": [paths.texts],
            "params": ["base.labels", "annotate", VERSION],
            "outs": [paths.table],
        }
    stages["validate"] = {
        "cmd": f"labelgate validate {paths.sh_table} --out data/validated.parquet",
        "deps": [paths.table, "expectations/label_contract.json"],
        "params": ["base.labels", "validate", VERSION],
        "outs": ["data/validated.parquet"],
    }
    stages["score"] = {
        "cmd": (f"labelgate score data/validated.parquet --test {paths.sh_test} --out data/scores.parquet "
                "--summary metrics/label_risk.json --headline metrics/headline/label_risk.json"),
        "deps": ["data/validated.parquet", paths.test, "expectations/test_contract.json"],
        "params": ["base.labels", "score", VERSION],
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
                       "filter.consensus_min_agreement", "filter.min_class_count", VERSION],
            "outs": ["data/subsets/${item}.parquet", "data/subsets/${item}.json"],
        },
    }
    return stages


def _train_stages(options: InitOptions, paths: _Paths) -> dict[str, dict]:
    """reference and its training runs and curve (with a gold pool), train (subset x seed), the gated subset's
    learning curve, the audit reference."""
    test, sh_test = paths.test, paths.sh_test

    def train_cmd(subset: str, seed: str) -> str:  # no str.format: a path may hold braces
        return f"labelgate train --subset {subset} --seed {seed} --test {sh_test} --out models/{subset}/seed_{seed}"

    train_params = ["base.labels", *_train_params(), VERSION]
    curve_params = ["base.labels", "learning_curve", "evaluate.reference", *_train_params(), VERSION]
    stages: dict[str, dict] = {}
    if options.gold_pool:
        stages["reference"] = {
            "cmd": f"labelgate reference {paths.sh_pool} --out data/subsets/gold.parquet",
            "deps": [paths.pool, "expectations/test_contract.json"],
            "params": ["base.labels", VERSION],
            "outs": ["data/subsets/gold.parquet"],
        }
    stages["train"] = {
        "matrix": {"subset": "${filter.strategies}", "seed": "${train.seeds}"},
        "cmd": train_cmd("${item.subset}", "${item.seed}"),
        "deps": ["data/subsets/${item.subset}.parquet", test],
        "params": train_params,
        "outs": ["models/${item.subset}/seed_${item.seed}"],
    }
    if options.gold_pool:
        stages.update(_gold_stages(train_cmd("gold", "${item}"), sh_test, test, train_params, curve_params))
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
                   "learning_curve.seed", "learning_curve.equal_steps", *_train_params(), "train.seeds", VERSION],
        "outs": [{"metrics/audit_reference.json": {"cache": False}}],
    }
    return stages


def _gold_stages(train_cmd: str, sh_test: str, test: str, train_params: list[str],
                 curve_params: list[str]) -> dict[str, dict]:
    """The gold pool's training runs (one per seed) and its learning curve."""
    return {
        "train_gold": {
            "foreach": "${train.seeds}",
            "do": {
                "cmd": train_cmd,
                "deps": ["data/subsets/gold.parquet", test],
                "params": train_params,
                "outs": ["models/gold/seed_${item}"],
            },
        },
        "learning_curve_gold": {
            "cmd": f"labelgate learning-curve --subset gold --test {sh_test} --full-run models/gold/seed_0",
            "deps": ["data/subsets/gold.parquet", test, "models/gold/seed_0"],
            "params": curve_params,
            "outs": [{"metrics/learning_curve/gold.json": {"cache": False}}],
        },
    }


def _verdict_stages(paths: _Paths) -> dict[str, dict]:
    """evaluate, gate (verdict, headline, report) and enforce."""
    return {
        "evaluate": {
            "cmd": f"labelgate evaluate --test {paths.sh_test} --headline metrics/headline/evaluate.json",
            "deps": ["models", "metrics/learning_curve", "metrics/audit_reference.json", paths.test],
            # filter.strategies and train.seeds: evaluate removes the outputs of subsets and seeds no longer configured
            "params": ["evaluate", "learning_curve.plateau_min_gain", "learning_curve.plateau_min_gap",
                       "filter.strategies", "train.seeds", VERSION],
            "outs": [{"metrics/evaluate.json": {"cache": False}}, {"plots/evaluate": {"cache": False}}],
            "metrics": [{"metrics/headline/evaluate.json": {"cache": False}}],
        },
        "gate": {
            "cmd": ("labelgate gate --scores data/scores.parquet --label-risk metrics/label_risk.json "
                    "--evaluation metrics/evaluate.json --out metrics/gate.json --report-dir reports "
                    "--subsets data/subsets --curves metrics/learning_curve --headline metrics/headline/gate.json "
                    "--no-enforce"),
            "deps": ["data/scores.parquet", "metrics/label_risk.json", "metrics/evaluate.json", "data/subsets",
                     "expectations/label_risk.json", "expectations/label_summary.json",
                     "expectations/training_stability.json"],
            "params": ["gate", VERSION],
            "outs": [{"metrics/gate.json": {"cache": False}}, {"reports/report.html": {"cache": False}},
                     {"reports/summary.md": {"cache": False}}],
            "metrics": [{"metrics/headline/gate.json": {"cache": False}}],
        },
        "enforce": {"cmd": "labelgate enforce metrics/gate.json", "deps": ["metrics/gate.json"]},
    }


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
