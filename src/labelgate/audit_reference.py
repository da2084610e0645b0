"""Stage `audit-reference`: a training-based reference built from the gold audit, so no gold pool is needed.

A user of LLM labels has a label table with a gold-audited subset (`gold_label` on a few hundred rows) and a gold
test set, not a fully human-labelled training pool. This stage uses the audit as the reference:

- two training sets of equal size from the audited rows of the trained subset: the rows with their gold labels and
  the same rows with the subset's (LLM) labels; both train with the `train` stage's settings and seeds (epochs may
  be raised by `audit_reference.epochs`: a few hundred rows give few optimiser steps), so any difference in test
  accuracy comes from the labels alone;
- `audit_accuracy_gap`: gold-trained minus LLM-trained test accuracy, paired by seed and averaged over seeds
  (positive: the LLM labels cost accuracy), with its seed spread and a normal-approximation interval (below);
  `audit_macro_f1_gap` the same for macro-F1 (mean and seed spread);
- a learning curve of the gold version on nested fractions of the audited rows (`learning_curve` fractions and
  seed; the full-size point is the seed's run above, not retrained), so `evaluate` can compare the subset's full
  LLM-label curve with the audit's gold curve at equal training size (`compare_at_equal_size`).

The interval: the gap G is the mean over seeds s and test items i of d[s, i] = correct_gold[s, i] -
correct_llm[s, i]. Its variance is estimated as var_seeds(G_s) / k + var_items(mean_s d[s, i]) / n (seed noise
plus the paired test-sample noise; the item term still holds part of the seed noise, so the interval errs wide),
and the interval is G +- z * sqrt(variance). With one seed only the item term remains.

Too few audited rows (fewer than `min_rows`, or a class without a gold row) is not an error: the stage writes its
figures as null with the reason, and the gate reports them as not measured.

Cost: seeds x 2 runs on the audited rows plus the gold curve's smaller fractions, each for `epochs`; with 400
audited rows, 3 seeds and 3 epochs about as much as four 1-epoch runs on 2,000 rows.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from labelgate.config import check_range
from labelgate.contract import GOLD, ID, LABEL, TEXT
from labelgate.curves import CurveParams, accuracy_and_macro_f1
from labelgate.errors import BadInputError
from labelgate.estimation import DEFAULT_CONFIDENCE

GOLD_VERSION, LLM_VERSION = "gold", "llm"  # the two label versions of the audited rows
DEFAULT_MIN_ROWS = 50  # fewer audited rows in the subset: the audit reference is not measured
INTERVAL_METHOD = "normal: seed variance / k + paired test-item variance / n"
# Figures of the audit JSON that `evaluate` copies into the audited subset's row of metrics/evaluate.json (the
# training_stability suite's row); AUDIT_FIGURES adds the two curve comparisons evaluate computes. Every subset row
# holds all of them, null where not measured.
GATED_FIGURES = ("audit_accuracy_gap", "audit_accuracy_gap_lower", "audit_accuracy_gap_upper",
                 "audit_accuracy_gap_std", "audit_macro_f1_gap", "audit_macro_f1_gap_std", "audit_rows")
AUDIT_FIGURES = (*GATED_FIGURES, "audit_curve_gap_at_equal_size", "audit_gold_minus_llm_full")


@dataclass(frozen=True)
class AuditReferenceParams:
    """Audit-reference settings (params.yaml section `audit_reference`); training settings come from `train`,
    the curve fractions and seed from `learning_curve`."""

    min_rows: int = DEFAULT_MIN_ROWS  # audited rows needed in the subset
    epochs: int | None = None  # None: train.epochs; a few hundred rows need more epochs than 2,000 to learn
    confidence: float = DEFAULT_CONFIDENCE  # of the gap's interval
    curves: bool = True  # also train the gold version on the `learning_curve` fractions of the audited rows

    def __post_init__(self):
        check_range("min_rows", self.min_rows, 2)
        check_range("confidence", self.confidence, 0.5, 0.999)
        if self.epochs is not None:
            check_range("epochs", self.epochs, 1, 100)



def audit_tables(labels_table: pd.DataFrame, subset: pd.DataFrame, *, labels: Sequence[str] | None = None,
                 path: str = "<label table>") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(gold, llm) training tables (id, text, label) of the subset's audited rows, in subset order.

    `labels_table`: the validated label table (id, gold_label); `subset`: the training subset (id, text, label =
    the LLM label it trains on). A row is audited when its id has a non-empty gold_label in the label table.
    With `labels`, a gold label outside the label set is bad input (naming the file, rows and column).
    """
    if ID not in labels_table.columns:
        raise BadInputError(path, "missing column; the audit reference needs id (and gold_label)", column=ID)
    if GOLD not in labels_table.columns:  # no audit at all: no audited rows, so "not measured" downstream
        labels_table = labels_table.assign(**{GOLD: None})
    if labels is not None:
        given = labels_table[GOLD]
        bad = np.flatnonzero(given.notna().to_numpy() & ~given.astype(str).isin(list(labels)).to_numpy())
        if bad.size:
            raise BadInputError(path, f"gold label not in the label set {list(labels)} (e.g. {given.iloc[bad[0]]!r})",
                                rows=(bad + 1).tolist(), column=GOLD)
    gold = labels_table.loc[labels_table[GOLD].notna(), [ID, GOLD]]
    gold = gold.assign(**{ID: gold[ID].astype(str), GOLD: gold[GOLD].astype(str)}).drop_duplicates(ID)
    rows = subset.assign(**{ID: subset[ID].astype(str)}).merge(gold, on=ID, how="inner", validate="one_to_one")
    llm = rows[[ID, TEXT, "label"]].reset_index(drop=True)
    gold_table = pd.DataFrame({ID: llm[ID], TEXT: llm[TEXT], "label": rows[GOLD].to_numpy()})
    return gold_table, llm


