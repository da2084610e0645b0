"""Derive the gate's label-level defaults (params.yaml gate:) from the calibration benchmark's measurements.

Usage: python bench/calibration/derive_defaults.py [--results bench/calibration/results_label_error.json]

Reads results_label_error.json (run_benchmark.py; each row carries the figures its verdict judged) and writes
derived_defaults.md:
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

With --harm (default bench/calibration/results.json, the harm benchmark of run_harm_benchmark.py), also
the accuracy-loss policy:
- gate.max_accuracy_loss (on expected_accuracy_loss_upper): the value (step 0.005) that gets the most non-grey
  verdicts right, the 5-15% band weighted like the rest, among those the one nearest the policy's 3-point limit;
- how cheap loss figures track the fine-tuned loss: for each figure the sets carry (the probe and
  TF-IDF proxy drops; any verdict figure named with --figures, e.g. the estimator's uncalibrated loss), the scale k
  of fine-tuned loss ~ k * figure (least squares through the origin, per corpus and pooled) and the 90% quantile of
  the absolute residual, i.e. the half-width an interval needs to cover 90% of the sets;
- what gate.max_label_error adds: the loss rule alone against the loss rule OR the error rule on the same sets.
The estimator's own constants (score: loss_rate_scale, loss_concentration_scale, loss_learned_scale,
loss_learned_power, loss_calibration_sd, loss_calibration_sd_slope) are fitted by derive_loss_calibration.py; re-run
`run_harm_benchmark.py check` and `score` after changing them.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from derive_loss_calibration import FIT_CORPORA  # noqa: E402

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


def _share(xs) -> float | None:
    return float(np.mean(xs)) if len(xs) else None


def _pct(x) -> str:
    return "—" if x is None else f"{100 * x:.0f}%"


def fit_scale(x: np.ndarray, y: np.ndarray) -> dict:
    """y ~ k * x by least squares through the origin; the residuals' mean absolute value and 90% quantile."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 3 or float(x @ x) == 0.0:
        return {"n": int(len(x)), "k": None}
    k = float(x @ y / (x @ x))
    res = np.abs(y - k * x)
    return {"n": int(len(x)), "k": k, "mean_abs_residual": float(res.mean()), "q90_abs_residual":
            float(np.quantile(res, 0.9)), "within_1_5": float((res <= 1.5 + 1e-9).mean())}


