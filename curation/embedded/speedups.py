"""Write-path speed-ups for argilla-server on SQLite (runs in the server and worker processes).

`install()` runs before argilla-server serves anything. Each change keeps what Argilla
stores and answers, and only removes work whose result nobody uses. Found by profiling a
bulk log of records with 2 fields, 3 suggestions, 5 metadata and a 384-d vector
(benchmarks/argilla_bench.py); a naive embedded server managed about 90 records/s.

1. Settings parsing: `Question.parsed_settings` / `MetadataProperty.parsed_settings` built
   a pydantic `TypeAdapter` (a schema compilation) on every call, i.e. for every suggestion
   and metadata value of every record validated. Now one adapter per type, and each
   instance keeps its parsed settings until its settings change.
2. Webhooks: every record and response write built a webhook event (reloading the dataset
   with five relationships, dumping the record with its vectors) and only then looked for
   webhooks. Now the enabled webhooks are listed once per database session and events are
   built only when one subscribes to them; with webhooks the same events go out.
3. Bulk logs: the suggestions and vectors of a batch were upserted as one multi-row
   INSERT ... RETURNING compiled afresh per batch, and the returned rows turned into ORM
   objects that the only caller drops. The same upsert (same rows, defaults and conflict
   updates) now runs as a cached executemany. Validating each new record built a scratch
   ORM `Record(dataset=dataset)`, whose backref appended it to `dataset.records` (and
   warned that it could not be saved); the validators read its `fields` and `dataset`
   only, which a plain namespace now carries. After the commit the records were reloaded
   with their suggestions' questions, their responses' users and their submitted
   responses, which only the Elasticsearch document used; the API answer needs the
   suggestions, responses and vectors, still loaded. Batches of new records skip all of
   this: `bulk_log` writes them with executemany and answers from the rows written.
4. JSON: JSON columns (a vector is 384 floats), request bodies and responses used the
   standard library, whose float formatting is slow (0.3 ms per vector). pydantic-core's
   Rust encoder and decoder read and write the same values; a body it cannot parse goes
   to the standard parser, so malformed requests get the same error.
5. Compression: responses were gzipped at level 9 for clients that accept gzip (the SDK
   does); a bulk log's answer holds every record with its vectors (2 MB per batch). The
   embedded server answers on 127.0.0.1 only, where compression costs both sides CPU and
   saves nothing: gzip-only clients now get the same body uncompressed (browsers, which
   accept Brotli, still get Brotli).
6. Membership checks: `User.is_member(workspace)` ran a query per call, and the annotator
   search (`/me/.../records/search`, the whole annotator UI) calls it for every metadata
   value of every record returned: 250 queries for a page of 50 records with 5 metadata.
   A confirmed membership is now remembered by the user object, which lives for one request.
7. SQLite: WAL (the web server and the worker read while the other writes), NORMAL sync
   (durable across application crashes in WAL mode), a 64 MiB page cache, in-memory temp.
   SQLite checkpoints the WAL into the database inside the commit that takes it past 1,000
   pages, with an fsync: a bulk log of 20,000 records (10 kB each) paid that every one
   or two batches, 0.15-0.2 ms per record of the SDK's wait. The connections now leave
   checkpoints to a thread of the web server (`start_checkpoints`), as SQLite's WAL
   documentation suggests; same data, same durability, outside the request.
"""

from __future__ import annotations

import atexit
import copy
import functools
import json
import logging
import sqlite3
import sys
import threading
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA cache_size = -65536",
    "PRAGMA temp_store = MEMORY",
    "PRAGMA wal_autocheckpoint = 0",  # see start_checkpoints
)
CHECKPOINT_EVERY_S = 1.0
WAL_LIMIT_BYTES = 64 * 2**20


def install() -> None:
    from curation.embedded import bulk_log
    from curation.embedded.fixes import written_for

    written_for("2.8.0", __name__)
    _parse_settings_once()
    _notify_only_subscribed_webhooks()
    _lighter_bulk_logs()
    bulk_log.install()
    _fast_json()
    _no_gzip_on_loopback()
    _remember_memberships()
    _tune_sqlite_connections()


# --- 1. settings parsing --------------------------------------------------------------


