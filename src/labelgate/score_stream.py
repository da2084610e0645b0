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
from collections.abc import Callable, Iterator
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
    """ScoringContext whose out-of-fold probabilities come from a chunked pass over the spooled table."""

    def __init__(self, *, table, text, seed, test_labels, predict: Callable[[], np.ndarray],
                 words: dict[str, Any], **audit):
        super().__init__(table, text=text, seed=seed, test_labels=test_labels, **audit)
        self._predict = predict
        self._words = words  # filled by `predict`

    @cached_property
    def pred_probs(self) -> np.ndarray:
        return self._predict()

    @cached_property
    def text_words(self):
        """The text model's TF-IDF of every row, spooled to disk chunk by chunk while it predicted (SpooledWords):
        the whole matrix is never held, and no text is tokenised twice."""
        self.pred_probs  # noqa: B018 - the prediction pass writes the words
        return self._words["words"]


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
    import pyarrow as pa
    import pyarrow.parquet as pq

    if params.text.text_model != "tfidf_logreg" and any(s in params.signals for s in ("cleanlab", "agreement")):
        raise ConfigError(f"score.text_model '{params.text.text_model}' is not supported on tables above "
                          f"score.stream_rows ({params.stream_rows} rows); use tfidf_logreg")
    path, out = Path(path), Path(out)
    source = _open(path)
    n_rows = source.metadata.num_rows
    if n_rows < validate_params.min_rows:
        raise BadInputError(path, f"has {n_rows} data rows, needs at least {validate_params.min_rows}")
    names = source.schema_arrow.names
    for column in (TEXT, LLM_LABEL):
        if column not in names:
            raise BadInputError(path, "required column missing", column=column)
    labels = tuple(labels) or infer_labels(path, params.chunk_rows)
    say = progress or (lambda _: None)

    fold_of, sample = sample_plan(n_rows, folds=params.text.cv_folds, max_train_rows=params.text.max_train_rows,
                                  seed=params.seed)
    index = {label: i for i, label in enumerate(labels)}
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_paths(out, summary_path) as (tmp_out, tmp_summary), \
            tempfile.TemporaryDirectory(prefix=temp_prefix(out), suffix=".tmp", dir=out.parent) as spool_dir:
        spool_path = Path(spool_dir) / "normalised.parquet"
        texts_path = Path(spool_dir) / "texts.arrow"  # uncompressed, memory-mapped for the signals that read texts
        # ---- pass 1: validate, keep compact columns, spool the normalised table
        codes: dict[str, np.ndarray] = {}
        probs: np.ndarray | None = None
        id_hashes = np.empty(n_rows, dtype=np.uint64)
        sample_texts: list[str] = []
        spool = texts_spool = None
        offset = 0
        chunks = 0
        for frame in _chunks(source, path, params.chunk_rows):
            say(f"validate rows {offset + 1}-{offset + len(frame)} of {n_rows}")
            frame = validate_label_chunk(path, frame, labels=labels, row_offset=offset, params=validate_params,
                                         expectations_dir=expectations_dir).reset_index(drop=True)
            stop = offset + len(frame)
            for column in [LLM_LABEL, GOLD, *contract.annotator_columns(frame)]:
                if column not in codes and (column in frame.columns or column == GOLD):
                    codes[column] = np.full(n_rows, -1, dtype=np.int8)
                if column in frame.columns:
                    codes[column][offset:stop] = frame[column].map(index).fillna(-1).to_numpy(np.int8)
            prob_columns = [contract.llm_prob_column(label) for label in labels]
            if all(c in frame.columns for c in prob_columns):
                if probs is None:
                    probs = np.empty((n_rows, len(labels)), dtype=np.float32)
                probs[offset:stop] = frame[prob_columns].to_numpy(np.float32)
            id_hashes[offset:stop] = pd.util.hash_pandas_object(frame[ID], index=False).to_numpy()
            # every copy of a text (normalised) in one fold, whichever chunk it is in: no leak through duplicates
            fold_of[offset:stop] = text_folds(frame[TEXT], params.text.cv_folds, params.seed)
            picked = sample[(sample >= offset) & (sample < stop)] - offset
            sample_texts.extend(frame[TEXT].iloc[picked].tolist())
            if spool is None:
                schema = _writable_schema(_to_arrow(frame).schema, source.schema_arrow)
                spool = pq.ParquetWriter(spool_path, schema)
                texts_spool = pa.ipc.new_file(str(texts_path), pa.schema([schema.field(TEXT)]))
            normalised = _to_arrow(frame, schema)
            spool.write_table(normalised)
            texts_spool.write_table(normalised.select([TEXT]))
            offset, chunks = stop, chunks + 1
            del frame, normalised
            # the contract suite's run leaves reference cycles that hold the chunk's frames until a full collection
            # (rare with many live objects): collect them here, or memory grows with every chunk
            gc.collect()
        spool.close()
        texts_spool.close()
        spool_schema = schema
        _check_unique_ids(path, id_hashes, spool_path, params.chunk_rows)
        del id_hashes

        # ---- the compact table the signals read
        frame = pd.DataFrame({
            column: pd.Categorical.from_codes(values, categories=list(labels)) for column, values in codes.items()
        })
        if probs is not None:
            for j, label in enumerate(labels):
                frame[contract.llm_prob_column(label)] = probs[:, j]
            del probs
        # texts for the signals that read them (label_error), memory-mapped: pages are read in when a signal reads
        # their rows, so the texts take no memory while the other signals run
        frame[TEXT] = pd.arrays.ArrowExtensionArray(pa.ipc.open_file(pa.memory_map(str(texts_path))).read_all()
                                                    .column(0))
        compact = CompactLabelTable(frame, labels, str(path), codes)
        release_memory()

        spooled: dict[str, SpooledWords] = {}

        def predict() -> np.ndarray:
            """Out-of-fold probabilities of every row, a chunk at a time; each chunk's TF-IDF is saved to the spool
            (and the audited rows' kept in memory) for the signals that read the words (SpooledWords), so every
            text is tokenised once."""
            from scipy.sparse import save_npz, vstack

            say("text model: fit on the sample")
            given = codes[LLM_LABEL]
            model = SampledFoldModel(n_classes=len(labels), folds=params.text.cv_folds,
                                     max_features=params.text.max_features, regularisation=params.text.text_model_c)
            model.fit(sample_texts, given[sample], fold_of[sample])
            sample_texts.clear()
            audited = np.flatnonzero(codes[GOLD] >= 0)
            pred = np.empty((n_rows, len(labels)), dtype=np.float64)
            files, starts, kept = [], [0], []
            start = 0
            for batch in pq.ParquetFile(spool_path).iter_batches(batch_size=params.chunk_rows, columns=[TEXT]):
                texts = batch.column(0).to_pylist()
                stop = start + len(texts)
                say(f"text model: rows {start + 1}-{stop}")
                features = transform_in_parallel(model.vectoriser, texts, params.text.n_jobs)
                files.append(Path(spool_dir) / f"words_{len(files)}.npz")
                save_npz(files[-1], features, compressed=False)
                kept.append(features[audited[(audited >= start) & (audited < stop)] - start])
                pred[start:stop] = model.predict_out_of_fold(texts, fold_of[start:stop], features=features)
                starts.append(stop)
                start = stop
            spooled["words"] = SpooledWords(model.vectoriser, files, np.asarray(starts), audited,
                                            vstack(kept).tocsr())
            return pred

        context = StreamingContext(table=compact, text=params.text, seed=params.seed, test_labels=test_labels,
                                   predict=predict, words=spooled, **params.audit_settings())

        def next_signal(name: str) -> None:
            say(f"signal: {name}")  # run_signals releases what the previous signal freed before the next one runs

        signal_files: list[Path] = []

        def spool_signal(rows: pd.DataFrame) -> Path:
            """A signal's per-row columns go to a Parquet file in the spool instead of staying in memory."""
            signal_files.append(Path(spool_dir) / f"signal_{len(signal_files)}.parquet")
            pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), signal_files[-1],
                           row_group_size=params.chunk_rows)
            return signal_files[-1]

        signal_files, summary = run_signals(context, params, progress=next_signal, keep=spool_signal)
        del context, compact, frame
        release_memory()
        summary["streamed"] = {"chunks": chunks, "chunk_rows": params.chunk_rows}

        # ---- pass 3: the normalised chunks plus the signals' columns
        writer = None
        start = 0
        signal_rows = [_row_reader(file, params.chunk_rows) for file in signal_files]
        for batch in pq.ParquetFile(spool_path).iter_batches(batch_size=params.chunk_rows):
            stop = start + batch.num_rows
            say(f"write rows {start + 1}-{stop}")
            parts = [batch.to_pandas()] + [read(batch.num_rows) for read in signal_rows]
            chunk = pd.concat(parts, axis=1)
            if writer is None:
                schema = _writable_schema(_to_arrow(chunk).schema, spool_schema)
                writer = pq.ParquetWriter(tmp_out, schema)
            writer.write_table(_to_arrow(chunk, schema))
            start = stop
        writer.close()
        write_json_to(tmp_summary, summary)  # both files land together, or neither
    return summary


