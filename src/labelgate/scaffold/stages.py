"""The adopter's dvc.yaml: the pipeline on their paths, built as one dict (`pipeline`) and rendered as YAML."""

from __future__ import annotations

import re

import yaml

from labelgate.scaffold.checks import dvc_escape, shell_path
from labelgate.scaffold.options import HEADER, TODO, InitOptions


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