def _parse_settings_once() -> None:
    from argilla_server.api.schemas.v1.questions import QuestionSettings
    from argilla_server.models import MetadataProperty, Question
    from argilla_server.models.metadata_properties import MetadataPropertySettings
    from pydantic import TypeAdapter

    Question.parsed_settings = _parsed_settings(TypeAdapter(QuestionSettings))  # type: ignore[method-assign]
    MetadataProperty.parsed_settings = _parsed_settings(TypeAdapter(MetadataPropertySettings))  # type: ignore[method-assign]


def _parsed_settings(adapter: Any) -> property:
    def parsed(self: Any) -> Any:
        cached = self.__dict__.get("_curation_parsed_settings")
        if cached is not None and cached[0] == self.settings:
            return cached[1]
        value = adapter.validate_python(self.settings)
        self.__dict__["_curation_parsed_settings"] = (copy.deepcopy(self.settings), value)
        return value

    return property(parsed)


# --- 2. webhooks ----------------------------------------------------------------------

Notify = Callable[..., Awaitable[list]]


def _notify_only_subscribed_webhooks() -> None:
    # Import every module that binds a notify function by name, so all get the wrapper.
    import argilla_server.bulk.records_bulk
    import argilla_server.contexts.datasets
    import argilla_server.contexts.distribution
    import argilla_server.contexts.records  # noqa: F401
    from argilla_server.webhooks.v1 import records, responses

    for module, name in ((records, "notify_record_event"), (responses, "notify_response_event")):
        original = getattr(module, name)
        _replace_everywhere(original, _when_subscribed(original))


def _when_subscribed(notify: Notify) -> Notify:
    from curation.embedded.bulk_log import enabled_webhooks

    @functools.wraps(notify)
    async def wrapper(db: Any, event: Any, *args: Any, **kwargs: Any) -> list:
        if not any(event in webhook.events for webhook in await enabled_webhooks(db)):
            return []
        return await notify(db, event, *args, **kwargs)

    return wrapper


def _replace_everywhere(original: Any, replacement: Any) -> None:
    """Rebind `original` in every argilla_server module that imported it by name."""
    for module_name, module in list(sys.modules.items()):
        if not module_name.startswith("argilla_server") or module is None:
            continue
        for attribute, value in list(vars(module).items()):
            if value is original:
                setattr(module, attribute, replacement)


# --- 3. bulk logs ----------------------------------------------------------------------


def _lighter_bulk_logs() -> None:
    from argilla_server.bulk import records_bulk
    from argilla_server.bulk.records_bulk import CreateRecordsBulk
    from argilla_server.models import Record, Suggestion, Vector
    from argilla_server.validators.records import RecordCreateValidator
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    async def upsert_suggestions(self: CreateRecordsBulk, records_and_suggestions: list) -> list:
        rows = [
            dict(**suggestion.model_dump(), record_id=record.id)
            for record, suggestions in records_and_suggestions
            for suggestion in suggestions or []
        ]
        await _upsert_rows(self._db, Suggestion, rows, ["record_id", "question_id"])
        return []

    async def upsert_vectors(self: CreateRecordsBulk, records_and_vectors: list) -> list:
        rows = [
            dict(
                value=value,
                record_id=record.id,
                vector_settings_id=record.dataset.vector_settings_by_name(name).id,
            )
            for record, vectors in records_and_vectors
            for name, value in (vectors or {}).items()
        ]
        await _upsert_rows(self._db, Vector, rows, ["record_id", "vector_settings_id"])
        return []

    async def validate_new_record(cls: Any, record_create: Any, dataset: Any) -> None:
        # The validators read `record.fields` and `record.dataset` only.
        record = SimpleNamespace(fields=record_create.fields, dataset=dataset)
        cls._validate_fields(record_create.fields, dataset)
        cls._validate_metadata(record_create.metadata, dataset)
        cls._validate_suggestions(record_create.suggestions, dataset, record=record)
        cls._validate_vectors(record_create.vectors, dataset)
        await cls._validate_responses(record_create.responses, dataset, record=record)

    async def load_answer_relationships(db: Any, records: list) -> None:
        await db.execute(
            select(Record)
            .filter(Record.id.in_([record.id for record in records]))
            .options(
                selectinload(Record.responses),
                selectinload(Record.suggestions),
                selectinload(Record.vectors),
            )
        )

    CreateRecordsBulk._upsert_records_suggestions = upsert_suggestions  # type: ignore[method-assign]
    CreateRecordsBulk._upsert_records_vectors = upsert_vectors  # type: ignore[method-assign]
    RecordCreateValidator.validate = classmethod(validate_new_record)  # type: ignore[method-assign, assignment]
    records_bulk._preload_records_relationships_before_index = load_answer_relationships


