"""Training and inference throughput of `labelgate train` on this machine, and the wall time of the demo grid.

  throughput  samples/s of fine-tuning and of test-set inference for a few settings (on demo tweets), each next to
              a matmul probe (GFLOP/s) so numbers from a CPU shared with other jobs can be read fairly;
  startup     seconds one `labelgate train` process spends before training (imports, model load);
  accuracy    gold-test accuracy and speed of one run on the whole gold pool (2,000 tweets) for given overrides;
  grid        the demo grid as DVC would run it: `labelgate train` for every subset x seed, learning curves for
              raw and gold, then `labelgate evaluate`, one process each; synthetic subsets built from
              data/demo/pool_gold.csv (raw = systematic label flips, filtered = smaller, cleaner copies).

Usage (from the repository root):
  HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_train.py throughput [--n 512] [--configs default,f2,bs16]
  HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_train.py startup
  HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_train.py accuracy [--set freeze_layers=5 --set learning_rate=2e-4]
  HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_train.py grid [--work /tmp/labelgate-grid] [--params params.yaml]
Results go to stdout as Markdown table rows (paste into bench/train_throughput.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
LABELS = ("negative", "neutral", "positive")

# Settings compared by `throughput`: overrides of TrainParams (the defaults are the demo's).
CONFIGS = {
    "default": {},  # freeze embeddings + 4 of 6 layers, batch 16, precision auto (bf16 on this CPU)
    "fp32": {"precision": "fp32"},
    "f5": {"freeze_layers": 5},
    "f2": {"freeze_layers": 2},
    "f0": {"freeze_layers": 0},
    "unfrozen": {"freeze_embeddings": False, "freeze_layers": 0},
    "fp32-f2": {"precision": "fp32", "freeze_layers": 2},
    "fp32-unfrozen": {"precision": "fp32", "freeze_embeddings": False, "freeze_layers": 0},
    "bs32": {"batch_size": 32},
    "nobucket": {"bucket_pool": 1},
    "1thread": {"num_threads": 1},
}


def gflops(threads: int = 0, size: int = 1024, repeat: int = 30) -> float:
    """fp32 matmul GFLOP/s with torch's threads: a probe of how much CPU this process gets right now."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(repeat):
        a @ b
    return 2 * size**3 * repeat / (time.perf_counter() - start) / 1e9


def throughput(n: int, configs: list[str], n_test: int) -> None:
    import numpy as np
    import pandas as pd

    from labelgate.train.data import encode_labels
    from labelgate.train.loop import fine_tune, predict_proba
    from labelgate.train.run import TrainParams

    pool = pd.read_csv(REPO / "data/demo/pool_gold.csv").sample(n=n, random_state=0)
    test = pd.read_csv(REPO / "data/demo/test.csv").head(n_test)
    codes = encode_labels(pool["label"], LABELS, path="pool", column="label")
    print("| config | overrides | GFLOP/s probe | train samples/s | train CPU ms/sample | inference samples/s "
          "| inference CPU ms/sample | load avg |")
    print("|---|---|---|---|---|---|---|---|")
    for name in configs:
        params = dataclasses.replace(TrainParams(), epochs=1, **CONFIGS[name])
        probe = gflops(params.num_threads)
        cpu = time.process_time()
        model, tokenizer, stats = fine_tune(pool["text"].tolist(), codes, LABELS, params, seed=0)
        train_cpu = (time.process_time() - cpu) / n * 1000  # includes the model load (~0.3 s CPU)
        start, cpu = time.perf_counter(), time.process_time()
        predict_proba(model, tokenizer, test["text"].tolist(), max_length=params.max_length,
                      batch_size=params.eval_batch_size, precision=params.precision)
        infer = len(test) / (time.perf_counter() - start)
        infer_cpu = (time.process_time() - cpu) / len(test) * 1000
        print(f"| {name} | {CONFIGS[name] or 'demo defaults'} | {probe:.0f} | {stats['train_samples_per_second']:.0f} "
              f"| {train_cpu:.1f} | {infer:.0f} | {infer_cpu:.2f} | {os.getloadavg()[0]:.1f} |", flush=True)


def startup() -> None:
    code = ("import time; t=time.perf_counter(); import torch, transformers; from labelgate.train.loop import load_model;"
            "i=time.perf_counter(); load_model('minilm', ('a','b','c')); "
            "print(f'{i-t:.2f} {time.perf_counter()-i:.2f}')")
    for _ in range(3):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
        print(f"imports {out[0]} s, model load {out[1]} s, process total {time.perf_counter() - start:.2f} s")


def accuracy(overrides: list[str], seed: int) -> None:
    import pandas as pd

    from labelgate.train.run import TrainParams, train_run

    types = {f.name: f.type for f in dataclasses.fields(TrainParams)}
    values = {}
    for item in overrides:
        key, _, raw = item.partition("=")
        kind = types[key]
        values[key] = raw if kind == "str" else (raw.lower() == "true" if kind == "bool" else
                                                 float(raw) if kind == "float" else int(raw))
    params = TrainParams(**values)
    pool = pd.read_csv(REPO / "data/demo/pool_gold.csv")
    test = pd.read_csv(REPO / "data/demo/test.csv")
    record = train_run(pool, test, LABELS, params, subset="gold", seed=seed).record
    print(f"| {values or 'demo defaults'} | {seed} | {record.test_accuracy:.3f} "
          f"| {record.train_samples_per_second:.0f} | {record.inference_samples_per_second:.0f} "
          f"| {record.precision} | {os.getloadavg()[0]:.1f} |")


