"""Fit the expected accuracy loss's calibration (params.yaml score: loss_rate_scale, loss_concentration_scale,
loss_learned_scale, loss_learned_power, loss_calibration_sd, loss_calibration_sd_slope) on the fine-tuned truth, by
least squares and maximum likelihood, never by hand.

Usage (repository root; PYTHONPATH=src HF_HUB_OFFLINE=1):
  python bench/calibration/derive_loss_calibration.py features [--corpora tweets fortunes wordnet]  # cached
  python bench/calibration/derive_loss_calibration.py fit [--corpora tweets fortunes wordnet]  # -> loss_calibration.md

features: for every label set with a fine-tuned truth of at least 4 seeds (finetune_truth.py, truth/<corpus>.jsonl),
the accuracy_loss signal's three inputs as `labelgate score` computes them, on simple random gold audits of 150 and
300 rows, two audit draws each: the audit estimate of the label error rate, the share of audited errors the
out-of-fold text model reproduces beyond chance, and the audited errors' concentration
(harm/loss_features_<corpus>.jsonl, one line per set and audit).

fit: on the sets of the fit draws (--fit-draws, default 0) with at most MAX_FIT_ERROR wrong labels (more are blocked
by the second guard gate.max_label_error whatever the loss), the model of signals/accuracy_loss.py, through its own
`loss_terms` (imported, not re-implemented): loss = rate_scale * r / (K - 1) + concentration_scale * c +
learned_scale * (r * excess) ** learned_power, with the set's true error rate r and its learned excess and
concentration averaged over the audits (so the audit's own sampling noise, which the estimate's interval carries
already, does not inflate the calibration). The scales are non-negative least squares; learned_power (POWERS) is the
one with the lowest leave-one-set-out RMSE on the audits' own estimates (a higher power only when better by more
than POWER_TIE_POINTS). The calibration's spread, sd(estimate) = hypot(loss_calibration_sd,
loss_calibration_sd_slope * estimate), is fitted by maximum likelihood (normal residuals) on the leave-one-set-out
residuals of the set-level fit: the spread of a measured fine-tuned loss around the calibration on a set the fit has
not seen (the truth's own seed noise included, since the benchmark scores the interval against a measured loss),
which grows with the loss. The sets of the other draws are the held-out test: predicted from
their audits by the fit on the fit draws only, reported per corpus and per noise kind for every power.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from finetune_truth import read_records, summarise  # noqa: E402
from labelsets import load_corpus, make_labels, set_frame  # noqa: E402

from labelgate.signals.accuracy_loss import loss_terms  # noqa: E402  (the signal's formula, not a copy)

AUDITS = (150, 300)
MAX_FIT_ERROR = 0.2  # sets with more wrong labels than gate.max_label_error are blocked by it; the fit serves the rest
AUDIT_DRAWS = (0, 1)
MIN_SEEDS = 4
FEATURES = HERE / "harm"
FIT_DRAWS = (0,)  # the noise draws the calibration is fitted on; the others are its held-out test
# the corpora it is fitted on and the gate limit is derived on (derive_defaults.py); any other corpus is held out
# whole (run_harm_benchmark.py score). All three: fitted on tweets and fortunes only, the calibration under-predicted
# WordNet's 20-30% sets; `fit` reports each corpus left out (loss_calibration.md, "Leave one corpus out").
FIT_CORPORA = ("tweets", "fortunes", "wordnet")
POWERS = (1.0, 2.0, 3.0)  # candidate powers of the learned error rate, picked by leave-one-set-out error
POWER_TIE_POINTS = 0.02  # a higher power must beat a lower one by more than this (RMSE, points) to be picked
WITHIN_POINTS = 1.5  # the benchmark's target: the estimate within 1.5 points of the fine-tuned loss


def truth_sets(corpus: str) -> list[dict]:
    return [r for r in summarise(read_records(corpus))
            if r["set"] != "gold" and "drop" in r and len(r.get("paired_seeds", [])) >= MIN_SEEDS]


def features(corpora: list[str]) -> None:
    from labelgate.contract import LabelTable
    from labelgate.signals.context import ScoringContext
    from labelgate.signals.runner import ScoreParams

    params = ScoreParams.from_section({})
    FEATURES.mkdir(exist_ok=True)
    for name in corpora:
        out = FEATURES / f"loss_features_{name}.jsonl"
        done = {(r["set"], r["audit"], r["audit_draw"]) for r in _read(out)}
        corpus = load_corpus(name)
        labels = tuple(corpus.labels)
        for t in truth_sets(name):
            shared: dict = {}  # the out-of-fold probabilities depend on the LLM labels only: one fit per set
            for audit in AUDITS:
                for draw in AUDIT_DRAWS:
                    if (t["set"], audit, draw) in done:
                        continue
                    codes = make_labels(corpus, t["kind"], t["rate"], t["draw"])[0]
                    frame = set_frame(corpus, codes).rename(columns={"label": "llm_label"})
                    rows = np.random.default_rng(1000 + draw).choice(len(frame), size=audit, replace=False)
                    gold = np.full(len(frame), None, dtype=object)
                    gold[rows] = np.asarray(labels, dtype=object)[corpus.truth][rows]
                    frame["gold_label"] = gold
                    context = ScoringContext(LabelTable(frame=frame, labels=labels, path=t["set"]), text=params.text,
                                             seed=params.seed, **params.audit_settings())
                    if "pred_probs" in shared:  # a cached_property: what the context would compute, set once
                        context.__dict__["pred_probs"] = shared["pred_probs"]
                    summary = params.signal("accuracy_loss").score(context).summary
                    shared["pred_probs"] = context.pred_probs
                    record = {"corpus": name, "set": t["set"], "kind": t["kind"], "rate": t["rate"],
                              "draw": t["draw"],
                              "true_error": t["true_error"], "drop": t["drop"], "drop_std": t.get("drop_std"),
                              "seeds": len(t["paired_seeds"]), "audit": audit, "audit_draw": draw,
                              "label_error_rate": summary.get("label_error_rate"),
                              **{k: summary.get(k) for k in (
                                  "errors_learned_share", "errors_learned_chance", "errors_learned_excess",
                                  "error_concentration", "audited_errors", "expected_accuracy_loss",
                                  "expected_accuracy_loss_lower", "expected_accuracy_loss_upper")}}
                    with out.open("a") as handle:
                        handle.write(json.dumps(record) + "\n")
                    print(f"{name} {t['set']} audit {audit} draw {draw}: excess {record['errors_learned_excess']}",
                          flush=True)


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _draw(record: dict) -> int:
    match = re.search(r"_d(\d+)$", record["set"])
    return int(record.get("draw", match.group(1) if match else 0))


def _design(sets: list[dict], power: float) -> np.ndarray:
    """The signal's own three terms (accuracy_loss.loss_terms) per set, at its true error rate and mean excess and
    concentration."""
    return np.array([loss_terms(s["true_error"], s["excess"], s["concentration"], n_classes=s["classes"],
                                power=power) for s in sets])


def _predict(coef: np.ndarray, record: dict, classes: int, power: float) -> float:
    """What the signal reports for one audit: its estimated rate, excess and concentration (no audited error: excess
    0.5, concentration 0)."""
    excess = record["errors_learned_excess"]
    terms = loss_terms(record["label_error_rate"], 0.5 if excess is None else excess,
                       record.get("error_concentration") or 0.0, n_classes=classes, power=power)
    return float(np.dot(coef, terms))


def _spread(residuals: np.ndarray, predicted: np.ndarray) -> tuple[float, float]:
    """(sd at zero, slope): the maximum-likelihood fit of normal residuals with sd = hypot(a, b * predicted)."""
    from scipy.optimize import minimize

    level = np.maximum(np.asarray(predicted, float), 0.0)

    def neg_log_likelihood(p: np.ndarray) -> float:
        sd = np.hypot(p[0], p[1] * level) + 1e-9
        return float(np.sum(np.log(sd) + residuals ** 2 / (2 * sd ** 2)))

    start = np.array([float(np.sqrt(np.mean(residuals ** 2))), 0.1])
    a, b = np.abs(minimize(neg_log_likelihood, start, method="Nelder-Mead").x)
    return float(a), float(b)


def _audit_errors(sets: list[dict], coefs: list[np.ndarray], power: float) -> list[float]:
    """Per audit record of each set: predicted minus fine-tuned loss (accuracy units), set i predicted by coefs[i]."""
    return [_predict(c, r, s["classes"], power) - s["drop"] for s, c in zip(sets, coefs) for r in s["records"]
            if r["label_error_rate"] is not None]


def _summary(errors: list[float]) -> dict:
    e = 100 * np.abs(np.asarray(errors, float))
    return {"n": int(len(e)), "rmse_points": float(np.sqrt(np.mean(e ** 2))) if len(e) else None,
            "within_1_5": float(np.mean(e <= WITHIN_POINTS + 1e-9)) if len(e) else None}


def fit(corpora: list[str], fit_draws: tuple[int, ...] = FIT_DRAWS) -> dict:
    by: dict = defaultdict(list)
    truth: dict = {}  # the measured loss as the truth records say now (more seeds may have come since the features)
    for name in corpora:
        for r in _read(FEATURES / f"loss_features_{name}.jsonl"):
            by[(name, r["set"])].append(r)
        truth.update({(name, t["set"]): t for t in truth_sets(name)})
    sets, held_out = [], []
    classes = {name: len(load_corpus(name).labels) for name in corpora}
    for (name, label_set), records in sorted(by.items()):
        if records[0]["true_error"] > MAX_FIT_ERROR + 1e-9 or (name, label_set) not in truth:
            continue
        measured = truth[(name, label_set)]
        excess = [r["errors_learned_excess"] for r in records if r["errors_learned_excess"] is not None]
        piled = [r.get("error_concentration") or 0.0 for r in records]
        first = records[0]
        entry = {"corpus": name, "set": label_set, "kind": first["kind"], "draw": _draw(first),
                 "true_error": first["true_error"], "classes": classes[name],
                 "excess": float(np.mean(excess)) if excess else 0.5, "concentration": float(np.mean(piled)),
                 "drop": measured["drop"] / 100, "drop_std": measured["drop_std"],
                 "truth_var": ((measured["drop_std"] or 0.0) / 100) ** 2 / len(measured["paired_seeds"]),
                 "records": records}
        (sets if entry["draw"] in fit_draws else held_out).append(entry)
    if len(sets) < 3:
        raise SystemExit(f"{len(sets)} label sets with features and a {MIN_SEEDS}-seed truth: too few to fit")
    target = np.array([s["drop"] for s in sets])
    forms = {}
    for power in POWERS:  # leave one set out: fit on the others (true rate, mean excess), predict its audits
        design = _design(sets, power)
        loo = [_nnls(design[np.arange(len(sets)) != i], target[np.arange(len(sets)) != i]) for i in range(len(sets))]
        forms[power] = _summary(_audit_errors(sets, loo, power))
    best = min(forms[p]["rmse_points"] for p in POWERS)
    power = min(p for p in POWERS if forms[p]["rmse_points"] <= best + POWER_TIE_POINTS)
    design = _design(sets, power)
    coef = _nnls(design, target)
    residual = target - design @ coef
    loo, loo_predicted = [], []
    for i in range(len(sets)):
        keep = np.arange(len(sets)) != i
        loo_predicted.append(float(design[i] @ _nnls(design[keep], target[keep])))
        loo.append(float(target[i] - loo_predicted[-1]))
    sd, slope = _spread(np.array(loo), np.array(loo_predicted))
    for s, r in zip(sets, residual):
        s["residual_points"] = round(100 * float(r), 2)
    held = {}  # the other draws, predicted by each form's fit on fit_draws only, per corpus and per kind
    groups = ["all"] + sorted({s["corpus"] for s in held_out}) + sorted({s["kind"] for s in held_out})
    for p in POWERS:
        c = coef if p == power else _nnls(_design(sets, p), target)
        held[str(p)] = {key: {**_summary(_audit_errors(group, [c] * len(group), p)), "sets": len(group)}
                        for key in groups
                        for group in [[s for s in held_out if key in ("all", s["corpus"], s["kind"])]]}
    for s in held_out:
        s["predicted_points"] = round(100 * float(np.mean([_predict(coef, r, s["classes"], power) for r in s["records"]
                                                           if r["label_error_rate"] is not None])), 2)
    out_sets = [{k: v for k, v in s.items() if k != "records"} for s in sets]
    out_held = [{k: v for k, v in s.items() if k != "records"} for s in held_out]
    return {"rate_scale": round(float(coef[0]), 3), "concentration_scale": round(float(coef[1]), 3),
            "learned_scale": round(float(coef[2]), 3), "learned_power": power, "calibration_sd": round(sd, 4),
            "calibration_sd_slope": round(slope, 3),
            "rmse_points": float(100 * np.sqrt(np.mean(residual ** 2))),
            "loo_rmse_points": float(100 * np.sqrt(np.mean(np.square(loo)))),
            "truth_noise_points": float(100 * np.sqrt(np.mean([s["truth_var"] for s in sets]))),
            "forms": {str(p): forms[p] for p in POWERS}, "fit_draws": list(fit_draws), "held_out": held,
            "leave_one_corpus_out": {str(p): leave_one_corpus_out(sets, held_out, p) for p in POWERS},
            "sets": out_sets, "held_out_sets": out_held, "corpora": corpora}


def leave_one_corpus_out(sets: list[dict], held_out: list[dict], power: float) -> dict:
    """Per corpus: the scales fitted on the other corpora's fit-draw sets only, every audit of every set of this
    corpus predicted (all draws): how the calibration does on a corpus it has never seen."""
    out = {}
    for name in sorted({s["corpus"] for s in sets}):
        train = [s for s in sets if s["corpus"] != name]
        test = [s for s in sets + held_out if s["corpus"] == name]
        if len(train) < 3:
            continue
        coef = _nnls(_design(train, power), np.array([s["drop"] for s in train]))
        out[name] = {**_summary(_audit_errors(test, [coef] * len(test), power)), "sets": len(test)}
    return out


def _nnls(design: np.ndarray, target: np.ndarray) -> np.ndarray:
    from scipy.optimize import nnls

    return nnls(design, target)[0]


def write(result: dict, path: Path) -> None:
    power = result["learned_power"]
    lines = [
        "# Expected accuracy loss: calibration fitted on fine-tuned runs", "",
        f"Command: `python bench/calibration/derive_loss_calibration.py fit --corpora {' '.join(result['corpora'])}` "
        f"(after `features`)  ",
        f"Date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; machine: {platform.machine()}, "
        "the 2-core dev box  ",
        f"Fitted on: {len(result['sets'])} label sets of noise draw(s) {result['fit_draws']} with a fine-tuned truth "
        f"of >= {MIN_SEEDS} seeds and at most {MAX_FIT_ERROR:.0%} wrong labels; features on random audits of "
        f"{' and '.join(map(str, AUDITS))} rows, {len(AUDIT_DRAWS)} draws each. Held out: "
        f"{len(result['held_out_sets'])} sets of the other draws (never seen by the fit).", "",
        "Model (signals/accuracy_loss.py, `loss_terms`): loss = rate_scale x r / (K - 1) + concentration_scale x c + "
        "learned_scale x (r x excess) ^ learned_power, r = the label error rate, c = the audited errors' "
        "concentration, excess = the learned excess; its spread sd = hypot(calibration_sd, calibration_sd_slope x "
        "loss).", "",
        "| params.yaml `score:` key | fitted |", "|---|--:|",
        f"| loss_rate_scale | {result['rate_scale']} |",
        f"| loss_concentration_scale | {result['concentration_scale']} |",
        f"| loss_learned_scale | {result['learned_scale']} |",
        f"| loss_learned_power | {power:g} |", f"| loss_calibration_sd | {result['calibration_sd']} |",
        f"| loss_calibration_sd_slope | {result['calibration_sd_slope']} |", "",
        f"Residual RMSE {result['rmse_points']:.2f} points (leave one set out: {result['loo_rmse_points']:.2f}); "
        f"the truth's own seed noise (sd of the mean over its seeds, >= {MIN_SEEDS}) "
        f"{result['truth_noise_points']:.2f} points. "
        "loss_calibration_sd and its slope: the maximum-likelihood fit of the leave-one-set-out residuals, the spread "
        "of a measured loss around the calibration on a set the fit has not seen, seed noise included, because a "
        "measured loss carries it.", "",
        "## The power of the learned error rate", "",
        "Leave one set out on the fit's sets: fit the scales on the other sets, predict each audit of the left-out set "
        "from its estimated rate and excess (what `check` reports). Picked: the lowest RMSE, a higher power only when "
        f"it is more than {POWER_TIE_POINTS} points better.", "",
        "| learned_power | audits | RMSE (pts) | within 1.5 pts | held out: RMSE | held out: within 1.5 pts |",
        "|--:|--:|--:|--:|--:|--:|"]
    for p, f in result["forms"].items():
        h = result["held_out"].get(p, {}).get("all", {})
        lines.append(f"| {float(p):g}{' **(picked)**' if float(p) == power else ''} | {f['n']} | "
                     f"{f['rmse_points']:.2f} | {f['within_1_5']:.0%} | {_fmt(h.get('rmse_points'), '.2f')} | "
                     f"{_fmt(h.get('within_1_5'), '.0%')} |")
    lines += ["", f"## Held out: the other draws, predicted by the fit on draw(s) {result['fit_draws']}", "",
              "Per audit record (2 audit sizes x 2 audit draws per set); estimated rate and excess as `check` reports "
              "them. Power 1 = the learned error rate linearly, refitted on the same sets.", "",
              "| group | sets | audits | RMSE, picked (pts) | within 1.5 pts, picked | within 1.5 pts, power 1 |",
              "|---|--:|--:|--:|--:|--:|"]
    picked = result["held_out"].get(f"{float(power)}", {})
    linear = result["held_out"].get("1.0", {})
    for key, h in picked.items():
        lines.append(f"| {key} | {h['sets']} | {h['n']} | {_fmt(h['rmse_points'], '.2f')} | "
                     f"{_fmt(h['within_1_5'], '.0%')} | {_fmt(linear.get(key, {}).get('within_1_5'), '.0%')} |")
    loco = result.get("leave_one_corpus_out") or {}
    if any(loco.values()):
        lines += ["", "## Leave one corpus out", "",
                  "The scales fitted on the other corpora's fit-draw sets only; every audit of every set of the "
                  "left-out "
                  "corpus (all draws) predicted: how the calibration does on a corpus it has never seen.", "",
                  "| corpus left out | sets | audits | " + " | ".join(
                      f"power {float(p):g}: RMSE (pts), within 1.5" for p in loco) + " |",
                  "|---|--:|--:|" + "--:|" * len(loco)]
        for name in next(v for v in loco.values() if v):
            first = next(v[name] for v in loco.values() if name in v)
            lines.append(f"| {name} | {first['sets']} | {first['n']} | " + " | ".join(
                f"{_fmt(v.get(name, {}).get('rmse_points'), '.2f')}, {_fmt(v.get(name, {}).get('within_1_5'), '.0%')}"
                for v in loco.values()) + " |")
    lines += ["", "## Fit sets", "",
              "| corpus | set | true error | learned excess (mean of audits) | concentration (mean) | "
              "fine-tuned loss (pts) | residual (pts) |", "|---|---|--:|--:|--:|--:|--:|"]
    lines += [f"| {s['corpus']} | {s['set']} | {s['true_error']:.3f} | {s['excess']:.2f} | {s['concentration']:.3f} | "
              f"{100 * s['drop']:.2f} | {s['residual_points']:+.2f} |" for s in result["sets"]]
    if result["held_out_sets"]:
        lines += ["", "## Held-out sets", "",
                  "| corpus | set | true error | learned excess (mean of audits) | concentration (mean) | "
                  "fine-tuned loss (pts) | predicted, mean of audits (pts) |", "|---|---|--:|--:|--:|--:|--:|"]
        lines += [f"| {s['corpus']} | {s['set']} | {s['true_error']:.3f} | {s['excess']:.2f} | "
                  f"{s['concentration']:.3f} | "
                  f"{100 * s['drop']:.2f} ± {_fmt(s['drop_std'], '.2f')} | {s['predicted_points']:.2f} |"
                  for s in result["held_out_sets"]]
    path.write_text("\n".join(lines) + "\n")


def _fmt(x, spec: str) -> str:
    return "—" if x is None else format(x, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("features", "fit"))
    parser.add_argument("--corpora", nargs="+", default=list(FIT_CORPORA))
    parser.add_argument("--out", type=Path, default=HERE / "loss_calibration.md")
    parser.add_argument("--fit-draws", nargs="+", type=int, default=list(FIT_DRAWS),
                        help="fit on these noise draws; the other draws are the held-out test")
    args = parser.parse_args()
    if args.command == "features":
        features(args.corpora)
        return
    available = [c for c in args.corpora if (FEATURES / f"loss_features_{c}.jsonl").exists()]
    result = fit(available, tuple(args.fit_draws))
    write(result, args.out)
    (args.out.with_suffix(".json")).write_text(json.dumps(result, indent=1) + "\n")
    print(f"rate_scale {result['rate_scale']}, concentration_scale {result['concentration_scale']}, learned_scale "
          f"{result['learned_scale']}, learned_power {result['learned_power']:g}, calibration_sd "
          f"{result['calibration_sd']}, slope {result['calibration_sd_slope']} ({len(result['sets'])} sets; "
          f"{len(result['held_out_sets'])} held out) -> {args.out}")


if __name__ == "__main__":
    main()
