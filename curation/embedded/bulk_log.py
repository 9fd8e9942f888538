"""Bulk logs of new records: three executemany INSERTs, answered from the rows written.

The SDK's `dataset.records.log` sends batches of up to 256 records to
`PUT /api/v1/datasets/{id}/records/bulk` and reads every record of the answer back, with
its suggestions, responses and vectors. argilla-server builds and flushes an ORM object
per record, upserts the suggestions and vectors, commits, then reads the whole batch back
from the database (384 floats per vector included) only to answer. When every record of
a batch is new, the answer holds exactly what the request carried plus the ids and
timestamps given on insert; this module writes the same rows with one executemany per
table and answers from them (`tests/test_embedded_bulk.py` checks the answer against a
fresh read of the records, byte for byte).

Every other batch takes argilla-server's own path: a record that exists already (its
answer must hold what it had before), records with responses (they change record statuses
and dataset users), a webhook listening to record events, Hub imports
(`raise_on_error=False`), an external id given twice, another search engine or
distribution strategy.

Timestamps increase strictly within a batch (the clock may repeat a microsecond): records
are listed in `inserted_at` order, and a record's suggestions and vectors in theirs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pydantic_core

_TICK = timedelta(microseconds=1)


def install() -> None:
    """Route batches of new records here. The PUT handler returns what
    `upsert_records_bulk` returns, and FastAPI sends a `Response` as it is: the fast path
    hands back the finished JSON answer instead of ORM records to serialise."""
    from argilla_server.bulk.records_bulk import UpsertRecordsBulk

    from curation.embedded.fixes import written_for

    written_for("2.8.0", __name__)

    upsert_records_bulk = UpsertRecordsBulk.upsert_records_bulk

    async def new_records_first(
        self: UpsertRecordsBulk, dataset: Any, bulk_upsert: Any, raise_on_error: bool = True
    ) -> Any:
        if raise_on_error and await _all_new_and_plain(self, dataset, bulk_upsert.items):
            return await _insert(self._db, dataset, bulk_upsert.items)
        return await upsert_records_bulk(self, dataset, bulk_upsert, raise_on_error)

    UpsertRecordsBulk.upsert_records_bulk = new_records_first  # type: ignore[method-assign]


async def enabled_webhooks(db: Any) -> list:
    """The enabled webhooks, listed once per database session (one request or job)."""
    from argilla_server.contexts.webhooks import list_enabled_webhooks

    if "curation_enabled_webhooks" not in db.info:
        db.info["curation_enabled_webhooks"] = list(await list_enabled_webhooks(db))
    return db.info["curation_enabled_webhooks"]


async def _all_new_and_plain(bulk: Any, dataset: Any, items: list) -> bool:
    """True iff the fast path gives argilla-server's answer for this batch."""
    from argilla_server.enums import DatasetDistributionStrategy
    from argilla_server.models import Record
    from argilla_server.webhooks.v1.enums import RecordEvent
    from sqlalchemy import or_, select

    from curation.embedded.sql_engine import SQLSearchEngine

    external_ids = [item.external_id for item in items if item.external_id is not None]
    if (
        not isinstance(bulk._search_engine, SQLSearchEngine)
        or dataset.distribution_strategy != DatasetDistributionStrategy.overlap
        or any(item.responses for item in items)
        or len(set(external_ids)) != len(external_ids)
    ):
        return False
    listening = {RecordEvent.created, RecordEvent.updated}
    if any(listening & set(webhook.events) for webhook in await enabled_webhooks(bulk._db)):
        return False
    ids = [item.id for item in items if item.id is not None]
    existing = await bulk._db.execute(
        select(Record.id)
        .where(Record.dataset_id == dataset.id)
        .where(or_(Record.external_id.in_(external_ids), Record.id.in_(ids)))
        .limit(1)
    )
    return existing.first() is None


async def _insert(db: Any, dataset: Any, items: list) -> Any:
    """Validate, write and commit the new records; the answer as argilla-server gives it."""
    from argilla_server.models import Record, Suggestion, Vector
    from sqlalchemy import Text, bindparam, insert
    from starlette.responses import Response

    await _validate(dataset, items)
    records, suggestions, vectors, answer = _rows(dataset, items)
    await db.execute(insert(Record.__table__), records)
    if suggestions:
        await db.execute(insert(Suggestion.__table__), suggestions)
    if vectors:
        value = bindparam("value_json", type_=Text())  # JSON text already
        await db.execute(insert(Vector.__table__).values(value=value), vectors)
    await db.commit()
    # The route's response model is `RecordsBulk`: `items` only.
    body = b'{"items":[' + b",".join(answer) + b"]}"
    return Response(body, media_type="application/json")


