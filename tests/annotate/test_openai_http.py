"""annotate/openai_http.py: the OpenAI-compatible backend against what real servers do (on the loopback fake):
labels outside the top k, label words split into several tokens, missing or truncated top_logprobs, 429 with
Retry-After, 5xx, timeouts, a run killed mid-way that resumes from the cache; key handling, redirects, retries."""

from __future__ import annotations

import logging
import math
import os
import signal
import subprocess
import sys
import time
from email.utils import formatdate
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from annotate_helpers import KEY
from fake_openai import TOP, FakeOpenAI, softmax3

from labelgate.annotate import AnnotateParams, AnnotationCache, AnnotationError, annotate_texts
from labelgate.annotate import openai_http
from labelgate.annotate.openai_http import OpenAIBackend, _retry_after, label_logprobs

LABELS = ("negative", "neutral", "positive")
NEUTRAL = "The flight leaves at noon"
POSITIVE = "I love this airline"
PROBS = [f"llm_prob_{label}" for label in LABELS]


@pytest.fixture()
def server():
    with FakeOpenAI() as fake:
        yield fake


def params(server, tmp_path, **overrides) -> AnnotateParams:
    values = dict(backend="openai", model="fake-model", base_url=server.base_url, cache_dir=str(tmp_path / "cache"),
                  backoff_s=0.0, timeout_s=5.0, max_retries=3, batch_size=1, max_concurrency=1)
    values.update(overrides)
    return AnnotateParams(**values)


def probs_of(out) -> np.ndarray:
    return out[PROBS].to_numpy()


class TestLabelsOutsideTopK:
    def test_floor_asks_nothing_more(self, server, tmp_path):
        out, _ = annotate_texts([NEUTRAL], LABELS, params(server, tmp_path, missing_labels="floor"))
        assert server.count() == 1
        np.testing.assert_allclose(probs_of(out)[0], softmax3(-2.0, -0.7, -4.0))  # floor: the lowest top-5 value

    def test_more_asks_again_for_20(self, server, tmp_path):
        out, _ = annotate_texts([NEUTRAL, POSITIVE], LABELS, params(server, tmp_path))
        assert [r["body"]["logprobs"] for r in server.requests] == [5, 20, 5]  # the positive text has all three
        np.testing.assert_allclose(probs_of(out)[0], softmax3(-2.0, -0.7, -4.6))  # the real value, not the floor

    def test_a_server_refusing_more_is_asked_once_then_floored(self, server, tmp_path, caplog):
        server.max_logprobs = 5  # OpenAI's completions endpoint
        out, _ = annotate_texts([NEUTRAL, "nothing here", "noon again"], LABELS, params(server, tmp_path))
        assert [r["body"]["logprobs"] for r in server.requests] == [5, 20, 5, 5]
        assert "refuses 20 log-probabilities" in caplog.text and "3 label value(s)" in caplog.text
        np.testing.assert_allclose(probs_of(out), [softmax3(-2.0, -0.7, -4.0)] * 3)

    def test_echo_scores_the_label_word_as_a_continuation(self, server, tmp_path):
        out, _ = annotate_texts([NEUTRAL], LABELS, params(server, tmp_path, missing_labels="echo"))
        echo = server.requests[1]["body"]
        assert echo["echo"] is True and echo["max_tokens"] == 1 and echo["prompt"].endswith("Label: positive")
        assert echo["prompt"] == server.requests[0]["body"]["prompt"] + " positive"
        np.testing.assert_allclose(probs_of(out)[0], softmax3(-2.0, -0.7, -4.6))

    def test_echo_label_word_split_into_several_tokens(self, server, tmp_path):
        # "enthusiastic" is two tokens for this server: the top-k list offers its first token " enth" for the
        # positive text; for the neutral text the echo scores " enth" (the first token) after the prompt.
        server.splits = {" enthusiastic": [" enth", "usiastic"]}
        server.distribution["positive"] = {" enth": -0.3, " neutral": -3.0, " negative": -4.0, "\n": -5.0}
        server.distribution["neutral"] = {" neutral": -0.7, " negative": -2.0, "\n": -3.0, " the": -4.0,
                                          " a": -4.1, " enth": -5.0}
        run = params(server, tmp_path, missing_labels="echo", label_words={"positive": "enthusiastic"})
        out, _ = annotate_texts([POSITIVE, NEUTRAL], LABELS, run)
        np.testing.assert_allclose(probs_of(out), [softmax3(-4.0, -3.0, -0.3), softmax3(-2.0, -0.7, -5.0)])
        assert out["llm_label"].tolist() == ["positive", "neutral"]

    def test_echo_whitespace_token_before_the_word_counts(self, server, tmp_path):
        server.splits = {" positive": [" ", "positive"]}
        server.distribution["neutral"][" "] = -1.5
        out, _ = annotate_texts([NEUTRAL], LABELS, params(server, tmp_path, missing_labels="echo"))
        # log p(" ") + log p("positive" | ... " "), the latter an in-prompt value of the fake
        np.testing.assert_allclose(probs_of(out)[0], softmax3(-2.0, -0.7, -1.5 - 0.5))

    def test_echo_refused_is_a_clear_error(self, server, tmp_path):
        server.echo = False
        with pytest.raises(AnnotationError, match="HTTP 400"):
            annotate_texts([NEUTRAL], LABELS, params(server, tmp_path, missing_labels="echo"))

    def test_echo_ignored_is_a_clear_error(self, server, tmp_path):
        # llama.cpp's C++ llama-server answers an echo request 200, in its `logprobs.content` form, with the
        # log-probability of the generated token only: no prompt token to read the label word's value from
        server.echo, server.shape = "ignored", "content"
        with pytest.raises(AnnotationError, match="ignores echo.*set annotate.missing_labels to 'more'"):
            annotate_texts([NEUTRAL], LABELS, params(server, tmp_path, missing_labels="echo"))
        assert server.requests[1]["body"]["echo"] is True and server.count() == 2

    def test_echo_needs_the_completions_endpoint(self):
        with pytest.raises(ValueError, match="echo"):
            AnnotateParams(backend="openai", endpoint="chat", missing_labels="echo")

    def test_mode_is_part_of_the_cache_identity(self, server, tmp_path):
        identities = {OpenAIBackend(params(server, tmp_path, missing_labels=m)).identity for m in
                      ("more", "echo", "floor")}
        assert len(identities) == 3


