"""Score stage beyond memory: a Parquet label table above `score.stream_rows` rows is validated and scored in chunks.

Memory is bounded by the chunk size plus a few compact per-row arrays (label codes as int8, probabilities as float32,
the out-of-fold probabilities and the signals' per-row columns) and the signals' own whole-table arrays; the texts
are memory-mapped, not held. Time is linear in rows. The table is read three times, chunk by chunk (pyarrow):

1. validate each chunk with the same contract suite as `validate` (row numbers count from the top of the file),
   check ids unique across chunks (64-bit hashes, then an exact look at any collision), keep the compact columns
   the signals read and the texts of the text model's training sample, and spool the normalised chunk to a
   temporary Parquet file next to the output (and its texts to an uncompressed Arrow file the signals map);
2. fit the out-of-fold text model on that sample (`SampledFoldModel`: seeded random folds, one TF-IDF vocabulary,
   one logistic regression per fold, as the in-memory path does above `score.max_train_rows`) and predict every
   row's held-out probabilities chunk by chunk from the spooled texts;
3. run the registered signals over the compact table (the same classes as the in-memory path) and write the
   normalised chunks plus the signals' columns with a ParquetWriter.

Outputs are all-or-nothing: the scores and the summary are written to temporary files and renamed together only
after every chunk succeeded. Differences from the in-memory path: folds are random per row rather than stratified, and
`llm_prob_*` are kept as float32 (entropies agree to ~1e-6). Only `text_model: tfidf_logreg` streams.
"""

from __future__ import annotations

import gc
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelgate import contract
from labelgate.contract import GOLD, ID, LLM_LABEL, TEXT, LabelTable
from labelgate.errors import BadInputError, ConfigError
from labelgate.expectations import DEFAULT_EXPECTATIONS_DIR
from labelgate.outputs import atomic_paths, temp_prefix, write_json_to
from labelgate.score_stream.parquet import (
    check_unique_ids,
    infer_labels,
    open_parquet,
    read_chunks,
    row_reader,
    to_arrow,
    writable_schema,
)
from labelgate.signals.context import ScoringContext, release_memory
from labelgate.signals.runner import ScoreParams, run_signals
from labelgate.signals.text_model import (
    SampledFoldModel,
    SpooledWords,
    sample_plan,
    text_folds,
    transform_in_parallel,
)
from labelgate.validate import ValidateParams, validate_label_chunk

Progress = Callable[[str], None]


def parquet_rows(path: str | os.PathLike) -> int | None:
    """Row count from a Parquet file's footer (no data read); None for other formats or an unreadable footer."""
    path = Path(path)
    if path.suffix.lower() != ".parquet" or not path.is_file():
        return None
    import pyarrow.parquet as pq

    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except Exception:  # noqa: BLE001 - the normal reader reports an unreadable file properly
        return None


def should_stream(path: str | os.PathLike, params: ScoreParams) -> bool:
    rows = parquet_rows(path)
    return rows is not None and rows > params.stream_rows


class CompactLabelTable(LabelTable):
    """The columns signals read, compact: labels as categoricals (codes kept), probabilities as float32."""

    def __init__(self, frame: pd.DataFrame, labels: tuple[str, ...], path: str, codes: dict[str, np.ndarray]):
        super().__init__(frame=frame, labels=labels, path=path)
        object.__setattr__(self, "_codes", codes)

    def label_codes(self, column: str = LLM_LABEL) -> np.ndarray:
        return self._codes[column].astype(int)


