"""A search engine for argilla-server that answers from its own SQLite database.

argilla-server 2.x needs Elasticsearch or OpenSearch for every filtered, sorted, text or
similarity query and for progress figures. This engine, registered under
`layout.ENGINE_NAME` and chosen with `ARGILLA_SEARCH_ENGINE`, answers them with SQL over
Argilla's own tables (records, responses, suggestions, metadata JSON, vectors) plus the
trigger-maintained FTS5 tables of `sql_schema`. The database is the index, so the write
notifications (`index_records`, `update_record_response`, ...) have nothing left to do,
and the web server and the rq worker always see the same data, across restarts.

Runs in the server and worker processes (`.venv-argilla`); imported for its registration.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np
from argilla_server.database import async_engine, sync_engine
from argilla_server.enums import MetadataPropertyType, SimilarityOrder
from argilla_server.models import (
    Dataset,
    MetadataProperty,
    Record,
    Response,
    Suggestion,
    User,
    VectorSettings,
)
from argilla_server.search_engine import (
    Filter,
    FloatMetadataMetrics,
    IntegerMetadataMetrics,
    MetadataMetrics,
    Order,
    SearchEngine,
    SearchResponseItem,
    SearchResponses,
    TermsMetrics,
    TextQuery,
)
from sqlalchemy import text

from curation.embedded import sql_schema, vectors
from curation.embedded.layout import ENGINE_NAME
from curation.embedded.sql_search import RecordSearch
from curation.embedded.text_query import TextMatch, to_fts5

# Elasticsearch's limit on terms buckets, which argilla-server's engine also applies.
MAX_TERMS = 2**14
log = logging.getLogger(__name__)


async def _query(sql: str, params: dict[str, Any] | None = None) -> Sequence[Any]:
    async with async_engine.connect() as connection:
        return (await connection.execute(text(sql), params or {})).all()


def _query_now(sql: str, params: dict[str, Any]) -> Sequence[Any]:
    """`_query` for threads outside the event loop (the vector loads)."""
    with sync_engine.connect() as connection:
        return connection.execute(text(sql), params).all()


def start_warming(saved_vectors: Path) -> threading.Thread | None:
    """Load every vector matrix in a thread, so the first similarity searches after a start
    find them loaded; the server answers meanwhile (health included). Matrices are kept in
    `saved_vectors` across restarts."""
    if not vectors.SHARED_LOADS:
        return None
    vectors.keep_on_disk(saved_vectors)

    def warm() -> None:
        try:
            vectors.warm(_query_now)
        except Exception:  # a search loads what is missing anyway
            log.exception("loading the vector matrices at start failed")

    thread = threading.Thread(target=warm, name="vector-warming", daemon=True)
    thread.start()
    return thread


async def _execute(statements: Iterable[str]) -> None:
    async with async_engine.begin() as connection:
        for statement in statements:
            await connection.execute(text(statement))


@SearchEngine.register(engine_name=ENGINE_NAME)
class SQLSearchEngine(SearchEngine):
    """Stateless: argilla-server makes one per request; caches live at module level."""

    @classmethod
    async def new_instance(cls) -> SQLSearchEngine:
        return cls()

    async def close(self) -> None:
        pass

    async def ping(self) -> bool:
        return (await _query("SELECT 1"))[0][0] == 1

    async def info(self) -> dict:
        return {"name": ENGINE_NAME, "version": f"SQLite {sqlite3.sqlite_version}"}

    # --- index lifecycle: the tables are the index ------------------------------------

    async def create_index(self, dataset: Dataset) -> None:
        dataset_id = dataset.id.hex
        fields = await _query(sql_schema.FIELDS_QUERY, {"dataset_id": dataset_id})
        await _execute(
            sql_schema.fts_drop_statements(dataset_id)
            + sql_schema.fts_statements(dataset_id, [tuple(row) for row in fields])
        )

    async def delete_index(self, dataset: Dataset) -> None:
        await _execute(sql_schema.fts_drop_statements(dataset.id.hex))
        rows = await _query(
            "SELECT id FROM vectors_settings WHERE dataset_id = :d", {"d": dataset.id.hex}
        )
        vectors.forget(row[0] for row in rows)

    async def configure_metadata_property(
        self, dataset: Dataset, metadata_property: MetadataProperty
    ):
        pass

    async def configure_index_vectors(self, vector_settings: VectorSettings) -> None:
        pass

    async def index_records(self, dataset: Dataset, records: Iterable[Record]) -> None:
        pass

    async def partial_record_update(self, record: Record, **update: Any) -> None:
        pass

    async def delete_records(self, dataset: Dataset, records: Iterable[Record]) -> None:
        pass

    async def update_record_response(self, response: Response) -> None:
        pass

    async def delete_record_response(self, response: Response) -> None:
        pass

    async def update_record_suggestion(self, suggestion: Suggestion) -> None:
        pass

    async def delete_record_suggestion(self, suggestion: Suggestion) -> None:
        pass

    # --- progress and metrics ---------------------------------------------------------

    async def get_dataset_progress(self, dataset: Dataset) -> dict:
        if dataset.is_draft:
            return {}
        rows = await _query(
            "SELECT status, count(*) FROM records WHERE dataset_id = :d GROUP BY status",
            {"d": dataset.id.hex},
        )
        return {"total": sum(count for _, count in rows), **dict(rows)}

    async def get_dataset_user_progress(self, dataset: Dataset, user: User) -> dict:
        """The user's own responses by status (Elasticsearch's aggregation also counted the
        statuses of other users' responses to the same records)."""
        if dataset.is_draft:
            return {}
        rows = await _query(
            "SELECT x.status, count(*) FROM responses x JOIN records r ON r.id = x.record_id "
            "WHERE r.dataset_id = :d AND x.user_id = :u GROUP BY x.status",
            {"d": dataset.id.hex, "u": user.id.hex},
        )
        return {"total": sum(count for _, count in rows), **dict(rows)}

    async def compute_metrics_for(self, metadata_property: MetadataProperty) -> MetadataMetrics:
        params = {
            "d": metadata_property.dataset_id.hex,
            "path": sql_schema.json_path(metadata_property.name),
        }
        if metadata_property.type == MetadataPropertyType.terms:
            rows = await _query(
                "SELECT CAST(v.value AS TEXT) AS term, count(*) AS n "
                "FROM records r, json_each(r.metadata, :path) v "
                "WHERE r.dataset_id = :d AND v.type NOT IN ('null', 'object', 'array') "
                "GROUP BY term ORDER BY n DESC, term ASC",
                params,
            )
            return TermsMetrics(
                total=sum(n for _, n in rows),
                values=[TermsMetrics.TermCount(term=term, count=n) for term, n in rows[:MAX_TERMS]],
            )
        low, high = (
            await _query(
                "SELECT min(v), max(v) FROM (SELECT json_extract(r.metadata, :path) AS v "
                "FROM records r WHERE r.dataset_id = :d) WHERE typeof(v) IN ('integer', 'real')",
                params,
            )
        )[0]
        if metadata_property.type == MetadataPropertyType.integer:
            return IntegerMetadataMetrics(
                min=None if low is None else int(low), max=None if high is None else int(high)
            )
        return FloatMetadataMetrics(min=low, max=high)

    # --- search -----------------------------------------------------------------------

    async def search(
        self,
        dataset: Dataset,
        query: TextQuery | str | None = None,
        filter: Filter | None = None,
        sort: list[Order] | None = None,
        offset: int = 0,
        limit: int = 100,
        user_id: UUID | str | None = None,
    ) -> SearchResponses:
        search = await _record_search(dataset, query, filter)
        if sort:
            search.add_sort(sort, await _question_types(dataset))
        elif user_id is not None:
            search.shuffle_for(user_id)
        rows = await _query(search.page_sql(limit, offset), search.params)
        if rows:
            total = rows[0][2]
        else:
            total = (await _query(search.count_sql(), search.params))[0][0] if offset else 0
        return SearchResponses(
            items=[SearchResponseItem(record_id=UUID(row[0]), score=row[1]) for row in rows],
            total=total,
        )

    async def similarity_search(
        self,
        dataset: Dataset,
        vector_settings: VectorSettings,
        value: list[float] | None = None,
        record: Record | None = None,
        query: TextQuery | str | None = None,
        filter: Filter | None = None,
        max_results: int = 100,
        order: SimilarityOrder = SimilarityOrder.most_similar,
        threshold: float | None = None,
    ) -> SearchResponses:
        if bool(value) == bool(record):
            raise ValueError(
                "Must provide either vector value or record to compute the similarity search"
            )
        vector = value or record.vector_value_by_vector_settings(vector_settings)
        if not vector:
            raise ValueError("Cannot find a vector value to apply with provided info")
        allowed = None
        if filter is not None or query is not None:
            search = await _record_search(dataset, query, filter, scored=False)
            rowids = (await _query(search.rowids_sql(), search.params))[0][0]
            allowed = np.asarray(json.loads(rowids), dtype=np.int64)
        matrix = await asyncio.to_thread(
            vectors.current_matrix, _query_now, vector_settings.id.hex, vector_settings.dimensions
        )
        hits = matrix.nearest(
            vector,
            max_results,
            least_similar=order == SimilarityOrder.least_similar,
            allowed=allowed,
            exclude=record.id.hex if record is not None else None,
        )
        items = [
            SearchResponseItem(record_id=UUID(record_id), score=score)
            for record_id, score in hits
            if threshold is None or score >= threshold
        ]
        return SearchResponses(items=items, total=len(hits))