def not_measured_reason(gold: pd.DataFrame, labels: Sequence[str], params: AuditReferenceParams) -> str | None:
    """Why the audited rows cannot make a reference (None when they can)."""
    if len(gold) < params.min_rows:
        return f"{len(gold)} audited rows in the subset, audit_reference.min_rows is {params.min_rows}"
    missing = sorted(set(labels) - set(gold[LABEL]))
    if missing:
        return f"no audited row has the gold label {', '.join(missing)}"
    return None



def audit_gap(
    gold_probs: Mapping[int, np.ndarray],
    llm_probs: Mapping[int, np.ndarray],
    y_true: Sequence[str],
    labels: Sequence[str],
    *,
    confidence: float = DEFAULT_CONFIDENCE,
) -> dict[str, Any]:
    """Gap figures from the test probabilities of the gold- and LLM-trained runs, paired by seed.

    Pure: no training. Seeds must match; each array is (n_test, n_labels) in `labels` order.
    """
    from scipy.stats import norm

    if set(gold_probs) != set(llm_probs) or not gold_probs:
        raise ValueError(f"gold and llm runs need the same seeds, got {sorted(gold_probs)} and {sorted(llm_probs)}")
    labels = tuple(labels)
    y_true = np.asarray([str(v) for v in y_true], dtype=object)
    names = np.asarray(labels, dtype=object)
    seeds = sorted(gold_probs)
    per_seed, item_diffs = {}, []
    for seed in seeds:
        scores = {}
        for version, probs in ((GOLD_VERSION, gold_probs[seed]), (LLM_VERSION, llm_probs[seed])):
            if np.shape(probs) != (len(y_true), len(labels)):
                raise ValueError(f"{version} seed {seed}: probabilities of shape {np.shape(probs)}, "
                                 f"expected {(len(y_true), len(labels))}")
            predicted = names[np.asarray(probs).argmax(axis=1)]
            accuracy, macro = accuracy_and_macro_f1(y_true, predicted, labels)
            scores[version] = (accuracy, macro, predicted == y_true)
        item_diffs.append(scores[GOLD_VERSION][2].astype(float) - scores[LLM_VERSION][2].astype(float))
        per_seed[str(seed)] = {
            "gold_accuracy": scores[GOLD_VERSION][0], "llm_accuracy": scores[LLM_VERSION][0],
            "gold_macro_f1": scores[GOLD_VERSION][1], "llm_macro_f1": scores[LLM_VERSION][1],
            "accuracy_gap": scores[GOLD_VERSION][0] - scores[LLM_VERSION][0],
            "macro_f1_gap": scores[GOLD_VERSION][1] - scores[LLM_VERSION][1],
        }
    gaps = np.asarray([s["accuracy_gap"] for s in per_seed.values()])
    f1_gaps = np.asarray([s["macro_f1_gap"] for s in per_seed.values()])
    k, n = len(seeds), len(y_true)
    per_item = np.mean(item_diffs, axis=0)
    variance = (np.var(gaps, ddof=1) / k if k >= 2 else 0.0) + (np.var(per_item, ddof=1) / n if n >= 2 else 0.0)
    half = float(norm.ppf(0.5 + confidence / 2) * math.sqrt(variance))
    gap = float(gaps.mean())
    return {
        "n_seeds": k,
        "n_test": n,
        "gold_accuracy_mean": float(np.mean([s["gold_accuracy"] for s in per_seed.values()])),
        "llm_accuracy_mean": float(np.mean([s["llm_accuracy"] for s in per_seed.values()])),
        "audit_accuracy_gap": gap,
        "audit_accuracy_gap_std": float(np.std(gaps, ddof=1)) if k >= 2 else None,
        "audit_accuracy_gap_lower": gap - half,
        "audit_accuracy_gap_upper": gap + half,
        "audit_macro_f1_gap": float(f1_gaps.mean()),
        "audit_macro_f1_gap_std": float(np.std(f1_gaps, ddof=1)) if k >= 2 else None,
        "confidence": confidence,
        "interval_method": INTERVAL_METHOD,
        "seeds": per_seed,
    }