class StreamingContext(ScoringContext):
    """ScoringContext whose out-of-fold probabilities and TF-IDF words come from a chunked pass over the spool."""

    def __init__(self, *, spool: Spool, params: ScoreParams, test_labels: pd.Series | None, say: Progress):
        super().__init__(spool.compact_table(), text=params.text, seed=params.seed, test_labels=test_labels,
                         **params.audit_settings())
        self._spool, self._params, self._say = spool, params, say
        self._words: SpooledWords | None = None

    @cached_property
    def pred_probs(self) -> np.ndarray:
        probs, self._words = _predict_out_of_fold(self._spool, self._params, self._say)
        return probs

    @cached_property
    def text_words(self) -> SpooledWords:
        """The text model's TF-IDF of every row, spooled to disk chunk by chunk while it predicted (SpooledWords):
        the whole matrix is never held, and no text is tokenised twice."""
        self.pred_probs  # noqa: B018 - the prediction pass writes the words
        return self._words


@dataclass
class Spool:
    """What pass 1 keeps of a streamed table: the compact per-row columns the signals read (label codes as int8,
    probabilities as float32), the fold plan and the text model's training sample, and the folder holding the
    normalised table (Parquet), its texts (Arrow, memory-mapped) and, later, each chunk's TF-IDF words."""

    path: Path
    folder: Path
    labels: tuple[str, ...]
    n_rows: int
    fold_of: np.ndarray
    sample: np.ndarray
    codes: dict[str, np.ndarray] = field(default_factory=dict)
    probs: np.ndarray | None = None
    sample_texts: list[str] = field(default_factory=list)
    schema: Any = None
    chunks: int = 0

    @property
    def table_path(self) -> Path:
        return self.folder / "normalised.parquet"

    @property
    def texts_path(self) -> Path:
        return self.folder / "texts.arrow"  # uncompressed, memory-mapped for the signals that read texts

    def compact_table(self) -> CompactLabelTable:
        """The table the signals read: label columns as categoricals over the kept codes, probabilities as float32,
        and the texts memory-mapped (pages are read in when a signal reads their rows, so the texts take no memory
        while the other signals run)."""
        import pyarrow as pa

        frame = pd.DataFrame({column: pd.Categorical.from_codes(values, categories=list(self.labels))
                              for column, values in self.codes.items()})
        if self.probs is not None:
            for j, label in enumerate(self.labels):
                frame[contract.llm_prob_column(label)] = self.probs[:, j]
            self.probs = None
        frame[TEXT] = pd.arrays.ArrowExtensionArray(pa.ipc.open_file(pa.memory_map(str(self.texts_path)))
                                                    .read_all().column(0))
        return CompactLabelTable(frame, self.labels, str(self.path), self.codes)


