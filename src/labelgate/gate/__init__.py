"""Stage `gate`: check label-risk and training-stability figures against the GX suites in expectations/.

Suites and the tables they run on:
  label_scores        per-example scores (distribution checks: median entropy, label-issue rate, agreement)
  label_summary       one row of label-set figures: label_risk.json `metrics` (label error rate upper bound,
                      systematic-error share, estimated noise rate, audit accuracy lower bound, alpha...)
  training_stability  one row: the gated subset's seed-stability figures from `labelgate evaluate`

Thresholds fill the suites' `$PARAMETER` placeholders from params.yaml `gate:`. Fail closed:
- PASS needs evidence: every figure in `gate.required` (a list entry: one of its names) that a suite run checks
  must have been measured, and every suite that ran must have measured something;
- a blocking (critical) expectation whose figure was not measured blocks unless `gate.optional` lists the figure;
  a warning one that was not measured is reported as skipped;
- a failed critical expectation, an expectation that could not be evaluated, a missing input block;
- a broken suite (unknown type or severity, a column its stage does not produce, an undefined `$PARAMETER`) or an
  unknown name in gate.required/optional is a configuration error, raised before anything runs.

The package: `params` (GateParams, defaults), `figures` (the tables the suites run on, figure types and ranges),
`decision` (the Verdict and the fail-closed rule), `advice` (blocker lines and next steps), `stage` (`run_gate`,
`main` and the stage's file I/O).
"""

from labelgate.gate.advice import blocking_lines, loss_rows_needed
from labelgate.gate.decision import Verdict, failed_gate_verdict
from labelgate.gate.figures import (
    FIGURE_RANGES,
    FLAG_FIGURES,
    SUBSET_SIZE,
    check_figure_types,
    gated_label_risk,
    label_summary_frame,
    loss_figures,
    not_a_number,
    stability_frame,
    suite_figures,
)
from labelgate.gate.params import (
    DEFAULT_OPTIONAL,
    DEFAULT_REQUIRED,
    GATE_SUITES,
    LABEL_SUITES,
    STABILITY_SUITE,
    WHOLE_TABLE,
    GateParams,
)
from labelgate.gate.stage import gated_subset, main, preflight, read_figures, run_gate, subset_rows

__all__ = [
    "DEFAULT_OPTIONAL", "DEFAULT_REQUIRED", "FIGURE_RANGES", "FLAG_FIGURES", "GATE_SUITES", "LABEL_SUITES",
    "STABILITY_SUITE", "SUBSET_SIZE", "WHOLE_TABLE", "GateParams", "Verdict", "blocking_lines", "check_figure_types",
    "failed_gate_verdict", "gated_label_risk", "gated_subset", "label_summary_frame", "loss_figures",
    "loss_rows_needed", "main", "not_a_number", "preflight", "read_figures", "run_gate", "stability_frame",
    "subset_rows", "suite_figures",
]
