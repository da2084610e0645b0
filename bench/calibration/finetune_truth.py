"""Fine-tuned downstream truth of the harm benchmark: what a label set costs the model that params.yaml
`train:` configures.

Usage (from the repository root, PYTHONPATH=src, HF_HUB_OFFLINE=1):
  OMP_NUM_THREADS=1 nohup nice -n 5 python bench/calibration/finetune_truth.py run \
      > bench/calibration/truth/run.log 2>&1 &
  # an independent draw of the 5-15% band only (the held-out test of the loss calibration):
  #   ... finetune_truth.py run --draws 1 --rates 0.05 0.08 0.10 0.12 0.15 > bench/calibration/truth/run_d1.log
  # the full fine-tuning settings (params-gpu.yaml train:, on this CPU) on a subset, recorded apart
  #   (truth/<corpus>__params-gpu.jsonl): the gold labels, the annotator's raw labels and the four kinds at 10%:
  #   ... finetune_truth.py run --params params-gpu.yaml --corpora tweets --rates 0 0.1 --draws 0 --seeds 0 1
  python bench/calibration/finetune_truth.py plan            # the queue in order, what is done, what is left
  python bench/calibration/finetune_truth.py summary         # per set: accuracy, drop mean and std (points)

For each label set (labelsets.py: corpus, kind, rate, draw) and seed 0-3 it runs labelgate's own training,
`labelgate.train.run.train_run` with `TrainParams` from the repository's params.yaml `train:` section (the packaged
settings: MiniLM, embeddings and 4 of 6 layers frozen, 1 epoch, max_length 64, batch 16, lr 4e-4) on the set's
labels, and scores the model on the corpus's gold test set: accuracy and macro-F1. The gold labels are trained with
the same seeds, so the drop of a set is seed-paired: drop_s = acc(gold, seed s) - acc(set, seed s), in accuracy
points; a set's figure is the mean over seeds with its standard deviation (ddof 1).

One torch thread (and OMP_NUM_THREADS=1): the machine is shared. Each finished (corpus, set, seed) run is appended
as one JSON line to bench/calibration/truth/<corpus>.jsonl, so an interrupted run resumes where it stopped and the
partial results are usable; the log line gives the rate and the ETA of the queue.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from labelsets import KINDS, load_corpus, make_labels, set_frame, set_name  # noqa: E402

TRUTH_DIR = HERE / "truth"
SEEDS = (0, 1, 2, 3)
BAND_FIRST = (0.08, 0.10, 0.12, 0.05, 0.15)
REST = (0.03, 0.20, 0.30)


def default_plan(corpora=("tweets", "fortunes")) -> list[tuple[str, str, float, int]]:
    """The queue, most informative first: per corpus the gold baseline, then the 5-15% band (8, 10, 12, 5, 15%) x
    the four kinds, draw 0, and the annotator's raw labels (tweets, then fortunes); then 3, 20, 30% draw 0; then
    draws 1 and 2 of the band; then
    draws 1 and 2 of the rest."""
    plan: list[tuple[str, str, float, int]] = []
    for corpus in corpora:
        plan.append((corpus, "gold", 0.0, 0))
        plan += [(corpus, k, r, 0) for r in BAND_FIRST for k in KINDS]
        plan.append((corpus, "llm_raw", 0.0, 0))
    for corpus in corpora:
        plan += [(corpus, k, r, 0) for r in REST for k in KINDS]
    for draw in (1, 2):
        for corpus in corpora:
            plan += [(corpus, k, r, draw) for r in BAND_FIRST for k in KINDS]
    for draw in (1, 2):
        for corpus in corpora:
            plan += [(corpus, k, r, draw) for r in REST for k in KINDS]
    return plan


def truth_path(corpus: str, settings: Path | None = None) -> Path:
    """Where the runs of a corpus are recorded: truth/<corpus>.jsonl for the packaged settings (params.yaml), else
    truth/<corpus>__<params file stem>.jsonl (e.g. the full fine-tuning of params-gpu.yaml, run on this CPU)."""
    if settings is None or Path(settings).resolve() == (ROOT / "params.yaml").resolve():
        return TRUTH_DIR / f"{corpus}.jsonl"
    return TRUTH_DIR / f"{corpus}__{Path(settings).stem}.jsonl"


def read_records(corpus: str, settings: Path | None = None) -> list[dict]:
    path = truth_path(corpus, settings)
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by an interruption: the run is redone
                continue
    return out


def train_params(params_path: Path, *, threads: int):
    from labelgate.config import read_params, section
    from labelgate.train.run import TrainParams

    params = section(read_params(params_path), "train", TrainParams)
    return replace(params, num_threads=threads, device="cpu")


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def run_one(corpus, kind: str, rate: float, draw: int, seed: int, params) -> dict:
    from sklearn.metrics import f1_score

    from labelgate.train.run import train_run

    codes, note = make_labels(corpus, kind, rate, draw)
    frame = set_frame(corpus, codes)
    name = set_name(kind, rate, draw)
    result = train_run(frame, corpus.test, corpus.labels, params, subset=f"{corpus.name}-{name}", seed=seed)
    pred = np.asarray(corpus.labels, dtype=object)[result.probabilities.argmax(axis=1)]
    gold = corpus.test["label"].astype(str).to_numpy()
    rec = result.record
    return {
        "corpus": corpus.name, "set": name, "kind": kind, "rate": rate, "draw": draw, "seed": seed,
        "n_train": len(frame), "n_errors": int((codes != corpus.truth).sum()),
        "true_error": float((codes != corpus.truth).mean()), "note": note,
        "accuracy": float((pred == gold).mean()),
        "macro_f1": float(f1_score(gold, pred, labels=list(corpus.labels), average="macro", zero_division=0)),
        "train_s": rec.train_seconds, "wall_s": rec.wall_seconds, "precision": rec.precision,
        "num_threads": rec.num_threads, "device": rec.device, "epoch_loss": rec.epoch_loss,
        "model": rec.model, "params": {k: v for k, v in rec.params.items() if k not in ("seeds",)},
        "commit": _git_commit(), "host": platform.node(),
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def selected_plan(args) -> list[tuple[str, str, float, int]]:
    """The default plan restricted by --max-rate, --rates and --draws (the order kept), e.g. `--draws 1 --rates
    0.05 0.08 0.10 0.12 0.15` for an independent draw of the band only."""
    plan = default_plan(tuple(args.corpora))
    if args.max_rate is not None:
        plan = [p for p in plan if p[2] <= args.max_rate]
    if args.rates:
        plan = [p for p in plan if any(abs(p[2] - r) < 1e-9 for r in args.rates)]
    if args.draws:
        plan = [p for p in plan if p[3] in args.draws]
    return plan


def pending(plan, seeds, settings: Path | None = None) -> list[tuple[str, str, float, int, int]]:
    done = set()
    for corpus in {p[0] for p in plan}:
        done |= {(r["corpus"], r["set"], int(r["seed"])) for r in read_records(corpus, settings)}
    return [(c, k, r, d, s) for (c, k, r, d) in plan for s in seeds if (c, set_name(k, r, d), s) not in done]


def cmd_run(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    params = train_params(args.params, threads=args.threads)
    plan = selected_plan(args)
    corpora: dict = {}
    skipped: set = set()
    todo = pending(plan, args.seeds, args.params)
    print(f"{len(todo)} runs to do ({len(plan)} sets x {len(args.seeds)} seeds, some done); "
          f"params {args.params} train: {params}", flush=True)
    TRUTH_DIR.mkdir(parents=True, exist_ok=True)
    t_start, n_done = time.time(), 0
    for i, (cname, kind, rate, draw, seed) in enumerate(todo):
        if (cname, kind, rate, draw) in skipped:
            continue
        if cname not in corpora:
            try:
                corpora[cname] = load_corpus(cname)
            except (FileNotFoundError, OSError, KeyError) as exc:
                print(f"skip corpus {cname}: {exc}", flush=True)
                corpora[cname] = None
        corpus = corpora[cname]
        if corpus is None:
            continue
        try:
            record = run_one(corpus, kind, rate, draw, seed, params)
        except ValueError as exc:
            print(f"skip {cname} {set_name(kind, rate, draw)}: {exc}", flush=True)
            skipped.add((cname, kind, rate, draw))
            continue
        with open(truth_path(cname, args.params), "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        n_done += 1
        elapsed = time.time() - t_start
        per_run = elapsed / n_done
        left = len(todo) - i - 1
        print(f"[{dt.datetime.now(dt.timezone.utc):%H:%M:%S}] {cname} {record['set']} seed {seed}: acc "
              f"{record['accuracy']:.4f} f1 {record['macro_f1']:.4f} ({record['wall_s']:.0f}s); {n_done} done, "
              f"{per_run:.0f} s/run, {left} left, ETA {left * per_run / 3600:.1f} h", flush=True)


def summarise(records: list[dict]) -> list[dict]:
    """Per (corpus, set): accuracy and macro-F1 means, and the seed-paired drop against the gold labels (gold minus
    set, in points) with its mean and std over the seeds both have."""
    by: dict = {}
    for r in records:
        by.setdefault((r["corpus"], r["set"]), {})[int(r["seed"])] = r
    out = []
    for (corpus, name), runs in by.items():
        gold = by.get((corpus, "gold"), {})
        paired = sorted(set(runs) & set(gold))
        first = next(iter(runs.values()))
        row = {"corpus": corpus, "set": name, "kind": first["kind"], "rate": first["rate"], "draw": first["draw"],
               "true_error": first["true_error"], "note": first.get("note", ""), "seeds": sorted(runs),
               "accuracy": float(np.mean([r["accuracy"] for r in runs.values()])),
               "macro_f1": float(np.mean([r["macro_f1"] for r in runs.values()])),
               "wall_s": float(np.mean([r["wall_s"] for r in runs.values()]))}
        if paired:
            drops = np.array([100 * (gold[s]["accuracy"] - runs[s]["accuracy"]) for s in paired])
            f1_drops = np.array([100 * (gold[s]["macro_f1"] - runs[s]["macro_f1"]) for s in paired])
            row.update({"paired_seeds": paired, "drop": float(drops.mean()),
                        "drop_std": float(drops.std(ddof=1)) if len(drops) > 1 else None,
                        "drops": [round(float(d), 2) for d in drops],
                        "f1_drop": float(f1_drops.mean())})
        out.append(row)
    return out


def cmd_summary(args) -> None:
    rows = []
    for c in args.corpora:
        rows += summarise(read_records(c, args.params))
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"{'corpus':9} {'set':26} {'err':>5} {'seeds':>5} {'acc':>6} {'f1':>6} {'drop':>6} {'std':>5}  note")
    for r in rows:
        std = r.get("drop_std")
        print(f"{r['corpus']:9} {r['set']:26} {100 * r['true_error']:5.1f} {len(r['seeds']):5d} "
              f"{100 * r['accuracy']:6.2f} {100 * r['macro_f1']:6.2f} "
              f"{r.get('drop', float('nan')):6.2f} {(std if std is not None else float('nan')):5.2f}  {r['note']}")


def cmd_plan(args) -> None:
    plan = selected_plan(args)
    todo = pending(plan, args.seeds, args.params)
    print(f"{len(plan)} sets x {len(args.seeds)} seeds = {len(plan) * len(args.seeds)} runs; {len(todo)} left")
    for item in todo[:args.show]:
        print(item)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("run", "summary", "plan"))
    parser.add_argument("--corpora", nargs="+", default=["tweets", "fortunes"])
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-rate", type=float, default=None)
    parser.add_argument("--rates", nargs="+", type=float, default=None, help="only these rates (e.g. the band)")
    parser.add_argument("--draws", nargs="+", type=int, default=None, help="only these draws")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--show", type=int, default=20)
    args = parser.parse_args(argv)
    {"run": cmd_run, "summary": cmd_summary, "plan": cmd_plan}[args.command](args)


if __name__ == "__main__":
    main()