def derive_harm(harm: dict, figures: list[str]) -> tuple[dict, list[str]]:
    """The accuracy-loss defaults from the harm benchmark's results.json (run_harm_benchmark.py score)."""
    chosen: dict[str, float] = {}
    # derived on the corpora the loss calibration is fitted on; the others stay a held-out test of both
    rows = [r for name, c in harm["corpora"].items() if name in FIT_CORPORA for r in c["rows"]]
    held_out = {name: c["rows"] for name, c in harm["corpora"].items() if name not in FIT_CORPORA and c["rows"]}
    table = [t for c in harm["corpora"].values() for t in c["table"]]
    limit = harm["limit_points"]
    md = ["## gate.max_accuracy_loss (harm benchmark)", "",
          f"From `results.json` ({harm['date']}, code fingerprint {harm['fingerprint']}): {len(rows)} checks (set x "
          f"audit) with a fine-tuned loss on {', '.join(FIT_CORPORA)} (the corpora the loss calibration is fitted "
          f"on; {', '.join(held_out) or 'no other corpus'} held out); risky = loss >= {limit:g} points, grey within "
          f"{harm['grey_points']:g}.", ""]
    key, pkey = "eal_upper", "eal"  # the bounds as the checks computed them (the params' calibration), and the point
    scored = [r for r in rows if not r["grey"] and r.get(key) is not None]
    if not scored:
        md += ["No verdict reports `expected_accuracy_loss_upper` yet: max_accuracy_loss is not derived "
               "(re-run `run_harm_benchmark.py check` and `score` with the estimator).", ""]
    else:
        sweep = []
        for t in np.round(np.arange(0.01, 0.1201, 0.005), 3):
            right = [(r[key] > 100 * t) == r["risky"] for r in scored]
            band = [(r[key] > 100 * t) == r["risky"] for r in scored if r["band"]]
            point = [(r[pkey] > 100 * t) == r["risky"] for r in scored if r.get(pkey) is not None]
            sweep.append({"t": float(t), "right": _share(right), "right_band": _share(band), "point": _share(point)})
        def worst(s: dict) -> float:  # the worse of the two shares the targets name
            return min(s["right"], s["right_band"] if s["right_band"] is not None else 1.0)

        best = max(worst(s) for s in sweep)
        # limits within LIMIT_TIE of the best are ties the benchmark cannot tell apart (a point is ~5 checks); a gate
        # takes the lowest of them, the one that passes the fewest risky sets
        pick = min((s for s in sweep if worst(s) >= best - LIMIT_TIE - 1e-12), key=lambda s: s["t"])
        chosen["max_accuracy_loss"] = pick["t"]
        as_run = [r for r in rows if not r["grey"] and r.get("eal_upper") is not None]
        md += [f"Swept on the upper bounds as the checks computed them, with the params' calibration "
               f"{harm.get('calibration')} ({len(scored)} non-grey checks; derive_loss_calibration.py fits that "
               "calibration). The loss rule at "
               f"{harm['gate'].get('max_accuracy_loss')} was right on "
               f"{_pct(_share([r['loss_rule'] == r['risky'] for r in as_run if r.get('loss_rule') is not None]))}.",
               "", "| max_accuracy_loss | right (non-grey) | right (non-grey 5-15%) | right if checked on the point "
               "estimate |", "|--:|--:|--:|--:|"]
        md += [f"| {s['t']:.3f}{' **(picked)**' if s is pick else ''} | {_pct(s['right'])} | "
               f"{_pct(s['right_band'])} | {_pct(s['point'])} |" for s in sweep]
        md += ["", f"Picked {pick['t']:.3f}: the lowest limit whose worse share of the two (all, 5-15% band) is within "
               f"{LIMIT_TIE:.0%} of the best ({_pct(best)}); a gate takes the lowest of limits the benchmark cannot "
               "tell apart, the one that passes the fewest risky sets.", ""]
        for name, other in held_out.items():
            test = [r for r in other if not r["grey"] and r.get(key) is not None]
            md += [f"On the held-out corpus {name} ({len(test)} non-grey checks), the loss rule at {pick['t']:.3f} is "
                   f"right on {_pct(_share([(r[key] > 100 * pick['t']) == r['risky'] for r in test]))}, on "
                   f"{_pct(_share([(r[key] > 100 * pick['t']) == r['risky'] for r in test if r['band']]))} of its "
                   "5-15% checks.", ""]
        # what the error-rate rule adds as a second guard
        both = [r for r in scored if r.get("error_rule") is not None]
        loss_only = _share([(r[key] > 100 * pick["t"]) == r["risky"] for r in both])
        with_err = _share([((r[key] > 100 * pick["t"]) or r["error_rule"]) == r["risky"] for r in both])
        err_only = _share([r["error_rule"] == r["risky"] for r in both])
        md += ["## gate.max_label_error next to it", "",
               f"On {len(both)} non-grey checks: loss rule alone right on {_pct(loss_only)}, loss rule OR error rule "
               f"(label_error_rate_upper > {harm.get('baseline_max_label_error', 0.13)}) on {_pct(with_err)}, "
               "error rule alone on "
               f"{_pct(err_only)}.", ""]
        guard, guard_md = derive_guard(rows, 100 * pick["t"])
        chosen.update(guard)
        md += guard_md
    md += ["## Calibration of cheap loss figures against the fine-tuned loss", "",
           "fine-tuned loss (points) ~ k x figure (points), least squares through the origin; q90 = the 90% quantile "
           "of |residual|, the half-width an interval around k x figure needs to cover 90% of the sets.", "",
           "| figure | corpus | n | k | mean abs. residual | q90 abs. residual | within 1.5 pts |",
           "|---|---|--:|--:|--:|--:|--:|"]
    calib: dict = {}
    for fig in ["probe_loss", "tfidf_loss"] + figures:
        for corpus in list(harm["corpora"]) + ["pooled"]:
            if fig in ("probe_loss", "tfidf_loss"):
                src = [t for t in table if corpus in ("pooled", t["corpus"])]
                pairs = [(t[fig], t["loss"]) for t in src if t.get(fig) is not None and t.get("loss") is not None]
            else:  # a verdict figure: mean over the audits of each set
                by: dict = {}
                for r in rows:
                    if corpus in ("pooled", r["corpus"]) and r.get("figures", {}).get(fig) is not None:
                        by.setdefault((r["corpus"], r["set"]), []).append((100 * r["figures"][fig], r["loss"]))
                pairs = [(float(np.mean([a for a, _ in v])), v[0][1]) for v in by.values()]
            if not pairs:
                continue
            f = fit_scale(np.array([a for a, _ in pairs]), np.array([b for _, b in pairs]))
            calib[f"{fig}/{corpus}"] = f
            if f["k"] is not None:
                md.append(f"| {fig} | {corpus} | {f['n']} | {f['k']:.2f} | {f['mean_abs_residual']:.2f} | "
                          f"{f['q90_abs_residual']:.2f} | {_pct(f['within_1_5'])} |")
    md.append("")
    return {**chosen, "_calibration": calib}, md


