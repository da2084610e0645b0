"""A loopback HTTP server that speaks the OpenAI completions and chat-completions protocol with logprobs.

It answers deterministically from the last line of the prompt: a text containing 'love' is positive, 'hate' negative,
anything else neutral. Tests script failures (status codes answered before the real reply, per-request delays) and
redirects, watch the requests (headers, bodies) and count how many requests were in flight at once without any clock:
a request counts from its arrival until its reply is decided (the count drops before the reply is sent, so a client
thread cannot have a new request counted while its previous one still is), and `hold_first=n` makes the first n
requests wait for each other at a barrier, which proves that n requests really were in flight together. They can
also make it behave like real servers: reply shapes with missing, null or truncated top_logprobs or llama.cpp's
`logprobs.content` form (`shape`), refuse more than `max_logprobs` log-probabilities like OpenAI's completions
endpoint, echo a prompt with per-token log-probabilities (completions, `echo: true`), refuse or ignore echo (`echo`;
llama.cpp's C++ server ignores it) and split words into several tokens (`splits`).
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOP = {
    "positive": {" positive": -0.2, " Positive": -2.5, " neutral": -3.0, " negative": -4.0, "\n": -5.0},
    "negative": {" negative": -0.1, " neutral": -3.0, " positive": -4.5, " bad": -5.0, "\n": -6.0},
    # "neutral" never offers the word "positive": the backend must give it the floor
    # (" n" is a prefix of two label words and counts for neither)
    "neutral": {" neutral": -0.7, " negative": -2.0, " n": -2.5, "\n": -3.0, " the": -4.0},
}
# candidates beyond the top 5: what a request for more log-probabilities (or an echo) sees
EXTRA = {
    "positive": {" good": -5.5, " great": -6.0},
    "negative": {" awful": -6.5},
    "neutral": {" ok": -4.3, " positive": -4.6, " fine": -5.2},
}
UNKNOWN_LOGPROB = -9.0  # any other token right after a prompt
INSIDE_LOGPROB = -0.5  # any token inside the prompt (echo)


def sentiment_of(prompt: str) -> str:
    last = prompt.strip().splitlines()[-2] if prompt.count("\n") else prompt
    if "love" in last:
        return "positive"
    if "hate" in last:
        return "negative"
    return "neutral"


class FakeOpenAI:
    """Start with `with FakeOpenAI() as server:`; `server.base_url` ends in /v1."""

    def __init__(self, *, delay_s: float = 0.0, hold_first: int = 0, hold_timeout_s: float = 10.0):
        self.delay_s = delay_s
        self.hold_first = hold_first
        self._barrier = threading.Barrier(hold_first) if hold_first else None
        self._hold_timeout_s = hold_timeout_s
        self.barrier_broken = False
        self.arrived = 0
        self.redirect_to: str | None = None  # answer every POST with a 302 to this URL
        self.requests: list[dict] = []  # {"path", "headers", "body"}
        self.failures: deque[int] = deque()  # status codes to answer (one per request) before succeeding
        self.fail_prompts: dict[str, int] = {}  # prompt substring -> status answered every time
        self.retry_after: str | None = None
        self.delays: deque[float] = deque()  # seconds to hold each request (one per request) before answering
        self.released = threading.Event()  # set on exit: every request still held is answered then
        self.distribution = {k: {**TOP[k], **EXTRA[k]} for k in TOP}
        self.shape = "openai"  # openai | no_top | null_top | truncated | content
        self.max_logprobs = 100  # larger requests are refused with 400 (OpenAI completions: 5)
        self.echo: bool | str = True  # False: refused with 400; "ignored": answered as a plain completion
        self.splits: dict[str, list[str]] = {}  # token -> the tokens it is split into
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        # a short poll interval: shutdown() on exit waits up to one interval (0.5 s by default, per test)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def count(self, path_end: str = "") -> int:
        return sum(1 for r in self.requests if r["path"].endswith(path_end))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.released.set()
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):  # noqa: N802 - http.server API
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                with server._lock:
                    server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    status = server.failures.popleft() if server.failures else None
                    server.arrived += 1
                    hold = server._barrier is not None and server.arrived <= server.hold_first
                    delay = server.delays.popleft() if server.delays else server.delay_s
                try:
                    if hold:
                        try:
                            server._barrier.wait(timeout=server._hold_timeout_s)
                        except threading.BrokenBarrierError:
                            server.barrier_broken = True
                    if delay:
                        server.released.wait(delay)
                    reply = self._reply(body, status)
                finally:
                    with server._lock:
                        server.in_flight -= 1
                if reply is None:
                    self.send_response(302)
                    self.send_header("Location", server.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self._send(*reply)

            def _reply(self, body: dict, status: int | None):
                if server.redirect_to is not None:
                    return None
                prompt = body.get("prompt") or body["messages"][-1]["content"]
                for fragment, code in server.fail_prompts.items():
                    if fragment in prompt:
                        status = code
                if status is not None:
                    return status, {"error": {"message": f"scripted failure {status}"}}, server.retry_after
                top = server.distribution[sentiment_of(prompt)]
                k = int(body.get("top_logprobs") or 0) if "messages" in body else int(body.get("logprobs") or 0)
                if k > server.max_logprobs:
                    return 400, {"error": {"message": f"logprobs must be at most {server.max_logprobs}"}}, None
                if body.get("echo") and not server.echo:
                    return 400, {"error": {"message": "echo is not supported with logprobs"}}, None
                if self.path.endswith("/chat/completions"):
                    return 200, _chat_reply(body, top, server.shape), None
                if self.path.endswith("/completions") and body.get("echo") and server.echo is True:
                    return 200, _echo_reply(body, server), None
                if self.path.endswith("/completions"):
                    return 200, _completion_reply(body, top, server.shape), None
                return 404, {"error": {"message": "no such route"}}, None

            def do_GET(self):  # noqa: N802 - a redirected POST arrives here as GET (urllib's 302 handling)
                with server._lock:
                    server.requests.append({"path": self.path, "headers": dict(self.headers), "body": None})
                self._send(404, {"error": {"message": "no such route"}})

            def _send(self, status: int, payload: dict, retry_after: str | None = None):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if retry_after is not None and status in (429, 503):
                    self.send_header("Retry-After", retry_after)
                self.end_headers()
                self.wfile.write(data)

        return Handler


def _limit(top: dict[str, float], k: int) -> dict[str, float]:
    return dict(sorted(top.items(), key=lambda kv: -kv[1])[:k])


def _completion_reply(body: dict, top: dict[str, float], shape: str = "openai") -> dict:
    k = int(body.get("logprobs") or 0)
    best = max(top, key=top.get)
    logprobs = None
    if k and shape == "content":  # llama.cpp's own server answers completions in the chat form
        logprobs = _chat_reply(body | {"top_logprobs": k, "logprobs": True}, top)["choices"][0]["logprobs"]
    elif k:
        listed = {"openai": [_limit(top, k)], "no_top": None, "null_top": [None], "truncated": [_limit(top, 2)]}[shape]
        logprobs = {"tokens": [best], "token_logprobs": [top[best]], "text_offset": [0]}
        if listed is not None:
            logprobs["top_logprobs"] = listed
    return {"id": "cmpl-1", "object": "text_completion", "model": body["model"],
            "choices": [{"index": 0, "text": best, "logprobs": logprobs, "finish_reason": "length"}]}


def _chat_reply(body: dict, top: dict[str, float], shape: str = "openai") -> dict:
    k = int(body.get("top_logprobs") or 0)
    best = max(top, key=top.get)
    listed = {"openai": _limit(top, k), "no_top": None, "null_top": None, "truncated": _limit(top, 2),
              "content": _limit(top, k)}[shape]
    first = {"token": best.strip(), "logprob": top[best], "bytes": list(best.strip().encode())}
    if listed is not None:
        first["top_logprobs"] = [{"token": t.strip() or t, "logprob": v, "bytes": None} for t, v in listed.items()]
    elif shape == "null_top":
        first["top_logprobs"] = None
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": best.strip()},
                         "logprobs": {"content": [first]} if body.get("logprobs") else None,
                         "finish_reason": "length"}]}


def tokenize(text: str, splits: dict[str, list[str]]) -> list[str]:
    """Words with their leading whitespace, some split further (`splits`)."""
    tokens = []
    for token in re.findall(r"\s*\S+|\s+$", text):
        tokens.extend(splits.get(token, [token]))
    return tokens


def _echo_reply(body: dict, server: FakeOpenAI) -> dict:
    """The prompt echoed with per-token log-probabilities, then one generated token (max_tokens 1)."""
    text = body["prompt"]
    tokens = tokenize(text, server.splits)
    values, offsets, position = [], [], 0
    for i, token in enumerate(tokens):
        context = "".join(tokens[:i])
        if i == 0:
            values.append(None)
        elif context.endswith(":"):  # right after a prompt: the sentiment's distribution
            values.append(server.distribution[sentiment_of(context)].get(token, UNKNOWN_LOGPROB))
        else:
            values.append(INSIDE_LOGPROB)
        offsets.append(position)
        position += len(token)
    tokens, values, offsets = tokens + ["\n"], values + [-1.0], offsets + [position]
    logprobs = {"tokens": tokens, "token_logprobs": values, "text_offset": offsets,
                "top_logprobs": [None] + [{t: v} for t, v in zip(tokens[1:], values[1:])]}
    return {"id": "cmpl-echo", "object": "text_completion", "model": body["model"],
            "choices": [{"index": 0, "text": text + "\n", "logprobs": logprobs, "finish_reason": "length"}]}


def softmax3(neg: float, neu: float, pos: float) -> tuple[float, float, float]:
    """Probabilities renormalised over three label log-probs, for exact expectations in tests."""
    m = max(neg, neu, pos)
    e = [math.exp(v - m) for v in (neg, neu, pos)]
    s = sum(e)
    return tuple(x / s for x in e)
