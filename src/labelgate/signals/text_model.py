"""Out-of-fold predicted probabilities from a cheap text model, the input cleanlab's confident learning needs, and
the table's TF-IDF words that every model reading the text shares.

`tfidf_logreg` (default): word 1-2-gram TF-IDF and multinomial logistic regression, K-fold cross-validated, so
every row's probabilities come from a model that never saw its label, nor a copy of its text: rows whose texts are
duplicates (`duplicate_groups`) stay in one fold (StratifiedGroupKFold), or a copy's label would leak its twin's
prediction and make confident learning overconfident on duplicated rows. The vectoriser is fitted once (it is
unsupervised, so this leaks no labels) and its matrix (`tfidf_words`) also serves label_error's risk and text-error
models: no text is tokenised twice. On large tables both the vocabulary and each fold's classifier are fitted on a
random sample of at most `max_train_rows` rows: a linear bag-of-words model stops improving long before a million
rows, and the cap keeps scoring time linear in rows with a small slope (bench/score_profile.md). Every row still
gets out-of-fold probabilities. Each fold's classifier reads only the words of its training rows (the same model
under the L2 penalty, at the cost of the sample's vocabulary), and the folds run in `n_jobs` threads.
`embedding`: mean-pooled sentence embeddings of the offline MiniLM encoder, then the same logistic regression;
slower, usually better calibrated on short texts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelgate.config import check_range

TEXT_MODELS = ("tfidf_logreg", "embedding")


@dataclass(frozen=True)
class TextModelParams:
    """Settings of the out-of-fold text model that cleanlab, agreement and label_error read (keys of params.yaml
    section `score`)."""

    text_model: str = "tfidf_logreg"  # tfidf_logreg | embedding
    text_model_c: float = 0.25  # inverse L2 strength of the logistic regression; strong regularisation keeps
    # the out-of-fold probabilities calibrated enough for confident learning (bench/noise_estimation.md)
    cv_folds: int = 5
    max_features: int = 200_000  # TF-IDF vocabulary cap: bounds memory on million-row tables
    max_train_rows: int = 100_000  # rows sampled to fit the vocabulary and each fold's classifier (bounds the CPU of
    # million-row tables without moving the estimates, bench/score_profile.md)
    n_jobs: int = 2  # processes vectorising large tables and fitting the text model's folds

    def __post_init__(self):
        if self.text_model not in TEXT_MODELS:
            raise ValueError(f"text_model must be one of {TEXT_MODELS}")
        check_range("text_model_c", self.text_model_c, 1e-4, 1e4)
        check_range("cv_folds", self.cv_folds, 2, 20)
        check_range("max_features", self.max_features, 10)
        check_range("max_train_rows", self.max_train_rows, 100)
        check_range("n_jobs", self.n_jobs, 1, 64)


GROUP_CHUNK_ROWS = 200_000  # texts normalised and hashed at a time (bounds memory on streamed tables)


def text_keys(texts) -> np.ndarray:
    """Per row a 64-bit hash of the normalised text (uint64); equal for texts that are duplicates.

    Normalisation: Unicode NFKC, case folded, every run of characters that are not letters or digits (whitespace,
    punctuation, symbols, underscores) collapsed to one space, stripped. "Great flight!!" and "great  flight" are one
    text; a text that normalises to nothing (only punctuation) keeps its raw text as its key. Computed
    GROUP_CHUNK_ROWS rows at a time, so only the hashes of a large table are held."""
    import pandas as pd

    series = texts if isinstance(texts, pd.Series) else pd.Series(list(texts), dtype=object)
    keys = np.empty(len(series), dtype=np.uint64)
    for start in range(0, len(series), GROUP_CHUNK_ROWS):
        raw = pd.Series(series.iloc[start:start + GROUP_CHUNK_ROWS].to_numpy(object), dtype=object).astype(str)
        key = raw.str.normalize("NFKC").str.casefold().str.replace(r"[\W_]+", " ", regex=True).str.strip()
        key = key.where(key != "", "\x00" + raw)
        keys[start:start + len(raw)] = pd.util.hash_array(key.to_numpy(object))
    return keys


def duplicate_groups(texts) -> np.ndarray:
    """Per row an integer group id; rows whose texts are equal after normalisation (`text_keys`) share one id.
    Ids number the groups in order of first appearance."""
    import pandas as pd

    return pd.factorize(text_keys(texts))[0].astype(np.int64)


def text_folds(texts, folds: int, seed: int) -> np.ndarray:
    """A fold per row (int8) from the normalised text's hash mixed with `seed`: every copy of a text in one fold, on
    any chunk of a streamed table (the bounded-memory path's fold plan)."""
    mixed = text_keys(texts) ^ np.uint64((seed * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)
    mixed = mixed * np.uint64(0xBF58476D1CE4E5B9)  # wraps: a multiplicative mix, so folds look random
    return ((mixed >> np.uint64(33)) % np.uint64(folds)).astype(np.int8)


def duplicate_share(groups: np.ndarray) -> float:
    """Share of rows that repeat an earlier row's normalised text: 1 - groups / rows (0.5 when every row is there
    twice, 0.99 with 100 copies)."""
    groups = np.asarray(groups)
    return float(1.0 - len(np.unique(groups)) / len(groups)) if len(groups) else 0.0


def has_duplicates(groups: np.ndarray | None) -> bool:
    return groups is not None and len(np.unique(groups)) < len(groups)


def fold_splits(labels: np.ndarray, groups: np.ndarray | None, folds: int, seed: int) -> list:
    """K-fold (train, held-out) index pairs stratified by `labels`: StratifiedKFold, or StratifiedGroupKFold when
    `groups` holds duplicates (every copy of a text in one fold). K is cut to what the rarest label (counted in
    groups) allows, at least 2."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    labels = np.asarray(labels)
    if has_duplicates(groups):
        groups = np.asarray(groups)
        first = np.unique(groups, return_index=True)[1]
        counts = np.unique(labels[first], return_counts=True)[1]
        n = int(max(2, min(folds, counts.min(), len(first))))
        splitter = StratifiedGroupKFold(n_splits=n, shuffle=True, random_state=seed)
        return list(splitter.split(np.zeros(len(labels)), labels, groups))
    counts = np.unique(labels, return_counts=True)[1]
    n = int(max(2, min(folds, counts.min()))) if counts.size else 2
    return list(StratifiedKFold(n_splits=n, shuffle=True, random_state=seed).split(np.zeros(len(labels)), labels))


def out_of_fold_probabilities(
    texts: list[str],
    labels: np.ndarray,
    *,
    n_classes: int,
    groups: np.ndarray | None = None,
    model: str = "tfidf_logreg",
    folds: int = 5,
    seed: int = 0,
    max_features: int = 200_000,
    regularisation: float = 0.25,
    max_train_rows: int = 100_000,
    n_jobs: int = 2,
    words: TextWords | None = None,
) -> np.ndarray:
    """Out-of-fold probabilities [rows, n_classes]. `words`: the table's TF-IDF (tfidf_words with the same
    settings), when the caller already holds it: the tfidf_logreg model reads it instead of vectorising again."""
    if model not in TEXT_MODELS:
        raise ValueError(f"unknown text model {model!r}; choose one of {TEXT_MODELS}")
    if model == "tfidf_logreg":
        if words is None:
            words = tfidf_words(texts, max_features=max_features, sample_rows=max_train_rows, seed=seed,
                                n_jobs=n_jobs)
        if words is None:
            raise ValueError("no word occurs in two texts: the TF-IDF text model has nothing to learn from")
        features = words.matrix
    else:
        features = _embeddings(texts)
    return _cross_validated(features, np.asarray(labels), n_classes=n_classes, folds=folds, seed=seed,
                            regularisation=regularisation, max_train_rows=max_train_rows,
                            rng=np.random.default_rng(seed), groups=groups, n_jobs=n_jobs)


def word_vectoriser(max_features: int):
    """The TF-IDF of the words of the texts that the text models and label_error's risk model read (one setting)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=max_features, sublinear_tf=True,
                           dtype=np.float32, strip_accents="unicode")


