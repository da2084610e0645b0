"""OpenAI-compatible HTTP backend (OpenAI, vLLM, Ollama, llama.cpp server), standard library only.

Each prompt is one request for a single token at temperature 0 with the log-probabilities of the top k candidates:
  completions: POST {base_url}/completions       {"prompt": ..., "max_tokens": 1, "logprobs": k}
  chat:        POST {base_url}/chat/completions  {"messages": [{"role": "user", ...}], "max_tokens": 1,
                                                  "logprobs": true, "top_logprobs": k}
Requests run in a bounded thread pool (`max_concurrency`). HTTP 408/409/429/5xx, timeouts and dropped connections are
retried `max_retries` times with exponential backoff (`backoff_s` * 2^attempt, +-50% jitter; a Retry-After header is
honoured up to 60 s); then, or at once on any other error, an AnnotationError names the status and the endpoint.
Results already received are handed back before the error is raised, so the cache keeps them.

A candidate token counts for a label when, stripped of whitespace and tokenizer space markers and lower-cased, it is
a non-empty prefix of the label word (" Positive", "positive" and "pos" all count for "positive", so a label word
that the server's tokenizer splits into several tokens is found by its first token); a token that is a prefix of
several label words counts for none; the probabilities of all tokens of a label are added.

Labels without a candidate in the top k (`missing_labels`):
  more   (default) ask again for that prompt with `more_top_logprobs` candidates (OpenAI chat, vLLM, llama.cpp and
         Ollama accept 20; a server that refuses the larger k with a 4xx is asked no more, with one warning);
  echo   completions endpoint only: score each missing label word as a continuation, one request per word:
         {"prompt": prompt + " " + word, "echo": true, "logprobs": 1, "max_tokens": 1}; the label's log-probability
         is that of the continuation's first token (with any whitespace-only token before it), found by text_offset:
         the number the top-k list holds for that token and the local backend computes (the top-k route also adds
         other spellings such as " Positive"; for a label missing from the top k each of those is below the k-th
         candidate). Exact, but a server that ranks the whole vocabulary for every echoed prompt token
         (llama-cpp-python) makes it slow on long prompts, and llama.cpp's C++ server ignores `echo` (an error);
  floor  nothing more is asked.
A label still missing gets, before the label probabilities are renormalised, the largest probability it can have
while missing from the top k: min(lowest top-k probability, 1 - sum of top-k probabilities), at least 1e-12. This is
conservative: a missing label never looks less likely than it could be. `floored` counts such labels (logged).

Replies that real servers send are read leniently where that loses nothing: a missing, null or truncated
`top_logprobs` list falls back to the sampled token and its log-probability (the other labels then take the route
above); the llama.cpp server's `logprobs.content` form is read on the completions endpoint as well. A reply with no
log-probabilities at all is an error that names the endpoint.

The API key is read from the environment variable named by `api_key_env` when the backend is built and is only ever
sent in the Authorization header; it is not part of the cache identity, logs or error messages (any echo of it in a
server reply is replaced by '***'). No key: no Authorization header (local servers need none).
"""

from __future__ import annotations

import concurrent.futures
import datetime
import email.utils
import http.client
import ipaddress
import json
import logging
import math
import os
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence

from labelgate.annotate.params import AnnotateParams
from labelgate.errors import EXIT_BAD_INPUT, LabelgateError

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 60.0
FLOOR_MIN = 1e-12
CLIENT_REFUSALS = frozenset({400, 404, 422})  # a server that does not support a request form answers one of these
_SPACE_MARKERS = "\u0120\u2581\u010a"  # GPT-2 'Ġ', SentencePiece '▁', GPT-2 'Ċ'

OnBatch = Callable[[list[int], list[dict]], None]


class AnnotationError(LabelgateError):
    """The annotation backend failed (HTTP error after retries, unusable reply)."""

    exit_code = EXIT_BAD_INPUT


class _Refused(Exception):
    """The server refused a request form (4xx); the caller falls back."""


