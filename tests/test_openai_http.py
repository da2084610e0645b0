"""The OpenAI-compatible backend against what real servers do (on the loopback fake): labels outside the top k,
label words split into several tokens, missing or truncated top_logprobs, 429 with Retry-After, 5xx, timeouts, and
a run killed mid-way that resumes from the cache."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from email.utils import formatdate
from pathlib import Path

import numpy as np
import pytest
from fake_openai import TOP, FakeOpenAI, softmax3

from labelgate.annotate import AnnotateParams, AnnotationCache, AnnotationError, annotate_texts
from labelgate.annotate.openai_http import OpenAIBackend, _retry_after

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
    def test_429_retry_after_seconds_is_honoured(self, server, tmp_path):
        server.failures.append(429)
        server.retry_after = "1"
        start = time.perf_counter()
        out, _ = annotate_texts([POSITIVE], LABELS, params(server, tmp_path))
        assert time.perf_counter() - start >= 0.95 and server.count() == 2
        assert out["llm_label"].tolist() == ["positive"]

    def test_retry_after_http_date_and_bounds(self):
        assert _retry_after(formatdate(time.time() + 30, usegmt=True)) == pytest.approx(30, abs=1.5)
        assert _retry_after(formatdate(time.time() - 30, usegmt=True)) == 0.0
        assert _retry_after("3600") == 60.0 and _retry_after("soon") is None and _retry_after(None) is None

    def test_5xx_are_retried(self, server, tmp_path):
        server.failures.extend([502, 503, 504])
        out, _ = annotate_texts([POSITIVE], LABELS, params(server, tmp_path))
        assert server.count() == 4 and out["llm_label"].tolist() == ["positive"]

    def test_timeout_is_retried(self, server, tmp_path):
        server.delays.append(2.0)
        start = time.perf_counter()
        out, _ = annotate_texts([POSITIVE], LABELS, params(server, tmp_path, timeout_s=0.3))
        assert server.count() == 2 and out["llm_label"].tolist() == ["positive"]
        assert time.perf_counter() - start < 1.9  # the timed-out request was not waited for

    def test_timeouts_exhaust_the_retries(self, server, tmp_path):
        server.delays.extend([1.0, 1.0])
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
