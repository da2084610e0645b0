"""Reading and writing a streamed table's Parquet chunks (score_stream's I/O): chunks read with one-line errors for
a corrupt file, the label set inferred without loading the table, a fixed schema for every chunk, ids checked unique
across chunks, and a reader that gives the next n rows of a Parquet file whatever its row groups."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from labelgate import contract
from labelgate.contract import GOLD, ID, LLM_LABEL
from labelgate.errors import BadInputError


def row_reader(path: Path, batch_rows: int) -> Callable[[int], pd.DataFrame]:
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


def open_parquet(path: Path):
    import pyarrow.parquet as pq

    if not path.exists():
        raise BadInputError(path, "file not found")
    try:
        return pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for corrupt files
        raise BadInputError(path, f"unreadable Parquet ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None


def read_chunks(source, path: Path, chunk_rows: int, columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
    try:
        for batch in source.iter_batches(batch_size=chunk_rows, columns=columns):
            yield batch.to_pandas()
    except BadInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - a truncated or corrupt row group
        raise BadInputError(path, f"unreadable Parquet ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None


def infer_labels(path: str | os.PathLike, chunk_rows: int) -> tuple[str, ...]:
    """contract.resolve_labels' rule for a table with no configured labels, without loading it: the probability
    columns of the schema (contract.labels_stated), else every label the chunks use (contract.labels_used)."""
    path = Path(path)
    source = open_parquet(path)
    names = source.schema_arrow.names
    stated = contract.labels_stated(names)
    if stated:
        return stated
    columns = [c for c in names if c in (LLM_LABEL, GOLD) or c.startswith(contract.ANNOTATOR_PREFIX)]
    seen: set[str] = set()
    for frame in read_chunks(source, path, chunk_rows, columns):
        seen |= contract.labels_used(frame, columns)
    return tuple(sorted(seen))


def writable_schema(schema, source_schema):
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


def to_arrow(frame: pd.DataFrame, schema=None):
    """One chunk as an Arrow table, with `schema` (the first chunk's, see writable_schema) when given."""
    import pyarrow as pa

    if schema is None:
        return pa.Table.from_pandas(frame, preserve_index=False)
    frame = frame.copy(deep=False)
    for field in schema:
        if pa.types.is_string(field.type) and frame[field.name].dtype != object:
            column = frame[field.name]
            frame[field.name] = column.astype(object).where(column.notna(), None)
    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)


def check_unique_ids(path: Path, hashes: np.ndarray, spool_path: Path, chunk_rows: int) -> None:
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
