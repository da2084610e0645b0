"""The annotation stage: texts in, the label table of the data contract out.

For every text and every prompt (the main prompt and each variant) the backend returns the log-probability of each
label word's first token as the next token. The main prompt gives `llm_prob_<label>` (softmax of those log-probs,
renormalised over the label set, so each row sums to 1) and `llm_label` (its argmax; ties go to the earlier label of
the label set); each variant gives `annotator_<name>` (its argmax). Other input columns pass through unchanged.

Every scored prompt goes to the annotation cache first (see `cache`), so only prompts never seen before by this
backend identity cost model time; identical prompts (duplicate texts) are scored once.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from labelgate import contract
from labelgate.annotate.cache import AnnotationCache
from labelgate.annotate.params import AnnotateParams
from labelgate.annotate.prompts import render_prompts, template_tail
from labelgate.errors import BadInputError, ConfigError

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class AnnotationReport:
    """What a run did: counts, timing and a first look at the labels."""

    backend: str
    n_texts: int
    n_prompts: int
    cache_hits: int
    scored: int
    seconds: float
    scoring_seconds: float
    label_counts: dict[str, int]
    label_mass: float
    agreement: dict[str, float] = field(default_factory=dict)
    cache_file: str | None = None

    @property
    def prompts_per_second(self) -> float:
        """Model throughput on the prompts that missed the cache (model loading included)."""
        return self.scored / self.scoring_seconds if self.scoring_seconds > 0 else float("nan")

    def summary(self) -> str:
        rate = f", {self.prompts_per_second:.2f} prompts/s" if self.scored else ""
        dist = ", ".join(f"{k} {v}" for k, v in self.label_counts.items())
        agree = "".join(f", agreement {name} {value:.3f}" for name, value in self.agreement.items())
        return (f"{self.n_texts} texts, {self.n_prompts} prompts: {self.cache_hits} from cache, {self.scored} scored "
                f"in {self.seconds:.1f}s{rate}; labels: {dist}; mean label-word mass {self.label_mass:.3f}{agree}")


def make_backend(params: AnnotateParams):
    """The backend named by params.backend (nothing is loaded or contacted yet)."""
    if params.backend == "openai":
        from labelgate.annotate.openai_http import OpenAIBackend

        return OpenAIBackend(params)
    from labelgate.annotate.local import LocalBackend

    return LocalBackend(params)


def annotate_frame(
    frame: pd.DataFrame,
    labels: Sequence[str],
    params: AnnotateParams,
    *,
    source: str = "<input>",
    backend=None,
    progress: Progress | None = None,
) -> tuple[pd.DataFrame, AnnotationReport]:
    """The label table for an input table with a `text` column (id and other columns pass through).

    Raises BadInputError naming `source`, the rows and the column when texts are missing or empty.
    """
    if contract.TEXT not in frame.columns:
        raise BadInputError(source, f"no '{contract.TEXT}' column (found: {', '.join(map(str, frame.columns))})",
                            column=contract.TEXT)
    texts = frame[contract.TEXT]
    empty = [i + 1 for i, v in enumerate(texts) if (v.strip() == "" if isinstance(v, str) else _missing(v))]
    if empty:
        raise BadInputError(source, "empty text; every row needs a non-empty text", rows=empty, column=contract.TEXT)
    texts = [str(v) for v in texts]
    labelled, report = annotate_texts(texts, labels, params, backend=backend, progress=progress)

    out = pd.DataFrame(index=range(len(texts)))
    if contract.ID in frame.columns:
        ids = [v if not _missing(v) else contract.stable_id(t) for v, t in zip(frame[contract.ID], texts)]
    else:
        ids = [contract.stable_id(t) for t in texts]
    out[contract.ID] = ids
    out[contract.TEXT] = texts
    for column in labelled.columns:
        out[column] = labelled[column].to_numpy()
    generated = set(out.columns)
    replaced = [c for c in frame.columns if c not in (contract.ID, contract.TEXT) and (
        c in generated or c.startswith((contract.LLM_PROB_PREFIX, contract.ANNOTATOR_PREFIX)) or c == contract.LLM_LABEL)]
    if replaced:
        log.warning("%s: input column(s) %s are replaced by this annotation", source, ", ".join(replaced))
    for column in frame.columns:
        if column not in generated and column not in replaced:
            out[column] = frame[column].to_numpy()
    return out, report


def annotate_texts(
    texts: Sequence[str],
    labels: Sequence[str],
    params: AnnotateParams,
    *,
    backend=None,
    progress: Progress | None = None,
) -> tuple[pd.DataFrame, AnnotationReport]:
    """Columns llm_label, llm_prob_<label>..., annotator_<variant>... for `texts` (same order)."""
    labels = tuple(labels)
    _check_labels(labels, params)
    start = time.perf_counter()
    backend = backend if backend is not None else make_backend(params)
    cache = AnnotationCache(params.cache_dir or None, backend.identity)
    words = {label: params.word(label) for label in labels}
    word_list = list(words.values())
    specs = params.prompts()

    records, todo, keys, hits = _from_cache(specs, texts, words, cache, max_chars=params.max_text_chars)
    total = sum(len(missing) for missing in todo.values())
    scoring_start = time.perf_counter()
    _score_missing(backend, specs, words, cache, records, todo, keys, total, progress)
    scoring_seconds = time.perf_counter() - scoring_start
    out, agreement = _label_columns(records, specs, labels, word_list, len(texts))
    mass = [sum(math.exp(v) for v in r["logprobs"].values()) for r in records[specs[0].name]]
    report = AnnotationReport(
        backend=backend.identity,
        n_texts=len(texts),
        n_prompts=len(texts) * len(specs),
        cache_hits=hits,
        scored=total,
        seconds=time.perf_counter() - start,
        scoring_seconds=scoring_seconds,
        label_counts={label: int((out[contract.LLM_LABEL] == label).sum()) for label in labels},
        label_mass=float(np.mean(mass)) if mass else float("nan"),
        agreement=agreement,
        cache_file=str(cache.path) if cache.path else None,
    )
    return out, report


def _from_cache(specs, texts: Sequence[str], words: dict[str, str], cache: AnnotationCache, *, max_chars):
    """Each prompt variant's records, filled from the cache where it has them: (records per variant with None where
    missing, the missing unique prompts -> their text positions, prompt -> cache key, the number of cache hits)."""
    word_list = list(words.values())
    records: dict[str, list[dict | None]] = {}
    todo: dict[str, dict[str, list[int]]] = {}  # spec -> unique missing prompt -> text positions
    keys: dict[str, dict[str, str]] = {}
    hits = 0
    for spec in specs:
        prompts = render_prompts(spec, texts, words, max_chars=max_chars)
        records[spec.name] = [None] * len(texts)
        todo[spec.name], keys[spec.name] = {}, {}
        for i, prompt in enumerate(prompts):
            key = keys[spec.name].setdefault(prompt, cache.key(word_list, prompt))
            cached = cache.get(key)
            if cached is not None:
                records[spec.name][i] = cached
                hits += 1
            else:
                todo[spec.name].setdefault(prompt, []).append(i)
    return records, todo, keys, hits


def _score_missing(backend, specs, words: dict[str, str], cache: AnnotationCache, records, todo, keys, total: int,
                   progress: Progress | None) -> None:
    """Score the prompts the cache lacks, batch by batch: each batch fills every text position of its prompts and
    goes to the cache at once, and progress counts it."""
    done = 0
    if progress:
        progress(0, total)
    for spec in specs:
        missing = list(todo[spec.name])
        if not missing:
            continue

        def on_batch(indices: list[int], batch: list[dict], *, _spec=spec.name, _missing=missing) -> None:
            nonlocal done
            entries = []
            for index, record in zip(indices, batch):
                prompt = _missing[index]
                entries.append((keys[_spec][prompt], record))
                for position in todo[_spec][prompt]:
                    records[_spec][position] = record
            cache.put_many(entries)
            done += len(indices)
            if progress:
                progress(done, total)

        backend.score(missing, words, tail=template_tail(spec), on_batch=on_batch)


def _label_columns(records, specs, labels: tuple[str, ...], word_list: list[str], n: int
                   ) -> tuple[pd.DataFrame, dict[str, float]]:
    """llm_label and llm_prob_<label> from the main prompt, annotator_<variant> from each other variant, and each
    variant's agreement with llm_label."""
    out = pd.DataFrame(index=range(n))
    main_probs = label_probabilities(records[specs[0].name], word_list)
    out[contract.LLM_LABEL] = [labels[j] for j in main_probs.argmax(axis=1)] if n else []
    for j, label in enumerate(labels):
        out[contract.llm_prob_column(label)] = main_probs[:, j]
    agreement = {}
    for spec in specs[1:]:
        probs = label_probabilities(records[spec.name], word_list)
        column = f"{contract.ANNOTATOR_PREFIX}{spec.name}"
        out[column] = [labels[j] for j in probs.argmax(axis=1)] if n else []
        agreement[spec.name] = float((out[column] == out[contract.LLM_LABEL]).mean()) if n else float("nan")
    return out, agreement


