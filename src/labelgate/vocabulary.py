"""The names every stage shares, defined once: table columns, file suffixes, filter strategies, the gate's suites,
expectation severities, outcome and verdict statuses, and the verdict's counts.

Plain constants and two column-name helpers, importable without pandas (`labelgate enforce` reads verdicts with it).
What each table holds is documented in contract.py; the signals' score columns belong to each signal.
"""

from __future__ import annotations

# The label table (contract.py): one row per text.
TEXT = "text"
LLM_LABEL = "llm_label"
ID = "id"
GOLD = "gold_label"
AUDIT_WEIGHT = "audit_weight"  # on audited rows: the row's weight in the audit estimate (audit/design.py derives it)
AUDIT_WAVE = "audit_wave"  # on rows an audit drew: its wave (1, 2, ...; 0: audited before any recorded design)
AUDIT_INCLUSION = "audit_inclusion"  # on rows an audit drew: inclusion probability in its wave (given earlier ones)
LLM_PROB_PREFIX = "llm_prob_"  # llm_prob_<label>: the LLM's probability of each class
ANNOTATOR_PREFIX = "annotator_"

# The gold test set, the gold pool and the training subsets (id, text, label).
LABEL = "label"

# A training run's test predictions (test_probs.parquet).
PRED = "pred"
MODEL_PROB_PREFIX = "prob_"  # prob_<label>: the fine-tuned model's probability of each class on the test set


def llm_prob_column(label: str) -> str:
    """llm_prob_<label>: the label table's column of the LLM's probability for `label`."""
    return f"{LLM_PROB_PREFIX}{label}"


def model_prob_column(label: str) -> str:
    """prob_<label>: a training run's column of the model's test-set probability for `label`."""
    return f"{MODEL_PROB_PREFIX}{label}"


# Tables are read and written in these formats (reading also accepts .ndjson as JSONL).
CSV, PARQUET, JSONL = ".csv", ".parquet", ".jsonl"
TABLE_SUFFIXES = (CSV, PARQUET, JSONL)
JSONL_SUFFIXES = (JSONL, ".ndjson")

# Filter strategies (filter.py), in the order the report lists them.
STRATEGIES = ("raw", "entropy", "cleanlab", "consensus", "combined")

# The gate's Great Expectations suites (expectations/<name>.json), each named for the table it checks.
SCORES_SUITE = "label_scores"  # the per-row scores table (data/scores.parquet from `labelgate score`)
SUMMARY_SUITE = "label_summary"  # one row: the label-set figures, label_risk.json `metrics` (`score --summary`)
STABILITY_SUITE = "training_stability"  # one row: the gated subset's seed stability (evaluate.json)
# A suite file under a name it had before (former name -> name): refused with the new name, never read or skipped.
RENAMED_SUITES = {"label_risk": SCORES_SUITE}

# Severity of an expectation (from its GX severity) and status of a verdict: a verdict is as bad as its worst
# failed expectation, so the two share their names.
PASS = "pass"
WARN = "warn"
BLOCK = "block"
VERDICT_STATUSES = (PASS, WARN, BLOCK)

# Status of one expectation's outcome in a verdict (a passed one is PASS).
FAILED = "fail"
SKIPPED = "skipped"  # its figure was not measured and the gate may go on without it
ERRORED = "error"  # it could not be evaluated: blocks

# The verdict's counts, keyed as in metrics/gate.json `counts`.
COUNT_FAILED_BLOCK = "failed_block"
COUNT_FAILED_WARN = "failed_warn"
COUNT_PASSED = "passed"
COUNT_SKIPPED = "skipped"
COUNT_ERRORS = "errors"

# The gold audit's label-error figure the gate checks (signals/label_error.py's upper bound): the gate's evidence
# rule, its "audit too small" advice and the report's blocker sections key on it.
AUDIT_EVIDENCE = "label_error_rate_upper"
# The key of a filter subset's summary (data/subsets/<strategy>.json) that holds its label-level figures, named as
# in label_risk.json `metrics`: the gate reads them in place of the whole table's when gate.subset is that subset.
SUBSET_FIGURES = "metrics"
