"""Which form of the expected accuracy loss predicts the fine-tuned loss best? The comparison behind the form that
signals/accuracy_loss.py uses (loss_calibration.md, "Forms tried").

Usage (repository root; PYTHONPATH=src HF_HUB_OFFLINE=1):
  python bench/calibration/explore_loss_forms.py dump [--corpora tweets fortunes]   # runs/loss_forms/*.npz
  python bench/calibration/explore_loss_forms.py compare                            # -> loss_forms.md

dump: for every label set with a fine-tuned truth of >= 4 seeds, what `check` sees: the out-of-fold probabilities
(ScoringContext.pred_probs) and, for the benchmark's check audits (run_harm_benchmark.audit_mask, 150 and 300 rows)
and the calibration's feature audits (derive_loss_calibration: rng(1000 + draw), 2 draws of 150 and 300), the audit
estimate of the error rate (label_error.shared_estimate).

compare: each form is (unlearned term, learned term, ...), each divided by K - 1 or by the power of it the form
names, the scales fitted by non-negative least squares on the draw-0 sets with <= 20% wrong labels of every corpus
(FIT_CORPORA; true rate; features averaged over the feature audits), predicted on the check audits from the
estimated rate and that audit's features. Cross-validated: leave one set out, leave one noise kind out. Features
(all from the audit and the out-of-fold model, as `check` could compute them):
  x       the learned excess (accuracy_loss.learned_errors, the signal's own code)
  conf    the out-of-fold probability of the LLM's label on audited wrong rows, beyond the chance mass on right rows
  x2cls   the learned excess per LLM label, squared, weighted by the label's audited errors
  fc      forward correction: the noise transition fitted on the audit (one pseudo-count on the diagonal), the clean
          posterior = the model's posterior x T^-1 (clipped), the accuracy lost by its argmax vs the clean argmax
  c       the audited errors' concentration (accuracy_loss.concentration, the signal's own code): per gold class, the
          share of its rows on its most common wrong label, squared, averaged with the class's share
  spread  how many classes the wrong labels go to (perplexity of their LLM labels), in [1, K - 1]
  shift   how far the audited rows' LLM labels move the class shares: total variation distance between the shares of
          their LLM labels and of their gold labels (a favourite label that collects wrong labels moves it)
  inflow  per LLM label, the share of its audited rows whose gold label differs, squared, averaged with the label's
          share (the concentration seen from the wrong label's side)
  acc     the out-of-fold model's accuracy on the correctly labelled audited rows (a learned error costs a test row
          only where the model would have got it right)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from derive_loss_calibration import FIT_CORPORA, truth_sets  # noqa: E402
OUT = HERE / "runs" / "loss_forms"


def cmd_dump(corpora: list[str]) -> None:
    from derive_loss_calibration import AUDIT_DRAWS, AUDITS
    from finetune_truth import read_records, summarise
    from labelsets import load_corpus, make_labels, set_frame
    from run_harm_benchmark import audit_mask

    from labelgate.config import read_params
    from labelgate.contract import LabelTable
    from labelgate.signals.context import ScoringContext
    from labelgate.signals.label_error import shared_estimate
    from labelgate.signals.runner import ScoreParams

    OUT.mkdir(parents=True, exist_ok=True)
    params = ScoreParams.from_section(read_params(HERE.parents[1] / "params.yaml")["score"])
    for name in corpora:
        corpus = load_corpus(name)
        labels = tuple(corpus.labels)
        for t in summarise(read_records(name)):
            path = OUT / f"{name}__{t['set']}.npz"
            if t["set"] == "gold" or len(t.get("paired_seeds", [])) < 4 or path.exists():
                continue
            codes = make_labels(corpus, t["kind"], t["rate"], t["draw"])[0]
            n = len(codes)
            masks = {f"c{a}": audit_mask(n, t["kind"], t["rate"], t["draw"], a) for a in AUDITS}
            for a in AUDITS:
                for d in AUDIT_DRAWS:
                    rows = np.random.default_rng(1000 + d).choice(n, size=a, replace=False)
                    masks[f"f{a}_{d}"] = np.isin(np.arange(n), rows)
            probs, estimates = None, []
            for mask in masks.values():
                frame = set_frame(corpus, codes).rename(columns={"label": "llm_label"})
                frame["gold_label"] = np.where(mask, np.asarray(labels, dtype=object)[corpus.truth], None)
                context = ScoringContext(LabelTable(frame=frame, labels=labels, path=t["set"]), text=params.text,
                                         seed=params.seed, **params.audit_settings())
                if probs is not None:
                    context.__dict__["pred_probs"] = probs  # depends on the LLM labels only
                est = shared_estimate(context, confidence=context.audit_confidence,
                                      min_stratum=context.min_audited_per_stratum)
                probs = context.pred_probs
                estimates.append([np.nan if est.get(k) is None else est[k] for k in
                                  ("label_error_rate", "label_error_rate_lower", "label_error_rate_upper")])
            meta = {k: t[k] for k in ("kind", "rate", "draw", "true_error", "drop", "drop_std")}
            np.savez_compressed(path, pred_probs=probs.astype(np.float32), given=codes, truth=corpus.truth,
                                masks=np.array(list(masks.values())), tags=np.array(list(masks)),
                                est=np.array(estimates), meta=json.dumps(meta))
            print(name, t["set"], flush=True)


def features(probs: np.ndarray, given: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> dict:
    from labelgate.signals.accuracy_loss import concentration, learned_errors

    k = probs.shape[1]
    pred = probs.argmax(1)
    gold = np.where(mask, truth, -1)
    x = learned_errors(pred, gold, given, np.ones(len(given)), n_classes=k, confidence=0.95)["errors_learned_excess"]
    wrong, right = mask & (truth != given), mask & (truth == given)
    out = {"x": 0.5 if x is None else x, "conf": 0.5, "x2cls": 0.25, "spread": float(k - 1),
           "c": concentration(truth[mask], given[mask], np.ones(int(mask.sum())), confidence=0.95)[
               "error_concentration"]}
    if wrong.any():
        # how many classes the wrong labels go to: perplexity of their LLM labels (Miller-Madow), in [1, K - 1]
        counts = np.bincount(given[wrong], minlength=k)
        p = counts[counts > 0] / counts.sum()
        entropy = float(-(p * np.log(p)).sum() + (len(p) - 1) / (2 * counts.sum()))
        out["spread"] = float(np.clip(np.exp(entropy), 1.0, k - 1))
        off = (1 - probs[right, truth[right]]).mean() / (k - 1) if right.any() else 1 / k
        out["conf"] = float(np.clip((probs[wrong, given[wrong]].mean() - off) / (1 - off), 0, 1))
        miss = np.full(k, (pred[right] != truth[right]).mean() if right.any() else 1 - 1 / k)
        for g in range(k):
            if (right & (truth == g)).any():
                miss[g] = (pred[right & (truth == g)] != g).mean()
        parts = []
        for j in np.unique(given[wrong]):
            rows = wrong & (given == j)
            share, chance = (pred[rows] == j).mean(), (miss[truth[rows]] / (k - 1)).mean()
            parts.append((rows.sum(), float(np.clip((share - chance) / (1 - chance), 0, 1)) ** 2))
        out["x2cls"] = float(sum(w * v for w, v in parts) / sum(w for w, _ in parts))
    g, j = truth[mask], given[mask]
    gold_share, llm_share = np.bincount(g, minlength=k) / len(g), np.bincount(j, minlength=k) / len(j)
    out["shift"] = float(0.5 * np.abs(gold_share - llm_share).sum())
    per_label = np.bincount(j, minlength=k).astype(float)
    wrong_in = np.bincount(j[g != j], minlength=k)
    out["inflow"] = float(np.sum(per_label * np.divide(wrong_in, per_label, out=np.zeros(k), where=per_label > 0) ** 2)
                          / per_label.sum())
    out["acc"] = float((pred[right] == truth[right]).mean()) if right.any() else 0.5
    transition = np.eye(k)
    np.add.at(transition, (truth[mask], given[mask]), 1.0)
    transition /= transition.sum(1, keepdims=True)
    clean = np.clip(probs @ np.linalg.inv(transition), 0, None)
    clean /= np.maximum(clean.sum(1, keepdims=True), 1e-12)
    idx = np.arange(len(probs))
    out["fc"] = float(np.mean(clean[idx, clean.argmax(1)] - clean[idx, pred]))
    return out


def _spread(k: int, power: float = 1.0) -> float:
    return float(max(1, k - 1)) ** power


FORMS = {  # name -> (r, features, K) -> terms, each divided by its own power of K - 1
    "r, r x (linear, before)": lambda r, f, k: [r / _spread(k), r * f["x"] / _spread(k)],
    "r, r conf": lambda r, f, k: [r / _spread(k), r * f["conf"] / _spread(k)],
    "r, r x^2": lambda r, f, k: [r / _spread(k), r * f["x"] ** 2 / _spread(k)],
    "r, r x2cls (per LLM label)": lambda r, f, k: [r / _spread(k), r * f["x2cls"] / _spread(k)],
    "r, r^2 x": lambda r, f, k: [r / _spread(k), r * r * f["x"] / _spread(k)],
    "r, fc (forward correction)": lambda r, f, k: [r / _spread(k), f["fc"] / _spread(k)],
    "r, r x^2, fc": lambda r, f, k: [r / _spread(k), r * f["x"] ** 2 / _spread(k), f["fc"] / _spread(k)],
    "r, (r x)^2 (before)": lambda r, f, k: [r / _spread(k), (r * f["x"]) ** 2 / _spread(k)],
    "r, (r x)^3": lambda r, f, k: [r / _spread(k), (r * f["x"]) ** 3 / _spread(k)],
    # the learned term spread less over the classes: learned errors follow the text into few target classes
    "r, (r x)^2 / (K-1)^0.5": lambda r, f, k: [r / _spread(k), (r * f["x"]) ** 2 / _spread(k, 0.5)],
    "r, (r x)^2 / (K-1)^0 ": lambda r, f, k: [r / _spread(k), (r * f["x"]) ** 2],
    "r, (r x)^3 / (K-1)^0.5": lambda r, f, k: [r / _spread(k), (r * f["x"]) ** 3 / _spread(k, 0.5)],
    "r, (r x)^3 / (K-1)^0": lambda r, f, k: [r / _spread(k), (r * f["x"]) ** 3],
    "r, (r x)^2 / (K-1)^0.5, (r x)^3": lambda r, f, k: [r / _spread(k), (r * f["x"]) ** 2 / _spread(k, 0.5),
                                                        (r * f["x"]) ** 3],
    # the audited errors' concentration on one confusion per class (c), the learned rate not divided by K - 1
    "r, c": lambda r, f, k: [r / _spread(k), f["c"]],
    "r, (r x)^2, c": lambda r, f, k: [r / _spread(k), (r * f["x"]) ** 2 / _spread(k), f["c"]],
    "r, (r x)^2 / (K-1)^0.5, c": lambda r, f, k: [r / _spread(k), (r * f["x"]) ** 2 / _spread(k, 0.5), f["c"]],
    "r, c (1 + x)": lambda r, f, k: [r / _spread(k), f["c"] * (1 + f["x"])],
    "r, c, (r x) / (K-1)^0": lambda r, f, k: [r / _spread(k), f["c"], r * f["x"]],
    "r, c, (r x)^2 / (K-1)^0 (picked)": lambda r, f, k: [r / _spread(k), f["c"], (r * f["x"]) ** 2],
    "r, c, (r x)^3 / (K-1)^0": lambda r, f, k: [r / _spread(k), f["c"], (r * f["x"]) ** 3],
    # a fourth term: the class shares moved, the contamination of the wrong labels' classes, the model's accuracy
    "r, c, (r x)^2, shift": lambda r, f, k: [r / _spread(k), f["c"], (r * f["x"]) ** 2, f["shift"]],
    "r, c, (r x)^2, shift^2": lambda r, f, k: [r / _spread(k), f["c"], (r * f["x"]) ** 2, f["shift"] ** 2],
    "r, c, (r x)^2, inflow": lambda r, f, k: [r / _spread(k), f["c"], (r * f["x"]) ** 2, f["inflow"]],
    "r, inflow, (r x)^2 (inflow for c)": lambda r, f, k: [r / _spread(k), f["inflow"], (r * f["x"]) ** 2],
    "r, c, acc (r x)^2": lambda r, f, k: [r / _spread(k), f["c"], f["acc"] * (r * f["x"]) ** 2],
    "r, c, (r x)^2, r x": lambda r, f, k: [r / _spread(k), f["c"], (r * f["x"]) ** 2, r * f["x"]],
    # divided by the measured spread of the wrong labels over the classes instead of K - 1
    "r / spread, (r x)^2 / spread": lambda r, f, k: [r / f["spread"], (r * f["x"]) ** 2 / f["spread"]],
    "r / spread, (r x)^2 / (K-1)": lambda r, f, k: [r / f["spread"], (r * f["x"]) ** 2 / _spread(k)],
    "r / (K-1), (r x)^2 / (K-1), r^2 / spread": lambda r, f, k: [r / _spread(k), (r * f["x"]) ** 2 / _spread(k),
                                                                  r * r / f["spread"]],
    "r / spread, (r x)^2 / spread, r^2 / spread": lambda r, f, k: [r / f["spread"], (r * f["x"]) ** 2 / f["spread"],
                                                                    r * r / f["spread"]],
}


def cmd_compare() -> None:
    from scipy.optimize import nnls

    truth = {(c, t["set"]): t for c in FIT_CORPORA for t in truth_sets(c)}
    sets = []
    for path in sorted(OUT.glob("*.npz")):
        z = np.load(path)
        meta = json.loads(str(z["meta"]))
        measured = truth.get(tuple(path.stem.split("__")))
        if measured is not None:  # the truth as recorded now (more seeds may have come since the dump)
            meta.update(drop=measured["drop"], drop_std=measured["drop_std"])
        k = z["pred_probs"].shape[1]
        audits = {str(tag): {**features(z["pred_probs"], z["given"], z["truth"], mask), "rate": est[0]}
                  for tag, mask, est in zip(z["tags"], z["masks"], z["est"])}
        fit_audits = [a for tag, a in audits.items() if tag.startswith("f")]
        mean = {key: float(np.mean([a[key] for a in fit_audits])) for key in fit_audits[0] if key != "rate"}
        sets.append({"corpus": path.stem.split("__")[0], **meta, "k": k, "mean": mean,
                     "checks": [a for tag, a in audits.items() if tag.startswith("c") and not np.isnan(a["rate"])]})
    fit_sets = [s for s in sets if s["draw"] == 0 and s["kind"] != "llm_raw" and s["true_error"] <= 0.2 + 1e-9]
    held = [s for s in sets if s["draw"] != 0 and s["true_error"] <= 0.2 + 1e-9]

    def terms(form, r, f, k):
        return np.array(FORMS[form](r, f, k))

    def coef(form, train):
        design = np.array([terms(form, s["true_error"], s["mean"], s["k"]) for s in train])
        return nnls(design, np.array([s["drop"] / 100 for s in train]))[0]

    def errors(form, group_of, test_sets):
        out = defaultdict(list)
        for s in test_sets:
            train = [t for t in fit_sets if group_of(t) != group_of(s)] if group_of else fit_sets
            c = coef(form, train)
            for a in s["checks"]:
                out[s["corpus"]].append(100 * float(terms(form, a["rate"], a, s["k"]) @ c) - s["drop"])
        return out

    def cell(errs):
        e = np.abs(np.concatenate([np.asarray(v) for v in errs.values()])) if errs else np.array([])
        if not len(e):
            return "—"
        per = " / ".join(f"{np.mean(np.abs(errs[c]) <= 1.5):.0%}" for c in FIT_CORPORA if c in errs)
        return f"{np.mean(e <= 1.5):.0%} ({per}), {np.sqrt(np.mean(e ** 2)):.2f}"

    import datetime as dt
    import platform

    lines = ["# Forms of the expected accuracy loss, compared", "",
             "Command: `python bench/calibration/explore_loss_forms.py compare` (after `dump`)  ",
             f"Date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; machine: {platform.machine()}, the 2-core "
             "dev box. What each form and feature is: the script's docstring.", "",
             f"{len(fit_sets)} fit sets (draw 0, <= 20% wrong labels), {len(held)} held-out sets (other draws, "
             "<= 20%); predicted on the benchmark's check audits (150 and 300 rows) from the estimated rate and "
             "that audit's features. Cells: within 1.5 points of the fine-tuned loss, all "
             f"({' / '.join(FIT_CORPORA)}), then "
             "the RMSE in points.", "",
             "| form (each term / (K - 1) unless a power is named) | leave one set out | leave one kind out | "
             "held out (fit on draw 0) |",
             "|---|--:|--:|--:|"]
    for form in FORMS:
        loso = errors(form, lambda s: (s["corpus"], s["kind"], s["rate"], s["draw"]), fit_sets)
        loko = errors(form, lambda s: s["kind"], fit_sets)
        lines.append(f"| {form} | {cell(loso)} | {cell(loko)} | {cell(errors(form, None, held))} |")
    lines += limits(sets, fit_sets, terms, coef, cell)
    (HERE / "loss_forms.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


PICKED = "r, c, (r x)^2 / (K-1)^0 (picked)"


def limits(sets, fit_sets, terms, coef, cell) -> list[str]:
    """What limits the picked form: its error on every set (all rates, every draw) with the audit's estimated rate,
    and with the true rate in its place (the audit's sampling of the rate removed; the learned excess and the
    concentration still the check audit's)."""
    c = coef(PICKED, fit_sets)
    rows = []
    for label, rate_of in (("the audit's estimated rate (what check does)", lambda s, a: a["rate"]),
                           ("the true error rate instead", lambda s, a: s["true_error"])):
        for cap in (0.2, 0.3):
            errs = defaultdict(list)
            for s in sets:
                if s["kind"] == "llm_raw" or s["true_error"] > cap + 1e-9:
                    continue
                for a in s["checks"]:
                    errs[s["corpus"]].append(100 * float(terms(PICKED, rate_of(s, a), a, s["k"]) @ c) - s["drop"])
            rows.append(f"| {label} | <= {cap:.0%} | {cell(errs)} |")
    return ["", "## What limits the picked form", "",
            "Fitted on the draw-0 sets with <= 20% wrong labels (as above), predicted on every check audit of every "
            "draw. Cells as above.", "", "| rate the form reads | sets with wrong labels | within 1.5 points, RMSE |",
            "|---|---|--:|"] + rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("dump", "compare"))
    parser.add_argument("--corpora", nargs="+", default=list(FIT_CORPORA))
    args = parser.parse_args()
    cmd_dump(args.corpora) if args.command == "dump" else cmd_compare()


if __name__ == "__main__":
    main()
