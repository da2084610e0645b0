"""False-block rate and detection of audit_contradiction (rubber-stamp audits), measured by simulation.

For each label set: the out-of-fold text model (labelgate's own, score defaults) is fitted once on the LLM labels,
confident_disagreement is computed once (it reads no gold label), then
- 200 honest random audits of 50, 150 and 300 rows (gold = truth): label_error_rate_upper from
  estimation.estimate_error_rate (stratified by LLM label, without the risk model) and audit_contradiction; the
  share above each threshold is the false-block rate;
- 5 rubber stamps of 150 and 300 rows (gold = the LLM label): the mean audit_contradiction.

Sets: synthetic (tests/synthetic.make_texts, 2,000 rows, 3 and 4 classes: clean, uniform 5/10/31%, text-following
5/10/31% where each of a set of filler words relabels the rows containing it as one class), the test fixtures'
clean and 5% sets, and the calibration corpora (bench/calibration/labelsets.py: tweets, fortunes, wordnet; gold and
uniform / class-conditional / llm / text-following at 3, 5, 8, 10, 30%, draw 0) when their data are built.

    python bench/audit_contradiction/run.py synth tweets fortunes wordnet > bench/audit_contradiction/results.jsonl
    (LABELGATE_CALIBRATION=/path/to/bench/calibration: read the corpora of a checkout that has built them)
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
#: the calibration corpora's folder (their data are built locally, not committed): another checkout's may be named
CALIBRATION = Path(os.environ.get("LABELGATE_CALIBRATION", ROOT / "bench" / "calibration"))
sys.path.insert(0, str(CALIBRATION))

from labelgate.estimation import audit_contradiction, confident_disagreement, estimate_error_rate  # noqa: E402
from labelgate.signals.text_model import duplicate_groups, out_of_fold_probabilities  # noqa: E402
from synthetic import flip_uniform, make_texts  # noqa: E402

THRESHOLDS = (0.05, 0.08, 0.1, 0.12)
DRAWS = 200


def following(texts, truth, rate, k, seed):
    """Text-following noise over many words: filler words in random order, each pointing at a random class, relabel
    the rows that contain them (and are of another class) until round(rate * n) rows are wrong."""
    rng = np.random.default_rng(seed)
    noisy = truth.copy()
    words = [f"f{i}" for i in range(400)]
    target = {w: rng.integers(0, k) for w in words}
    for i in rng.permutation(len(words)):
        w = words[i]
        rows = [r for r, t in enumerate(texts) if w in t.split() and noisy[r] == truth[r] and truth[r] != target[w]]
        noisy[rows] = target[w]
        if (noisy != truth).sum() >= int(round(rate * len(truth))):
            break
    return noisy


def run(name, texts, given, truth, k):
    p = out_of_fold_probabilities(list(texts), given, n_classes=k, model="tfidf_logreg", folds=5, seed=0,
                                  max_features=200_000, regularisation=0.25, max_train_rows=200_000, n_jobs=1)
    disagreement = confident_disagreement(p, given, groups=duplicate_groups(pd.Series(list(texts))))
    wrong = (given != truth).astype(float)
    out = {"set": name, "true_error": float(wrong.mean()), **disagreement}
    rng = np.random.default_rng(0)
    for size in (50, 150, 300):
        gaps, stamps = [], []
        for draw in range(DRAWS):
            rows = rng.choice(len(given), size, replace=False)
            audit = np.full(len(given), np.nan)
            audit[rows] = wrong[rows]
            gaps.append(audit_contradiction(disagreement, estimate_error_rate(audit, given)["label_error_rate_upper"]))
            if draw < 5:
                audit[rows] = 0.0
                stamps.append(audit_contradiction(disagreement,
                                                  estimate_error_rate(audit, given)["label_error_rate_upper"]))
        gaps = np.array(gaps)
        out[f"honest_{size}_above"] = {str(t): float((gaps > t).mean()) for t in THRESHOLDS}
        out[f"honest_{size}_max"] = float(gaps.max())
        out[f"stamp_{size}"] = float(np.mean(stamps))
    print(json.dumps(out), flush=True)


def main(which: list[str]) -> None:
    if "synth" in which:
        for k in (3, 4):
            texts, truth = make_texts(2000, k, seed=7)
            run(f"synthetic k={k} clean", texts, truth, truth, k)
            for rate in (0.05, 0.1):
                run(f"synthetic k={k} uniform {rate}", texts, flip_uniform(truth, rate, k, seed=8), truth, k)
            run(f"synthetic k={k} uniform 0.31", texts, flip_uniform(truth, 0.33, k, seed=8), truth, k)
            for rate in (0.05, 0.1, 0.31):
                run(f"synthetic k={k} text_following {rate}", texts, following(texts, truth, rate, k, 8), truth, k)
        texts, truth = make_texts(1200, 3, seed=41)
        run("test fixture clean (seed 41)", texts, truth, truth, 3)
        texts, truth = make_texts(1500, 3, seed=21)
        run("test fixture uniform 0.05 (seed 21)", texts, flip_uniform(truth, 0.05, 3, seed=22), truth, 3)
    for corpus in [w for w in which if w != "synth"]:
        from labelsets import load_corpus, make_labels

        c = load_corpus(corpus, CALIBRATION / "cache")
        texts, k, truth = c.train["text"].tolist(), len(c.labels), c.truth
        run(f"{corpus} gold", texts, truth, truth, k)
        for kind in ("uniform", "class_conditional", "llm", "text_following"):
            for rate in (0.03, 0.05, 0.08, 0.1, 0.3):
                try:
                    codes, _ = make_labels(c, kind, rate, 0)
                except (ValueError, RuntimeError) as error:
                    print(json.dumps({"set": f"{corpus} {kind} {rate}", "skipped": str(error)}), flush=True)
                    continue
                run(f"{corpus} {kind} {rate}", texts, codes, truth, k)


if __name__ == "__main__":
    main(sys.argv[1:] or ["synth"])