def label_probabilities(records: Sequence[Mapping], words: Sequence[str]) -> np.ndarray:
    """[n, labels] softmax of each record's word log-probs over the label words (a missing word gets the floor)."""
    matrix = np.empty((len(records), len(words)), dtype=float)
    for i, record in enumerate(records):
        logprobs, floor = record["logprobs"], record.get("floor")
        for j, word in enumerate(words):
            value = logprobs.get(word, floor)
            if value is None:
                raise ValueError(f"record {i} has no log-probability for label word {word!r}")
            matrix[i, j] = value
    if not len(records):
        return matrix
    from scipy.special import softmax

    return softmax(matrix, axis=1)


def _check_labels(labels: tuple[str, ...], params: AnnotateParams) -> None:
    unknown = sorted(set(params.label_words) - set(labels))
    if unknown:
        raise ConfigError(f"annotate.label_words names label(s) outside the label set {list(labels)}: "
                          f"{', '.join(unknown)}")
    words = [params.word(label) for label in labels]
    lowered = [w.lower() for w in words]
    if len(set(lowered)) != len(lowered):
        raise ConfigError(f"annotate.label_words: label words must differ (case-insensitively), got {words}")
    for spec in params.prompts():
        bad = sorted({ex.label for ex in spec.few_shot} - set(labels))
        if bad:
            where = "few_shot" if spec.name == "main" else f"variants.{spec.name}.few_shot"
            raise ConfigError(f"annotate.{where}: label(s) {', '.join(bad)} are not in the label set {list(labels)}")


def _missing(value) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def main(texts: str | os.PathLike, out: str | os.PathLike, *, params: dict, labels: str | None = None,
         progress: str = "off") -> AnnotationReport:
    """The annotate stage on files: label the texts at `texts` with params' `annotate:` settings and the label set
    (`labels`: the --labels option, else base.labels); the label table to `out`. `progress`: a progress.py mode."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

    from labelgate.config import base_labels, section
    from labelgate.outputs import write_table
    from labelgate.progress import progress as progress_display

    annotate_params = section(params, "annotate", AnnotateParams)
    label_set = contract.resolve_labels(base_labels(params), option=labels, required=True)
    frame = contract.read_table(texts)
    columns = (TextColumn("annotate"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with progress_display(progress, *columns, transient=True) as bar:
        task = bar.add_task("annotate", total=None) if bar is not None else None
        report_progress = None if bar is None else (
            lambda done, total: bar.update(task, completed=done, total=total))
        table, report = annotate_frame(frame, label_set, annotate_params, source=str(texts),
                                       progress=report_progress)
    write_table(out, table)
    return report
