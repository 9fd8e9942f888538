"""Parquet in and out for the selection: columns checked up front, big columns streamed.

A 1,000,000 x 384 embedding column is 1.5 GB of floats. pyarrow's default read
pre-buffers whole column chunks (6.2 GiB peak measured here), so everything large is read
batch by batch with `pre_buffer=False` into one preallocated matrix, and the output rows
are taken batch by batch from the input file, keeping every column and type unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation.errors import CurationError
from curation.selection.deita import Selection
from curation.utf8 import check_utf8, has_text

BATCH_ROWS = 16384
ID_COLUMN = "id"
ADDED_COLUMNS = ("selection_rank", "nn_similarity")
# Why a scored-out row is in the rejected file.
TOO_SIMILAR = "too_similar"
BUDGET_FILLED = "budget_filled"
NO_SCORE = "null_score"


class InputTable:
    """An input Parquet file: its schema, row count and how to name a row in an error."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise CurationError(f"input file not found: {self.path}")
        try:
            self.file = pq.ParquetFile(self.path, pre_buffer=False)
        except (pa.ArrowInvalid, OSError) as error:
            raise CurationError(f"{self.path}: not a readable Parquet file ({error})") from None
        self.schema = self.file.schema_arrow
        self.num_rows = self.file.metadata.num_rows
        self._ids: pa.Array | None = None

    def field(self, column: str) -> pa.Field:
        """The field of `column`, or a one-line error listing the columns there are."""
        if column not in self.schema.names:
            names = ", ".join(self.schema.names) or "none"
            raise CurationError(f"{self.path}: no column `{column}` (columns: {names})")
        return self.schema.field(column)

    def read_column(self, column: str) -> pa.ChunkedArray:
        self.field(column)
        return self.file.read(columns=[column]).column(0)

    def batches(self, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
        yield from self.file.iter_batches(batch_size=BATCH_ROWS, columns=columns)

    def ids(self) -> pa.Array:
        """The `id` column if there is one, else the row numbers (int64)."""
        if self._ids is None:
            if ID_COLUMN in self.schema.names:
                self._ids = self.read_column(ID_COLUMN).combine_chunks()
            else:
                self._ids = pa.array(np.arange(self.num_rows, dtype=np.int64))
        return self._ids

    def row_name(self, row: int) -> str:
        """`row 17 (id 'abc')`: what an error message calls a row."""
        if ID_COLUMN in self.schema.names:
            return f"row {row} (id {self.ids()[row].as_py()!r})"
        return f"row {row}"

    def error(self, message: str) -> CurationError:
        return CurationError(f"{self.path}: {message}")


def read_scores(table: InputTable, column: str) -> np.ndarray:
    """The score column as float64, null (and NaN) as NaN: rows without a score."""
    field = table.field(column)
    if not (
        pa.types.is_integer(field.type)
        or pa.types.is_floating(field.type)
        or pa.types.is_decimal(field.type)
    ):
        raise table.error(f"score column `{column}` must be numeric, got {field.type}")
    values = pc.cast(table.read_column(column), pa.float64()).combine_chunks()
    return values.to_numpy(zero_copy_only=False)


def read_texts(table: InputTable, column: str, scores: np.ndarray) -> list[str | None]:
    """The text column; a row with a score must have a text."""
    field = table.field(column)
    if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
        raise table.error(f"text column `{column}` must hold strings, got {field.type}")
    texts = table.read_column(column).to_pylist()
    for row, text in enumerate(texts):
        if text is None and not np.isnan(scores[row]):
            raise table.error(f"{table.row_name(row)}: `{column}` is null but the row has a score")
    return texts


def read_embeddings(table: InputTable, column: str, scores: np.ndarray) -> np.ndarray:
    """The embedding column as an (N, d) matrix, streamed batch by batch.

    float32 stays float32 (half the memory), float64 stays float64, float16 and integers
    are widened. Every row has the same dimension; a row with a score must have an
    embedding without nulls (rows without a score are dropped anyway, so theirs may be
    null and come out as zeros).
    """
    field = table.field(column)
    value_type = _list_value_type(field.type)
    if value_type is None or not (
        pa.types.is_floating(value_type) or pa.types.is_integer(value_type)
    ):
        raise table.error(
            f"embedding column `{column}` must hold lists of numbers, got {field.type}"
        )
    wide = value_type == pa.float64() or pa.types.is_integer(value_type)
    dtype = np.float64 if wide else np.float32
    matrix: np.ndarray | None = None
    offset = 0
    for batch in table.batches([column]):
        array = batch.column(0)
        rows = len(array)
        present = None  # batch rows with an embedding, when some have none
        if array.null_count:
            missing = np.flatnonzero(array.is_null().to_numpy(zero_copy_only=False))
            scored = missing[~np.isnan(scores[offset + missing])]
            if scored.size:
                row = offset + int(scored[0])
                raise table.error(
                    f"{table.row_name(row)}: `{column}` is null but the row has a score"
                )
            present = np.flatnonzero(array.is_valid().to_numpy(zero_copy_only=False))
            array = array.filter(array.is_valid())
        if len(array):
            lengths = _lengths(array)
            if matrix is None:
                matrix = np.zeros((table.num_rows, int(lengths[0])), dtype=dtype)
            dim = matrix.shape[1]
            wrong = np.flatnonzero(lengths != dim)
            if wrong.size:
                row = offset + int(wrong[0] if present is None else present[wrong[0]])
                raise table.error(
                    f"{table.row_name(row)}: `{column}` has {int(lengths[wrong[0]])} values, "
                    f"the rows before have {dim}"
                )
            values = array.flatten()  # no copy for list arrays without nulls
            if values.null_count:
                first = int(np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False))[0])
                row = offset + int(first // dim if present is None else present[first // dim])
                raise table.error(f"{table.row_name(row)}: `{column}` contains null values")
            flat = values.to_numpy(zero_copy_only=False).reshape(len(array), dim)
            if present is None:
                matrix[offset : offset + rows] = flat
            else:
                matrix[offset + present] = flat
        offset += rows
    if matrix is None:
        return np.zeros((table.num_rows, 0), dtype=np.float32)
    return matrix


def _list_value_type(type_: pa.DataType) -> pa.DataType | None:
    if pa.types.is_list(type_) or pa.types.is_large_list(type_):
        return type_.value_type
    if pa.types.is_fixed_size_list(type_):
        return type_.value_type
    return None


def _lengths(array: pa.Array) -> np.ndarray:
    if pa.types.is_fixed_size_list(array.type):
        return np.full(len(array), array.type.list_size, dtype=np.int64)
    return pc.list_value_length(array).fill_null(0).to_numpy(zero_copy_only=False)


def check_text(table: InputTable) -> None:
    """Every text column is UTF-8 (streamed): the outputs copy them, later stages read them."""
    names = [field.name for field in table.schema if has_text(field.type)]
    if not names:
        return
    offset = 0
    for batch in table.batches(names):
        check_utf8(batch, str(table.path), offset)
        offset += batch.num_rows


def check_unique_ids(table: InputTable) -> None:
    """Each id names one row: the rejected file's `id` and `blocked_by` point at rows by it."""
    if ID_COLUMN not in table.schema.names:
        return
    ids = table.ids()
    if len(pc.unique(ids)) == len(ids):
        return
    seen: dict[Any, int] = {}
    for row, value in enumerate(ids.to_pylist()):
        if value in seen:
            raise table.error(
                f"id {value!r} appears more than once (rows {seen[value]} and {row}); "
                "ids must be unique"
            )
        seen[value] = row


def check_output_columns(table: InputTable) -> None:
    """The added columns must not clobber input columns (the contract keeps those unchanged)."""
    for name in ADDED_COLUMNS:
        if name in table.schema.names:
            raise table.error(
                f"the input already has a `{name}` column (a selection output?); "
                "rename or drop it first"
            )


def kept_table(
    table: InputTable,
    selection: Selection,
    embeddings: np.ndarray | None = None,
    embedding_column: str | None = None,
) -> pa.Table:
    """The kept rows in keep order, every input column unchanged, plus rank and similarity.

    With the `embeddings` matrix read from `embedding_column`, that column's kept rows are
    rebuilt from the matrix (the values are exact copies, cast back to the column's type)
    rather than decoded from the file a second time.
    """
    kept = selection.kept
    in_input_order = np.sort(kept)
    rebuilt = embedding_column if embeddings is not None else None
    names = [name for name in table.schema.names if name != rebuilt]
    schema = pa.schema([table.schema.field(name) for name in names], table.schema.metadata)
    pieces: list[pa.RecordBatch] = []
    offset = 0
    for batch in table.batches(names):
        first, last = np.searchsorted(in_input_order, [offset, offset + batch.num_rows])
        if last > first:
            pieces.append(batch.take(pa.array(in_input_order[first:last] - offset)))
        offset += batch.num_rows
    taken = pa.Table.from_batches(pieces, schema=schema) if pieces else schema.empty_table()
    # Rows were taken in input order; put them in keep order.
    result = taken.take(pa.array(np.searchsorted(in_input_order, kept)))
    if rebuilt is not None:
        assert embeddings is not None
        field = table.schema.field(rebuilt)
        values = list_array(embeddings[kept]).cast(field.type)
        result = result.add_column(table.schema.names.index(rebuilt), field, values)
    nn = pa.array(
        selection.nn_similarity, type=pa.float64(), mask=np.isnan(selection.nn_similarity)
    )
    result = result.append_column("selection_rank", pa.array(np.arange(len(kept)), pa.int64()))
    return result.append_column("nn_similarity", nn)


def list_array(matrix: np.ndarray) -> pa.Array:
    """An (N, d) matrix as a list<float> column without a Python loop (large_list past 2**31)."""
    rows, dim = matrix.shape
    values = pa.array(np.ascontiguousarray(matrix).reshape(-1))
    offsets = np.arange(rows + 1, dtype=np.int64) * dim
    if rows * dim < 2**31:
        return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values)
    return pa.LargeListArray.from_arrays(pa.array(offsets), values)


