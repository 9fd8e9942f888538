"""Our search tables beside Argilla's, kept current by SQLite triggers.

Triggers run inside the writer's own transaction, whichever process writes (web server or
worker), so the search state can never disagree with Argilla's tables and survives
restarts. Two kinds of objects:

- `curation_versions`: change counters per vector setting (`vectors+ID` counts inserts,
  `vectors~ID` updates and deletes). Reading the vectors table to notice a change would
  mean reading every 384-float JSON value; a counter is one row.
- `curation_fts_<dataset>`: one FTS5 full-text table per published dataset (like one
  Elasticsearch index per dataset), a column per text, chat or custom field, its rowid the
  record's rowid. Created when the dataset is published (`create_index`), dropped with it.

Nothing here VACUUMs the database: that may renumber the records' rowids (run
`sql_schema.ensure_all()` after an outside VACUUM; it rebuilds stale tables).
"""

# ruff: noqa: S608 (SQL is assembled from our own identifiers; every value is a bound parameter)

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)

VERSIONS_TABLE = "curation_versions"
FTS_TOKENIZER = "unicode61 remove_diacritics 0 tokenchars '_'"
SEARCHABLE_FIELD_TYPES = ("text", "chat", "custom")

BASE_STATEMENTS = (
    f"CREATE TABLE IF NOT EXISTS {VERSIONS_TABLE} "
    "(name TEXT PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID",
    *(
        f"CREATE TRIGGER IF NOT EXISTS curation_vectors_{suffix} AFTER {event} ON vectors "
        f"BEGIN INSERT INTO {VERSIONS_TABLE}(name, version) "
        f"VALUES ('{marker}' || {row}.vector_settings_id, 1) "
        "ON CONFLICT(name) DO UPDATE SET version = version + 1; END"
        for suffix, event, marker, row in (
            ("insert", "INSERT", "vectors+", "new"),
            ("update", "UPDATE OF value", "vectors~", "old"),
            ("delete", "DELETE", "vectors~", "old"),
        )
    ),
)


def fts_table(dataset_id: str) -> str:
    """The FTS5 table of a dataset (`dataset_id` as stored: 32 hex digits)."""
    return f"curation_fts_{dataset_id}"


def fts_column(field_name: str) -> str:
    """FTS5 column of a field: hex-encoded, so any field name is a safe identifier."""
    return "f_" + field_name.encode().hex()


def json_path(*keys: str) -> str:
    """A SQLite JSON path to a nested key (keys containing a double quote never match)."""
    return "$" + "".join(f'."{key}"' for key in keys)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _field_text(row: str, name: str, field_type: str) -> str:
    """SQL giving the searchable text of a text, chat or custom field of `row` (images are
    not searchable, as in argilla-server's Elasticsearch mapping)."""
    path = _literal(json_path(name))
    if field_type == "chat":
        return (
            "(SELECT group_concat(json_extract(m.value, '$.content'), ' ') "
            f"FROM json_each({row}.fields, {path}) m)"
        )
    return f"json_extract({row}.fields, {path})"


def fts_statements(dataset_id: str, fields: Sequence[tuple[str, str]]) -> list[str]:
    """DDL creating the FTS table of a dataset and the triggers that keep it current.

    `fields`: (name, type) of every field of the dataset. No searchable field: no table.
    """
    columns = [(fts_column(name), name, kind) for name, kind in fields if '"' not in name]
    columns = [c for c in columns if c[2] in SEARCHABLE_FIELD_TYPES]
    if not columns:
        return []
    table = fts_table(dataset_id)
    names = ", ".join(column for column, _, _ in columns)

    def values(row: str) -> str:
        return ", ".join(_field_text(row, name, kind) for _, name, kind in columns)

    insert = f"INSERT INTO {table}(rowid, {names}) VALUES (new.rowid, {values('new')});"
    delete = f"DELETE FROM {table} WHERE rowid = old.rowid;"
    belongs = f"dataset_id = {_literal(dataset_id)}"
    return [
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {table} "
        f'USING fts5({names}, tokenize="{FTS_TOKENIZER}")',
        f"CREATE TRIGGER IF NOT EXISTS {table}_insert AFTER INSERT ON records "
        f"WHEN new.{belongs} BEGIN {insert} END",
        f"CREATE TRIGGER IF NOT EXISTS {table}_delete AFTER DELETE ON records "
        f"WHEN old.{belongs} BEGIN {delete} END",
        f"CREATE TRIGGER IF NOT EXISTS {table}_update AFTER UPDATE OF fields ON records "
        f"WHEN new.{belongs} BEGIN {delete} {insert} END",
        f"DELETE FROM {table}",
        f"INSERT INTO {table}(rowid, {names}) "
        f"SELECT rowid, {values('records')} FROM records WHERE {belongs}",
    ]


def fts_drop_statements(dataset_id: str) -> list[str]:
    table = fts_table(dataset_id)
    return [
        *(f"DROP TRIGGER IF EXISTS {table}_{event}" for event in ("insert", "delete", "update")),
        f"DROP TABLE IF EXISTS {table}",
    ]


FIELDS_QUERY = (
    "SELECT name, json_extract(settings, '$.type') FROM fields "
    "WHERE dataset_id = :dataset_id ORDER BY inserted_at, id"
)


def ensure_all() -> None:
    """At start-up: create the base objects, and (re)build every missing or stale FTS table.

    Uses argilla-server's synchronous engine (before the web server's event loop runs).
    """
    from argilla_server.database import sync_engine
    from sqlalchemy import text

    with sync_engine.begin() as connection:

        def run(sql: str, params: dict[str, Any] | None = None) -> list[Any]:
            result = connection.execute(text(sql), params or {})
            return list(result) if result.returns_rows else []

        for statement in BASE_STATEMENTS:
            run(statement)
        ready = [
            dataset_id for (dataset_id,) in run("SELECT id FROM datasets WHERE status = 'ready'")
        ]
        for (table,) in run(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'curation_fts_*'"
        ):
            dataset_id = table.removeprefix("curation_fts_")
            if len(dataset_id) == 32 and dataset_id not in ready:  # its dataset is gone
                for statement in fts_drop_statements(dataset_id):
                    run(statement)
        for dataset_id in ready:
            build = fts_statements(dataset_id, run(FIELDS_QUERY, {"dataset_id": dataset_id}))
            if build and not _fts_is_current(run, dataset_id):
                log.info("building the text index of dataset %s", dataset_id)
                for statement in fts_drop_statements(dataset_id) + build:
                    run(statement)
    sync_engine.dispose()


def _fts_is_current(run: Callable[..., list[Any]], dataset_id: str) -> bool:
    table = fts_table(dataset_id)
    objects = {name for (name,) in run(
        "SELECT name FROM sqlite_master WHERE name LIKE :prefix", {"prefix": f"{table}%"}
    )}  # fmt: skip
    wanted = {table, f"{table}_insert", f"{table}_delete", f"{table}_update"}
    if not wanted <= objects:
        return False
    (indexed,) = run(f"SELECT count(*) FROM {table}")[0]
    (records,) = run("SELECT count(*) FROM records WHERE dataset_id = :d", {"d": dataset_id})[0]
    return indexed == records