def audit_reference(
    gold: pd.DataFrame,
    llm: pd.DataFrame,
    test: pd.DataFrame,
    labels: Sequence[str],
    train_params,
    curve_params,
    params: AuditReferenceParams,
    *,
    subset: str,
    progress: bool = False,
    note: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train both label versions of the audited rows on every `train_params.seeds` seed; the audit JSON.

    `gold` and `llm` come from `audit_tables` (same ids, same order). Writes nothing.
    """
    from labelgate.learning_curve import learning_curve
    from labelgate.train.run import train_run

    labels = tuple(labels)
    if params.epochs is not None:
        train_params = replace(train_params, epochs=params.epochs)
    if gold[ID].tolist() != llm[ID].tolist():
        raise ValueError("gold and llm tables must hold the same rows in the same order")
    base = {"subset": subset, "labels": list(labels), "params": asdict(params),
            "llm_agreement_with_gold": float((gold[LABEL].to_numpy() == llm[LABEL].to_numpy()).mean())
            if len(gold) else None}
    reason = not_measured_reason(gold, labels, params)
    if reason is not None:
        return {**base, "measured": False, "reason": reason, "audit_rows": len(gold),
                **dict.fromkeys(n for n in GATED_FIGURES if n != "audit_rows"), "curves": {}}
    probs: dict[str, dict[int, np.ndarray]] = {GOLD_VERSION: {}, LLM_VERSION: {}}
    for seed in train_params.seeds:
        for version, table in ((GOLD_VERSION, gold), (LLM_VERSION, llm)):
            run = train_run(table, test, labels, train_params, subset=f"audit_{version}", seed=seed,
                            progress=progress)
            probs[version][seed] = run.probabilities
            if note is not None:
                note(f"audit {version} seed {seed}: n={len(table)} test accuracy {run.record.test_accuracy:.4f}")
    result = {**base, "measured": True, "reason": "", "audit_rows": len(gold),
              **audit_gap(probs[GOLD_VERSION], probs[LLM_VERSION], test[LABEL].astype(str).tolist(), labels,
                          confidence=params.confidence)}
    curves = {}
    if params.curves:  # the gold version only: the LLM side of the comparison is the subset's own full curve
        curve = learning_curve(gold, test, labels, train_params, curve_params, subset=f"audit_{GOLD_VERSION}",
                               full_run_probs=probs[GOLD_VERSION].get(curve_params.seed),
                               reference_accuracy=None, reference_name=None, progress=progress)
        curves[GOLD_VERSION] = {key: curve[key] for key in ("points", "final_accuracy", "gain_last_doubling",
                                                            "decline")}
    result["curves"] = curves
    return result


def main(labels_path: str | os.PathLike, out: str | os.PathLike, *, params: dict[str, Any], subset: str,
         test: str | os.PathLike, subsets_dir: str | os.PathLike | None = None,
         table: str | os.PathLike | None = None, progress: bool = False,
         note: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The audit-reference stage on files: the audited rows of the label table at `labels_path` that the subset
    trained on, trained with gold and with LLM labels; the audit JSON to `out`."""
    from labelgate.config import section
    from labelgate.contract import read_table
    from labelgate.outputs import write_json
    from labelgate.train.inputs import DEFAULT_SUBSETS_DIR, training_inputs
    from labelgate.train.params import TrainParams

    inputs = training_inputs(subset, params, subsets_dir=subsets_dir or DEFAULT_SUBSETS_DIR, table=table, test=test)
    gold, llm = audit_tables(read_table(labels_path), inputs.train, labels=inputs.labels, path=str(labels_path))
    result = audit_reference(gold, llm, inputs.test, inputs.labels, section(params, "train", TrainParams),
                             section(params, "learning_curve", CurveParams),
                             section(params, "audit_reference", AuditReferenceParams), subset=subset,
                             progress=progress, note=note)
    write_json(out, result)
    return result


def describe(result: dict[str, Any], subset: str) -> str:
    """The command's one line: the gold- and LLM-trained accuracy on the audited rows and their gap, or why the
    gap was not measured."""
    if not result["measured"]:
        return f"audit-reference {subset}: not measured: {result['reason']}"
    return (f"audit-reference {subset}: {result['audit_rows']} audited rows, gold-trained accuracy "
            f"{result['gold_accuracy_mean']:.4f}, LLM-trained {result['llm_accuracy_mean']:.4f}, gap "
            f"{result['audit_accuracy_gap']:+.4f} [{result['audit_accuracy_gap_lower']:+.4f}, "
            f"{result['audit_accuracy_gap_upper']:+.4f}] over {result['n_seeds']} seeds")
