"""Shared by the annotate tests: the label set, few-shot examples and a fake model that reads the answer off the text."""

from __future__ import annotations

LABELS = ("negative", "neutral", "positive")
KEY = "sk-test-secret-0123456789"
FEW = [{"text": "I love it", "label": "positive"}, {"text": "I hate it", "label": "negative"}]


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
