"""LLM annotation stage (`labelgate annotate`): label texts with an LLM and write the label table of the contract.

Output columns: id, text, llm_label, llm_prob_<label> (the main prompt's next-token probabilities of the label
words, renormalised over the label set), annotator_<variant> (argmax of each extra prompt variant, for consistency
ensembles), then every other input column unchanged (notably gold_label).

Modules: `params` (AnnotateParams, the `annotate:` section of params.yaml), `prompts` (rendering), `cache`
(append-only on-disk cache keyed by backend identity, label words and prompt), `local` (Hugging Face causal LM
in-process, default the offline Gemma-3-270M GGUF), `openai_http` (any OpenAI-compatible endpoint with logprobs),
`stage` (the pure functions and the stage's `main`, which the CLI calls). torch and transformers are imported only when the local backend has
prompts to score, so a fully cached run never loads them.

Assumptions: texts are short (tweets, reviews, tickets); the label words are single words whose first tokens differ;
temperature-0 next-token probabilities are the annotator's confidence (they are not calibrated; see the `score`
stage for calibration against gold labels).
"""

from labelgate.annotate.cache import AnnotationCache, cache_key
from labelgate.annotate.openai_http import AnnotationError, label_logprobs
from labelgate.annotate.params import AnnotateParams, FewShotExample, PromptSpec
from labelgate.annotate.prompts import clean_text, render_prompts
from labelgate.annotate.stage import (
    AnnotationReport,
    annotate_frame,
    annotate_texts,
    label_probabilities,
    make_backend,
)

__all__ = [
    "AnnotateParams",
    "AnnotationCache",
    "AnnotationError",
    "AnnotationReport",
    "FewShotExample",
    "PromptSpec",
    "annotate_frame",
    "annotate_texts",
    "cache_key",
    "clean_text",
    "label_logprobs",
    "label_probabilities",
    "make_backend",
    "render_prompts",
]