class TestReplyShapes:
    def expected(self, top: dict[str, float]) -> list[float]:
        """Label probabilities of the positive text when the server lists only `top` (others floored)."""
        probs = [math.exp(v) for v in top.values()]
        floor = max(min(min(probs), 1 - sum(probs)), 1e-12)
        positive = sum(math.exp(v) for t, v in top.items() if t.strip() and "positive".startswith(t.strip().lower()))
        found = {w: sum(math.exp(v) for t, v in top.items() if t.strip().lower() == w) for w in LABELS}
        values = [math.log(found[w]) if found[w] else math.log(floor) for w in ("negative", "neutral")]
        return list(softmax3(*values, math.log(positive)))

    @pytest.mark.parametrize("endpoint", ["completions", "chat"])
    @pytest.mark.parametrize("shape, listed", [
        ("openai", 5), ("truncated", 2), ("no_top", 1), ("null_top", 1), ("content", 5),
    ])
    def test_missing_null_or_truncated_top_logprobs(self, server, tmp_path, endpoint, shape, listed):
        server.shape = shape
        out, _ = annotate_texts([POSITIVE], LABELS, params(server, tmp_path, endpoint=endpoint))
        top = dict(sorted(TOP["positive"].items(), key=lambda kv: -kv[1])[:listed])
        np.testing.assert_allclose(probs_of(out)[0], self.expected(top), rtol=1e-9)
        assert out["llm_label"].tolist() == ["positive"]

    def test_no_logprobs_at_all_is_an_error(self, server, tmp_path):
        with pytest.raises(AnnotationError, match="without usable logprobs"):
            OpenAIBackend(params(server, tmp_path))._parse({"choices": [{"text": " positive", "logprobs": None}]})


