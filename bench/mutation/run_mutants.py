"""A scripted mutation test of the verdict-critical modules (gate, expectations, signals, filter, evaluate,
learning_curve, contract + validate).

Each mutant is one hand-written source edit of the kind a careless change makes (a flipped comparison, a dropped
check, a hard-coded constant, a None turned into 0.0). For each: copy src/ to a temporary folder, apply the edit
(it must match exactly once), run the tests that cover that module against the copy (`pytest -x`), and count the
mutant as killed when a test fails. mutmut/cosmic-ray were not used: on a shared 2-core machine they mutate every
operator of every function and re-run the suite hundreds of times; a fixed, reviewed set runs in minutes and its
result is reproducible.

    python bench/mutation/run_mutants.py            # all mutants -> bench/mutation/results.json
    python bench/mutation/run_mutants.py gate_01    # some by id -> bench/mutation/results_rerun.json
    python bench/mutation/run_mutants.py --integrity  # the audit-integrity set, each against its targeted tests
                                                      # -> bench/mutation/results_integrity.json
    python bench/mutation/run_mutants.py --integrity --out=NAME.json weights_01 ...  # some, into another file
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

TESTS = {
    "gate": ["tests/test_gate.py", "tests/faults/test_faults.py"],
    "expectations": ["tests/test_gate.py", "tests/test_validate.py", "tests/faults/test_faults.py"],
    "signals": ["tests/signals", "tests/test_gate.py", "tests/faults/test_faults.py"],
    "filter": ["tests/test_filter.py"],
    "evaluate": ["tests/test_evaluate.py", "tests/test_gate.py"],
    "learning_curve": ["tests/test_learning_curve.py", "tests/test_evaluate.py"],  # learning_curve.py and curves.py
    "contract": ["tests/test_validate.py", "tests/test_contract.py", "tests/faults/test_faults.py"],
}

# id, module group, file under src/labelgate, old text, new text, what the mutant breaks
MUTANTS = [
    ("gate_01", "gate", "gate/decision.py", "if severity == BLOCK and absent[0] not in optional:",
     "if severity == BLOCK and absent[0] in optional:", "gate.optional inverted"),
    ("gate_02", "gate", "gate/decision.py", "if any(name in ran for name in entry) and not any(name in measured for name in entry)",
     "if any(name in ran for name in entry) and any(name in measured for name in entry)",
     "required figures: missing and present swapped"),
    ("gate_03", "gate", "gate/decision.py", 'measured = {o["column"] for o in outcomes if o["status"] in (PASS, FAILED)}',
     'measured = {o["column"] for o in outcomes if o["status"] in (PASS, FAILED, SKIPPED)}',
     "a skipped figure counts as measured"),
    ("gate_04", "gate", "gate/decision.py", "    if empty:\n", "    if empty and False:\n", "suite that measured nothing passes"),
    ("gate_05", "gate", "gate/decision.py", "    if errors:  #", "    if errors and False:  #", "errors do not block"),
    ("gate_06", "gate", "gate/decision.py", "    if blocking:\n", "    if blocking and False:\n",
     "failed critical expectations do not block"),
    ("gate_07", "gate", "gate/figures.py", "    if value is None:\n        return np.nan", "    if value is None:\n        return 0.0",
     "a None figure becomes 0.0"),
    ("gate_08", "gate", "gate/figures.py", "FIGURE_RANGES.get(column, (0.0, 1.0))", "FIGURE_RANGES.get(column, (-1.0, 1.0))",
     "negative rates accepted"),
    ("gate_09", "gate", "gate/figures.py", "(values < low) | (values > high)", "(values < low)", "rates above 1 accepted"),
    ("gate_10", "gate", "gate/stage.py", "PASS if outcome.success else FAILED", "PASS", "every evaluated expectation passes"),
    ("gate_11", "gate", "gate/params.py", "check_range(name, getattr(self, name), 0.0, 1.0)",
     "check_range(name, float(getattr(self, name)), 0.0, 1.0)", "YAML booleans taken as thresholds"),
    ("gate_12", "gate", "gate/decision.py", "    if warnings:\n        return Verdict(WARN",
     "    if False:\n        return Verdict(WARN", "failed warnings reported as pass"),
    ("gate_13", "gate", "gate/stage.py", "    unknown = sorted(params.figure_names() - known)",
     "    unknown = []", "unknown names in gate.required accepted"),
    ("expectations_01", "expectations", "expectations.py", "        if severity not in _SEVERITY:",
     "        if False:", "severity typo accepted"),
    ("expectations_02", "expectations", "expectations.py", "            if unknown:\n                raise ConfigError(f\"{where}: column",
     "            if False:\n                raise ConfigError(f\"{where}: column", "column typo accepted"),
    ("expectations_03", "expectations", "expectations.py", "if Counter(expected) != Counter(returned):",
     "if False:", "dropped expectations not counted"),
    ("expectations_04", "expectations", "expectations.py", "success=bool(item.success) and error is None",
     "success=bool(item.success)", "an expectation that raised may pass"),
    ("expectations_05", "expectations", "expectations.py", "        if undefined:\n", "        if False:\n",
     "undefined $PARAMETER accepted before running"),
    ("expectations_06", "expectations", "expectations.py", "        if unknown_keys:\n", "        if False:\n",
     "misspelt expectation keys (severty) accepted"),
    ("signals_01", "signals", "signals/audit.py", "confidence_level=self.params.audit_confidence",
     "confidence_level=0.95", "score.audit_confidence ignored"),
    ("signals_02", "signals", "signals/agreement.py", "(majority_share == 1.0) & (annotated >= 2)",
     "(majority_share == 1.0) & (annotated >= 1)", "a single annotation counts as full agreement"),
    ("signals_03", "signals", "signals/class_balance.py", "if context.test_labels is not None and len(context.test_labels):",
     "if context.test_labels is not None and len(context.test_labels) and not table.has_gold:",
     "gold_label preferred over the test set"),
    ("signals_04", "signals", "signals/entropy.py", "normalised = value / np.log(n_classes)",
     "normalised = value / np.log(n_classes + 1)", "entropy normalised by the wrong maximum"),
    ("signals_05", "signals", "signals/cleanlab.py", "noise_rate = float(1.0 - np.trace(joint))",
     "noise_rate = float(np.trace(joint))", "noise rate is the clean share"),
    ("signals_06", "signals", "signals/cleanlab.py", "        if len(np.unique(labels)) < 2:",
     "        if len(np.unique(labels)) < 1:", "single-class labels reach cleanlab"),
    ("signals_07", "signals", "signals/agreement.py", "if len(np.unique(given)) < 2 or",
     "if len(np.unique(given)) < 1 or", "alpha of one label value computed"),
    ("signals_08", "signals", "signals/distributions.py", "terms = np.where(p > 0, -p * np.log(p), 0.0)",
     "terms = np.where(p > 0, -p * np.log2(p), 0.0)", "entropy in bits, normalised by nats"),
    ("signals_09", "signals", "contract.py",
     "return [c for c in annotator_columns(self.frame) if self.frame[c].notna().any()]",
     "return annotator_columns(self.frame)", "empty annotator columns count as annotations"),
    ("filter_01", "filter", "filter.py", "if v < params.min_class_count}", "if v <= params.min_class_count}",
     "guard boundary < vs <="),
    ("filter_02", "filter", "filter.py", "kept_counts = given[mask].value_counts().reindex(labels, fill_value=0)",
     "kept_counts = given[mask].value_counts()", "a class removed entirely crashes instead of being refused"),
    ("filter_03", "filter", "filter.py", "        return values <= cut", "        return values < cut",
     "entropy cut excludes the boundary"),
    ("filter_04", "filter", "filter.py", "return share >= params.consensus_min_agreement - 1e-9",
     "return share >= params.consensus_min_agreement + 1e-9", "consensus needs more than the set share"),
    ("filter_05", "filter", "filter.py", 'return ~_column(scores, "cleanlab_is_label_issue", strategy, source)',
     'return _column(scores, "cleanlab_is_label_issue", strategy, source)', "cleanlab keeps the issues"),
    ("evaluate_01", "evaluate", "evaluate/figures.py", "if len(values) >= 2 else None", "if len(values) >= 2 else 0.0",
     "single-seed std becomes 0.0"),
    ("evaluate_02", "evaluate", "evaluate/figures.py", "codes.shape[0] < 2", "codes.shape[0] < 1", "single-seed alpha computed"),
    ("evaluate_03", "evaluate", "evaluate/figures.py",
     'figures["accuracy_gap_to_reference"] = ref["accuracy_mean"] - figures["accuracy_mean"]',
     'figures["accuracy_gap_to_reference"] = figures["accuracy_mean"] - ref["accuracy_mean"]', "gap sign flipped"),
    ("evaluate_04", "evaluate", "evaluate/figures.py", "(codes == codes[0]).all(axis=0).mean()",
     "(codes == codes[0]).any(axis=0).mean()", "unchanged rate counts any seed"),
    ("evaluate_05", "evaluate", "evaluate/figures.py", "np.std(values, ddof=1)", "np.std(values, ddof=0)",
     "population instead of sample std"),
    ("learning_curve_01", "learning_curve", "curves.py", "return bool(gain < min_gain and gap > min_gap)",
     "return bool(gain < min_gain or gap > min_gap)", "plateau without trailing the reference"),
    ("learning_curve_02", "learning_curve", "curves.py",
     'if abs(math.log2(best["fraction"]) - target) > 0.5:', 'if abs(math.log2(best["fraction"]) - target) > 1.5:',
     "gain over more than one doubling"),
    ("learning_curve_03", "learning_curve", "learning_curve.py", "order[:max(1, round(fraction * len(order)))]",
     "order[:max(0, round(fraction * len(order)))]", "a class may vanish from a small fraction"),
    ("learning_curve_04", "learning_curve", "curves.py", "    if gain is None or gap is None:\n        return None",
     "    if gain is None or gap is None:\n        return False", "unknown plateau reported as 'no plateau'"),
    ("contract_01", "contract", "contract.py", 'out.append(np.nan if value.strip() == "" else value)',
     "out.append(value)", "empty strings are not missing (Parquet/JSONL)"),
    ("contract_08", "contract", "contract.py",
     'blank = series.isna().to_numpy() | (series.astype(str).str.strip() == "").to_numpy()',
     "blank = series.isna().to_numpy()", "empty strings are not missing (string columns, vectorised path)"),
    ("contract_02", "contract", "validate.py", "derived[PROB_MISSING] = np.isnan(values).sum(axis=1)",
     "derived[PROB_MISSING] = 0", "NaN probability caught only through the sum"),
    ("contract_03", "contract", "validate.py", "    if len(labels) < 2:\n", "    if len(labels) < 1:\n",
     "one-class label set accepted"),
    ("contract_04", "contract", "contract.py", "    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))\n", "",
     "texts over 128 KiB refused"),
    ("contract_05", "contract", "contract.py", "        elif isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):",
     "        elif isinstance(value, (numbers.Real, list, dict)) and not isinstance(value, (bool, np.bool_)):",
     "lists and objects taken as text"),
    ("contract_06", "contract", "validate.py", "(frame[c].notna() & ~frame[c].isin(label_set))",
     "(frame[c].notna() & frame[c].isin(label_set) & False)", "annotator labels outside the set accepted"),
    ("contract_07", "contract", "validate.py",
     "    if stamp is None:  # a table `validate` wrote (below) checked its suite already; any other: before reading it\n"
     "        _check_contract_suite(CONTRACT_SUITE, CONTRACT_PARAMETERS, CONTRACT_COLUMNS, expectations_dir)\n",
     "", "contract suite not checked up front"),
]


# The audit-integrity set: mutants of kinds the first set lacks (boundaries, off-by-one in strata minimums, audit
# weights, interval sides, missing-share arithmetic, typed figures, policy comparison, several verdict files,
# duplicate expectations).
# id, group, file under src/labelgate, old text, new text, what the mutant breaks (function: ...), the targeted tests.
# When `old` is not found exactly once in `file` (the module was split or moved), the runner looks for it in every
# module under src/labelgate and applies it where it occurs exactly once.
EST = ["tests/test_estimation.py", "tests/test_estimation_integrity.py", "tests/test_estimation_edges.py"]
# the tests of every figure that reads the audit weights (the weights_ mutants)
WEIGHT_TESTS = ["tests/signals/test_audit_weights.py", "tests/signals/test_label_error_integrity.py",
                "tests/signals/test_accuracy_loss.py", "tests/signals/test_label_error.py", "tests/test_estimation.py",
                "tests/test_estimation_integrity.py", "tests/test_estimation_edges.py",
                "tests/test_representativeness.py", "tests/test_filter.py", "tests/test_filter_weights.py",
                "tests/test_filter_clusters.py", "tests/test_audit_contradiction.py"]

MUTANTS_INTEGRITY = [
    ("est_01", "estimation", "estimation.py", '"label_error_rate_upper": float(min(1.0, kept * upper + unmeasured_share)),',
     '"label_error_rate_upper": float(min(1.0, kept * upper)),',
     "_estimate: unmeasured strata not counted as wrong in the upper bound", EST),
    ("est_02", "estimation", "estimation.py", "measured = [key for key in keys if counts[key] >= needed[key]]",
     "measured = [key for key in keys if counts[key] > needed[key]]",
     "_estimate: a stratum with exactly min_stratum audited rows unmeasured (boundary)", EST),
    ("est_03", "estimation", "estimation.py", "needed = {key: min(min_stratum, sizes[key]) for key in keys}",
     "needed = {key: min(min_stratum - 1, sizes[key]) for key in keys}",
     "_estimate: off-by-one in the strata minimum", EST),
    ("est_04", "estimation", "estimation.py", "mean_residual = float(np.sum(w * residual) / w.sum())",
     "mean_residual = float(residual.mean())", "_estimate: audit weights ignored in a stratum's mean", EST),
    ("est_05", "estimation", "estimation.py", "terms = w * (residual - mean_residual) / w.sum()",
     "terms = (residual - mean_residual) / len(w)", "_estimate: audit weights ignored in the stratum variance", EST),
    ("est_06", "estimation", "estimation.py", "var_h = max(spread, floor) * fpc", "var_h = max(spread, floor)",
     "_estimate: finite-population correction dropped", EST),
    ("est_07", "estimation", "estimation.py", '"label_error_rate_lower": float(kept * lower),',
     '"label_error_rate_lower": float(kept * upper),', "_estimate: interval sides swapped (lower = upper)", EST),
    ("est_08", "estimation", "estimation.py", "return float(np.clip(cov / var, 0.0, 1.0)) if var > 1e-12 else 0.0",
     "return float(np.clip(cov / var, -1.0, 1.0)) if var > 1e-12 else 0.0",
     "_power_tuning: a negative slope allowed", EST),
    ("est_09", "estimation", "estimation.py", "    return max(0.0, float(np.sum(per_cluster ** 2) - np.sum(per_pair ** 2)))",
     "    return 0.0", "_cross_stratum_covariance: copies across strata add no covariance", EST),
    ("est_10", "estimation", "estimation.py", '"audit_representativeness_p": float(min(1.0, len(p_values) * min(p_values))),',
     '"audit_representativeness_p": float(min(1.0, min(p_values))),',
     "representativeness: no Bonferroni correction", ["tests/test_representativeness.py", *EST]),
    ("est_11", "estimation", "estimation.py", "se = math.sqrt(max(design, var_all / kish) * fpc)",
     "se = math.sqrt(design * fpc)", "representativeness: the known whole-set variance floor dropped",
     ["tests/test_representativeness.py", *EST]),
    ("est_12", "estimation", "estimation.py", "    if np.any(wrong[audited] == 1.0):\n        return 0.0",
     "    if np.any(wrong[audited] == 1.0) and False:\n        return 0.0",
     "rubber_stamp_flag_share: measured on audits that found errors too",
     ["tests/test_estimation_edges.py", "tests/signals/test_label_error_integrity.py"]),
    ("est_13", "estimation", "estimation.py", "rows = np.argsort(-top, kind=\"stable\")[:count]",
     "rows = np.argsort(top, kind=\"stable\")[:count]",
     "confident_disagreement: the least confident rows read", ["tests/test_audit_contradiction.py"]),
    ("est_14", "estimation", "estimation.py",
     'return float(max(0.0, disagreement["confident_disagreement_lower"] - audit_upper))',
     'return float(max(0.0, disagreement["confident_disagreement"] - audit_upper))',
     "audit_contradiction: point estimate instead of its lower bound", ["tests/test_audit_contradiction.py"]),
    ("est_15", "estimation", "estimation.py", "    if upper <= threshold:\n        return 0",
     "    if upper < threshold:\n        return 0", "rows_needed: boundary at the threshold", EST),
    ("est_16", "estimation", "estimation.py", "missed = weighted_share(~flagged[errors], weights[errors], confidence)",
     "missed = weighted_share(~flagged[errors], np.ones(int(errors.sum())), confidence)",
     "systematic_share: audit weights ignored", ["tests/signals/test_label_error_integrity.py"]),
    ("signals_10", "signals", "signals/label_error.py", "return float((drawn & ~gold).sum() / drawn.sum())",
     "return float((drawn & ~gold).sum() / len(frame))", "audit_missing_share: divided by all rows, not drawn rows",
     ["tests/signals/test_label_error_integrity.py", "tests/signals/test_label_error.py"]),
    ("signals_11", "signals", "signals/label_error.py", "several = len(np.unique(given)) >= 2",
     "several = len(np.unique(given)) > 2", "LabelErrorSignal.score: two-class sets lose the systematic share",
     ["tests/signals/test_label_error_integrity.py"]),
    ("signals_12", "signals", "signals/label_error.py",
     '"audit_contradiction": audit_contradiction(disagreement, estimate["label_error_rate_upper"]),',
     '"audit_contradiction": audit_contradiction(disagreement, estimate["label_error_rate"]),',
     "LabelErrorSignal.score: contradiction against the point estimate, not the upper bound",
     ["tests/test_audit_contradiction.py", "tests/faults/test_rubber_stamp.py"]),
    ("signals_13", "signals", "signals/label_error.py",
     "min_stratum=self.params.min_audited_per_stratum), \"features\": used}",
     "min_stratum=2), \"features\": used}", "LabelErrorSignal.score: score.min_audited_per_stratum ignored",
     ["tests/signals/test_label_error_params.py", "tests/signals/test_label_error_integrity.py"]),
    ("signals_14", "signals", "signals/context.py",
     "return np.where(audited, weights, 1.0) if weights is not None else np.ones(len(audited))",
     "return np.ones(len(audited))", "ScoringContext.audit_weights: audit weights ignored",
     ["tests/signals/test_label_error_integrity.py", "tests/signals/test_context.py"]),
    ("signals_15", "signals", "signals/entropy.py",
     "        if table.has_probs:\n            distribution, source = table.probabilities(), \"llm_prob\"\n"
     "        elif votes is not None:\n            distribution, source = votes, \"votes\"\n",
     "        if votes is not None:\n            distribution, source = votes, \"llm_prob\"\n"
     "        elif table.has_probs:\n            distribution, source = table.probabilities(), \"llm_prob\"\n",
     "EntropySignal.score: entropy from the annotators' votes when the table also has llm_prob_*",
     ["tests/signals/test_entropy.py"]),
    ("audit_01", "audit", "audit.py", "weights.extend([len(part) / n_part] * n_part)",
     "weights.extend([1.0] * n_part)", "sample_audit: the sheet's weights ignore the inclusion probability",
     ["tests/test_audit.py"]),
    ("audit_02", "audit", "audit.py", "frame_size = int((in_h & ~(wave < w)).sum())  # NaN < w is False",
     "frame_size = int(in_h.sum())  # NaN < w is False",
     "design_weights: a later wave's frame includes rows drawn before", ["tests/test_audit.py"]),
    ("audit_03", "audit", "audit.py", "            weights[old] *= n_h / weights[old].sum()\n",
     "", "design_weights: a label's weights no longer scaled to its row count", ["tests/test_audit.py"]),
    ("audit_04", "audit", "audit.py",
     "(1.0 / inclusion[members]).sum() / (1.0 / inclusion[answered]).sum())", "1.0)",
     "_nonresponse_adjusted: blank rows' weight not passed on", ["tests/test_audit.py", "tests/faults/test_audit_faults.py"]),
    ("audit_05", "audit", "audit.py", "if votes.count(top) * 2 > len(votes):", "if votes.count(top) * 2 >= len(votes):",
     "Label Studio reader: a 1-1 split resolved silently", ["tests/faults/test_audit_faults.py", "tests/test_audit.py"]),
    ("audit_06", "audit", "audit.py", "floor = {k: min(v, minimum) for k, v in sizes.items()}",
     "floor = {k: min(v, minimum - 1) for k, v in sizes.items()}", "_allocate: off-by-one in audit.min_per_class",
     ["tests/test_audit.py"]),
    ("audit_07", "audit", "audit.py", "alpha = n_old / (n_old + n_new) * (1.0 - min(1.0, n_new / frame_size))",
     "alpha = n_old / (n_old + n_new)", "design_weights: the mixing share ignores the new wave's sampling fraction",
     ["tests/test_audit.py"]),
    # gate_14 was called equivalent, but is not: _figure turns a Python boolean into "true"/"false", yet passes a
    # numpy boolean (check's in-memory figures) on unchanged; tests/faults/test_security.py
    # test_in_memory_numpy_booleans_block kills it (bench/mutation/README.md).
    ("gate_14", "gate", "gate.py", "        if pd.api.types.is_bool_dtype(series) and column not in FLAG_FIGURES:",
     "        if False:", "_not_numbers: a boolean figure read as 0/1 (typed-figure check)",
     ["tests/faults/test_security.py", "tests/test_gate.py"]),
    ("gate_15", "gate", "gate.py", "return float(value) if name in FLAG_FIGURES else (\"true\" if value else \"false\")",
     "return float(value)", "_figure: booleans become numbers", ["tests/faults/test_security.py", "tests/test_gate.py"]),
    ("gate_16", "gate", "gate.py", "    if \"audit_contradiction\" in failed:\n        clauses.append(",
     "    if False:\n        clauses.append(", "_audit_integrity_reason: the contradiction is not named",
     ["tests/test_audit_contradiction.py"]),
    ("gate_17", "gate", "gate.py", "    if stamp is not None and 0.1 < stamp <= params.max_audit_rubber_stamp_flag_share:",
     "    if stamp is not None and 0.1 < stamp < params.max_audit_rubber_stamp_flag_share:",
     "_label_error_advice: no blind-audit advice at exactly the flagged-share threshold",
     ["tests/test_gate_audit_advice.py", "tests/faults/test_audit_integrity.py"]),
    ("gate_18", "gate", "gate.py", "    if AUDIT_EVIDENCE in failed and unmeasured:",
     "    if unmeasured:", "_audit_integrity_reason: unmeasured strata blamed when the upper bound passed",
     ["tests/test_gate_audit_advice.py", "tests/faults/test_audit_integrity.py"]),
    ("verdict_01", "verdict", "verdict.py", "blocked = blocked or status == BLOCK", "blocked = status == BLOCK",
     "enforce: decides by the last verdict file only", ["tests/test_verdict.py", "tests/faults/test_security.py"]),
    ("verdict_02", "verdict", "verdict.py", 'if verdict.get("blocked", False) is not False or status not in (PASS, WARN):',
     'if verdict.get("blocked", False) is True or status not in (PASS, WARN):',
     "verdict_status: a non-boolean `blocked` (\"yes\", 1) no longer blocks", ["tests/test_verdict.py"]),
    ("verdict_03", "verdict", "verdict.py",
     "COUNT_FAILED_BLOCK: sum(1 for o in outcomes if o[\"status\"] == FAILED and o[\"severity\"] == BLOCK),",
     "COUNT_FAILED_BLOCK: sum(1 for o in outcomes if o[\"status\"] == FAILED),",
     "count_outcomes: failed warnings counted as failed blockers", ["tests/test_verdict.py", "tests/test_gate.py"]),
    ("expectations_07", "expectations", "expectations.py", "if Counter(expected) != Counter(returned):",
     "if set(expected) != set(returned):", "run_suite_json: count-in == count-out compared as sets (duplicates)",
     ["tests/test_expectations.py", "tests/faults/test_security.py"]),
    ("config_01", "config", "config.py", "        return isinstance(value, int) and not isinstance(value, bool)",
     "        return isinstance(value, int)", "_conforms: a YAML boolean accepted as an integer",
     ["tests/test_config.py"]),
    ("config_02", "config", "config.py", "    if unknown:\n        raise ConfigError(f\"params.yaml: unknown key(s)",
     "    if False:\n        raise ConfigError(f\"params.yaml: unknown key(s)", "build_fields: unknown params keys accepted",
     ["tests/test_config.py"]),
    ("filter_06", "filter", "filter.py", "        weights = np.where(audited, kept[AUDIT_WEIGHT].to_numpy(float), 1.0)",
     "        weights = None", "subset_error_estimate: audit weights ignored", ["tests/test_filter.py"]),
    ("filter_07", "filter", "filter.py",
     'per_class[label] = {"audited": int(rows.sum()), "error": float(np.sum(w[rows] * wrong[rows]) /',
     'per_class[label] = {"audited": int(rows.sum()), "error": float(np.sum(wrong[rows]) /',
     "subset_error_estimate: per-class error of the kept rows ignores audit weights",
     ["tests/test_filter_weights.py", "tests/test_filter.py"]),
    ("policy_01", "policy", "policy.py", '        return "looser" if new > old else "stricter"',
     '        return "looser" if new < old else "stricter"', "threshold_direction: max_ thresholds compared backwards",
     ["tests/test_policy.py"]),
    ("policy_02", "policy", "policy.py", 'looser = (removed and name == "required") or (added and name == "optional")',
     'looser = removed and name == "required"', "params_changes: a figure made optional not called looser",
     ["tests/test_policy.py"]),
    # audit weights in every figure that reads them (added after the merge, 2026-12-05)
    ("weights_01", "signals", "signals/label_error.py",
     "stamp = rubber_stamp_flag_share(wrong, context.label_issues, weights=weights, confidence=confidence)",
     "stamp = rubber_stamp_flag_share(wrong, context.label_issues, weights=None, confidence=confidence)",
     "LabelErrorSignal.score: audit weights ignored in the rubber-stamp flagged share", WEIGHT_TESTS),
    ("weights_02", "signals", "signals/label_error.py", "population_var=variance, n_rows=n_rows, weights=weights[rows],",
     "population_var=variance, n_rows=n_rows, weights=None,",
     "audit_representativeness: audit weights ignored in the representativeness test", WEIGHT_TESTS),
    ("weights_03", "signals", "signals/audit_breakdown.py", "        w = weights[rows]\n",
     "        w = np.ones(int(rows.sum()))\n", "per_class: audit weights ignored in the per-class error and confusion",
     WEIGHT_TESTS),
    ("weights_04", "signals", "signals/accuracy_loss.py",
     "share = float(np.sum(w * np.asarray(reproduced, bool)) / w.sum())",
     "share = float(np.mean(np.asarray(reproduced, bool)))",
     "learned_share: audit weights ignored in the share of audited errors the model reproduces", WEIGHT_TESTS),
    ("weights_05", "signals", "signals/accuracy_loss.py",
     "    return float(np.sum(weights[wrong] * per_row) / np.sum(weights[wrong]))",
     "    return float(np.mean(per_row))", "chance_of_reproducing: audit weights ignored in the chance level",
     WEIGHT_TESTS),
    ("weights_06", "estimation", "estimation/diagnostics.py",
     "    cluster_weight = np.bincount(codes, weights=weights)\n",
     "    cluster_weight = np.bincount(codes)\n",
     "representativeness: audit weights ignored in the clusters' weighted means", WEIGHT_TESTS),
    ("weights_07", "filter", "filter.py", "    weights = (kept[AUDIT_WEIGHT].to_numpy(float) if AUDIT_WEIGHT in kept.columns",
     "    weights = (np.ones(len(kept)) if AUDIT_WEIGHT in kept.columns",
     "subset_accuracy_loss: audit weights ignored in the subset's learned-error share", WEIGHT_TESTS),
    # the filter's subset estimate: duplicate clusters and the strata minimum
    ("filter_08", "filter", "filter.py", "clusters=duplicate_groups(kept[TEXT]),", "clusters=None,",
     "subset_error_estimate: copies of one text counted as independent rows", WEIGHT_TESTS),
    ("filter_09", "filter", "filter.py", "confidence=confidence, min_stratum=min_stratum, stratum_names=list(labels))",
     "confidence=confidence, stratum_names=list(labels))",
     "subset_error_estimate: score.min_audited_per_stratum ignored", WEIGHT_TESTS),
]

def _locate(package: Path, rel: str, old: str) -> Path | None:
    """The module to mutate: `rel` when `old` occurs there exactly once, else the one module under the package where
    it does (a function moved to another module keeps its mutant); None when no single place holds it."""
    target = package / rel
    if target.is_file() and target.read_text().count(old) == 1:
        return target
    found = [path for path in sorted(package.rglob("*.py")) if path.read_text().count(old) == 1]
    return found[0] if len(found) == 1 else None


def run_mutant(mutant, python: str) -> dict:
    ident, group, rel, old, new, what = mutant[:6]
    tests = mutant[6] if len(mutant) > 6 else TESTS[group]  # the integrity set names its targeted tests
    with tempfile.TemporaryDirectory(prefix=f"mutant-{ident}-") as tmp:
        shutil.copytree(REPO / "src", Path(tmp) / "src", ignore=shutil.ignore_patterns("__pycache__"))
        package = Path(tmp) / "src" / "labelgate"
        target = _locate(package, rel, old)
        if target is None:
            return {"id": ident, "group": group, "what": what, "result": "invalid",
                    "detail": f"pattern not found exactly once in {rel} nor in any one module"}
        rel = str(target.relative_to(package))
        text = target.read_text()
        target.write_text(text.replace(old, new))
        env = {**os.environ, "PYTHONPATH": f"{tmp}/src", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
               "PYTHONDONTWRITEBYTECODE": "1"}
        start = time.perf_counter()
        proc = subprocess.run([python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-m", "not slow",
                               *tests], cwd=REPO, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
    failed = [line for line in proc.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    return {"id": ident, "group": group, "file": rel, "what": what,
            "result": "killed" if proc.returncode != 0 else "survived",
            "killed_by": failed[0] if failed else None, "seconds": round(seconds, 1)}


def main(argv: list[str]) -> int:
    integrity = "--integrity" in argv  # only the audit-integrity set -> results_integrity.json
    out = next((a.split("=", 1)[1] for a in argv if a.startswith("--out=")), None)  # another results file name
    argv = [a for a in argv if a != "--integrity" and not a.startswith("--out=")]
    pool = MUTANTS_INTEGRITY if integrity else MUTANTS + MUTANTS_INTEGRITY
    chosen = [m for m in pool if not argv or m[0] in argv]
    results = []
    for mutant in chosen:
        result = run_mutant(mutant, sys.executable)
        results.append(result)
        print(f"{result['id']:20s} {result['result']:9s} {result.get('seconds', '')!s:>6} {result['what']}",
              flush=True)
    valid = [r for r in results if r["result"] != "invalid"]
    killed = sum(r["result"] == "killed" for r in valid)
    by_group = {}
    for r in valid:
        g = by_group.setdefault(r["group"], {"killed": 0, "total": 0})
        g["total"] += 1
        g["killed"] += r["result"] == "killed"
    summary = {
        "command": "nice -n 10 python bench/mutation/run_mutants.py" + (" --integrity" if integrity else "")
                   + (f" --out={out}" if out else "") + (" " + " ".join(argv) if argv else ""),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared dev box)",
        "mutants": len(valid), "killed": killed, "score": round(killed / len(valid), 4) if valid else None,
        "by_group": by_group, "invalid": [r for r in results if r["result"] == "invalid"],
        "results": results,
    }
    print(f"mutation score: {killed}/{len(valid)} killed ({summary['score']:.1%})")
    if integrity:
        name = out or ("results_integrity.json" if not argv else "results_integrity_rerun.json")
    else:
        name = out or ("results.json" if not argv else "results_rerun.json")
    (REPO / "bench" / "mutation" / name).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