def make_subsets(folder: Path) -> dict[str, int]:
    """Synthetic demo subsets: gold (crowd labels), raw (systematic flips) and four smaller filtered copies."""
    import numpy as np
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    gold = pd.read_csv(REPO / "data/demo/pool_gold.csv")
    rng = np.random.default_rng(13)
    raw = gold.copy()
    neutral = np.flatnonzero((raw["label"] == "neutral").to_numpy())
    positive = np.flatnonzero((raw["label"] == "positive").to_numpy())
    flipped = np.concatenate([rng.choice(neutral, size=int(0.3 * len(neutral)), replace=False),
                              rng.choice(positive, size=int(0.15 * len(positive)), replace=False)])
    raw.loc[flipped[: int(0.3 * len(neutral))], "label"] = "negative"  # the LLM reads neutral as negative
    raw.loc[flipped[int(0.3 * len(neutral)):], "label"] = "neutral"
    sizes = {"gold": 2000, "raw": 2000, "entropy": 1600, "cleanlab": 1700, "consensus": 1300, "combined": 1300}
    is_flipped = np.zeros(len(raw), bool)
    is_flipped[flipped] = True
    for name, size in sizes.items():
        if name in ("gold", "raw"):
            frame = gold if name == "gold" else raw
        else:  # filters drop flipped rows preferentially, and some clean ones
            weight = np.where(is_flipped, 0.3, 1.0)
            keep = rng.choice(len(raw), size=size, replace=False, p=weight / weight.sum())
            frame = raw.iloc[np.sort(keep)]
        frame[["id", "text", "label"]].to_parquet(folder / f"{name}.parquet", index=False)
    return sizes


def grid(work: Path, params: Path, seeds: list[int]) -> None:
    work.mkdir(parents=True, exist_ok=True)
    sizes = make_subsets(work / "subsets")
    cli = [str(Path(sys.executable).with_name("labelgate"))]
    common = ["--params", str(params.resolve()), "--test", str(REPO / "data/demo/test.csv"), "--no-progress"]
    timings = []

    def run(step: str, args: list[str]) -> None:
        start = time.perf_counter()
        subprocess.run(cli + args, check=True, cwd=work)
        timings.append((step, time.perf_counter() - start))
        print(f"[{sum(t for _, t in timings):7.1f} s] {step}: {timings[-1][1]:.1f} s", flush=True)

    probe = gflops()
    wall = time.perf_counter()
    for subset in sizes:
        for seed in seeds:
            run(f"train {subset} seed {seed}",
                ["train", "--subset", subset, "--seed", str(seed), "--subsets-dir", "subsets", *common])
    for subset in ("gold", "raw"):
        extra = ["--reference", "metrics/learning_curve/gold.json"] if subset != "gold" else []
        run(f"learning-curve {subset}", ["learning-curve", "--subset", subset, "--subsets-dir", "subsets",
                                          "--full-run", f"models/{subset}/seed_0", *extra, *common])
    run("evaluate", ["evaluate", "--params", str(params.resolve()), "--test", str(REPO / "data/demo/test.csv")])
    total = time.perf_counter() - wall
    train_total = sum(t for s, t in timings if s.startswith("train"))
    curve_total = sum(t for s, t in timings if s.startswith("learning"))
    print(f"\nGFLOP/s probe before: {probe:.0f}, after: {gflops():.0f}")
    print(f"grid wall time {total:.0f} s: train {train_total:.0f} s ({len(sizes) * len(seeds)} runs), "
          f"learning curves {curve_total:.0f} s, evaluate {timings[-1][1]:.0f} s")
    metrics = json.loads((work / "metrics/evaluate.json").read_text())
    print("| subset | n | accuracy mean | std | macro-F1 mean | alpha | unchanged | ensemble acc | gap | plateau |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, m in metrics["subsets"].items():
        print(f"| {name} | {sizes.get(name)} | {m['accuracy_mean']:.4f} | {m['accuracy_std']:.4f} | "
              f"{m['macro_f1_mean']:.4f} | {m['krippendorff_alpha']:.3f} | {m['unchanged_prediction_rate']:.3f} | "
              f"{m['ensemble_accuracy']:.4f} | {m['accuracy_gap_to_reference']:+.4f} | {m['plateau']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--n", type=int, default=512, help="training tweets per measurement")
    t.add_argument("--n-test", type=int, default=600, help="test tweets for inference")
    t.add_argument("--configs", default="default", help=f"comma-separated, of {','.join(CONFIGS)}")
    sub.add_parser("startup")
    a = sub.add_parser("accuracy")
    a.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="TrainParams override")
    a.add_argument("--seed", type=int, default=0)
    g = sub.add_parser("grid")
    g.add_argument("--work", type=Path, default=Path("/tmp/labelgate-grid"))
    g.add_argument("--params", type=Path, default=REPO / "params.yaml")
    g.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    from labelgate.train.device import prefer_passive_omp_wait

    prefer_passive_omp_wait()  # as the CLI does; OMP_WAIT_POLICY=ACTIVE in the environment compares the default
    if args.command == "throughput":
        throughput(args.n, args.configs.split(","), args.n_test)
    elif args.command == "startup":
        startup()
    elif args.command == "accuracy":
        accuracy(args.set, args.seed)
    else:
        grid(args.work, args.params, [int(s) for s in args.seeds.split(",")])


if __name__ == "__main__":
    main()