async def _record_search(
    dataset: Dataset, query: TextQuery | str | None, filter: Filter | None, *, scored: bool = True
) -> RecordSearch:
    search = RecordSearch(dataset.id.hex)
    if filter is not None:
        search.add_filter(filter)
    if query is not None:
        search.add_text(*await _text_match(dataset, query), scored=scored)
    return search


async def _text_match(dataset: Dataset, query: TextQuery | str) -> tuple[TextMatch, str | None]:
    """The FTS5 match of a text query, and the dataset's FTS table (None: none exists)."""
    if isinstance(query, str):
        query = TextQuery(q=query)
    table = sql_schema.fts_table(dataset.id.hex)
    exists = await _query(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :t", {"t": table}
    )
    if not query.field:
        return to_fts5(query.q), table if exists else None
    kind = await _query(
        "SELECT json_extract(settings, '$.type') FROM fields WHERE dataset_id = :d AND name = :f",
        {"d": dataset.id.hex, "f": query.field},
    )
    if not kind or kind[0][0] not in sql_schema.SEARCHABLE_FIELD_TYPES:
        return to_fts5(query.q), None  # an image field: nothing in it matches words
    return to_fts5(query.q, sql_schema.fts_column(query.field)), table if exists else None


async def _question_types(dataset: Dataset) -> dict[str, str]:
    rows = await _query(
        "SELECT name, json_extract(settings, '$.type') FROM questions WHERE dataset_id = :d",
        {"d": dataset.id.hex},
    )
    return dict(rows)
