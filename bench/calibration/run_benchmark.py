"""Calibration benchmark: does `labelgate check` with the default params estimate the label error and block the label
sets that cost the classifier accuracy?

Usage:
  python bench/calibration/build_corpus.py                      # once: the fortunes corpus (apt-get install fortunes)
  labelgate annotate bench/calibration/data/train_texts.csv --out bench/calibration/data/llm_labels.csv \
      --params bench/calibration/annotate_params.yaml           # once: the local LLM's labels (written by --annotate)
  python bench/calibration/run_benchmark.py [--seeds 0 1 2] [--audit-size 250]

For each seed of noise and audit, 14 label sets over the same ~1,900 training texts: gold labels (0% noise), the
four noise kinds of `noise.py` at 5/15/30%, and the local LLM's raw labels. Each set gets a simple random gold audit
of --audit-size rows (`gold_label`), then runs through labelgate exactly as a user would: `labelgate check --out
verdict.json`, in-process through the CLI, with the repository's params.yaml and expectations/; the verdict JSON
carries every figure it judged and the audit estimate. The downstream truth is `downstream.py`'s linear probe on frozen
MiniLM embeddings, trained on each set and scored on the gold test set.

Expected verdict: block when the downstream drop is >= 3 accuracy points or the true error is >= 15%,
pass otherwise. Writes bench/calibration/results_label_error.json and .md after every set.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from build_corpus import CLASSES  # noqa: E402
from downstream import PROBE_C, embed, probe_accuracy  # noqa: E402
from noise import (audit_sample, class_conditional_noise, llm_noise, text_following_noise,  # noqa: E402
                   uniform_noise)

LEVELS = (0.05, 0.15, 0.30)
RISKY_DROP = 0.03        # "risky" = the downstream model loses >= 3 points against gold-label training
RISKY_ERROR = 0.15       # ... or the label error is >= 15%
WITHIN = 0.03            # target: point estimate within 3 points of the true error
TARGETS = {"within_3_points": 0.90, "interval_covers": 0.90, "verdict_right": 0.95}
# Class-conditional noise: each class is confused with a related one; small, ambiguous classes more often.
CONFUSION = {"computers": "science", "science": "computers", "politics": "law", "law": "politics",
             "startrek": "science", "sports": "politics", "food": "love", "love": "food"}
CONFUSION_WEIGHT = {"computers": 1.0, "science": 1.0, "politics": 1.0, "law": 2.0, "startrek": 2.0, "sports": 2.0,
                    "food": 1.0, "love": 1.0}
TRIGGER_TARGET = "politics"  # text-following noise: rows containing the trigger word become "politics"


def make_sets(truth: np.ndarray, texts: list[str], llm: np.ndarray, seed: int) -> list[dict]:
    """The 14 label sets of one seed: name, kind, nominal level, labels (codes), notes."""
    k = len(CLASSES)
    code = {c: i for i, c in enumerate(CLASSES)}
    confusion = {code[a]: code[b] for a, b in CONFUSION.items()}
    weights = {code[a]: w for a, w in CONFUSION_WEIGHT.items()}
    sets = [{"kind": "gold", "level": 0.0, "labels": truth.copy(), "note": ""}]
    for i, level in enumerate(LEVELS):
        s = 1000 * seed + 10 * i
        sets.append({"kind": "uniform", "level": level, "note": "",
                     "labels": uniform_noise(truth, level, k, seed=s + 1)})
        sets.append({"kind": "class_conditional", "level": level, "note": "",
                     "labels": class_conditional_noise(truth, level, confusion, weights, seed=s + 2)})
        sets.append({"kind": "llm", "level": level, "note": "",
                     "labels": llm_noise(truth, llm, level, seed=s + 3)})
        labels, word = text_following_noise(truth, texts, level, code[TRIGGER_TARGET], seed=s + 4)
        sets.append({"kind": "text_following", "level": level, "labels": labels,
                     "note": f"'{word}' -> {TRIGGER_TARGET}"})
    sets.append({"kind": "llm_raw", "level": float((llm != truth).mean()), "labels": llm.copy(),
                 "note": "Gemma-3-270M zero-shot"})
    for s in sets:
        s["name"] = s["kind"] if s["kind"] in ("gold", "llm_raw") else f"{s['kind']}_{int(round(100 * s['level']))}"
    return sets


def run_labelgate(table: Path, test: Path, workdir: Path, *, params: Path, expectations: Path) -> dict:
    """`labelgate check --out verdict.json`, in-process through the CLI: exit code, time and the verdict JSON
    (which carries every figure it judged and the audit estimate)."""
    from typer.testing import CliRunner

    from labelgate.cli import app

    verdict_path = workdir / "verdict.json"
    verdict_path.unlink(missing_ok=True)
    t0 = time.perf_counter()
    checked = CliRunner().invoke(app, ["check", str(table), "--out", str(verdict_path), "--labels", ",".join(CLASSES),
                                       "--test", str(test), "--params", str(params),
                                       "--expectations", str(expectations)])
    out = {"check_exit": checked.exit_code, "check_s": time.perf_counter() - t0}
    if checked.exit_code not in (0, 1):
        out["check_error"] = (checked.output or repr(checked.exception))[-500:]
    out["verdict"] = json.loads(verdict_path.read_text()) if verdict_path.exists() else None
    return out


def _systematic(metrics: dict) -> tuple[str | None, float | None]:
    for key in ("systematic_error_share", "systematic_share"):
        if key in metrics:
            return key, metrics[key]
    for key, value in metrics.items():
        if "systematic" in key and isinstance(value, (int, float)):
            return key, value
    return None, None


def estimates(verdict: dict | None) -> dict:
    """The error estimate the verdict reports, its interval and method: the audit-first `label_error_rate` when the
    package has it, else 1 - audit accuracy with its Wilson bounds (what the gate reported before the audit-first
    estimator)."""
    verdict = verdict or {}
    figures = dict(verdict.get("figures") or {})
    for o in verdict.get("outcomes", []):  # older verdicts: the figures are the outcomes' observed values
        if o.get("column") and o["column"] not in figures and isinstance(o.get("observed"), (int, float)):
            figures[o["column"]] = o["observed"]
    label_error = verdict.get("label_error") or {}
    rate = label_error.get("label_error_rate", figures.get("label_error_rate"))
    if rate is not None:
        est = {"method": label_error.get("method") or "label_error_rate", "estimate": rate,
               "lower": label_error.get("label_error_rate_lower", figures.get("label_error_rate_lower")),
               "upper": label_error.get("label_error_rate_upper", figures.get("label_error_rate_upper")),
               "rows_needed": label_error.get("rows_needed")}
    elif figures.get("audit_accuracy_lower") is not None:
        est = {"method": "1 - audit accuracy lower bound only", "estimate": None, "lower": None,
               "upper": 1 - figures["audit_accuracy_lower"], "rows_needed": None}
    else:
        est = {"method": "none", "estimate": None, "lower": None, "upper": None, "rows_needed": None}
    key, share = _systematic({**figures, **{k: v for k, v in label_error.items() if v is not None}})
    est.update({"cleanlab_noise_rate": figures.get("estimated_noise_rate"),
                "label_issue_rate": figures.get("label_issue_rate"), "systematic_share": share,
                "text_error_auc": figures.get("text_error_auc"), "reason": verdict.get("reason")})
    return est


def blocking_failures(verdict: dict | None) -> list[str]:
    if not verdict:
        return ["no verdict"]
    return [str(o.get("column") or o.get("description"))
            for o in verdict.get("outcomes", [])
            if o.get("status") in ("fail", "error") and o.get("severity") in ("critical", "block")]


def summarise(rows: list[dict]) -> dict:
    done = [r for r in rows if r["estimate"] is not None]
    within = [abs(r["estimate"] - r["true_error"]) <= WITHIN + 1e-9 for r in done]
    covered = [r["lower"] is not None and r["upper"] is not None and r["lower"] - 1e-9 <= r["true_error"]
               <= r["upper"] + 1e-9 for r in done]
    right = [r["verdict_right"] for r in rows]
    share = (lambda xs: float(np.mean(xs)) if xs else None)
    summary = {"sets": len(rows), "within_3_points": share(within), "interval_covers": share(covered),
               "verdict_right": share(right)}
    summary["targets_met"] = {k: (summary[k] is not None and summary[k] >= v) for k, v in TARGETS.items()}
    by_kind = {}
    for kind in dict.fromkeys(r["kind"] for r in rows):
        sub = [r for r in rows if r["kind"] == kind]
        by_kind[kind] = {
            "sets": len(sub),
            "mean_abs_error": share([abs(r["estimate"] - r["true_error"]) for r in sub if r["estimate"] is not None]),
            "within_3_points": share([abs(r["estimate"] - r["true_error"]) <= WITHIN + 1e-9 for r in sub
                                      if r["estimate"] is not None]),
            "verdict_right": share([r["verdict_right"] for r in sub]),
        }
    summary["by_kind"] = by_kind
    return summary


def _f(x, digits=3, signed=False):
    if x is None:
        return "—"
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def write_results(rows: list[dict], meta: dict, out_dir: Path) -> dict:
    summary = summarise(rows)
    (out_dir / "results_label_error.json").write_text(
        json.dumps({**meta, "summary": summary, "rows": rows}, indent=2) + "\n")
    lines = [
        "# Calibration benchmark results",
        "",
        f"Command: `{meta['command']}`  ",
        f"Machine: {meta['machine']}  ",
        f"Date: {meta['date']} (UTC); labelgate at git {meta['git']}; status: {meta['status']}  ",
        f"Corpus: {meta['corpus']}  ",
        f"Audit: {meta['audit_size']} random rows per set; seeds {meta['seeds']}; gold probe accuracy "
        f"{_f(meta.get('gold_accuracy'))}. Estimate method: {', '.join(sorted({r['method'] for r in rows}))}.",
        "",
        "## Targets",
        "",
        "| target | measured | goal | met |",
        "|---|--:|--:|---|",
    ]
    for key, goal in TARGETS.items():
        value = summary[key]
        lines.append(f"| {key.replace('_', ' ')} | {_f(value)} | >= {goal:.2f} | "
                     f"{'yes' if summary['targets_met'][key] else 'NO'} |")
    lines += ["", "| kind | sets | mean abs. error of the estimate | within 3 points | verdict right |",
              "|---|--:|--:|--:|--:|"]
    for kind, k in summary["by_kind"].items():
        lines.append(f"| {kind} | {k['sets']} | {_f(k['mean_abs_error'])} | {_f(k['within_3_points'], 2)} | "
                     f"{_f(k['verdict_right'], 2)} |")
    misses = [r for r in rows if not r["verdict_right"]]
    far = [r for r in rows if r["estimate"] is not None and abs(r["estimate"] - r["true_error"]) > WITHIN]
    uncovered = [r for r in rows if r["estimate"] is not None
                 and not (r["lower"] is not None and r["lower"] - 1e-9 <= r["true_error"] <= r["upper"] + 1e-9)]
    lines += ["", "## Where the targets are missed", ""]
    lines.append("Wrong verdicts: " + ("; ".join(
        f"{r['set']} seed {r['seed']} ({r['verdict']}, expected {r['expected']}; true error {r['true_error']:.3f}, "
        f"drop {100 * r['drop']:+.1f} pts; blocked by {', '.join(r['blocked_by']) or 'nothing'})"
        for r in misses) or "none") + ".")
    lines.append("")
    lines.append("Estimate off by more than 3 points: " + ("; ".join(
        f"{r['set']} seed {r['seed']} ({r['estimate']:.3f} vs {r['true_error']:.3f})" for r in far) or "none") + ".")
    lines.append("")
    lines.append("Interval misses the truth: " + ("; ".join(
        f"{r['set']} seed {r['seed']} ([{_f(r['lower'])}, {_f(r['upper'])}] vs {r['true_error']:.3f})"
        for r in uncovered) or "none") + ".")
    lines += ["", "## Per set", "",
              "Errors are shares of the training rows; drop = gold-label probe accuracy minus this set's, in points.",
              "",
              "| seed | set | true error | estimate [95% interval] | cleanlab noise | systematic share | text-error AUC | "
              "probe acc. | drop (pts) | expected | verdict | right | blocked by |",
              "|--:|---|--:|---|--:|--:|--:|--:|--:|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['seed']} | {r['set']}{' (' + r['note'] + ')' if r['note'] else ''} | {r['true_error']:.3f} | "
            f"{_f(r['estimate'])} [{_f(r['lower'])}, {_f(r['upper'])}] | {_f(r['cleanlab_noise_rate'])} | "
            f"{_f(r['systematic_share'])} | {_f(r['text_error_auc'])} | {r['accuracy']:.3f} | {100 * r['drop']:+.1f} | {r['expected']} | "
            f"{r['verdict']} | {'yes' if r['verdict_right'] else 'NO'} | {', '.join(r['blocked_by'])} |")
    (out_dir / "results_label_error.md").write_text("\n".join(lines) + "\n")
    return summary


def combine(paths: list[Path], seeds: list[int], out_dir: Path) -> None:
    """One results_label_error.json/.md from the rows of several runs (one process per seed); later files win."""
    parts = [json.loads(Path(p).read_text()) for p in paths]
    rows = {}
    for part in parts:
        for r in part["rows"]:
            if r["seed"] in seeds:
                rows[(r["seed"], r["set"])] = r
    ordered = [rows[k] for k in sorted(rows, key=lambda k: (seeds.index(k[0]), _SET_ORDER.get(k[1], 99)))]
    meta = {k: v for k, v in parts[0].items() if k not in ("summary", "rows")}
    meta.update({"seeds": seeds, "command": meta["command"] + " (one process per seed, merged with --combine)",
                 "status": "complete" if len(ordered) == 14 * len(seeds) else f"partial ({len(ordered)} sets)",
                 "git": ", ".join(dict.fromkeys(p["git"] for p in parts))})
    summary = write_results(ordered, meta, out_dir)
    print(json.dumps({k: summary[k] for k in ("sets", "within_3_points", "interval_covers", "verdict_right")}))


_SET_ORDER = {name: i for i, name in enumerate(
    ["gold"] + [f"{k}_{p}" for p in (5, 15, 30) for k in ("uniform", "class_conditional", "llm", "text_following")]
    + ["llm_raw"])}


def _git() -> str:
    import subprocess

    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src", "params.yaml",
                                "expectations"], capture_output=True, text=True, check=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE / "data")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--audit-size", type=int, default=250)
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--expectations", type=Path, default=ROOT / "expectations")
    parser.add_argument("--out", type=Path, default=HERE, help="where results_label_error.json and .md go")
    parser.add_argument("--only", nargs="*", default=None, help="run only these set names (debugging)")
    parser.add_argument("--combine", type=Path, nargs="+", default=None,
                        help="instead of running: merge the rows of these results_label_error.json files (runs of "
                             "separate "
                             "seeds in parallel) for --seeds into --out")
    args = parser.parse_args()
    if args.combine:
        combine(args.combine, args.seeds, args.out)
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    train = pd.read_csv(args.data / "train.csv")
    test_path = args.data / "test.csv"
    test = pd.read_csv(test_path)
    llm_table = pd.read_csv(args.data / "llm_labels.csv")
    if not (llm_table["id"].tolist() == train["id"].tolist()):
        raise SystemExit("run_benchmark: error: llm_labels.csv rows do not match train.csv; re-run the annotation")
    code = {c: i for i, c in enumerate(CLASSES)}
    texts = train["text"].tolist()
    truth = train["label"].map(code).to_numpy()
    llm = llm_table["llm_label"].map(code).to_numpy()
    y_test = test["label"].map(code).to_numpy()
    cache = HERE / ".cache"
    x_train, x_test = embed(texts, cache_dir=cache), embed(test["text"].tolist(), cache_dir=cache)
    gold_accuracy = probe_accuracy(x_train, truth, x_test, y_test)
    corpus = json.loads((args.data / "corpus.json").read_text()) if (args.data / "corpus.json").exists() else {}
    meta = {
        "command": "python bench/calibration/run_benchmark.py " + " ".join(sys.argv[1:]),
        "machine": f"2-core dev box, shared ({platform.machine()}, {os.cpu_count()} cores)",
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "git": _git(), "status": "running",
        "corpus": (f"Debian fortunes {corpus.get('package_version', '?')}, {len(train)} training rows in "
                   f"{len(CLASSES)} classes {corpus.get('train_counts', {})}, {len(test)} gold test rows"),
        "audit_size": args.audit_size, "seeds": args.seeds, "gold_accuracy": gold_accuracy,
        "probe": f"logistic regression C={PROBE_C} on frozen MiniLM-L6 mean-pooled embeddings",
        "risky": {"drop": RISKY_DROP, "error": RISKY_ERROR},
    }
    names = np.asarray(CLASSES, dtype=object)
    rows: list[dict] = []
    for seed in args.seeds:
        audited = audit_sample(len(train), args.audit_size, seed=10_000 + seed)
        for s in make_sets(truth, texts, llm, seed):
            if args.only and s["name"] not in args.only:
                continue
            workdir = HERE / "runs" / f"seed{seed}" / s["name"]
            workdir.mkdir(parents=True, exist_ok=True)
            table = pd.DataFrame({"id": train["id"], "text": texts, "llm_label": names[s["labels"]],
                                  "gold_label": np.where(audited, names[truth], None)})
            table.to_csv(workdir / "labels.csv", index=False)
            result = run_labelgate(workdir / "labels.csv", test_path, workdir, params=args.params,
                                   expectations=args.expectations)
            accuracy = probe_accuracy(x_train, s["labels"], x_test, y_test)
            true_error = float((s["labels"] != truth).mean())
            drop = gold_accuracy - accuracy
            expected = "blocked" if (drop >= RISKY_DROP - 1e-9 or true_error >= RISKY_ERROR - 1e-9) else "passed"
            verdict = result["verdict"]
            status = ("error" if verdict is None else "blocked" if verdict.get("blocked") else "passed")
            row = {"seed": seed, "set": s["name"], "kind": s["kind"], "level": s["level"], "note": s["note"],
                   "true_error": true_error, **estimates(verdict),
                   "audited_error": float((s["labels"][audited] != truth[audited]).mean()),
                   "accuracy": accuracy, "drop": drop, "expected": expected, "verdict": status,
                   "verdict_right": status == expected, "blocked_by": blocking_failures(verdict),
                   "check_exit": result["check_exit"], "seconds": result["check_s"],
                   "figures": (verdict or {}).get("figures")}
            if "check_error" in result:
                row["check_error"] = result["check_error"]
            rows.append(row)
            print(json.dumps({k: row[k] for k in ("seed", "set", "true_error", "estimate", "lower", "upper",
                                                  "cleanlab_noise_rate", "drop", "expected", "verdict")}),
                  flush=True)
            write_results(rows, meta, args.out)
    meta["status"] = "complete"
    summary = write_results(rows, meta, args.out)
    print(json.dumps({k: summary[k] for k in ("sets", "within_3_points", "interval_covers", "verdict_right")}))


if __name__ == "__main__":
    main()