def rejected_table(table: InputTable, selection: Selection, scores: np.ndarray) -> pa.Table:
    """Every input row not kept, why, and for a too-similar row the kept row that blocked it.

    Rows come in walk order (too similar, then not reached), then the rows without a
    score in input order.
    """
    rows = np.concatenate((selection.rejected, selection.not_reached, selection.null_score))
    reasons = (
        [TOO_SIMILAR] * len(selection.rejected)
        + [BUDGET_FILLED] * len(selection.not_reached)
        + [NO_SCORE] * len(selection.null_score)
    )
    tail = len(rows) - len(selection.rejected)
    ids = table.ids()
    blocker_rows = selection.kept[selection.blocked_by]
    padding = np.zeros(tail, dtype=np.int64)
    no_blocker = np.r_[np.zeros(len(selection.rejected), bool), np.ones(tail, bool)]
    row_scores = scores[rows]
    columns: dict[str, Any] = {
        "id": ids.take(pa.array(rows, pa.int64())),
        "row": pa.array(rows, pa.int64()),
        "reason": pa.array(reasons, pa.string()),
        "score": pa.array(row_scores, pa.float64(), mask=np.isnan(row_scores)),
        "blocked_by": ids.take(pa.array(np.r_[blocker_rows, padding], pa.int64(), mask=no_blocker)),
        "blocked_by_rank": pa.array(
            np.r_[selection.blocked_by, padding], pa.int64(), mask=no_blocker
        ),
        "similarity": pa.array(
            np.r_[selection.similarity, np.zeros(tail)], pa.float64(), mask=no_blocker
        ),
    }
    return pa.table(columns)