# ------------------------------------------------------------------------------------------------------ helpers
def _row_reader(path: Path, batch_rows: int) -> Callable[[int], pd.DataFrame]:
    """read(n): the next n rows of a Parquet file as a DataFrame, whatever the sizes of its row groups."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    batches = pq.ParquetFile(path).iter_batches(batch_size=batch_rows)
    pending: list = []

    def read(n: int) -> pd.DataFrame:
        while sum(b.num_rows for b in pending) < n:
            pending.append(next(batches))
        rows = pa.Table.from_batches(pending)
        pending[:] = rows.slice(n).to_batches()
        return rows.slice(0, n).to_pandas()

    return read


def _open(path: Path):
    import pyarrow.parquet as pq

    if not path.exists():
        raise BadInputError(path, "file not found")
    try:
        return pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for corrupt files
        raise BadInputError(path, f"unreadable Parquet ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None


def _chunks(source, path: Path, chunk_rows: int, columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
    try:
        for batch in source.iter_batches(batch_size=chunk_rows, columns=columns):
            yield batch.to_pandas()
    except BadInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - a truncated or corrupt row group
        raise BadInputError(path, f"unreadable Parquet ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None


def infer_labels(path: str | os.PathLike, chunk_rows: int) -> tuple[str, ...]:
    """contract.infer_labels without loading the table: probability columns, else every label seen."""
    path = Path(path)
    source = _open(path)
    names = source.schema_arrow.names
    from_probs = [c[len(contract.LLM_PROB_PREFIX):] for c in names if c.startswith(contract.LLM_PROB_PREFIX)]
    if from_probs:
        return tuple(from_probs)
    columns = [c for c in names if c in (LLM_LABEL, GOLD) or c.startswith(contract.ANNOTATOR_PREFIX)]
    seen: set[str] = set()
    for frame in _chunks(source, path, chunk_rows, columns):
        for column in columns:
            seen.update(str(v).strip() for v in frame[column].dropna().unique() if str(v).strip())
    return tuple(sorted(seen))


def _writable_schema(schema, source_schema):
    """A fixed schema for every chunk: a column that the input stores as strings stays a string column even when a
    chunk holds only nulls (pyarrow would type it `null` or `double` and refuse the next chunk)."""
    import pyarrow as pa

    fields = []
    for field in schema:
        kept = source_schema.field(field.name).type if field.name in source_schema.names else None
        if kept is not None and (pa.types.is_string(kept) or pa.types.is_large_string(kept)):
            field = field.with_type(pa.string())
        elif pa.types.is_null(field.type):
            field = field.with_type(pa.string() if kept is None or pa.types.is_null(kept) else kept)
        fields.append(field)
    return pa.schema(fields)


def _to_arrow(frame: pd.DataFrame, schema=None):
    """One chunk as an Arrow table, with `schema` (the first chunk's, see _writable_schema) when given."""
    import pyarrow as pa

    if schema is None:
        return pa.Table.from_pandas(frame, preserve_index=False)
    frame = frame.copy(deep=False)
    for field in schema:
        if pa.types.is_string(field.type) and frame[field.name].dtype != object:
            column = frame[field.name]
            frame[field.name] = column.astype(object).where(column.notna(), None)
    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)


def _check_unique_ids(path: Path, hashes: np.ndarray, spool_path: Path, chunk_rows: int) -> None:
    """Ids unique across chunks: equal 64-bit hashes are confirmed on the ids themselves before an error."""
    import pyarrow.parquet as pq

    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    same = np.flatnonzero(ordered[1:] == ordered[:-1])
    if not same.size:
        return
    suspects = np.unique(np.concatenate([order[same], order[same + 1]]))
    found: dict[str, list[int]] = {}
    start = 0
    for batch in pq.ParquetFile(spool_path).iter_batches(batch_size=chunk_rows, columns=[ID]):
        stop = start + batch.num_rows
        local = suspects[(suspects >= start) & (suspects < stop)]
        ids = batch.column(0).to_pylist()
        for row in local:
            found.setdefault(ids[row - start], []).append(int(row) + 1)
        start = stop
    duplicated = [rows for rows in found.values() if len(rows) > 1]
    if duplicated:
        rows = min(duplicated, key=lambda r: r[0])
        raise BadInputError(path, "duplicate id; ids must be unique", rows=rows, column=ID)