def score_parquet_streaming(
    path: str | os.PathLike,
    out: str | os.PathLike,
    summary_path: str | os.PathLike,
    *,
    labels: tuple[str, ...],
    params: ScoreParams,
    validate_params: ValidateParams = ValidateParams(),
    expectations_dir: str | os.PathLike = DEFAULT_EXPECTATIONS_DIR,
    test_labels: pd.Series | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Validate and score a Parquet label table in chunks; write the scores (Parquet) and the summary (JSON).

    Returns the summary (the same keys as `score_labels`, plus "streamed": {"chunks", "chunk_rows"}).
    """
    path, out = Path(path), Path(out)
    source, labels = _check_source(path, labels, params, validate_params)
    say = progress or (lambda _: None)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_paths(out, summary_path) as (tmp_out, tmp_summary), \
            tempfile.TemporaryDirectory(prefix=temp_prefix(out), suffix=".tmp", dir=out.parent) as folder:
        n_rows = source.metadata.num_rows
        fold_of, sample = sample_plan(n_rows, folds=params.text.cv_folds,
                                      max_train_rows=params.text.max_train_rows, seed=params.seed)
        spool = Spool(path, Path(folder), labels, n_rows, fold_of, sample)
        _validate_and_spool(source, spool, params, validate_params, expectations_dir, say)
        release_memory()
        context = StreamingContext(spool=spool, params=params, test_labels=test_labels, say=say)
        signal_files, summary = run_signals(context, params, progress=lambda name: say(f"signal: {name}"),
                                            keep=lambda rows: _spool_signal(spool, rows, params.chunk_rows))
        del context  # run_signals released what each signal freed; this releases the compact table
        release_memory()
        summary["streamed"] = {"chunks": spool.chunks, "chunk_rows": params.chunk_rows}
        _write_scores(spool, signal_files, tmp_out, params.chunk_rows, say)
        write_json_to(tmp_summary, summary)  # both files land together, or neither
    return summary


def _check_source(path: Path, labels: tuple[str, ...], params: ScoreParams, validate_params: ValidateParams):
    """The opened Parquet file and the label set, after the checks that need no data: a text model that streams,
    enough rows, the required columns."""
    if params.text.text_model != "tfidf_logreg" and any(s in params.signals for s in ("cleanlab", "agreement")):
        raise ConfigError(f"score.text_model '{params.text.text_model}' is not supported on tables above "
                          f"score.stream_rows ({params.stream_rows} rows); use tfidf_logreg")
    source = open_parquet(path)
    n_rows = source.metadata.num_rows
    if n_rows < validate_params.min_rows:
        raise BadInputError(path, f"has {n_rows} data rows, needs at least {validate_params.min_rows}")
    names = source.schema_arrow.names
    for column in (TEXT, LLM_LABEL):
        if column not in names:
            raise BadInputError(path, "required column missing", column=column)
    return source, tuple(labels) or infer_labels(path, params.chunk_rows)


def _validate_and_spool(source, spool: Spool, params: ScoreParams, validate_params: ValidateParams,
                        expectations_dir, say: Progress) -> None:
    """Pass 1: validate each chunk with the contract suite (row numbers from the top of the file), keep its compact
    columns (`_keep_compact`), check ids unique across chunks, and spool the normalised chunks and their texts."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    id_hashes = np.empty(spool.n_rows, dtype=np.uint64)
    writer = texts_writer = None
    offset = 0
    for frame in read_chunks(source, spool.path, params.chunk_rows):
        say(f"validate rows {offset + 1}-{offset + len(frame)} of {spool.n_rows}")
        frame = validate_label_chunk(spool.path, frame, labels=spool.labels, row_offset=offset,
                                     params=validate_params, expectations_dir=expectations_dir).reset_index(drop=True)
        stop = offset + len(frame)
        _keep_compact(spool, frame, offset, params)
        id_hashes[offset:stop] = pd.util.hash_pandas_object(frame[ID], index=False).to_numpy()
        if writer is None:
            spool.schema = writable_schema(to_arrow(frame).schema, source.schema_arrow)
            writer = pq.ParquetWriter(spool.table_path, spool.schema)
            texts_writer = pa.ipc.new_file(str(spool.texts_path), pa.schema([spool.schema.field(TEXT)]))
        normalised = to_arrow(frame, spool.schema)
        writer.write_table(normalised)
        texts_writer.write_table(normalised.select([TEXT]))
        offset, spool.chunks = stop, spool.chunks + 1
        del frame, normalised
        # the contract suite's run leaves reference cycles that hold the chunk's frames until a full collection
        # (rare with many live objects): collect them here, or memory grows with every chunk
        gc.collect()
    writer.close()
    texts_writer.close()
    check_unique_ids(spool.path, id_hashes, spool.table_path, params.chunk_rows)


def _keep_compact(spool: Spool, frame: pd.DataFrame, offset: int, params: ScoreParams) -> None:
    """One validated chunk's label codes (int8), probabilities (float32), text folds and training-sample texts."""
    stop = offset + len(frame)
    index = {label: i for i, label in enumerate(spool.labels)}
    for column in [LLM_LABEL, GOLD, *contract.annotator_columns(frame)]:
        if column not in spool.codes and (column in frame.columns or column == GOLD):
            spool.codes[column] = np.full(spool.n_rows, -1, dtype=np.int8)
        if column in frame.columns:
            spool.codes[column][offset:stop] = frame[column].map(index).fillna(-1).to_numpy(np.int8)
    prob_columns = [contract.llm_prob_column(label) for label in spool.labels]
    if all(c in frame.columns for c in prob_columns):
        if spool.probs is None:
            spool.probs = np.empty((spool.n_rows, len(spool.labels)), dtype=np.float32)
        spool.probs[offset:stop] = frame[prob_columns].to_numpy(np.float32)
    # every copy of a text (normalised) in one fold, whichever chunk it is in: no leak through duplicates
    spool.fold_of[offset:stop] = text_folds(frame[TEXT], params.text.cv_folds, params.seed)
    picked = spool.sample[(spool.sample >= offset) & (spool.sample < stop)] - offset
    spool.sample_texts.extend(frame[TEXT].iloc[picked].tolist())


def _predict_out_of_fold(spool: Spool, params: ScoreParams, say: Progress) -> tuple[np.ndarray, SpooledWords]:
    """Pass 2: the text model fitted on the sample (SampledFoldModel), then every row's out-of-fold probabilities a
    chunk at a time; each chunk's TF-IDF is saved to the spool (and the audited rows' kept in memory) for the
    signals that read the words, so every text is tokenised once."""
    import pyarrow.parquet as pq
    from scipy.sparse import save_npz, vstack

    say("text model: fit on the sample")
    codes = spool.codes
    model = SampledFoldModel(n_classes=len(spool.labels), folds=params.text.cv_folds,
                             max_features=params.text.max_features, regularisation=params.text.text_model_c)
    model.fit(spool.sample_texts, codes[LLM_LABEL][spool.sample], spool.fold_of[spool.sample])
    spool.sample_texts.clear()
    audited = np.flatnonzero(codes[GOLD] >= 0)
    pred = np.empty((spool.n_rows, len(spool.labels)), dtype=np.float64)
    files, starts, kept = [], [0], []
    for batch in pq.ParquetFile(spool.table_path).iter_batches(batch_size=params.chunk_rows, columns=[TEXT]):
        texts = batch.column(0).to_pylist()
        start, stop = starts[-1], starts[-1] + len(texts)
        say(f"text model: rows {start + 1}-{stop}")
        features = transform_in_parallel(model.vectoriser, texts, params.text.n_jobs)
        files.append(spool.folder / f"words_{len(files)}.npz")
        save_npz(files[-1], features, compressed=False)
        kept.append(features[audited[(audited >= start) & (audited < stop)] - start])
        pred[start:stop] = model.predict_out_of_fold(texts, spool.fold_of[start:stop], features=features)
        starts.append(stop)
    return pred, SpooledWords(model.vectoriser, files, np.asarray(starts), audited, vstack(kept).tocsr())


def _spool_signal(spool: Spool, rows: pd.DataFrame, chunk_rows: int) -> Path:
    """A signal's per-row columns go to a Parquet file in the spool instead of staying in memory."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    file = spool.folder / f"signal_{len(list(spool.folder.glob('signal_*.parquet')))}.parquet"
    pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), file, row_group_size=chunk_rows)
    return file


def _write_scores(spool: Spool, signal_files: list[Path], out: Path, chunk_rows: int, say: Progress) -> None:
    """Pass 3: the normalised chunks plus the signals' columns, chunk by chunk, to `out` (Parquet)."""
    import pyarrow.parquet as pq

    writer = None
    start = 0
    signal_rows = [row_reader(file, chunk_rows) for file in signal_files]
    for batch in pq.ParquetFile(spool.table_path).iter_batches(batch_size=chunk_rows):
        stop = start + batch.num_rows
        say(f"write rows {start + 1}-{stop}")
        chunk = pd.concat([batch.to_pandas()] + [read(batch.num_rows) for read in signal_rows], axis=1)
        if writer is None:
            schema = writable_schema(to_arrow(chunk).schema, spool.schema)
            writer = pq.ParquetWriter(out, schema)
        writer.write_table(to_arrow(chunk, schema))
        start = stop
    writer.close()
