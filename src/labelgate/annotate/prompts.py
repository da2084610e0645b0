"""Prompt rendering: texts and few-shot examples into the exact strings a model scores.

Placeholders are substituted literally (not with str.format), so braces inside texts or templates need no escaping.
Whitespace inside a text (newlines, tabs, runs of spaces) collapses to single spaces so a text cannot break the
line structure of a completion-style prompt; texts longer than `max_chars` are cut at a word boundary.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from labelgate.annotate.params import PromptSpec

_WS = re.compile(r"\s+")
_PLACEHOLDER = re.compile(r"\{(text|examples|labels|label)\}")


def clean_text(text: str, max_chars: int) -> str:
    """One line of text for a prompt: whitespace collapsed, cut to `max_chars` characters (with '...')."""
    text = _WS.sub(" ", text).strip()
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - 3]
    if " " in cut[max_chars // 2:]:
        cut = cut[: cut.rindex(" ")]
    return cut + "..."


def fill(template: str, values: Mapping[str, str]) -> str:
    """Replace {name} placeholders in one pass, so a value containing '{text}' is never substituted again."""
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)] if m.group(1) in values else m.group(0), template)


def render_examples(spec: PromptSpec, words: Mapping[str, str], max_chars: int) -> str:
    return "".join(
        fill(spec.example_template, {"text": clean_text(ex.text, max_chars), "label": words[ex.label]})
        for ex in spec.few_shot
    )


def render_prompts(spec: PromptSpec, texts: Sequence[str], words: Mapping[str, str], *, max_chars: int) -> list[str]:
    """The prompt for each text under `spec`; `words` maps every label to its label word (in label-set order)."""
    examples = render_examples(spec, words, max_chars)
    labels = ", ".join(words.values())
    return [fill(spec.template, {"examples": examples, "labels": labels, "text": clean_text(text, max_chars)})
            for text in texts]


def template_tail(spec: PromptSpec) -> str:
    """The fixed text that ends every prompt of `spec` (after the last placeholder), e.g. '\\nSentiment:'."""
    last = None
    for last in _PLACEHOLDER.finditer(spec.template):
        pass
    return spec.template[last.end():] if last else spec.template