def fitted_words(rows, *, min_rows: int = 1) -> np.ndarray:
    """The columns (words) that at least `min_rows` of the sparse `rows` contain, sorted: what a model fitted on
    those rows reads. With min_rows=1 the model is the same as one on every column: a word absent from the fitted
    rows gets weight 0 under the L2 penalty (its gradient is the penalty's alone), and leaving it out makes the
    optimiser's cost follow the fitted rows' vocabulary instead of the table's."""
    return np.flatnonzero(np.bincount(rows.indices, minlength=rows.shape[1]) >= min_rows)


class TextWords:
    """TF-IDF words and bigrams of a table by row (`words[rows]` -> CSR matrix, `matrix`: all rows), from one
    vectoriser (the vocabulary fitted once). A streamed table's words are a SpooledWords instead."""

    def __init__(self, vectoriser, matrix):
        self.vectoriser, self.matrix = vectoriser, matrix

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape

    def __getitem__(self, rows):
        return self.matrix[rows]


def tfidf_words(texts, *, max_features: int, sample_rows: int, seed: int = 0, n_jobs: int = 1) -> TextWords | None:
    """The table's TF-IDF words and bigrams (word_vectoriser), vectorised once for every model that reads the text
    (the out-of-fold text model, label_error's risk and text-error models). The vocabulary is fitted on a random
    sample of at most `sample_rows` rows drawn without regard to the audit (audited and unaudited rows get
    identically distributed features, or a model fitted on the audit would predict the other rows differently); the
    sample's rows come from that fit and the other rows are transformed in `n_jobs` processes. None when no word
    occurs in two texts."""
    import pandas as pd

    texts = texts if isinstance(texts, pd.Series) else pd.Series(list(texts), dtype=object)
    rng = np.random.default_rng(seed)
    n = len(texts)
    sample = rng.choice(n, size=min(n, sample_rows), replace=False)
    vectoriser = word_vectoriser(max_features)
    try:
        if n <= sample_rows:
            return TextWords(vectoriser, vectoriser.fit_transform(texts.tolist()))
        fitted = vectoriser.fit_transform(texts.iloc[sample].tolist())
    except ValueError:  # no word in two texts
        return None
    from scipy.sparse import vstack

    rest = np.setdiff1d(np.arange(n), sample)
    stacked = vstack([fitted, transform_in_parallel(vectoriser, texts.iloc[rest].tolist(), n_jobs)]).tocsr()
    position = np.empty(n, dtype=np.int64)  # row i of the table is row position[i] of `stacked`
    position[np.concatenate([sample, rest])] = np.arange(n)
    return TextWords(vectoriser, stacked[position])


