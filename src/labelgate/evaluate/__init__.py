"""Stage `evaluate`: accuracy, stability across seeds and the gap to the gold-label reference, per subset.

Inputs: the run folders `models/<subset>/seed_<k>/` written by `train` (test_probs.parquet + run.json), the gold
test set, and optionally the learning curves written by `learning-curve`.

Per run: accuracy, macro-F1 and per-class F1 on the gold test set. Per subset (over its seeds): mean and sample
standard deviation (ddof=1; null with one seed); Krippendorff's alpha (nominal) of the predicted labels with seeds
as coders and test items as units (null with one seed, or when every prediction is the same class: alpha is then
undefined); the share of test items every seed predicts alike; the seed ensemble (probabilities averaged over
seeds, then arg-max); the gap to the reference subset (reference mean minus this subset's mean, so positive means
worse than gold; null without a reference); the learning-curve plateau flag and decline (null without a curve).
With an audit reference (labelgate.audit_reference), its gap figures go to the subset it audited.

Plot tables for DVC: per-seed scores, a confusion table per subset (actual, predicted; seed-ensemble predictions)
and the learning-curve points; matplotlib PNGs of the same when enabled.

The package: `runs` (reading the run folders and curves), `figures` (the evaluation figures), `plots` (plot tables
and PNGs), `stage` (`main` on files, stale outputs, `describe`).
"""

from labelgate.evaluate.figures import (
    STABILITY_FIGURES,
    attach_to_evaluation,
    evaluate_runs,
    run_scores,
    seed_alpha,
    unchanged_rate,
)
from labelgate.evaluate.plots import plot_tables, write_plots
from labelgate.evaluate.runs import Runs, find_run_folders, load_curves, load_runs
from labelgate.evaluate.stage import configured_subsets, describe, main, remove_stale, stale_outputs

__all__ = ["STABILITY_FIGURES", "Runs", "attach_to_evaluation", "configured_subsets", "describe", "evaluate_runs",
           "find_run_folders", "load_curves", "load_runs", "main", "plot_tables", "remove_stale", "run_scores",
           "seed_alpha", "stale_outputs", "unchanged_rate", "write_plots"]
