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

The package: `options` (InitOptions), `checks` (values checked before they go into a file), `install` (what the
workflow installs), `stages` (the pipeline's stages, built once for the adopter's dvc.yaml and the demo's), `render`
(params.yaml, the workflow, the suites), `plan` (what would be written), `write` (writing it, and `main`).
"""

from labelgate.scaffold import install
from labelgate.scaffold.install import checked_install, default_install_spec, install_spec, installed_version
from labelgate.scaffold.options import ANNOTATORS, HEADER, LABEL_TABLE_OUT, TODO, InitOptions, supported_strategies
from labelgate.scaffold.plan import DVCIGNORED, IGNORED, FilePlan, Plan, plan_files
from labelgate.scaffold.render import (
    CONSTRAINTS_PATH,
    WORKFLOW_PATH,
    expectation_files,
    render_params,
    render_workflow,
)
from labelgate.scaffold.stages import GATED_CURVE, pipeline, render_dvc_yaml
from labelgate.scaffold.write import apply_plan, dvc_init, ensure_dvcignore, main, next_steps

__all__ = [
    "ANNOTATORS", "CONSTRAINTS_PATH", "DVCIGNORED", "GATED_CURVE", "HEADER", "IGNORED", "LABEL_TABLE_OUT", "TODO", "WORKFLOW_PATH",
    "FilePlan", "InitOptions", "Plan", "apply_plan", "checked_install", "default_install_spec", "dvc_init",
    "ensure_dvcignore", "expectation_files", "install", "install_spec", "installed_version", "main", "next_steps",
    "pipeline", "plan_files", "render_dvc_yaml", "render_params", "render_workflow", "supported_strategies",
]
