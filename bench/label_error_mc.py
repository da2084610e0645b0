"""Monte Carlo check of the audit-first label error estimator: bias, spread, 'within 3 points' and interval coverage
over many random audits of ONE fixed noisy label set, per risk-model variant.

    python bench/calibration/build_corpus.py          # the calibration corpus (branch calib): bench/calibration/data
    python bench/label_error_mc.py --audits 30 --kinds uniform,text_following --rate 0.15 --variants none,dense,words

Variants: none = stratified audit proportion; dense = difference estimator with a risk model on the audit-free
features; words = dense plus the TF-IDF words of the text (what `label_error` uses). The text model's out-of-fold
probabilities and the features do not depend on the audit, so they are computed once per label set; each audit
then refits only the cross-fitted risk model. Results: bench/label_error_mc.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from labelgate.contract import LabelTable
from labelgate.estimation import estimate_error_rate
from labelgate.signals import ScoringContext
from labelgate.signals.label_error import cross_fitted_risk, risk_features

CALIBRATION = Path(__file__).resolve().parent / "calibration"
CONFUSION = {0: 2, 2: 0, 1: 4, 4: 1, 3: 2, 5: 7, 7: 5, 6: 1}  # class_conditional: class -> confused with
WEIGHTS = {0: 3, 2: 3, 1: 1, 4: 1, 3: 1, 5: 1, 7: 1, 6: 1}  # class_conditional: how often each class is confused


def _noise_module():
    spec = importlib.util.spec_from_file_location("calibration_noise", CALIBRATION / "noise.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audits", type=int, default=30)
    parser.add_argument("--audit-size", type=int, default=250)
    parser.add_argument("--kinds", default="uniform,text_following")
    parser.add_argument("--rate", type=float, default=0.15)
    parser.add_argument("--variants", default="none,dense,words")
    args = parser.parse_args()
    noise = _noise_module()
    data = CALIBRATION / "data"
    train = pd.read_csv(data / "train.csv")
    llm = pd.read_csv(data / "llm_labels.csv")
    classes = json.loads((data / "corpus.json").read_text())["classes"]
    code = {c: i for i, c in enumerate(classes)}
    truth = train["label"].map(code).to_numpy()
    texts = train["text"].tolist()
    names = np.array(classes, dtype=object)
    for kind in args.kinds.split(","):
        if kind == "uniform":
            given = noise.uniform_noise(truth, args.rate, len(classes), seed=0)
        elif kind == "class_conditional":
            given = noise.class_conditional_noise(truth, args.rate, CONFUSION, WEIGHTS, seed=0)
        elif kind == "llm":
            given = noise.llm_noise(truth, llm["llm_label"].map(code).to_numpy(), args.rate, seed=0)
        else:
            given, _ = noise.text_following_noise(truth, texts, args.rate, 3, seed=0)
        true = float((given != truth).mean())
        frame = pd.DataFrame({"id": train["id"], "text": texts, "llm_label": names[given]})
        if kind == "llm":
            for c in classes:
                frame[f"llm_prob_{c}"] = llm[f"llm_prob_{c}"]
        context = ScoringContext(LabelTable(frame=frame, labels=tuple(classes), path="mc"))
        features, _ = risk_features(context)
        words = context.text_words
        results = {v: [] for v in args.variants.split(",")}
        start = time.time()
        for a in range(args.audits):
            audit = noise.audit_sample(len(truth), args.audit_size, seed=7000 + a)
            wrong = np.where(audit, (given != truth).astype(float), np.nan)
            for variant, rows in results.items():
                risk = None if variant == "none" else cross_fitted_risk(
                    features, wrong, words=words if variant == "words" else None, seed=0)
                e = estimate_error_rate(wrong, given, risk=risk)
                rows.append((e["label_error_rate"], e["label_error_rate_lower"], e["label_error_rate_upper"]))
        for variant, rows in results.items():
            r = np.array(rows)
            print(json.dumps({
                "kind": kind, "rate": args.rate, "variant": variant, "true": round(true, 4), "audits": args.audits,
                "bias": round(float(r[:, 0].mean() - true), 4), "sd": round(float(r[:, 0].std()), 4),
                "within3": round(float(np.mean(np.abs(r[:, 0] - true) <= 0.03)), 3),
                "coverage": round(float(np.mean((r[:, 1] <= true) & (true <= r[:, 2]))), 3),
                "width": round(float(np.mean(r[:, 2] - r[:, 1])), 4), "secs": round(time.time() - start)}),
                flush=True)


if __name__ == "__main__":
    main()
