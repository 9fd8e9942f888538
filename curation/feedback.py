"""The feedback table: one row per record, reviewer and question (`curate pull` writes it
as `feedback.parquet`; `curation.agreement` computes its figures from it).

One schema for both, so a column pull adds or renames is one the agreement sees.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

SCHEMA = pa.schema(
    [
        ("dataset", pa.string()),
        ("record_id", pa.string()),
        ("annotator", pa.string()),
        ("question", pa.string()),
        ("question_type", pa.string()),
        ("value", pa.string()),  # the answer; lists and objects as JSON text
        ("status", pa.string()),  # one of RESPONSE_STATUSES
        ("suggestion", pa.string()),  # the AI's answer to the same question, if any
        ("suggestion_score", pa.float64()),
        ("suggestion_agent", pa.string()),
        ("updated_at", pa.timestamp("us", tz="UTC")),
        ("blind", pa.bool_()),  # the record is in the blind control slice (review.blind)
    ]
)
FEEDBACK_COLUMNS = tuple(SCHEMA.names)
# What agreement needs of it: the dataset is the call's, the AI's score and when are not
# figures, and `blind` is optional (without it there is no blind-slice split).
AGREEMENT_COLUMNS = tuple(
    name
    for name in FEEDBACK_COLUMNS
    if name not in {"dataset", "suggestion_score", "suggestion_agent", "updated_at", "blind"}
)
RESPONSE_STATUSES = ("draft", "submitted", "discarded")


def feedback_table(frame: pd.DataFrame) -> pa.Table:
    """`frame` as `feedback.parquet` holds it: these columns, in this order, these types."""
    return pa.Table.from_pandas(frame[list(FEEDBACK_COLUMNS)], schema=SCHEMA, preserve_index=False)