def _embeddings(texts: list[str], batch_size: int = 64) -> np.ndarray:
    import torch
    from transformers import AutoModel, AutoTokenizer

    from labelgate.encoders import resolve_encoder_path

    path = resolve_encoder_path("minilm")
    tokenizer = AutoTokenizer.from_pretrained(path)
    encoder = AutoModel.from_pretrained(path).eval()
    order = np.argsort([len(t) for t in texts])  # length bucketing: little padding per batch
    out = np.zeros((len(texts), encoder.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            index = order[start:start + batch_size]
            batch = tokenizer([texts[i] for i in index], padding=True, truncation=True, max_length=128,
                              return_tensors="pt")
            hidden = encoder(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            out[index] = ((hidden * mask).sum(1) / mask.sum(1)).numpy()
    return out


def _cross_validated(
    features, labels: np.ndarray, *, n_classes: int, folds: int, seed: int, regularisation: float,
    max_train_rows: int, rng: np.random.Generator, groups: np.ndarray | None = None, n_jobs: int = 1,
) -> np.ndarray:
    """Each fold's classifier fitted on the other folds (at most `max_train_rows` of their rows, a random sample),
    the folds in `n_jobs` processes (forked.map_in_processes: the fits hold the GIL; threads below FORK_MIN_ROWS
    rows). On sparse TF-IDF features a fold's classifier reads only the words its training rows contain
    (`fitted_words`: the same model, at the cost of the sample's vocabulary)."""
    from scipy.sparse import issparse
    from sklearn.linear_model import LogisticRegression

    from labelgate.signals.forked import FORK_MIN_ROWS, map_in_processes

    plan = []
    for train_index, held_out in fold_splits(labels, groups, folds, seed):
        if len(train_index) > max_train_rows:
            train_index = np.sort(rng.choice(train_index, size=max_train_rows, replace=False))
        plan.append((train_index, held_out))

    def fold(pair: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        train_index, held_out = pair
        train = features[train_index]
        held = features[held_out]
        if issparse(train):
            columns = fitted_words(train)
            train, held = train[:, columns], held[:, columns]
        classifier = LogisticRegression(C=regularisation, max_iter=300, tol=1e-3)
        classifier.fit(train, labels[train_index])
        fold_probs = np.full((len(held_out), n_classes), 1e-6)
        fold_probs[:, classifier.classes_] = classifier.predict_proba(held)
        return fold_probs / fold_probs.sum(axis=1, keepdims=True)

    probabilities = np.zeros((len(labels), n_classes))
    results = map_in_processes(fold, plan, n_jobs=n_jobs, fork=len(labels) >= FORK_MIN_ROWS)
    for (_, held_out), fold_probs in zip(plan, results):
        probabilities[held_out] = fold_probs
    return probabilities


# --------------------------------------------------------------------------------------- bounded-memory variant
# For tables too large to hold (score_stream): the folds are a seeded hash of each row's normalised text
# (text_folds, chunk by chunk: copies of a text share a fold) instead of stratified, the vocabulary and the `folds`
# classifiers are fitted on one random sample of the rows (each classifier on the sample rows outside its fold, about
# `max_train_rows` of them, as the in-memory path does above that size), and the held-out probabilities are
# predicted chunk by chunk. Memory: the sample, the vocabulary and the classifiers, whatever the number of rows.


def sample_plan(n_rows: int, *, folds: int, max_train_rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fold of every row as int8, sorted row indices of the training sample). score_stream replaces the folds by
    text_folds of each chunk's texts, so copies of a text share a fold."""
    rng = np.random.default_rng(seed)
    fold_of = rng.integers(0, folds, size=n_rows, dtype=np.int8)
    size = min(n_rows, int(np.ceil(max_train_rows * folds / (folds - 1))))
    sample = np.sort(rng.choice(n_rows, size=size, replace=False))
    return fold_of, sample


class SampledFoldModel:
    """TF-IDF + one logistic regression per fold, fitted on a sample; out-of-fold probabilities in chunks."""

    def __init__(self, *, n_classes: int, folds: int, max_features: int = 200_000, regularisation: float = 0.25):
        self.n_classes = n_classes
        self.folds = folds
        self.max_features = max_features
        self.regularisation = regularisation
        self.vectoriser = None
        self.classifiers: list = []

    def fit(self, texts: list[str], labels: np.ndarray, fold_of: np.ndarray) -> SampledFoldModel:
        from sklearn.linear_model import LogisticRegression

        labels, fold_of = np.asarray(labels), np.asarray(fold_of)
        self.vectoriser = word_vectoriser(self.max_features)
        features = self.vectoriser.fit_transform(texts)
        self.classifiers = []
        for fold in range(self.folds):
            train = fold_of != fold
            if len(np.unique(labels[train])) < 2:
                raise ValueError(f"the training sample outside fold {fold} has fewer than two classes")
            classifier = LogisticRegression(C=self.regularisation, max_iter=300, tol=1e-3)
            self.classifiers.append(classifier.fit(features[train], labels[train]))
        return self

    def predict_out_of_fold(self, texts: list[str], fold_of: np.ndarray, features=None) -> np.ndarray:
        """[len(texts), n_classes] probabilities, each row from the classifier of the fold that held it out.
        `features`: the texts' TF-IDF from this model's vectoriser, when the caller already has it."""
        features = self.vectoriser.transform(texts) if features is None else features
        out = np.full((len(texts), self.n_classes), 1e-6)
        for fold, classifier in enumerate(self.classifiers):
            rows = np.flatnonzero(fold_of == fold)
            if rows.size:
                out[np.ix_(rows, classifier.classes_)] = classifier.predict_proba(features[rows])
        return out / out.sum(axis=1, keepdims=True)


def transform_in_parallel(vectoriser, texts: list[str], n_jobs: int):
    """vectoriser.transform(texts) in `n_jobs` processes (tokenising is Python code: threads would queue on the
    GIL); the rows in order. On Linux this process and n_jobs - 1 forked children share the blocks
    (forked.map_in_processes: the vectoriser and texts inherited, not pickled; the children end with the call, so
    no idle worker keeps its heap: with joblib's resident pool a 1M-row score's process tree peaked at 2.81 GiB
    PSS, 2.44 without, bench/score_throughput.md); elsewhere joblib's worker processes."""
    from scipy.sparse import vstack

    from labelgate.signals.forked import can_fork, map_in_processes

    if n_jobs <= 1 or len(texts) < 10_000:
        return vectoriser.transform(texts)
    chunk = -(-len(texts) // (4 * n_jobs))
    starts = range(0, len(texts), chunk)
    if can_fork():
        parts = map_in_processes(lambda start: vectoriser.transform(texts[start:start + chunk]), starts,
                                 n_jobs=n_jobs)
    else:
        from joblib import Parallel, delayed

        parts = Parallel(n_jobs=n_jobs)(delayed(vectoriser.transform)(texts[start:start + chunk]) for start in starts)
    return vstack(parts).tocsr()


class SpooledWords:
    """The TF-IDF words of a streamed table by row (`words[rows]`, as TextWords), without holding the whole matrix:
    each chunk's rows were saved to a file (`files[i]` holds rows starts[i] .. starts[i + 1] - 1) when the text model
    transformed them, and the rows of `kept_rows` (the audited rows, which the risk and text-error models read
    several times, scattered over every chunk) are held in memory (`kept`). A request for kept rows only is served
    from memory; any other reads the chunk files it touches, one at a time."""

    def __init__(self, vectoriser, files: list, starts: np.ndarray, kept_rows: np.ndarray, kept):
        self.vectoriser, self.files, self.starts = vectoriser, list(files), np.asarray(starts)
        self.kept_rows, self.kept = np.asarray(kept_rows), kept

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.starts[-1]), len(self.vectoriser.vocabulary_)

    def __getitem__(self, rows):
        from scipy.sparse import load_npz, vstack

        rows = np.asarray(range(self.shape[0])[rows] if isinstance(rows, slice) else rows)
        rows = np.flatnonzero(rows) if rows.dtype == bool else rows.astype(np.int64)
        if rows.size and np.isin(rows, self.kept_rows).all():
            return self.kept[np.searchsorted(self.kept_rows, rows)]
        chunk_of = np.searchsorted(self.starts, rows, side="right") - 1
        order = np.argsort(chunk_of, kind="stable")
        parts = []
        for chunk in np.unique(chunk_of):
            local = rows[order][chunk_of[order] == chunk] - self.starts[chunk]
            parts.append(load_npz(self.files[chunk])[local])
        stacked = vstack(parts).tocsr() if parts else self.kept[:0]
        back = np.empty(len(rows), dtype=np.int64)  # stacked holds the rows in chunk order: put them back
        back[order] = np.arange(len(rows))
        return stacked[back]
