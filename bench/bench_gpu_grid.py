"""The demo's training grid on a GPU: every subset x seed through `labelgate.train.run.train_run`, as `labelgate train`
runs it, with the demo's CPU settings (params.yaml) and with full fine-tuning (params.yaml + params-gpu.yaml).

Usage (repository root, on the GPU machine):
  python bench/bench_gpu_grid.py --model <folder> [--configs demo gpu] [--out bench/gpu_grid.json]
      [--throughput-model <folder>]

--model is the MiniLM folder of the registry package (or a copy; a copy whose weights were stored as fp16 to fit
a transfer is upcast to fp32 first, with --upcast). --throughput-model adds one timing-only run of a base-sized
encoder (e.g. a randomly initialised bert-base built by --make-bert-base <folder>): its accuracy means nothing, its
samples/s is what a bert-base fine-tune costs on this GPU. Runs are in one process (the model is loaded per run, as
each `labelgate train` process does; the ~5 s of Python and torch start-up per DVC stage are not counted).
Figures per subset: test accuracy and macro-F1 (mean and std over seeds), as `labelgate evaluate` reports them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import yaml  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from labelgate.config import section  # noqa: E402
from labelgate.curves import accuracy_and_macro_f1  # noqa: E402
from labelgate.contract import read_test_table  # noqa: E402
from labelgate.train.data import read_training_table  # noqa: E402
from labelgate.train.run import TrainParams, train_run  # noqa: E402

SUBSETS = ("raw", "entropy", "cleanlab", "consensus", "combined", "gold")


def train_params(config: str, model: str) -> TrainParams:
    values = yaml.safe_load((REPO / "params.yaml").read_text())
    train = dict(values["train"])
    if config == "gpu":
        train.update(yaml.safe_load((REPO / "params-gpu.yaml").read_text())["train"])
    train["model"] = model
    return section({"train": train}, "train", TrainParams)


def upcast(folder: Path, out: Path) -> Path:
    """Copy a model folder whose safetensors hold fp16 weights, with the weights as fp32 (what the package ships)."""
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    out.mkdir(parents=True, exist_ok=True)
    for item in folder.iterdir():
        if item.is_file() and item.suffix != ".safetensors":
            shutil.copy(item, out / item.name)
    for item in folder.glob("*.safetensors"):
        tensors = {k: v.to(torch.float32) if v.is_floating_point() else v for k, v in load_file(item).items()}
        save_file(tensors, out / item.name, metadata={"format": "pt"})
    return out


def make_bert_base(tokenizer_folder: Path, out: Path) -> Path:
    """A randomly initialised bert-base (12 layers, hidden 768) with the MiniLM tokenizer (the same uncased
    30,522-word vocabulary): the size of a bert-base fine-tune, for timing only."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    BertModel(BertConfig()).save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(tokenizer_folder).save_pretrained(out)
    return out


def run_grid(config: str, model: str, subsets: tuple[str, ...], seeds: tuple[int, ...] | None) -> dict:
    params = train_params(config, model)
    test = read_test_table(REPO / "data/demo/test.csv")
    labels = tuple(yaml.safe_load((REPO / "params.yaml").read_text())["base"]["labels"])
    truth = test["label"].astype(str).to_numpy()
    out = {"params": {k: v for k, v in vars(params).items() if k != "seeds"}, "subsets": {}}
    grid_start = time.perf_counter()
    for subset in subsets:
        frame = read_training_table(REPO / "data/subsets" / f"{subset}.parquet")
        runs = {}
        for seed in seeds or params.seeds:
            result = train_run(frame, test, labels, params, subset=subset, seed=seed)
            pred = np.asarray(labels)[result.probabilities.argmax(axis=1)]
            r = result.record
            runs[str(seed)] = {"accuracy": r.test_accuracy, "macro_f1": accuracy_and_macro_f1(truth, pred, labels)[1],
                               "n_train": r.n_train, "train_seconds": r.train_seconds,
                               "train_samples_per_second": r.train_samples_per_second,
                               "inference_samples_per_second": r.inference_samples_per_second,
                               "wall_seconds": r.wall_seconds, "device": r.device, "precision": r.precision,
                               "trainable_parameters": r.trainable_parameters, "epoch_loss": r.epoch_loss}
            print(f"{config} {subset} seed {seed}: acc {r.test_accuracy:.4f} f1 {runs[str(seed)]['macro_f1']:.4f} "
                  f"{r.train_samples_per_second:.0f} train/s {r.wall_seconds:.1f} s on {r.device} {r.precision}",
                  flush=True)
        acc = [v["accuracy"] for v in runs.values()]
        f1 = [v["macro_f1"] for v in runs.values()]
        out["subsets"][subset] = {"accuracy_mean": float(np.mean(acc)), "accuracy_std": float(np.std(acc, ddof=1))
                                  if len(acc) > 1 else 0.0, "macro_f1_mean": float(np.mean(f1)),
                                  "macro_f1_std": float(np.std(f1, ddof=1)) if len(f1) > 1 else 0.0, "runs": runs}
    out["grid_wall_seconds"] = round(time.perf_counter() - grid_start, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--upcast", action="store_true", help="the model folder holds fp16 weights: upcast first")
    parser.add_argument("--configs", nargs="+", default=["demo", "gpu"], choices=["demo", "gpu"])
    parser.add_argument("--subsets", nargs="+", default=list(SUBSETS))
    parser.add_argument("--make-bert-base", type=Path, default=None, help="build a random bert-base here, time it")
    parser.add_argument("--out", type=Path, default=REPO / "bench/gpu_grid.json")
    args = parser.parse_args()

    import torch
    import transformers

    model = args.model
    if args.upcast:
        model = upcast(model, Path("/tmp/labelgate-model-fp32"))
    record = {"date": time.strftime("%Y-%m-%d"), "machine": platform.node(), "python": platform.python_version(),
              "torch": torch.__version__, "transformers": transformers.__version__,
              "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
              "cpu_count": os.cpu_count(), "weights_transferred_as_fp16": bool(args.upcast), "configs": {}}
    print(json.dumps({k: v for k, v in record.items() if k != "configs"}), flush=True)
    for config in args.configs:
        record["configs"][config] = run_grid(config, str(model), tuple(args.subsets), None)
        args.out.write_text(json.dumps(record, indent=1) + "\n")
    if args.make_bert_base is not None:
        bert = make_bert_base(model, args.make_bert_base)
        record["configs"]["bert_base_random_timing_only"] = run_grid("gpu", str(bert), ("raw",), (0,))
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    for config, values in record["configs"].items():
        print(config, f"grid {values['grid_wall_seconds']} s",
              {s: (round(v["accuracy_mean"], 4), round(v["macro_f1_mean"], 4)) for s, v in values["subsets"].items()})


if __name__ == "__main__":
    main()
