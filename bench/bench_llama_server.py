"""The OpenAI-compatible backend against llama.cpp's servers vs the in-process backend.

Usage: python bench/bench_llama_server.py [--server-python .venv-llama/bin/python] [--texts 30]
       [--concurrency 1 4 16] [--out bench/llama_server.json]
       python bench/bench_llama_server.py --server cpp [--cpp-server .llama-cpp/build/bin/llama-server]
       [--concurrency 1 4 16 16 --parallel 1 4 16 1] [--cpp-args=--swa-full] [--runs-only] [--no-baseline]
       [--out bench/llama_cpp_server.json]

--server python (default): llama-cpp-python's server (`make llama-server`); --server cpp: llama.cpp's own C++
`llama-server` (`make llama-cpp-server`), started once per --parallel value (KV slots; default: equal to the
concurrency), with the Python server's concurrency-1 run first as a same-load baseline (--no-baseline skips it).
Same model file (the demo's Gemma-3-270M Q4_K_M GGUF), same prompts (params.yaml's annotate section: a 12-shot main
prompt and two variants), the first --texts demo pool texts, no annotation cache. Measures:
- prompts/s of `annotate_texts` through the server at each concurrency (completions endpoint, top 5 + more), with the
  load average before and after each run (the box is shared);
- label agreement of those labels with the local backend's (read from the demo's committed annotation cache);
- prompts/s of the local in-process backend on the same prompts (model load included, no cache);
- where a server request's time goes: the same prompt again (whole prompt in the server's KV cache), a new text
  after the same prefix (only the text evaluated), a prompt of another template (prefix lost), each with and
  without logprobs (llama-cpp-python ranks the whole 262k vocabulary in Python for every logprobs request), and the
  echo request (a server that refuses or ignores it is recorded as such);
- the chat endpoint on a few prompts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import re
import statistics
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from llama_server import ALIAS, cpp_server_binary, llama_cpp_server, llama_server, server_python  # noqa: E402

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
    out["three_shot_prompt"] = {"top5_request_s": round(plain_s, 2)}
    try:
        echo_s, reply = post(base, {"model": ALIAS, "prompt": short + " positive", "max_tokens": 1, "logprobs": 1,
                                    "echo": True})
    except urllib.error.HTTPError as exc:
        detail = " ".join(exc.read().decode("utf-8", errors="replace").split())[:200]
        out["three_shot_prompt"]["echo_refused"] = f"HTTP {exc.code}: {detail}"
    else:
        echoed = reply["choices"][0].get("logprobs") or {}
        if "tokens" in echoed:
            out["three_shot_prompt"].update(tokens=len(echoed["tokens"]), echo_request_s=round(echo_s, 2))
        else:  # llama.cpp's C++ server answers 200 and scores only the generated token
            out["three_shot_prompt"]["echo_ignored"] = f"HTTP 200 without prompt log-probabilities ({echo_s:.2f} s)"
    return out


def throughput(served: AnnotateParams, texts: list[str], labels: tuple[str, ...], expected: pd.DataFrame,
               columns: list[str], concurrency: int, **extra) -> dict:
    """One `annotate_texts` run through the server: prompts/s, agreement with the local labels, load average."""
    load_start = os.getloadavg()
    out, report = annotate_texts(texts, labels, dataclasses.replace(served, max_concurrency=concurrency))
    agreement = {c: float((out[c] == expected[c]).mean()) for c in columns}
    run = {**extra, "concurrency": concurrency, "prompts": report.scored, "seconds": round(report.seconds, 1),
           "prompts_per_s": round(report.prompts_per_second, 3), "agreement_with_local": agreement,
           "agreement_all": float((out[columns].to_numpy() == expected[columns].to_numpy()).mean()),
           "label_mass": round(report.label_mass, 3), "load_average_start": load_start,
           "load_average_end": os.getloadavg()}
    print(json.dumps(run), flush=True)
    return run


def evaluated_tokens(log: Path) -> int:
    """Prompt tokens the C++ server evaluated so far (the rest of each prompt came from a slot's KV cache), summed
    from its log's `prompt eval time = … ms / N tokens` lines."""
    return sum(int(m) for m in re.findall(r"prompt eval time =\s+[\d.]+ ms /\s+(\d+) tokens", log.read_text()))


def chat_run(served: AnnotateParams, texts: list[str], labels: tuple[str, ...], expected: pd.DataFrame,
             columns: list[str]) -> dict:
    chat = dataclasses.replace(served, endpoint="chat", top_logprobs=20, max_concurrency=1)
    out, report = annotate_texts(texts[:2], labels, chat)
    result = {"prompts": report.scored, "prompts_per_s": round(report.prompts_per_second, 3),
              "agreement_with_local": float((out[columns].to_numpy() == expected[columns].iloc[:2].to_numpy()).mean()),
              "label_mass": round(report.label_mass, 3)}
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=["python", "cpp"], default="python")
    parser.add_argument("--server-python", default=None)
    parser.add_argument("--cpp-server", default=None, help="llama-server binary (default: .llama-cpp/build/bin/)")
    parser.add_argument("--texts", type=int, default=30)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--parallel", type=int, nargs="+", default=None,
                        help="--server cpp: KV slots for each --concurrency value (default: equal to it)")
    parser.add_argument("--ctx-per-slot", type=int, default=1024, help="--server cpp: context tokens per slot")
    parser.add_argument("--no-baseline", action="store_true",
                        help="--server cpp: skip the Python server's concurrency-1 baseline run")
    parser.add_argument("--cpp-args", default="", help="--server cpp: more llama-server flags, e.g. '--swa-full'")
    parser.add_argument("--runs-only", action="store_true",
                        help="only the throughput runs (no request costs, chat or local backend)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None,
                        help="default: bench/llama_server.json (python), bench/llama_cpp_server.json (cpp)")
    args = parser.parse_args()
    parallel = args.parallel or args.concurrency
    if len(parallel) != len(args.concurrency):
        parser.error("--parallel needs one value per --concurrency value")
    out_path = args.out or REPO / ("bench/llama_cpp_server.json" if args.server == "cpp" else "bench/llama_server.json")
    if args.server_python:
        os.environ["LABELGATE_LLAMA_PYTHON"] = args.server_python
    if args.cpp_server:
        os.environ["LABELGATE_LLAMA_CPP_SERVER"] = args.cpp_server
    python = server_python()
    binary = cpp_server_binary() if args.server == "cpp" else None
    if args.server == "cpp" and binary is None:
        sys.exit("no llama.cpp server binary: run `make llama-cpp-server`")
    if python is None and (args.server == "python" or not args.no_baseline):
        sys.exit("no llama-cpp-python server interpreter: run `make llama-server` (or --no-baseline)")

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    local = section(params, "annotate", AnnotateParams)
    local = dataclasses.replace(local, cache_dir=str(REPO / local.cache_dir))
    labels = tuple(params["base"]["labels"])
    texts = pd.read_csv(REPO / "data/demo/pool_texts.csv")["text"].tolist()[: args.texts]
    expected, _ = annotate_texts(texts, labels, local)  # from the committed cache
    columns = ["llm_label", *[c for c in expected.columns if c.startswith("annotator_")]]
    results: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores",
                     "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                     "load_average_start": os.getloadavg(), "command": "python " + " ".join(sys.argv),
                     "server": args.server, "texts": len(texts), "prompts_per_text": len(local.prompts()),
                     "server_threads": args.threads, "cpp_args": args.cpp_args}

    def served(base: str) -> AnnotateParams:
        return dataclasses.replace(local, backend="openai", base_url=base, model=ALIAS, cache_dir="",
                                   timeout_s=600.0, max_retries=1)

    if args.server == "python":
        with llama_server(python, n_threads=args.threads, log=Path("/tmp/labelgate-llama-bench.log")) as base:
            results["server"] = [throughput(served(base), texts, labels, expected, columns, c)
                                 for c in args.concurrency]
            if not args.runs_only:
                results["request_costs"] = request_costs(base, local, texts, labels)
                print(json.dumps(results["request_costs"]), flush=True)
                results["chat"] = chat_run(served(base), texts, labels, expected, columns)
    else:
        if not args.no_baseline:
            with llama_server(python, n_threads=args.threads, log=Path("/tmp/labelgate-llama-bench.log")) as base:
                results["baseline_python_server"] = throughput(served(base), texts, labels, expected, columns, 1,
                                                               server="llama-cpp-python")
        results["server"] = []
        for i, (slots, concurrency) in enumerate(zip(parallel, args.concurrency)):
            log = Path(f"/tmp/labelgate-llama-cpp-bench-{slots}x{concurrency}.log")
            with llama_cpp_server(binary, parallel=slots, n_threads=args.threads, ctx_per_slot=args.ctx_per_slot,
                                  extra=tuple(args.cpp_args.split()), log=log) as base:
                run = throughput(served(base), texts, labels, expected, columns, concurrency,
                                 server="llama-server", parallel=slots)
                run["prompt_tokens_evaluated"] = evaluated_tokens(log)
                results["server"].append(run)
                if i == 0 and not args.runs_only:
                    results["request_costs"] = request_costs(base, local, texts, labels)
                    results["request_costs"]["parallel"] = slots
                    print(json.dumps(results["request_costs"]), flush=True)
                    results["chat"] = chat_run(served(base), texts, labels, expected, columns)

    if not args.runs_only:
        fresh = dataclasses.replace(local, cache_dir="")
        load_start = os.getloadavg()
        out, report = annotate_texts(texts, labels, fresh)
        results["local"] = {"prompts": report.scored, "seconds": round(report.seconds, 1),
                            "prompts_per_s": round(report.prompts_per_second, 3),
                            "agreement_with_cache": float((out[columns].to_numpy() ==
                                                           expected[columns].to_numpy()).mean()),
                            "load_average_start": load_start, "load_average_end": os.getloadavg()}
        print(json.dumps(results["local"]), flush=True)
    results["load_average_end"] = os.getloadavg()
    out_path.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