class TestTransientFailures:
    def test_429_retry_after_seconds_is_honoured(self, server, tmp_path, monkeypatch):
        waits = []  # the backend's waits, read instead of timed (backoff_s is 0: without Retry-After it waits 0 s)
        monkeypatch.setattr(openai_http, "_pause", lambda seconds, stop: waits.append(seconds))
        server.failures.append(429)
        server.retry_after = "7"
        out, _ = annotate_texts([POSITIVE], LABELS, params(server, tmp_path))
        assert waits == [7.0] and server.count() == 2
        assert out["llm_label"].tolist() == ["positive"]

    def test_retry_after_http_date_and_bounds(self):
        assert _retry_after(formatdate(time.time() + 30, usegmt=True)) == pytest.approx(30, abs=1.5)
        assert _retry_after(formatdate(time.time() - 30, usegmt=True)) == 0.0
        assert _retry_after("3600") == 60.0 and _retry_after("soon") is None and _retry_after(None) is None

    def test_5xx_are_retried(self, server, tmp_path):
        server.failures.extend([502, 503, 504])
        out, _ = annotate_texts([POSITIVE], LABELS, params(server, tmp_path))
        assert server.count() == 4 and out["llm_label"].tolist() == ["positive"]

    @pytest.mark.slow
    def test_timeout_is_retried(self, server, tmp_path):
        server.delays.append(60.0)  # the first request is held until the server exits (or 60 s)
        out, _ = annotate_texts([POSITIVE], LABELS, params(server, tmp_path, timeout_s=1.0))
        assert server.count() == 2 and out["llm_label"].tolist() == ["positive"]
        assert server.in_flight == 1  # the first request is still held: the client gave up on it, not waited

    def test_timeouts_exhaust_the_retries(self, server, tmp_path):
        server.delays.extend([60.0, 60.0])  # both held until the server exits: each attempt times out
        with pytest.raises(AnnotationError, match=r"after 2 attempts \(.*timed out"):
            annotate_texts([POSITIVE], LABELS, params(server, tmp_path, timeout_s=0.2, max_retries=1))


CHILD = """
import sys
from labelgate.annotate import AnnotateParams, annotate_texts
texts = [f"text {i} about nothing" if i % 3 else f"I love text {i}" for i in range(40)]
params = AnnotateParams(backend="openai", model="fake-model", base_url=sys.argv[1], cache_dir=sys.argv[2],
                        backoff_s=0.0, batch_size=1, max_concurrency=1)
annotate_texts(texts, ("negative", "neutral", "positive"), params)
"""


@pytest.mark.slow  # starts a Python process and kills it mid-run
def test_killed_mid_run_resumes_from_the_cache(tmp_path):
    texts = [f"text {i} about nothing" if i % 3 else f"I love text {i}" for i in range(40)]
    with FakeOpenAI(delay_s=0.05) as server:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"),
                                                             os.environ.get("PYTHONPATH", "")])}
        cache = tmp_path / "cache"
        child = subprocess.Popen([sys.executable, "-c", CHILD, server.base_url, str(cache)], env=env)
        deadline = time.monotonic() + 60
        run = params(server, tmp_path, cache_dir=str(cache))
        identity = OpenAIBackend(run).identity
        while time.monotonic() < deadline and child.poll() is None:
            if len(AnnotationCache(cache, identity)) >= 8:
                break
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)  # a crash: no cleanup, possibly mid-write
        child.wait()
        cached = len(AnnotationCache(cache, identity))
        assert 8 <= cached < 40
        before = server.count()
        resumed, report = annotate_texts(texts, LABELS, run)
        assert report.cache_hits == cached and report.scored == 40 - cached
        # every uncached text costs one request, plus one for 20 candidates when a label is missing (neutral)
        assert server.count() - before >= 40 - cached
        fresh, _ = annotate_texts(texts, LABELS, params(server, tmp_path, cache_dir=str(tmp_path / "fresh")))
    np.testing.assert_allclose(probs_of(resumed), probs_of(fresh), rtol=1e-12)
    assert resumed["llm_label"].tolist() == fresh["llm_label"].tolist()


def http_params(server, tmp_path, **overrides) -> AnnotateParams:
    values = dict(backend="openai", model="fake-model", base_url=server.base_url, api_key_env="LABELGATE_TEST_KEY",
                  cache_dir=str(tmp_path / "cache"), backoff_s=0.0, timeout_s=5.0, max_retries=3, batch_size=2)
    values.update(overrides)
    return AnnotateParams(**values)


TEXTS = ["I love this airline", "I hate waiting", "The flight leaves at noon", "love the crew", "hate the food"]


