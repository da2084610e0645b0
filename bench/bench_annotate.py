"""Annotation throughput of the local backend on this machine (cache disabled, so every prompt really runs).

Usage (from the repository root):
  HF_HUB_OFFLINE=1 python bench/bench_annotate.py [--params params.yaml] [--texts data/demo/pool_texts.csv]
      [--n 200] [--set key=value ...]

`--set` overrides one key of the `annotate:` section (YAML value), e.g. `--set dtype=float32 --set prefix_cache=false`,
to compare configurations. Prints one Markdown table row: prompts per second of model time (load excluded), texts
per second over all prompts (main + variants), model load time, CPU time and the load average, which matters on a
shared machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--texts", default="data/demo/pool_texts.csv")
    parser.add_argument("--n", type=int, default=200, help="first N texts of the table")
    parser.add_argument("--labels", default=None, help="comma-separated; default base.labels")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--header", action="store_true", help="print the table header first")
    args = parser.parse_args()

    from labelgate.annotate import AnnotateParams, annotate_texts
    from labelgate.annotate.local import LocalBackend
    from labelgate.config import BaseParams, load_params, section
    from labelgate.contract import read_table, resolve_labels

    values = load_params(args.params)
    annotate = dict(values.get("annotate") or {})
    for item in args.set:
        key, _, raw = item.partition("=")
        annotate[key] = yaml.safe_load(raw)
    annotate["cache_dir"] = ""  # measure the model, not the cache
    params = section({"annotate": annotate}, "annotate", AnnotateParams)
    labels = resolve_labels(section(values, "base", BaseParams).labels, option=args.labels, required=True)
    texts = read_table(args.texts)["text"].dropna().astype(str).tolist()[: args.n]

    backend = LocalBackend(params)
    start = time.perf_counter()
    backend._load()
    load_s = time.perf_counter() - start
    cpu0, wall0 = time.process_time(), time.perf_counter()
    _, report = annotate_texts(texts, labels, params, backend=backend)
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    load1 = os.getloadavg()[0]
    if args.header:
        print("| config | texts | prompts | prompts/s | texts/s (all prompts) | wall s | CPU s | load s | loadavg |")
        print("|---|---|---|---|---|---|---|---|---|")
    config = f"{params.dtype}, bs {params.batch_size}, prefix_cache {params.prefix_cache}, " \
             f"threads {params.num_threads or 'default'}, {len(params.prompts())} prompt(s)"
    print(f"| {config} | {len(texts)} | {report.scored} | {report.scored / wall:.2f} | {len(texts) / wall:.2f} "
          f"| {wall:.1f} | {cpu:.1f} | {load_s:.1f} | {load1:.2f} |")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, python {sys.version.split()[0]}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
