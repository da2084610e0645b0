"""annotate/cache.py: the append-only annotation cache."""

from __future__ import annotations

import logging

from labelgate.annotate import AnnotationCache, cache_key

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