def public_url(url: str) -> str:
    """`url` without user name, password, query and fragment: what may appear in cache names and reports."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Refuse a redirect to another scheme, host or port: urllib would send the Authorization header there."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        old = urllib.parse.urlsplit(req.full_url)
        new = urllib.parse.urlsplit(urllib.parse.urljoin(req.full_url, newurl))
        if (old.scheme, old.hostname, old.port) != (new.scheme, new.hostname, new.port):
            raise urllib.error.HTTPError(req.full_url, code, f"redirect to another host ({public_url(newurl)}) "
                                         f"refused: the API key is never sent elsewhere", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class OpenAIBackend:
    """Scores prompts through an OpenAI-compatible endpoint with logprobs."""

    kind = "openai"

    def __init__(self, params: AnnotateParams, *, environ: Mapping[str, str] | None = None):
        self.params = params
        environ = os.environ if environ is None else environ
        self._api_key = environ.get(params.api_key_env) or None
        path = "/chat/completions" if params.endpoint == "chat" else "/completions"
        self.url = params.base_url + path
        self.shown = public_url(self.url)  # what errors and logs print: never a user name or password
        # never a credential in the cache identity (it names a committed file): no userinfo, query or fragment
        self.identity = (f"openai:{params.endpoint}:{public_url(params.base_url)}:{params.model}"
                         f":top{params.top_logprobs}")
        if params.missing_labels != "floor":
            more = f"{params.more_top_logprobs}" if params.missing_labels == "more" else ""
            self.identity += f":missing-{params.missing_labels}{more}"
        self.requests_sent = 0
        self.floored = 0  # label values of the last `score` call that got the floor (no candidate even after more)
        self._more_refused = False
        self._lock = threading.Lock()
        host = urllib.parse.urlsplit(self.url).hostname or ""
        handlers = [urllib.request.ProxyHandler({})] if _is_loopback(host) else []
        self._opener = urllib.request.build_opener(*handlers, _SameOriginRedirects())
        if self._api_key is None:
            log.info("no API key in $%s: sending requests without an Authorization header", params.api_key_env)

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIBackend(url={self.shown!r}, model={self.params.model!r})"

    def score(self, prompts: Sequence[str], words: Mapping[str, str], *, tail: str = "", on_batch: OnBatch) -> None:
        """Score every prompt; on_batch(indices, records) runs in the calling thread every `batch_size` replies."""
        if not prompts:
            return
        word_list = list(words.values())
        self.floored = 0
        pending: list[tuple[int, dict]] = []
        consumed: set[int] = set()

        def take(index: int, record: dict) -> None:
            pending.append((index, record))
            consumed.add(index)

        def flush() -> None:
            if pending:
                on_batch([i for i, _ in pending], [r for _, r in pending])
                pending.clear()

        stop = threading.Event()
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=self.params.max_concurrency,
                                                     thread_name_prefix="labelgate-annotate")
        futures = {pool.submit(self._score_prompt, prompt, word_list, stop): i for i, prompt in enumerate(prompts)}
        try:
            for future in concurrent.futures.as_completed(futures):
                take(futures[future], future.result())
                if len(pending) >= self.params.batch_size:
                    flush()
        except BaseException:
            # Stop retrying, drop what has not started, wait for requests in flight, then keep every reply that
            # arrived (the cache stores it) before the error propagates.
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            for future, index in futures.items():
                if index not in consumed and future.done() and not future.cancelled() and future.exception() is None:
                    take(index, future.result())
            flush()
            raise
        finally:
            pool.shutdown(wait=True)
        flush()
        if self.floored:
            log.warning("%s: %d label value(s) had no candidate in the top %d%s and got the conservative floor",
                        self.shown, self.floored, self.params.top_logprobs,
                        f" (nor {self.params.more_top_logprobs})" if self.params.missing_labels == "more" else "")

    def _score_prompt(self, prompt: str, words: Sequence[str], stop: threading.Event | None = None) -> dict:
        """The cache record {"logprobs": {word: logprob}, "floor": logprob} of one prompt."""
        p = self.params
        top = self._parse(self._post(self._payload(prompt, p.top_logprobs), stop))
        logprobs, floor = label_logprobs(top, words)
        missing = [w for w in words if w not in logprobs]
        if missing and p.missing_labels == "more" and p.more_top_logprobs > p.top_logprobs and not self._more_refused:
            try:
                top = self._parse(self._post(self._payload(prompt, p.more_top_logprobs), stop, quiet=True))
                logprobs, floor = label_logprobs(top, words)
            except _Refused as exc:
                self._more_refused = True
                log.warning("%s refuses %d log-probabilities (%s); labels outside the top %d get the floor",
                            self.shown, p.more_top_logprobs, exc, p.top_logprobs)
        elif missing and p.missing_labels == "echo":
            for word in missing:
                logprobs[word] = self._continuation_logprob(prompt, word, stop)
        missing = sum(1 for w in words if w not in logprobs)
        if missing:
            with self._lock:
                self.floored += missing
        return {"logprobs": logprobs, "floor": floor}

    def _continuation_logprob(self, prompt: str, word: str, stop: threading.Event | None) -> float:
        """log p(first token of ' word' | prompt), from the echoed log-probabilities of prompt + ' word'."""
        text = f"{prompt} {word}"
        reply = self._post({**self._payload(text, 1), "echo": True}, stop)  # echo needs the completions endpoint
        try:
            logprobs = reply["choices"][0]["logprobs"]
            if "tokens" not in logprobs and "content" in logprobs:  # llama.cpp's C++ server answers echo this way
                raise ValueError("the server ignores echo: its reply scores only the generated token")
            tokens, values = logprobs["tokens"], logprobs["token_logprobs"]
            offsets = logprobs.get("text_offset") or _offsets(tokens)
            if not (len(tokens) == len(values) == len(offsets)):
                raise ValueError("tokens, token_logprobs and text_offset differ in length")
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise AnnotationError(f"{self.shown}: echo reply without usable token log-probabilities "
                                  f"({type(exc).__name__}: {exc}); set annotate.missing_labels to 'more' or "
                                  "'floor' for this server") from None
        total = None
        for token, value, offset in zip(tokens, values, offsets):
            if offset < len(prompt):
                continue
            if offset >= len(text) or (total is None and offset != len(prompt)) or value is None:
                break  # past the word (the generated token), or a token spans the prompt and the word
            total = (total or 0.0) + float(value)
            if token.strip().strip(_SPACE_MARKERS):
                return total
        raise AnnotationError(f"{self.shown}: the server's tokens do not start at the end of the prompt for label "
                              f"word {word!r} (a token spans the prompt and the word); set annotate.missing_labels "
                              "to 'more' or 'floor'")

    def _payload(self, prompt: str, k: int) -> dict:
        p = self.params
        if p.endpoint == "chat":
            return {"model": p.model, "messages": [{"role": "user", "content": prompt}], "max_tokens": 1,
                    "temperature": 0, "logprobs": True, "top_logprobs": k}
        return {"model": p.model, "prompt": prompt, "max_tokens": 1, "temperature": 0, "logprobs": k}

    def _post(self, payload: dict, stop: threading.Event | None = None, *, quiet: bool = False) -> dict:
        """POST with retries; the parsed JSON reply. quiet: a client refusal (400/404/422) raises _Refused."""
        body = json.dumps(payload).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        attempts = self.params.max_retries + 1
        for attempt in range(attempts):
            if stop is not None and stop.is_set():
                raise AnnotationError(f"{self.shown}: cancelled after another request failed")
            request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            with self._lock:
                self.requests_sent += 1
            delay = None
            try:
                with self._opener.open(request, timeout=self.params.timeout_s) as response:
                    raw = response.read()
                try:
                    return json.loads(raw)
                except ValueError as exc:
                    raise AnnotationError(f"{self.shown}: reply is not JSON ({exc})") from None
            except urllib.error.HTTPError as exc:
                detail = self._redact(_snippet(exc))
                if quiet and exc.code in CLIENT_REFUSALS:
                    raise _Refused(f"HTTP {exc.code}: {detail[:120]}") from None
                if exc.code not in RETRY_STATUS or attempt == attempts - 1:
                    hint = f" (is ${self.params.api_key_env} set?)" if exc.code in (401, 403) else ""
                    raise AnnotationError(
                        f"{self.shown}: HTTP {exc.code} {exc.reason}{hint}"
                        f"{' after ' + str(attempt + 1) + ' attempts' if attempt else ''}: {detail}"
                    ) from None
                delay = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
                reason = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:  # timeouts, resets, cut replies
                reason = self._redact(f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}")
                if attempt == attempts - 1:
                    raise AnnotationError(f"{self.shown}: request failed after {attempts} attempts ({reason})") from None
            if delay is None:
                delay = self.params.backoff_s * (2 ** attempt) * random.uniform(0.5, 1.5)
            log.info("%s: %s, retry %d/%d in %.2fs", self.shown, reason, attempt + 1, self.params.max_retries, delay)
            _pause(delay, stop)
        raise AssertionError("unreachable")  # pragma: no cover

    def _parse(self, reply: dict) -> dict[str, float]:
        """{token: logprob} of the first generated token: its top candidates, else at least the sampled token."""
        try:
            choice = reply["choices"][0]
            logprobs = choice.get("logprobs")
            if not logprobs:
                raise KeyError("logprobs")
            if isinstance(logprobs.get("content"), list):  # chat, and llama.cpp's own server on completions
                first = logprobs["content"][0]
                top = {item["token"]: float(item["logprob"]) for item in first.get("top_logprobs") or []
                       if item and item.get("logprob") is not None}
                if first.get("logprob") is not None:
                    top.setdefault(first["token"], float(first["logprob"]))
            else:
                listed = logprobs.get("top_logprobs") or [None]
                top = {str(t): float(v) for t, v in (listed[0] or {}).items() if v is not None}
                tokens, values = logprobs.get("tokens") or [], logprobs.get("token_logprobs") or []
                if tokens and values and values[0] is not None:
                    top.setdefault(tokens[0], float(values[0]))
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise AnnotationError(
                f"{self.shown}: reply without usable logprobs ({type(exc).__name__}: {exc}); the endpoint must return "
                f"{'logprobs.content[0].top_logprobs' if self.params.endpoint == 'chat' else 'logprobs.top_logprobs'}"
            ) from None
        if not top:
            raise AnnotationError(f"{self.shown}: reply has no log-probability for its first token")
        return top

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text


def label_logprobs(top: Mapping[str, float], words: Sequence[str]) -> tuple[dict[str, float], float]:
    """Map top-k candidate tokens {token: logprob} to label words; returns ({word: logprob}, floor logprob).

    Words with no matching candidate are absent from the mapping; the caller gives them the floor.
    """
    lowered = [w.lower() for w in words]
    mass: dict[str, float] = {}
    for token, logprob in top.items():
        norm = token.strip().strip(_SPACE_MARKERS).strip().lower()
        if not norm:
            continue
        hits = [w for w, low in zip(words, lowered) if low.startswith(norm)]
        if len(hits) == 1:
            mass[hits[0]] = mass.get(hits[0], 0.0) + math.exp(logprob)
    probs = [math.exp(v) for v in top.values()]
    floor = max(min(min(probs), 1.0 - sum(probs)), FLOOR_MIN)
    return {w: math.log(max(p, FLOOR_MIN)) for w, p in mass.items()}, math.log(floor)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _pause(seconds: float, stop: threading.Event | None) -> None:
    """Wait `seconds` before a retry, cut short when another request of the batch failed (`stop` set). The one
    place the backend waits, so tests read the delays it chose instead of timing them."""
    if stop is not None:
        stop.wait(seconds)
    else:
        time.sleep(seconds)


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; capped at MAX_RETRY_AFTER_S."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        seconds = (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def _offsets(tokens: Sequence[str]) -> list[int]:
    """Character offsets of tokens laid end to end (for servers that send no text_offset)."""
    out, position = [], 0
    for token in tokens:
        out.append(position)
        position += len(token)
    return out


def _snippet(exc: urllib.error.HTTPError) -> str:
    try:
        text = exc.read().decode("utf-8", errors="replace")
    except Exception:  # noqa: BLE001 - the body is only decoration for the message
        return ""
    return " ".join(text.split())[:300]