class TestOpenAIBackend:
    @pytest.fixture(autouse=True)
    def key(self, monkeypatch):
        monkeypatch.setenv("LABELGATE_TEST_KEY", KEY)

    def expected_probs(self, positive_given_neutral=-4.6):
        pos = softmax3(-4.0, -3.0, math.log(math.exp(-0.2) + math.exp(-2.5)))
        neg = softmax3(-0.1, -3.0, -4.5)
        neu = softmax3(-2.0, -0.7, positive_given_neutral)  # positive is not among the top 5 of a neutral text
        return [pos, neg, neu, pos, neg]

    @pytest.mark.parametrize("endpoint", ["completions", "chat"])
    def test_labels_probs_and_key_handling(self, server, tmp_path, caplog, endpoint):
        params = http_params(server, tmp_path, endpoint=endpoint, top_logprobs=5)
        with caplog.at_level(logging.DEBUG):
            out, report = annotate_texts(TEXTS, LABELS, params)
        assert out["llm_label"].tolist() == ["positive", "negative", "neutral", "positive", "negative"]
        probs = out[[f"llm_prob_{label}" for label in LABELS]].to_numpy()
        np.testing.assert_allclose(probs, self.expected_probs(), rtol=1e-9)
        path = "/v1/chat/completions" if endpoint == "chat" else "/v1/completions"
        # one request per text, and one more, for 20 candidates, for the neutral text that lacks "positive"
        assert server.count() == 6 and all(r["path"] == path for r in server.requests)
        assert all(r["headers"]["Authorization"] == f"Bearer {KEY}" for r in server.requests)
        body = server.requests[0]["body"]
        assert body["max_tokens"] == 1 and body["temperature"] == 0 and body["model"] == "fake-model"
        assert (body["top_logprobs"] == 5 and body["logprobs"] is True) if endpoint == "chat" else body["logprobs"] == 5
        asked = sorted(r["body"]["top_logprobs" if endpoint == "chat" else "logprobs"] for r in server.requests)
        assert asked == [5] * 5 + [20]
        cache_files = list((tmp_path / "cache").iterdir())
        assert len(cache_files) == 1
        assert KEY not in cache_files[0].read_text() and KEY not in cache_files[0].name
        assert KEY not in caplog.text and KEY not in report.summary() and KEY not in repr(OpenAIBackend(params))

    def test_no_key_no_authorization_header(self, server, tmp_path, monkeypatch):
        monkeypatch.delenv("LABELGATE_TEST_KEY")
        annotate_texts(TEXTS[:1], LABELS, http_params(server, tmp_path))
        assert "Authorization" not in server.requests[0]["headers"]

    def test_bounded_concurrency(self, tmp_path):
        # No clock: the first 3 requests wait for each other at a barrier (reached only if 3 are in flight at once),
        # and the server counts a request as in flight until its reply is decided, before the reply is sent.
        # A client timeout or retry would let a 4th request in while a held one still counts, so neither can fire
        # here however slow a busy machine is: a generous timeout and no retries (the barrier gives up first).
        with FakeOpenAI(hold_first=3, hold_timeout_s=30.0) as server:
            texts = [f"text number {i}" for i in range(16)]
            annotate_texts(texts, LABELS, http_params(server, tmp_path, max_concurrency=3, timeout_s=120.0,
                                                      max_retries=0, missing_labels="floor"))
            assert server.count() == 16
            assert not server.barrier_broken  # 3 requests were in flight together
            assert server.max_in_flight == 3  # and never more

    def test_redirect_to_another_host_is_refused_without_sending_the_key(self, tmp_path):
        with FakeOpenAI() as elsewhere, FakeOpenAI() as server:
            server.redirect_to = elsewhere.base_url.replace("127.0.0.1", "localhost") + "/completions"
            with pytest.raises(AnnotationError, match="redirect"):
                annotate_texts(TEXTS[:1], LABELS, http_params(server, tmp_path, max_retries=0, max_concurrency=1))
            assert server.count() == 1 and elsewhere.requests == []

    def test_same_origin_redirect_never_sends_the_key_elsewhere(self, tmp_path):
        with FakeOpenAI() as server:
            server.redirect_to = server.base_url + "/elsewhere"
            with pytest.raises(AnnotationError):
                annotate_texts(TEXTS[:1], LABELS, http_params(server, tmp_path, max_retries=0, max_concurrency=1))
            followed = [r for r in server.requests if r["body"] is None]
            assert all(r["headers"].get("Authorization") == f"Bearer {KEY}" for r in followed)

    def test_credentials_in_base_url_stay_out_of_the_cache(self, tmp_path):
        params = AnnotateParams(backend="openai", model="m", base_url="https://example.org/v1?key=s3cret",
                                api_key_env="LABELGATE_TEST_KEY", cache_dir=str(tmp_path / "cache"))
        backend = OpenAIBackend(params)
        assert "s3cret" not in backend.identity and "key" not in backend.identity
        assert "example.org/v1" in backend.identity and "s3cret" not in repr(backend)
        cache = AnnotationCache(tmp_path / "cache", backend.identity)
        cache.put_many([(cache.key(["a"], "p"), {"logprobs": {"a": -0.1}, "floor": None})])
        names = " ".join(p.name for p in (tmp_path / "cache").rglob("*"))
        assert "s3cret" not in names

    def test_user_and_password_in_base_url_are_refused_unprinted(self):
        """urllib cannot send them (it reads 'user:pass@host' as a host with a port) and its error would print the
        password: refused before anything runs, the URL shown with *** in their place."""
        with pytest.raises(ValueError, match=r"https://\*\*\*@example.org/v1.*must not hold a user name") as err:
            AnnotateParams(backend="openai", model="m", base_url="https://user:s3cret@example.org/v1")
        assert "s3cret" not in str(err.value) and "user" not in str(err.value).split("must")[0]

    def test_retries_500_and_429_then_succeeds(self, server, tmp_path):
        server.failures.extend([500, 429])
        server.retry_after = "0"
        out, _ = annotate_texts(TEXTS[:1], LABELS, http_params(server, tmp_path, max_concurrency=1))
        assert out["llm_label"].tolist() == ["positive"]
        assert server.count() == 3

    def test_gives_up_after_retries_with_a_clear_error(self, server, tmp_path):
        server.fail_prompts["hate"] = 503
        params = http_params(server, tmp_path, max_retries=2, max_concurrency=1, missing_labels="floor")
        with pytest.raises(AnnotationError) as info:
            annotate_texts(TEXTS, LABELS, params)
        message = str(info.value)
        assert "HTTP 503" in message and "after 3 attempts" in message and server.base_url in message
        assert KEY not in message
        # what succeeded before the failure is cached: a healthy rerun asks only for the rest
        cached = len(AnnotationCache(tmp_path / "cache", OpenAIBackend(params).identity))
        assert cached >= 1
        server.fail_prompts.clear()
        before = server.count()
        annotate_texts(TEXTS, LABELS, params)
        assert server.count() - before == len(TEXTS) - cached

    def test_client_error_is_not_retried(self, server, tmp_path):
        server.failures.append(401)
        with pytest.raises(AnnotationError, match=r"HTTP 401.*LABELGATE_TEST_KEY"):
            annotate_texts(TEXTS[:1], LABELS, http_params(server, tmp_path))
        assert server.count() == 1

    def test_cache_pays_nothing_twice(self, server, tmp_path):
        params = http_params(server, tmp_path, variants={"plain": "{text}\nLabel:"}, missing_labels="floor")
        first, report = annotate_texts(TEXTS, LABELS, params)
        assert server.count() == 10 and report.scored == 10
        second, report2 = annotate_texts(TEXTS, LABELS, params)
        assert server.count() == 10 and report2.cache_hits == 10 and report2.scored == 0
        pd.testing.assert_frame_equal(first, second)
        changed = http_params(server, tmp_path, template="Text: {text}\nSentiment:", missing_labels="floor")
        annotate_texts(TEXTS, LABELS, changed)
        assert server.count() == 15  # a changed prompt misses and really runs

    def test_unreachable_server(self, tmp_path):
        params = AnnotateParams(backend="openai", base_url="http://127.0.0.1:9/v1", max_retries=1, backoff_s=0.0,
                                timeout_s=1.0, cache_dir="")
        with pytest.raises(AnnotationError, match="after 2 attempts"):
            annotate_texts(["x"], LABELS, params)


class TestTokenMatching:
    def test_http_token_matching_and_floor(self):
        logprobs, floor = label_logprobs(TOP["positive"], list(LABELS))
        assert logprobs["positive"] == pytest.approx(math.log(math.exp(-0.2) + math.exp(-2.5)))
        assert logprobs["neutral"] == pytest.approx(-3.0) and logprobs["negative"] == pytest.approx(-4.0)
        logprobs, floor = label_logprobs(TOP["neutral"], list(LABELS))
        assert set(logprobs) == {"neutral", "negative"}  # " n" is ambiguous, "positive" is missing
        assert logprobs["negative"] == pytest.approx(-2.0)
        assert floor == pytest.approx(-4.0)  # the lowest top-k probability (below 1 - sum of the top k)
