"""annotate/prompts.py: rendering prompts and cleaning texts."""

from __future__ import annotations

from annotate_helpers import FEW, LABELS

from labelgate.annotate import AnnotateParams, clean_text, render_prompts

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
