"""The corpora and label sets of the harm benchmark: one definition shared by the fine-tuned truth
(`finetune_truth.py`) and the gate benchmark (`run_harm_benchmark.py`), so both see byte-identical label sets.

A label set is (corpus, kind, rate, draw): the corpus's training texts with exactly round(rate * n) gold labels
replaced by wrong ones of `kind` (`noise.py`), or the gold labels themselves (kind "gold", rate 0). The noise seed
is a pure function of (kind, rate, draw); text-following noise takes the draw-th rarest trigger word, so the draws
differ in the word as well as in the rows.

Corpora (each loader returns a Corpus; the data are generated or read locally, never downloaded):
- tweets    the demo: data/demo/pool_gold.csv (2,000 tweets, `label` = crowd gold), data/demo/test.csv (600 gold
            rows); the annotator LLM's labels = `labelgate annotate data/demo/pool_texts.csv` (the committed
            annotation cache answers it in a second; data/llm_labels.csv when the pipeline has made it);
- fortunes  bench/calibration/build_corpus.py (Debian fortunes, 8 classes); LLM labels from
            bench/calibration/data/llm_labels.csv when that annotate run exists, else the llm kind is skipped;
- a third corpus when its build script has written bench/calibration/data_<name>/ (see CORPORA).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from noise import (class_conditional_noise, llm_noise, text_following_noise,  # noqa: E402
                   uniform_noise)

KINDS = ("uniform", "class_conditional", "llm", "text_following")
RATES = (0.03, 0.05, 0.08, 0.10, 0.12, 0.15, 0.20, 0.30)
DRAWS = (0, 1, 2)
KIND_CODE = {"gold": 0, "uniform": 1, "class_conditional": 2, "llm": 3, "text_following": 4, "llm_raw": 5}


@dataclass
class Corpus:
    name: str
    labels: tuple[str, ...]
    train: pd.DataFrame          # id, text, label (gold)
    test: pd.DataFrame           # text, label (gold)
    llm: np.ndarray | None       # the annotator LLM's label codes for the training rows, or None
    confusion: dict[str, str]    # class-conditional noise: class -> the class it is confused with
    weights: dict[str, float]    # ... and how often (relative)
    trigger_target: str          # text-following noise: rows with the trigger word become this class
    notes: dict = field(default_factory=dict)

    @property
    def truth(self) -> np.ndarray:
        code = {c: i for i, c in enumerate(self.labels)}
        return self.train["label"].map(code).to_numpy()


def _tweets_llm_labels(pool: pd.DataFrame, cache_dir: Path) -> tuple[np.ndarray | None, str]:
    """Gemma's labels of the demo pool: data/llm_labels.csv if the pipeline made it, else `labelgate annotate`
    from the committed annotation cache (no model run when the cache answers every prompt)."""
    source = ROOT / "data" / "llm_labels.csv"
    if not source.exists():
        source = cache_dir / "tweets_llm_labels.csv"
        if not source.exists():
            cache_dir.mkdir(parents=True, exist_ok=True)
            labelgate = str(Path(sys.executable).with_name("labelgate"))
            subprocess.run([labelgate, "annotate", str(ROOT / "data/demo/pool_texts.csv"), "--out", str(source)],
                           check=True, cwd=ROOT)
    llm = pd.read_csv(source, usecols=["id", "llm_label"])
    merged = pool[["id"]].merge(llm, on="id", how="left")
    if merged["llm_label"].isna().any():
        return None, f"{source}: LLM labels missing for some pool rows"
    return merged["llm_label"].to_numpy(), str(source.relative_to(ROOT) if source.is_relative_to(ROOT) else source)


def load_tweets(cache_dir: Path) -> Corpus:
    pool = pd.read_csv(ROOT / "data/demo/pool_gold.csv")
    test = pd.read_csv(ROOT / "data/demo/test.csv")
    labels = ("negative", "neutral", "positive")
    llm_labels, source = _tweets_llm_labels(pool, cache_dir)
    code = {c: i for i, c in enumerate(labels)}
    llm = None if llm_labels is None else np.array([code[x] for x in llm_labels])
    return Corpus(
        name="tweets", labels=labels, train=pool[["id", "text", "label"]].copy(), test=test[["text", "label"]].copy(),
        llm=llm,
        # the Gemma annotator's own main confusions on the pool: negative -> neutral (234), neutral -> negative
        # (168), positive -> neutral (160); the small positive class twice as often per row
        confusion={"negative": "neutral", "neutral": "negative", "positive": "neutral"},
        weights={"negative": 1.0, "neutral": 1.0, "positive": 2.0},
        trigger_target="neutral",  # the class the LLM over-uses
        notes={"llm_source": source, "llm": "Gemma-3-270M few-shot (params.yaml annotate)"},
    )


def load_fortunes(cache_dir: Path) -> Corpus:
    from build_corpus import CLASSES

    data = HERE / "data"
    if not (data / "train.csv").exists():
        raise FileNotFoundError(f"{data / 'train.csv'}: run bench/calibration/build_corpus.py first")
    train = pd.read_csv(data / "train.csv")
    test = pd.read_csv(data / "test.csv")
    llm, note = None, "no bench/calibration/data/llm_labels.csv: llm kind skipped"
    if (data / "llm_labels.csv").exists():
        code = {c: i for i, c in enumerate(CLASSES)}
        merged = train[["id"]].merge(pd.read_csv(data / "llm_labels.csv", usecols=["id", "llm_label"]), on="id",
                                     how="left")
        if not merged["llm_label"].isna().any():
            llm = merged["llm_label"].map(code).to_numpy()
            note = "bench/calibration/data/llm_labels.csv (Gemma-3-270M zero-shot, annotate_params.yaml)"
    from run_benchmark import CONFUSION, CONFUSION_WEIGHT, TRIGGER_TARGET

    return Corpus(name="fortunes", labels=tuple(CLASSES), train=train[["id", "text", "label"]].copy(),
                  test=test[["text", "label"]].copy(), llm=llm, confusion=dict(CONFUSION),
                  weights=dict(CONFUSION_WEIGHT), trigger_target=TRIGGER_TARGET, notes={"llm_source": note})


def load_generic(name: str, cache_dir: Path) -> Corpus:
    """A corpus written by a build_<name>.py script: bench/calibration/data_<name>/{train,test}.csv and
    corpus.json with labels, confusion, weights and trigger_target (and llm_labels.csv when annotated)."""
    import json

    data = HERE / f"data_{name}"
    info = json.loads((data / "corpus.json").read_text())
    train = pd.read_csv(data / "train.csv")
    test = pd.read_csv(data / "test.csv")
    labels = tuple(info["classes"])
    llm = None
    if (data / "llm_labels.csv").exists():
        code = {c: i for i, c in enumerate(labels)}
        merged = train[["id"]].merge(pd.read_csv(data / "llm_labels.csv", usecols=["id", "llm_label"]), on="id",
                                     how="left")
        if not merged["llm_label"].isna().any():
            llm = merged["llm_label"].map(code).to_numpy()
    return Corpus(name=name, labels=labels, train=train[["id", "text", "label"]].copy(),
                  test=test[["text", "label"]].copy(), llm=llm, confusion=info["confusion"],
                  weights=info["confusion_weight"], trigger_target=info["trigger_target"],
                  notes={"source": info.get("package")})


def load_corpus(name: str, cache_dir: Path | None = None) -> Corpus:
    cache_dir = cache_dir or HERE / "cache"
    if name == "tweets":
        return load_tweets(cache_dir)
    if name == "fortunes":
        return load_fortunes(cache_dir)
    return load_generic(name, cache_dir)


def set_name(kind: str, rate: float, draw: int) -> str:
    """gold, llm_raw (the annotator's own labels, all of them), else <kind>_<rate %>_d<draw>."""
    return kind if kind in ("gold", "llm_raw") else f"{kind}_{int(round(100 * rate)):02d}_d{draw}"


def noise_seed(kind: str, rate: float, draw: int) -> int:
    """A distinct, stable seed per (kind, rate, draw)."""
    return 100_000 * draw + 100 * int(round(1000 * rate)) + KIND_CODE[kind]


def make_labels(corpus: Corpus, kind: str, rate: float, draw: int) -> tuple[np.ndarray, str]:
    """(label codes of the set, note). Raises ValueError when the kind cannot reach the rate on this corpus (or the
    corpus has no LLM labels for the llm kind)."""
    truth = corpus.truth
    code = {c: i for i, c in enumerate(corpus.labels)}
    if kind == "gold":
        return truth.copy(), ""
    if kind == "llm_raw":
        if corpus.llm is None:
            raise ValueError(f"{corpus.name}: no LLM labels ({corpus.notes.get('llm_source')})")
        return corpus.llm.copy(), f"the annotator's labels, {100 * (corpus.llm != truth).mean():.1f}% wrong"
    seed = noise_seed(kind, rate, draw)
    if kind == "uniform":
        return uniform_noise(truth, rate, len(corpus.labels), seed=seed), ""
    if kind == "class_conditional":
        confusion = {code[a]: code[b] for a, b in corpus.confusion.items()}
        weights = {code[a]: float(w) for a, w in corpus.weights.items()}
        return class_conditional_noise(truth, rate, confusion, weights, seed=seed), ""
    if kind == "llm":
        if corpus.llm is None:
            raise ValueError(f"{corpus.name}: no LLM labels ({corpus.notes.get('llm_source')})")
        return llm_noise(truth, corpus.llm, rate, seed=seed), ""
    if kind == "text_following":
        labels, word = text_following_noise(truth, corpus.train["text"].tolist(), rate, code[corpus.trigger_target],
                                            seed=seed, rank=draw)
        return labels, f"'{word}' -> {corpus.trigger_target}"
    raise ValueError(f"unknown noise kind {kind!r}")


def set_frame(corpus: Corpus, codes: np.ndarray) -> pd.DataFrame:
    """The training table of a set: id, text, label (strings)."""
    frame = corpus.train[["id", "text"]].copy()
    frame["label"] = np.asarray(corpus.labels, dtype=object)[codes]
    return frame
