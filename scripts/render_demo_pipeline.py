"""Render the demo dvc.yaml: the gated pipeline's stages as `labelgate init` builds them
(labelgate.scaffold.stages.build_stages) on the demo's paths, each depending on the source its command imports
(scripts/source_deps.py) instead of `labelgate.version`, plus what only the demo has: `gold_check` (the crowd labels
checked as a second label set), `enforce` waiting for it, and the plot definitions.

    python scripts/render_demo_pipeline.py            # rewrite dvc.yaml
    python scripts/render_demo_pipeline.py --check    # exit 1 when dvc.yaml is out of date (a test runs this)

Change a shared stage in labelgate/scaffold/stages.py, the demo's own here, never dvc.yaml by hand; re-run this after
an import between labelgate modules changes (a stage's source deps follow the imports).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from params_source import write_or_check  # noqa: E402
from source_deps import ROOT, source_deps  # noqa: E402

from labelgate.scaffold.stages import STAGE_COMMENTS, Layout, Paths, build_stages, render_yaml  # noqa: E402

DVC_YAML = ROOT / "dvc.yaml"
POOL, TEST = "data/demo/pool_gold.csv", "data/demo/test.csv"
PATHS = Paths.of(texts="data/demo/pool_texts.csv", test=TEST, table="data/llm_labels.csv", pool=POOL)
FOLD = 118  # a command line longer than this is written folded, in lines of at most this width

HEADER = """\
# labelgate pipeline on the embedded demo data:
#   annotate -> validate -> score -> filter (one subset per strategy) + gold reference
#   -> train (subset x seed, gold x seed) + learning curves + audit reference -> evaluate -> gate (+ report),
#   gold_check -> enforce
# Written by scripts/render_demo_pipeline.py: the stages `labelgate init` writes (labelgate/scaffold/stages.py) on
# the demo's paths plus the demo's own (gold_check, the plots); edit those, not this file. Each stage calls the
# package CLI, depends on every module of src/labelgate its command imports (cli/ included; tests/test_dvc_deps.py
# walks the imports and fails on an omission) and lists only the params keys it reads.
# `gate` and `gold_check` record their verdicts and exit 0, so DVC caches them; `enforce` makes `dvc repro` fail
# when the gate blocks. DVC metrics are the headline files in metrics/headline/ (a dozen figures each); the
# details (metrics/*.json, metrics/learning_curve/) are plain outputs that the gate and the report read."""

COMMENTS = {
    **STAGE_COMMENTS,
    "gold_check": "The second label set of the demo: the crowd (gold) labels of the same 2,000 tweets, checked as if "
                  "they were the LLM's labels (validate + score + the label-level suites, no training). The demo "
                  "expects it to pass.",
    "enforce": "Exit 1 when the gate's verdict is blocked, so `dvc repro` fails on a blocked label set. It lists the "
               "gold verdict only to run last. Never cached while it fails: a second `dvc repro` re-runs just this "
               "stage.",
}

PLOTS = [
    {"plots/evaluate/scores.csv": {"x": "seed", "y": "accuracy", "template": "scatter"}},
    {"plots/evaluate/learning_curve.csv": {"x": "n", "y": "accuracy"}},
    {"plots/evaluate/confusion_raw.csv": {"x": "actual", "y": "predicted", "template": "confusion"}},
    {"plots/evaluate/confusion_gold.csv": {"x": "actual", "y": "predicted", "template": "confusion"}},
]


def document() -> dict:
    """The demo dvc.yaml as a mapping: the shared stages, gold_check before enforce, the plots."""
    layout = Layout(PATHS, annotates=True, code_deps=source_deps)
    stages = build_stages(layout)
    enforce = stages.pop("enforce")
    stages["gold_check"] = layout.stage(
        "check", f"labelgate check {POOL} --label-column label --test {TEST} --out metrics/gold_check.json "
                 "--no-enforce",
        [POOL, TEST, "expectations/label_contract.json", "expectations/test_contract.json",
         "expectations/label_scores.json", "expectations/label_summary.json"],
        ["base.labels", "validate", "score", "gate"], outs=[{"metrics/gold_check.json": {"cache": False}}])
    enforce["deps"].insert(enforce["deps"].index("metrics/gate.json") + 1, "metrics/gold_check.json")
    stages["enforce"] = enforce
    return {"vars": ["params.yaml"], "stages": stages, "plots": PLOTS}


def render() -> str:
    return render_yaml(document(), HEADER.splitlines(), COMMENTS, fold=FOLD)


def main(argv: list[str]) -> int:
    return write_or_check(DVC_YAML, render(), argv, root=ROOT, script="scripts/render_demo_pipeline.py")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