async def _validate(dataset: Any, items: list) -> None:
    """argilla-server's own checks of each item, with its message, before any write."""
    from argilla_server.errors.future import UnprocessableEntityError
    from argilla_server.validators.records import RecordUpsertValidator

    for position, item in enumerate(items):
        try:
            await RecordUpsertValidator.validate(item, dataset, None)
        except Exception as error:  # the message argilla-server gives
            raise UnprocessableEntityError(
                f"Record at position {position} is not valid because {error}"
            ) from error


def _rows(dataset: Any, items: list) -> tuple[list[dict], list[dict], list[dict], list[bytes]]:
    """The record, suggestion and vector table rows of `items`, and each item's answer."""
    from argilla_server.enums import RecordStatus
    from fastapi.encoders import jsonable_encoder

    # Overlap distribution: a record without submitted responses is completed only when
    # no submission is required.
    status = (
        RecordStatus.completed
        if dataset.distribution["min_submitted"] <= 0
        else RecordStatus.pending
    )
    clock = _Clock()
    ids = _uuid4s(sum(1 + len(i.suggestions or []) + len(i.vectors or {}) for i in items))
    records, suggestions, vectors, answer = [], [], [], []
    for item in items:
        at = clock.next()
        record = {
            "id": next(ids),
            "fields": jsonable_encoder(item.fields),
            "metadata": item.metadata,
            "external_id": item.external_id,
            "status": status,
            "dataset_id": dataset.id,
            "inserted_at": at,
            "updated_at": at,
        }
        records.append(record)
        record_suggestions = []
        for suggestion in item.suggestions or []:
            at = clock.next()
            row = {**suggestion.model_dump(), "id": next(ids), "inserted_at": at, "updated_at": at}
            suggestions.append({**row, "record_id": record["id"]})
            record_suggestions.append(row)
        record_vectors = _vectors(dataset, item, record["id"], clock, ids, vectors)
        answer.append(_answer_item(record, record_suggestions, record_vectors))
    return records, suggestions, vectors, answer


def _vectors(
    dataset: Any, item: Any, record_id: Any, clock: _Clock, ids: Iterator[UUID], rows: list[dict]
) -> dict[str, bytes]:
    """Append the item's vector rows to `rows`; its vectors as JSON text, for the answer."""
    found = {}
    for name, value in (item.vectors or {}).items():
        at = clock.next()
        text = pydantic_core.to_json(value)  # once, for the table and the answer
        rows.append({
            "id": next(ids),
            "record_id": record_id,
            "vector_settings_id": dataset.vector_settings_by_name(name).id,
            "value_json": text.decode(),
            "inserted_at": at,
            "updated_at": at,
        })  # fmt: skip
        found[name] = text
    return found


def _answer_item(record: dict, suggestions: list[dict], vectors: dict[str, bytes]) -> bytes:
    """One item of the answer as JSON, keys in the order of argilla-server's `Record`
    schema; the vectors are spliced in as the JSON text written to the table."""
    item = pydantic_core.to_json({
        "id": record["id"],
        "status": record["status"].value,
        "fields": record["fields"],
        "metadata": record["metadata"],
        "external_id": record["external_id"],
        "responses": [],
        "suggestions": [
            {
                "question_id": s["question_id"],
                "type": None if s["type"] is None else s["type"].value,
                "value": s["value"],
                "agent": s["agent"],
                "score": s["score"],
                "id": s["id"],
                "inserted_at": s["inserted_at"],
                "updated_at": s["updated_at"],
            }
            for s in suggestions
        ],
        "dataset_id": record["dataset_id"],
        "inserted_at": record["inserted_at"],
        "updated_at": record["updated_at"],
    })  # fmt: skip
    # `"dataset_id":` occurs last outside user values (JSON escapes their quotes).
    at = item.rindex(b',"dataset_id":')
    fragments = b",".join(
        pydantic_core.to_json(name) + b":" + text for name, text in vectors.items()
    )
    return item[:at] + b',"vectors":{' + fragments + b"}" + item[at:]


def _uuid4s(count: int) -> Iterator[UUID]:
    """`count` random (version 4) UUIDs from one read of the system's random source."""
    random = os.urandom(16 * count)
    return (UUID(bytes=random[i : i + 16], version=4) for i in range(0, len(random), 16))


class _Clock:
    """utcnow as argilla-server's defaults take it, strictly increasing."""

    def __init__(self) -> None:
        self.last = datetime.min

    def next(self) -> datetime:
        self.last = max(datetime.utcnow(), self.last + _TICK)
        return self.last
