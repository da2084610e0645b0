"""The OpenAI-compatible backend against llama.cpp's server (llama-cpp-python[server]) vs the in-process backend.

Usage: python bench/bench_llama_server.py [--server-python .venv-llama/bin/python] [--texts 30]
       [--concurrency 1 4 16] [--out bench/llama_server.json]

Same model file (the demo's Gemma-3-270M Q4_K_M GGUF), same prompts (params.yaml's annotate section: a 12-shot main
prompt and two variants), the first --texts demo pool texts, no annotation cache. Measures:
- prompts/s of `annotate_texts` through the server at each concurrency (completions endpoint, top 5 + more);
- label agreement of those labels with the local backend's (read from the demo's committed annotation cache);
- prompts/s of the local in-process backend on the same prompts (model load included, no cache);
- where a server request's time goes: the same prompt again (whole prompt in the server's KV cache), a new text
  after the same prefix (only the text evaluated), a prompt of another template (prefix lost), each with and
  without logprobs (llama-cpp-python ranks the whole 262k vocabulary in Python for every logprobs request);
- the chat endpoint and the echo route (missing_labels: echo) on a few prompts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from llama_server import ALIAS, llama_server, server_python  # noqa: E402

from labelgate.annotate import AnnotateParams, annotate_texts  # noqa: E402
from labelgate.annotate.prompts import render_prompts  # noqa: E402
from labelgate.config import section  # noqa: E402


def post(base: str, payload: dict) -> tuple[float, dict]:
    request = urllib.request.Request(f"{base}/completions", data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as reply:
        body = json.load(reply)
    return time.perf_counter() - start, body


def request_costs(base: str, local: AnnotateParams, texts: list[str], labels: tuple[str, ...]) -> dict:
    words = {label: local.word(label) for label in labels}
    main, variant = local.prompts()[0], local.prompts()[1]
    main_prompts = render_prompts(main, texts, words, max_chars=local.max_text_chars)
    other_prompts = render_prompts(variant, texts, words, max_chars=local.max_text_chars)
    out = {}
    for logprobs in (None, 5):
        extra = {"logprobs": logprobs} if logprobs else {}
        base_payload = {"model": ALIAS, "max_tokens": 1, "temperature": 0, **extra}
        post(base, {**base_payload, "prompt": main_prompts[0]})
        same = [post(base, {**base_payload, "prompt": main_prompts[0]})[0] for _ in range(2)]
        new_text = [post(base, {**base_payload, "prompt": p})[0] for p in main_prompts[1:4]]
        switched = []
        for a, b in zip(main_prompts[1:3], other_prompts[1:3]):
            switched.append(post(base, {**base_payload, "prompt": a})[0])
            switched.append(post(base, {**base_payload, "prompt": b})[0])
        key = "with_logprobs_5" if logprobs else "no_logprobs"
        out[key] = {"same_prompt_s": round(statistics.median(same), 3),
                    "new_text_same_prefix_s": round(statistics.median(new_text), 3),
                    "template_switch_s": round(statistics.median(switched), 3)}
    three_shot = dataclasses.replace(local, few_shot=local.few_shot[:3], variants={}).prompts()[0]
    short = render_prompts(three_shot, texts[:1], words, max_chars=local.max_text_chars)[0]
    plain_s, _ = post(base, {"model": ALIAS, "prompt": short, "max_tokens": 1, "logprobs": 5})
    echo_s, reply = post(base, {"model": ALIAS, "prompt": short + " positive", "max_tokens": 1, "logprobs": 1,
                                "echo": True})
    out["three_shot_prompt"] = {"tokens": len(reply["choices"][0]["logprobs"]["tokens"]),
                                "top5_request_s": round(plain_s, 2), "echo_request_s": round(echo_s, 2)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-python", default=None)
    parser.add_argument("--texts", type=int, default=30)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "bench/llama_server.json")
    args = parser.parse_args()
    if args.server_python:
        os.environ["LABELGATE_LLAMA_PYTHON"] = args.server_python
    python = server_python()
    if python is None:
        sys.exit("no llama-cpp-python server interpreter: run `make llama-server`")

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    local = section(params, "annotate", AnnotateParams)
    local = dataclasses.replace(local, cache_dir=str(REPO / local.cache_dir))
    labels = tuple(params["base"]["labels"])
    texts = pd.read_csv(REPO / "data/demo/pool_texts.csv")["text"].tolist()[: args.texts]
    expected, _ = annotate_texts(texts, labels, local)  # from the committed cache
    columns = ["llm_label", *[c for c in expected.columns if c.startswith("annotator_")]]
    results: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores",
                     "load_average_start": os.getloadavg(), "command": "python " + " ".join(sys.argv),
                     "texts": len(texts), "prompts_per_text": len(local.prompts()), "server_threads": args.threads}

    with llama_server(python, n_threads=args.threads, log=Path("/tmp/labelgate-llama-bench.log")) as base:
        served = dataclasses.replace(local, backend="openai", base_url=base, model=ALIAS, cache_dir="",
                                     timeout_s=600.0, max_retries=1)
        runs = []
        for concurrency in args.concurrency:
            out, report = annotate_texts(texts, labels, dataclasses.replace(served, max_concurrency=concurrency))
            agreement = {c: float((out[c] == expected[c]).mean()) for c in columns}
            run = {"concurrency": concurrency, "prompts": report.scored, "seconds": round(report.seconds, 1),
                   "prompts_per_s": round(report.prompts_per_second, 3), "agreement_with_local": agreement,
                   "agreement_all": float((out[columns].to_numpy() == expected[columns].to_numpy()).mean()),
                   "label_mass": round(report.label_mass, 3)}
            print(json.dumps(run), flush=True)
            runs.append(run)
        results["server"] = runs
        results["request_costs"] = request_costs(base, local, texts, labels)
        print(json.dumps(results["request_costs"]), flush=True)
        chat = dataclasses.replace(served, endpoint="chat", top_logprobs=20, max_concurrency=1)
        out, report = annotate_texts(texts[:2], labels, chat)
        results["chat"] = {"prompts": report.scored, "prompts_per_s": round(report.prompts_per_second, 3),
                           "agreement_with_local": float((out[columns].to_numpy() ==
                                                          expected[columns].iloc[:2].to_numpy()).mean()),
                           "label_mass": round(report.label_mass, 3)}
        print(json.dumps(results["chat"]), flush=True)

    fresh = dataclasses.replace(local, cache_dir="")
    out, report = annotate_texts(texts, labels, fresh)
    results["local"] = {"prompts": report.scored, "seconds": round(report.seconds, 1),
                        "prompts_per_s": round(report.prompts_per_second, 3),
                        "agreement_with_cache": float((out[columns].to_numpy() == expected[columns].to_numpy()).mean())}
    print(json.dumps(results["local"]), flush=True)
    results["load_average_end"] = os.getloadavg()
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
