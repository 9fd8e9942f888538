"""The rows `curate push` reads: from a Parquet file, checked before anything is written.

Every problem is one line naming the file (or run file), the row and the record id: a
missing column, an id that is empty or not unique, an empty or non-text text, a rating
off the scale.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from curation.errors import CurationError
from curation.review.push import SCALE
from curation.review.templates import Template
from curation.utf8 import check_utf8

REQUIRED: dict[Template, tuple[str, ...]] = {
    "instruction": ("id", "instruction", "response"),
    "preference": (
        "id",
        "instruction",
        "chosen",
        "rejected",
        "chosen_rating",
        "rejected_rating",
        "judge_model",
    ),
}
TEXT_COLUMNS: dict[Template, tuple[str, ...]] = {
    "instruction": ("instruction", "response"),
    "preference": ("instruction", "chosen", "rejected"),
}
RATING_COLUMNS: dict[Template, tuple[str, ...]] = {
    "instruction": ("rating",),
    "preference": ("chosen_rating", "rejected_rating"),
}


def read_rows(path: Path, template: Template) -> tuple[pd.DataFrame, int]:
    """The input rows, checked (columns, ids, texts, rating ranges), and how many were skipped.

    Preference rows that generation marked as having no pair (`pair_null_reason`, fewer
    than two rated candidates) are skipped: there is nothing to compare.
    """
    try:
        schema = pq.read_schema(path)
    except FileNotFoundError:
        raise CurationError(f"input file not found: {path}") from None
    except (pa.ArrowInvalid, OSError) as error:
        raise CurationError(f"{path}: not a readable Parquet file ({error})") from None
    missing = [name for name in REQUIRED[template] if name not in schema.names]
    if missing:
        raise CurationError(
            f"{path}: missing column(s) {', '.join(missing)} for the {template} template"
        )
    data = pq.read_table(path)
    check_utf8(data, str(path))
    rows = data.to_pandas()
    skipped = 0
    if template == "preference" and "pair_null_reason" in rows.columns:
        unpaired = rows["pair_null_reason"].notna() & rows["chosen"].isna()
        skipped = int(unpaired.sum())
        rows = rows[~unpaired]
    check_rows(rows, template, str(path))
    return rows.reset_index(drop=True), skipped


def check_rows(rows: pd.DataFrame, template: Template, where: str) -> None:
    """One-line errors naming the row and record for ids, empty texts, ratings off the scale."""
    if rows.empty:
        raise CurationError(f"{where}: no rows to push")
    ids = rows["id"]
    for index, value in ids.items():
        problem = _text_problem(value)
        if problem:
            raise CurationError(f"{where}: row {index}: `id` {problem}")
    duplicated = ids[ids.duplicated(keep=False)]
    if not duplicated.empty:
        first = duplicated.iloc[0]
        rows_with = ", ".join(str(i) for i in duplicated[duplicated == first].index)
        raise CurationError(f"{where}: id {first!r} appears more than once (rows {rows_with})")
    for column in TEXT_COLUMNS[template]:
        for index, value in rows[column].items():
            problem = _text_problem(value)
            if problem:
                raise CurationError(
                    f"{where}: row {index} (id {ids[index]!r}): `{column}` {problem}"
                )
    for column in RATING_COLUMNS[template]:
        if column not in rows.columns:
            continue
        numbers = pd.to_numeric(rows[column], errors="coerce")
        bad = rows[column].notna() & ~numbers.between(*SCALE)
        if bad.any():
            index = bad[bad].index[0]
            raise CurationError(
                f"{where}: row {index} (id {ids[index]!r}): `{column}` is "
                f"{rows[column][index]}, not a rating from {SCALE[0]} to {SCALE[1]}"
            )


def _text_problem(value: Any) -> str | None:
    """What is wrong with a value that must be text: `is empty`, `is int 7, not text`, or None."""
    if isinstance(value, str):
        return None if value.strip() else "is empty"
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "is empty"
    if isinstance(value, bytes):
        return "holds bytes, not text (a binary column: store it as a string column)"
    return f"is {type(value).__name__} {value!r}, not text"
