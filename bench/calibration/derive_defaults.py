"""Derive the gate's label-level defaults (params.yaml gate:) from the calibration benchmark's measurements.

Usage: python bench/calibration/derive_defaults.py [--results bench/calibration/results.json]

Reads results.json (run_benchmark.py; each row carries the figures its verdict judged) and writes DEFAULTS.md:
for each label-level threshold, the sweep over candidate values, the rule that picks one, and the value picked.

Rules (one per kind of check):
- gate.max_label_error (critical, on label_error_rate_upper): the value that gets the most verdicts right when the
  label error check alone decides (block when the upper bound exceeds it). Among equally good values, the one with
  the smallest worst-case miss probability for a simple random audit of the benchmark's size at the policy's
  anchors (a 5% set blocked, a 15% set passed), computed from the binomial distribution with Wilson bounds: the
  decision then does not hang on the three seeds.
- critical checks other than the label error (audit_accuracy_lower, a plain Wilson bound on the same audit): the
  strictest value (step 0.05) that blocks no set the policy passes on the benchmark and blocks a set with 5% wrong
  labels in under 1% of simple random audits of the benchmark's size: a fail-safe, never the deciding check.
- warnings on the amount of noise (cleanlab noise rate, label-issue share, class balance): the value, rounded up to
  0.05, just above every set the policy passes, so a warning means "beyond anything seen in an acceptable label
  set here"; each is reported with how well it separates the sets the policy blocks (AUC).
- warnings on the kind of noise (systematic share, text-error AUC): the value, rounded up to 0.05, just above every
  set whose errors are random (uniform noise), so a warning means "more systematic than random errors ever looked
  here"; reported with the mean per noise kind.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

WARNINGS = {  # figure column -> (params key, reference sets: the sets the warning must stay quiet on)
    "systematic_error_share": ("max_systematic_error_share", "random"),
    "text_error_auc": ("max_text_error_auc", "random"),
    "estimated_noise_rate": ("max_estimated_noise_rate", "passed"),
    "cleanlab_is_label_issue": ("max_label_issue_rate", "passed"),
    "class_balance_tvd": ("max_class_balance_tvd", "passed"),
}
RANDOM_KINDS = ("uniform",)  # errors with no system: what a systematic-error signal shows when there is none
FAILSAFE = {"audit_accuracy_lower": ("min_audit_accuracy_lower", "min")}
FAILSAFE_MISS = 0.01  # a fail-safe may block a set with 5% wrong labels in at most 1% of audits


def wilson_upper(k: int, n: int, z: float = 1.959964) -> float:
    p = k / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre + half) / (1 + z * z / n)


def miss_probabilities(threshold: float, n: int, low: float = 0.05, high: float = 0.15) -> tuple[float, float]:
    """P(a set with true error `low` is blocked), P(one with `high` passes): binomial audit of n rows, Wilson upper
    bound tested against the threshold (the estimator's own interval is at most as wide, so these are bounds)."""
    from scipy.stats import binom

    ks = np.arange(n + 1)
    blocked = np.array([wilson_upper(int(k), n) > threshold for k in ks])
    return float(binom.pmf(ks[blocked], n, low).sum()), float(binom.pmf(ks[~blocked], n, high).sum())


def auc(pos: list[float], neg: list[float]) -> float | None:
    if not pos or not neg:
        return None
    wins = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def figures_of(row: dict) -> dict:
    if row.get("figures"):
        return row["figures"]
    path = HERE / "runs" / f"seed{row['seed']}" / row["set"] / "verdict.json"
    return (json.loads(path.read_text()).get("figures") or {}) if path.exists() else {}


def _round(x: float, step: float = 0.05, up: bool = True) -> float:
    return round((math.ceil if up else math.floor)(x / step - 1e-9) * step, 2)


def derive(rows: list[dict], audit_size: int) -> tuple[dict, list[str]]:
    for r in rows:
        r["_fig"] = figures_of(r)
    block = [r for r in rows if r["expected"] == "blocked"]
    passing = [r for r in rows if r["expected"] == "passed"]
    chosen: dict[str, float] = {}
    md = []

    # -- max_label_error
    uppers = [(r["_fig"].get("label_error_rate_upper"), r["expected"]) for r in rows]
    uppers = [(u, e) for u, e in uppers if u is not None]
    candidates = np.round(np.arange(0.05, 0.2001, 0.005), 3)
    sweep = []
    for t in candidates:
        right = sum((u > t) == (e == "blocked") for u, e in uppers)
        p_block5, p_pass15 = miss_probabilities(float(t), audit_size)
        sweep.append({"t": float(t), "right": right, "p_block_5": p_block5, "p_pass_15": p_pass15})
    best = max(s["right"] for s in sweep)
    tied = [s for s in sweep if s["right"] == best]
    pick = min(tied, key=lambda s: (max(s["p_block_5"], s["p_pass_15"]), s["t"]))
    chosen["max_label_error"] = pick["t"]
    md += ["## gate.max_label_error", "",
           f"Checked on `label_error_rate_upper` (95%). {len(uppers)} sets; the verdict if this check alone decides, "
           f"and, for a simple random audit of {audit_size} rows with a Wilson bound, the probability that a set "
           "with 5% wrong labels is blocked and that one with 15% passes:", "",
           "| max_label_error | verdicts right (this check alone) | P(block a 5% set) | P(pass a 15% set) |",
           "|--:|--:|--:|--:|"]
    for s in sweep:
        mark = " **(picked)**" if s is pick else ""
        md.append(f"| {s['t']:.3f}{mark} | {s['right']}/{len(uppers)} | {s['p_block_5']:.3f} | {s['p_pass_15']:.3f} |")
    md += ["", f"Best on the benchmark: {best}/{len(uppers)} right for max_label_error in "
           f"[{tied[0]['t']:.3f}, {tied[-1]['t']:.3f}]; among those, {pick['t']:.3f} has the smallest worst-case "
           f"miss probability ({max(pick['p_block_5'], pick['p_pass_15']):.3f}).", ""]

    # -- fail-safe critical checks (plain Wilson bound of audit accuracy)
    for column, (key, _) in FAILSAFE.items():
        values = [r["_fig"].get(column) for r in passing if r["_fig"].get(column) is not None]
        if not values:
            continue
        options = []
        for v in np.round(np.arange(0.50, 0.951, 0.05), 2):
            p_block5, _ = miss_probabilities(1 - float(v), audit_size)
            options.append((float(v), p_block5, sum(x < v for x in values)))
        ok = [o for o in options if o[1] < FAILSAFE_MISS and o[2] == 0]
        value = max(o[0] for o in ok) if ok else min(o[0] for o in options)
        chosen[key] = value
        blocked_values = [r["_fig"].get(column) for r in block if r["_fig"].get(column) is not None]
        md += [f"## gate.{key} (critical fail-safe)", "",
               f"`{column}` (Wilson 95% lower bound of the audited accuracy) on the {len(values)} sets the policy "
               f"passes: min {min(values):.3f}. The strictest value (step 0.05) that blocks none of them and blocks a "
               f"set with 5% wrong labels with probability < {FAILSAFE_MISS:.0%} (binomial audit of {audit_size}):", "",
               "| value | P(block a 5% set) | passing sets blocked |", "|--:|--:|--:|"]
        md += [f"| {v:.2f}{' **(picked)**' if v == value else ''} | {p:.3f} | {n} |" for v, p, n in options]
        alone = sum(1 for r in rows if r["_fig"].get(column) is not None and r["_fig"][column] < value
                    and (r["_fig"].get("label_error_rate_upper") or 0) <= chosen["max_label_error"])
        md += ["", f"At {value:.2f} it fires on {sum(x < value for x in blocked_values)} of the "
               f"{len(blocked_values)} sets the policy blocks, and on {alone} set(s) that the label error check "
               "passes: a fail-safe (for a gate without the label_error signal), never the deciding check here.", ""]

    # -- warnings
    md += ["## Warnings", "",
           "| params key | figure | quiet on | max there | median on sets the policy blocks | AUC (blocked vs "
           "passed) | default |", "|---|---|---|--:|--:|--:|--:|"]
    for column, (key, reference) in WARNINGS.items():
        ref_rows = passing if reference == "passed" else [r for r in rows if r["kind"] in RANDOM_KINDS]
        ok = [r["_fig"].get(column) for r in ref_rows if r["_fig"].get(column) is not None]
        bad = [r["_fig"].get(column) for r in block if r["_fig"].get(column) is not None]
        allowed = [r["_fig"].get(column) for r in passing if r["_fig"].get(column) is not None]
        label = "sets the policy passes" if reference == "passed" else "uniform-noise sets"
        if not ok:
            md.append(f"| {key} | `{column}` | {label} | not measured | | | unchanged |")
            continue
        value = min(_round(max(ok) + 1e-6), 1.0)
        chosen[key] = value
        a = auc(bad, allowed)
        md.append(f"| {key} | `{column}` | {label} | {max(ok):.3f} | "
                  f"{np.median(bad) if bad else float('nan'):.3f} | {'—' if a is None else f'{a:.2f}'} | "
                  f"**{value:.2f}** |")
    md.append("")

    # -- systematic-error signals by kind
    md += ["## Systematic-error signals by noise kind", "",
           "| kind | level | systematic share (mean) | text-error AUC (mean) | drop, points (mean) |",
           "|---|--:|--:|--:|--:|"]
    groups: dict[tuple, list] = {}
    for r in rows:
        groups.setdefault((r["kind"], round(r["level"], 2)), []).append(r)
    for (kind, level), sub in groups.items():
        share = [r["_fig"].get("systematic_error_share") for r in sub if r["_fig"].get("systematic_error_share")
                 is not None]
        aucs = [r["_fig"].get("text_error_auc") for r in sub if r["_fig"].get("text_error_auc") is not None]
        md.append(f"| {kind} | {level:.2f} | {np.mean(share) if share else float('nan'):.2f} | "
                  f"{np.mean(aucs) if aucs else float('nan'):.2f} | {100 * np.mean([r['drop'] for r in sub]):+.1f} |")
    md.append("")
    for r in rows:
        r.pop("_fig", None)
    return chosen, md


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=HERE / "results.json")
    parser.add_argument("--out", type=Path, default=HERE / "derived_defaults.md")
    args = parser.parse_args()
    data = json.loads(args.results.read_text())
    chosen, md = derive(data["rows"], data["audit_size"])
    head = ["# Gate defaults derived from the calibration benchmark", "",
            f"Command: `python bench/calibration/derive_defaults.py`, from `{args.results.name}` "
            f"({data['date']} UTC, {len(data['rows'])} sets, labelgate at {data['git']}, status {data['status']}).",
            "", "Derived values: " + ", ".join(f"`{k}: {v:g}`" for k, v in chosen.items()) + ".", ""]
    args.out.write_text("\n".join(head + md) + "\n")
    print(json.dumps(chosen))


if __name__ == "__main__":
    main()