LIMIT_TIE = 0.01  # gate.max_accuracy_loss: shares within this of the best are a tie (the lowest limit is taken)
GUARD_SWEEP = (0.13, 0.2, 0.25, 0.3, 0.35, 0.4, None)
GUARDED = ("accuracy_loss_upper", "label_error_rate_upper", "audit_accuracy_lower")


def failsafe(guard: float) -> float:
    """gate.min_audit_accuracy_lower in line with the second guard: 1 - max_label_error."""
    return round(1 - guard, 2)


def guarded_verdict(row: dict, limit_points: float, guard: float | None) -> bool:
    """Whether the whole verdict of a check blocks with the loss limit and a second guard `guard` on
    label_error_rate_upper and its fail-safe 1 - guard on audit_accuracy_lower, everything else as the check ran."""
    f = row.get("figures") or {}
    blocked = f.get("accuracy_loss_upper") is not None and 100 * f["accuracy_loss_upper"] > limit_points
    if guard is not None:
        blocked |= (f.get("label_error_rate_upper") or 0.0) > guard
        blocked |= f.get("audit_accuracy_lower") is not None and f["audit_accuracy_lower"] < failsafe(guard)
    return blocked or any(b not in GUARDED for b in (row.get("blocked_by") or []))


def derive_guard(rows: list[dict], limit_points: float) -> tuple[dict, list[str]]:
    """gate.max_label_error (the second guard) and min_audit_accuracy_lower (its fail-safe, 1 - guard): the guard
    sits at the largest error rate the benchmark measures, beyond which the loss estimate extrapolates; the sweep shows
    what each value does to the verdicts."""
    measured = [r["rate"] for r in rows if r["kind"] not in ("gold", "llm_raw") and r.get("rate") is not None]
    guard = round(max(measured), 2)
    scored = [r for r in rows if not r["grey"] and r["kind"] != "gold"]
    md = ["## gate.max_label_error and gate.min_audit_accuracy_lower (the second guard)", "",
          f"The loss estimate is calibrated on sets with at most 20% wrong labels and the benchmark measures it up to "
          f"{guard:.0%}; beyond, it extrapolates. So the second guard blocks a set whose error rate's upper bound "
          f"exceeds {guard:g}, the largest rate measured, and the audit fail-safe (the plain Wilson lower bound of the "
          f"audited accuracy) sits in line at {failsafe(guard):g}. What other values would do to the whole "
          f"verdict (the loss limit {limit_points / 100:g}, the other expectations as the checks ran; "
          f"{len(scored)} non-grey checks):", "",
          "| max_label_error (min_audit_accuracy_lower = 1 - it) | verdict right | right 5-15% | blocked safe | "
          "passed risky |", "|--:|--:|--:|--:|--:|"]
    for g in GUARD_SWEEP:
        blocked = [guarded_verdict(r, limit_points, g) for r in scored]
        right = [b == r["risky"] for b, r in zip(blocked, scored)]
        band = [ok for ok, r in zip(right, scored) if r["band"]]
        name = "none" if g is None else f"{g:g}"
        md.append(f"| {name}{' **(picked)**' if g == guard else ''} | {_pct(_share(right))} | {_pct(_share(band))} | "
                  f"{sum(b and not r['risky'] for b, r in zip(blocked, scored))} | "
                  f"{sum(r['risky'] and not b for b, r in zip(blocked, scored))} |")
    return {"max_label_error": guard, "min_audit_accuracy_lower": failsafe(guard)}, md + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=HERE / "results_label_error.json")
    parser.add_argument("--harm", type=Path, default=HERE / "results.json",
                        help="the harm benchmark's results (run_harm_benchmark.py score); skipped when absent")
    parser.add_argument("--figures", nargs="*", default=[],
                        help="verdict figures to calibrate against the fine-tuned loss (fractions of accuracy)")
    parser.add_argument("--out", type=Path, default=HERE / "derived_defaults.md")
    args = parser.parse_args()
    data = json.loads(args.results.read_text())
    chosen, md = derive(data["rows"], data["audit_size"])
    if args.harm.exists():
        harm_chosen, harm_md = derive_harm(json.loads(args.harm.read_text()), args.figures)
        calibration = harm_chosen.pop("_calibration")
        chosen.update(harm_chosen)
        md += harm_md
        (args.out.with_name("derived_calibration.json")).write_text(json.dumps(calibration, indent=1) + "\n")
    head = ["# Gate defaults derived from the calibration benchmark", "",
            f"Command: `python bench/calibration/derive_defaults.py`, from `{args.results.name}` "
            f"({data['date']} UTC, {len(data['rows'])} sets, labelgate at {data['git']}, status {data['status']}).",
            "", "Derived values: " + ", ".join(f"`{k}: {v:g}`" for k, v in chosen.items()) + ".", ""]
    args.out.write_text("\n".join(head + md) + "\n")
    print(json.dumps(chosen))


if __name__ == "__main__":
    main()
