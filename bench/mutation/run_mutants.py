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
    ("expectations_03", "expectations", "expectations.py", "if sorted(expected, key=str) != sorted(returned, key=str):",
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


def run_mutant(mutant, python: str) -> dict:
    ident, group, rel, old, new, what = mutant
    with tempfile.TemporaryDirectory(prefix=f"mutant-{ident}-") as tmp:
        shutil.copytree(REPO / "src", Path(tmp) / "src", ignore=shutil.ignore_patterns("__pycache__"))
        target = Path(tmp) / "src" / "labelgate" / rel
        text = target.read_text()
        if text.count(old) != 1:
            return {"id": ident, "group": group, "what": what, "result": "invalid",
                    "detail": f"pattern found {text.count(old)} times in {rel}"}
        target.write_text(text.replace(old, new))
        env = {**os.environ, "PYTHONPATH": f"{tmp}/src", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
               "PYTHONDONTWRITEBYTECODE": "1"}
        start = time.perf_counter()
        proc = subprocess.run([python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-m", "not slow",
                               *TESTS[group]], cwd=REPO, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
    failed = [line for line in proc.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    return {"id": ident, "group": group, "file": rel, "what": what,
            "result": "killed" if proc.returncode != 0 else "survived",
            "killed_by": failed[0] if failed else None, "seconds": round(seconds, 1)}


def main(argv: list[str]) -> int:
    chosen = [m for m in MUTANTS if not argv or m[0] in argv]
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
        "command": "python bench/mutation/run_mutants.py" + (" " + " ".join(argv) if argv else ""),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared dev box)",
        "mutants": len(valid), "killed": killed, "score": round(killed / len(valid), 4) if valid else None,
        "by_group": by_group, "invalid": [r for r in results if r["result"] == "invalid"],
        "results": results,
    }
    print(f"mutation score: {killed}/{len(valid)} killed ({summary['score']:.1%})")
    name = "results.json" if not argv else "results_rerun.json"
    (REPO / "bench" / "mutation" / name).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
