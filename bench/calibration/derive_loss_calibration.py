"""Fit the expected accuracy loss's calibration (params.yaml score: loss_rate_scale, loss_learned_scale,
loss_calibration_sd) on the fine-tuned truth, by least squares, never by hand.

Usage (repository root; PYTHONPATH=src HF_HUB_OFFLINE=1):
  python bench/calibration/derive_loss_calibration.py features [--corpora tweets fortunes]  # cached, resumable
  python bench/calibration/derive_loss_calibration.py fit [--corpora tweets fortunes]       # -> loss_calibration.md

features: for every label set with a fine-tuned truth of at least 4 seeds (finetune_truth.py, truth/<corpus>.jsonl),
the accuracy_loss signal's two inputs as `labelgate score` computes them, on simple random gold audits of 150 and 300
rows, two audit draws each: the audit estimate of the label error rate and the share of audited errors the
out-of-fold text model reproduces beyond chance (harm/loss_features_<corpus>.jsonl, one line per set and audit).

fit: on the sets with at most MAX_FIT_ERROR wrong labels (more are blocked by the second guard
gate.max_label_error whatever the loss), the model of signals/accuracy_loss.py (K: the corpus's classes), loss = error_rate * (rate_scale + learned_scale * learned_excess) / (K - 1), with
the set's true error rate and its learned excess averaged over the audits (so the audit's own sampling noise, which the
estimate's interval carries already, does not inflate the calibration). rate_scale and learned_scale are
non-negative least squares. loss_calibration_sd is the residual spread that the fine-tuned truth's own seed noise does
not explain: sqrt(max(0, mean squared residual - mean variance of the truth's seed mean)). Leave-one-set-out error is
reported beside it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from finetune_truth import read_records, summarise  # noqa: E402
from labelsets import load_corpus, make_labels, set_frame  # noqa: E402

AUDITS = (150, 300)
MAX_FIT_ERROR = 0.2  # sets with more wrong labels than gate.max_label_error are blocked by it; the fit serves the rest
AUDIT_DRAWS = (0, 1)
MIN_SEEDS = 4
FEATURES = HERE / "harm"


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
                    summary = params.signal("accuracy_loss").score(context).summary
                    record = {"corpus": name, "set": t["set"], "kind": t["kind"], "rate": t["rate"],
                              "true_error": t["true_error"], "drop": t["drop"], "drop_std": t.get("drop_std"),
                              "seeds": len(t["paired_seeds"]), "audit": audit, "audit_draw": draw,
                              "label_error_rate": summary.get("label_error_rate"),
                              **{k: summary.get(k) for k in (
                                  "errors_learned_share", "errors_learned_chance", "errors_learned_excess",
                                  "audited_errors", "expected_accuracy_loss", "expected_accuracy_loss_lower",
                                  "expected_accuracy_loss_upper")}}
                    with out.open("a") as handle:
                        handle.write(json.dumps(record) + "\n")
                    print(f"{name} {t['set']} audit {audit} draw {draw}: excess {record['errors_learned_excess']}",
                          flush=True)


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def fit(corpora: list[str]) -> dict:
    by: dict = defaultdict(list)
    for name in corpora:
        for r in _read(FEATURES / f"loss_features_{name}.jsonl"):
            by[(name, r["set"])].append(r)
    sets = []
    classes = {name: len(load_corpus(name).labels) for name in corpora}
    for (name, label_set), records in sorted(by.items()):
        if records[0]["true_error"] > MAX_FIT_ERROR + 1e-9:
            continue
        excess = [r["errors_learned_excess"] for r in records if r["errors_learned_excess"] is not None]
        first = records[0]
        sets.append({"corpus": name, "set": label_set, "kind": first["kind"], "true_error": first["true_error"],
                     "spread": max(1, classes[name] - 1),
                     "excess": float(np.mean(excess)) if excess else 0.5, "drop": first["drop"] / 100,
                     "truth_var": ((first["drop_std"] or 0.0) / 100) ** 2 / first["seeds"]})
    if len(sets) < 3:
        raise SystemExit(f"{len(sets)} label sets with features and a {MIN_SEEDS}-seed truth: too few to fit")
    design = np.array([[s["true_error"], s["true_error"] * s["excess"]] for s in sets]) / np.array(
        [[s["spread"]] for s in sets])
    target = np.array([s["drop"] for s in sets])
    coef = _nnls(design, target)
    residual = target - design @ coef
    model_var = max(0.0, float(np.mean(residual ** 2) - np.mean([s["truth_var"] for s in sets])))
    loo = []
    for i in range(len(sets)):
        keep = np.arange(len(sets)) != i
        loo.append(float(target[i] - design[i] @ _nnls(design[keep], target[keep])))
    for s, r in zip(sets, residual):
        s["residual_points"] = round(100 * float(r), 2)
    return {"rate_scale": round(float(coef[0]), 3), "learned_scale": round(float(coef[1]), 3),
            "calibration_sd": round(float(np.sqrt(model_var)), 4), "rmse_points": float(100 * np.sqrt(np.mean(
                residual ** 2))), "loo_rmse_points": float(100 * np.sqrt(np.mean(np.square(loo)))),
            "truth_noise_points": float(100 * np.sqrt(np.mean([s["truth_var"] for s in sets]))), "sets": sets,
            "corpora": corpora}


def _nnls(design: np.ndarray, target: np.ndarray) -> np.ndarray:
    from scipy.optimize import nnls

    return nnls(design, target)[0]


def write(result: dict, path: Path) -> None:
    lines = [
        "# Expected accuracy loss: calibration fitted on fine-tuned runs", "",
        f"Command: `python bench/calibration/derive_loss_calibration.py fit --corpora {' '.join(result['corpora'])}`  ",
        f"Date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; machine: {platform.machine()}, "
        "the 2-core dev box  ",
        f"Label sets: {len(result['sets'])} with a fine-tuned truth of >= {MIN_SEEDS} seeds and at most "
        f"{MAX_FIT_ERROR:.0%} wrong labels; features on random "
        f"audits of {' and '.join(map(str, AUDITS))} rows, {len(AUDIT_DRAWS)} draws each.", "",
        "| params.yaml `score:` key | fitted |", "|---|--:|",
        f"| loss_rate_scale | {result['rate_scale']} |", f"| loss_learned_scale | {result['learned_scale']} |",
        f"| loss_calibration_sd | {result['calibration_sd']} |", "",
        f"Residual RMSE {result['rmse_points']:.2f} points (leave one set out: {result['loo_rmse_points']:.2f}); "
        f"the truth's own seed noise (sd of a {MIN_SEEDS}-seed mean) {result['truth_noise_points']:.2f} points, "
        "removed from loss_calibration_sd.", "",
        "| corpus | set | true error | learned excess (mean of audits) | fine-tuned loss (pts) | residual (pts) |",
        "|---|---|--:|--:|--:|--:|",
    ]
    lines += [f"| {s['corpus']} | {s['set']} | {s['true_error']:.3f} | {s['excess']:.2f} | {100 * s['drop']:.2f} | "
              f"{s['residual_points']:+.2f} |" for s in result["sets"]]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("features", "fit"))
    parser.add_argument("--corpora", nargs="+", default=["tweets", "fortunes"])
    parser.add_argument("--out", type=Path, default=HERE / "loss_calibration.md")
    args = parser.parse_args()
    if args.command == "features":
        features(args.corpora)
        return
    available = [c for c in args.corpora if (FEATURES / f"loss_features_{c}.jsonl").exists()]
    result = fit(available)
    write(result, args.out)
    (args.out.with_suffix(".json")).write_text(json.dumps(result, indent=1) + "\n")
    print(f"rate_scale {result['rate_scale']}, learned_scale {result['learned_scale']}, "
          f"calibration_sd {result['calibration_sd']} ({len(result['sets'])} sets) -> {args.out}")


if __name__ == "__main__":
    main()