async def _upsert_rows(db: Any, model: Any, rows: list[dict], constraints: list[str]) -> None:
    """`model.upsert_many(db, rows, constraints, autocommit=False)` minus RETURNING."""
    if not rows:
        return
    from sqlalchemy.dialects.sqlite import insert

    # The defaults' values (updated_at = inserted_at = now), given: no callback per row.
    rows = [{"inserted_at": (now := datetime.utcnow()), "updated_at": now, **row} for row in rows]
    statement = insert(model.__table__)
    updates = {column: statement.excluded[column] for column in model.__upsertable_columns__}
    updates["updated_at"] = datetime.utcnow()  # as upsert_many: onupdate does not fire here
    await db.execute(
        statement.on_conflict_do_update(index_elements=constraints, set_=updates), rows
    )


# --- 4. JSON --------------------------------------------------------------------------


def _fast_json() -> None:
    import pydantic_core
    from argilla_server.database import async_engine, sync_engine
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    def dumps(value: Any) -> str:
        return pydantic_core.to_json(value).decode()

    for engine in (async_engine, sync_engine):
        engine.dialect._json_serializer = dumps
        engine.dialect._json_deserializer = pydantic_core.from_json

    async def request_json(self: Request) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = pydantic_core.from_json(body)
            except ValueError:
                self._json = json.loads(body)  # the standard error for a malformed body
        return self._json

    Request.json = request_json  # type: ignore[method-assign]
    JSONResponse.render = lambda self, content: pydantic_core.to_json(content)  # type: ignore[method-assign]


# --- 5. compression -------------------------------------------------------------------


def _no_gzip_on_loopback() -> None:
    import brotli_asgi

    brotli_asgi.GZipResponder = lambda app, minimum_size: app  # the app answers as is


# --- 6. membership checks -------------------------------------------------------------


def _remember_memberships() -> None:
    from argilla_server.models import User

    is_member = User.is_member

    async def remembered(self: User, workspace_id: Any) -> bool:
        known = self.__dict__.setdefault("_curation_member_of", set())
        if workspace_id in known:
            return True
        member = await is_member(self, workspace_id)
        if member:
            known.add(workspace_id)
        return member

    User.is_member = remembered  # type: ignore[method-assign]


# --- 7. SQLite ------------------------------------------------------------------------


def _tune_sqlite_connections() -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "connect")
    def _tune(dbapi_connection: Any, _connection_record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()


def start_checkpoints(database: Path) -> threading.Thread:
    """Checkpoint the WAL of `database` every second from a thread (web server only).

    A PASSIVE checkpoint copies committed pages into the database file without blocking
    readers or writers, and costs nothing when no page is new; sqlite3 releases the GIL
    while it works. Under a steady stream of writes SQLite seldom gets to restart the WAL
    from its beginning, so past `WAL_LIMIT_BYTES` a TRUNCATE checkpoint (the pages are
    already copied: it waits for the writer of the moment, then empties the file) keeps
    it bounded. At exit the thread closes its connection, so the last connection to close
    (the server's) can fold the WAL back into the database as usual.
    """
    stop = threading.Event()
    wal = database.with_name(database.name + "-wal")

    def checkpoints() -> None:
        connection = sqlite3.connect(database, timeout=2, check_same_thread=False)
        try:
            while not stop.wait(CHECKPOINT_EVERY_S):
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    if wal.exists() and wal.stat().st_size > WAL_LIMIT_BYTES:
                        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
                except sqlite3.Error as error:  # e.g. busy: the next round retries
                    logging.getLogger(__name__).warning("WAL checkpoint failed: %s", error)
        finally:
            connection.close()

    thread = threading.Thread(target=checkpoints, name="wal-checkpoints", daemon=True)
    thread.start()
    atexit.register(lambda: (stop.set(), thread.join(timeout=30)))
    return thread
