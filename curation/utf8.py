"""Text in Parquet files that is not UTF-8: found before any work, named by column and row.

Parquet stores strings as bytes and pyarrow reads them without checking; the first
Python conversion then fails deep inside a library. `check_utf8` validates the text
columns of a table (nested ones too) and names the first bad cell.
"""

from __future__ import annotations

import pyarrow as pa

from curation.errors import CurationError


def has_text(type_: pa.DataType) -> bool:
    """Whether values of `type_` hold strings (also inside lists, structs, dictionaries)."""
    if pa.types.is_string(type_) or pa.types.is_large_string(type_):
        return True
    if pa.types.is_dictionary(type_):
        return has_text(type_.value_type)
    return any(has_text(type_.field(i).type) for i in range(type_.num_fields))


def invalid_row(values: pa.Array | pa.ChunkedArray) -> int | None:
    """The first row whose text is not valid UTF-8, or None."""
    try:
        values.validate(full=True)
        return None
    except pa.ArrowInvalid:
        pass
    for row in range(len(values)):  # the slow path, for the error message only
        try:
            values[row].as_py()
        except UnicodeDecodeError:
            return row
    return None


def check_utf8(table: pa.Table | pa.RecordBatch, where: str, first_row: int = 0) -> None:
    """A one-line error naming `where`, the row and the column of the first non-UTF-8 text."""
    for name, column in zip(table.column_names, table.columns, strict=True):
        if not has_text(column.type):
            continue
        row = invalid_row(column)
        if row is not None:
            raise CurationError(f"{where}: row {first_row + row}: `{name}` is not UTF-8 text")
