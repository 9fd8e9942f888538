"""argilla-server search filters, sorts and text queries as one SQL query over its tables.

Runs in the server and worker processes. The semantics follow argilla-server's
Elasticsearch engine (`search_engine/commons.py`), field by field:

- record filters on `status`, `id`, `external_id`, `inserted_at`, `updated_at`;
- metadata terms (any value of a list matches) and ranges;
- suggestion `value` / `score` (terms or range; any element of a list), `agent`, `type`;
- response values per question, and response status per user: `pending` means the user
  (or, without a user, anybody) has no response, the others need a response with that status;
- sorting by any of these, records without a value last in both directions, lists by their
  smallest value ascending and largest descending, response values averaged over users;
- text queries through the dataset's FTS5 table (`text_query`), ranked by bm25;
- without a sort, an annotator (`user_id`) gets the records in an order of their own, as
  Elasticsearch's `random_score` seeded by the user gives, so annotators sharing a
  dataset start on different records.
"""

# ruff: noqa: S608 (SQL is assembled from our own identifiers; every value is a bound parameter)

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from argilla_server.errors.future import UnprocessableEntityError
from argilla_server.search_engine import (
    AndFilter,
    Filter,
    MetadataFilterScope,
    Order,
    RangeFilter,
    RecordFilterScope,
    ResponseFilterScope,
    SuggestionFilterScope,
    TermsFilter,
)

from curation.embedded.sql_schema import json_path
from curation.embedded.text_query import TextMatch

_RECORD_COLUMNS = {"id", "external_id", "inserted_at", "updated_at", "status"}
_DATETIME_COLUMNS = {"inserted_at", "updated_at"}
_SHUFFLE_MODULUS = 4294967291  # the largest prime below 2**32
# JSON types whose json_extract is a number (booleans are 1/0) or a text (an object is its
# JSON text): what ranges on numbers or on texts compare, as SQLite's typeof() would say.
_JSON_NUMBERS = ("integer", "real", "true", "false")
_JSON_TEXTS = ("text", "object")


class RecordSearch:
    """One query over the records of a dataset: filters, text match, order, score."""

    def __init__(self, dataset_id: str) -> None:
        self.params: dict[str, Any] = {"dataset_id": dataset_id}
        self.where: list[str] = ["r.dataset_id = :dataset_id"]
        self.source = "records r"  # FROM clause
        self.score = "1.0"
        self.order: list[str] = []
        self.keys: list[str] = []  # sort key expressions, selected as k0, k1, ...

    def param(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    # --- filters ----------------------------------------------------------------------

    def add_filter(self, filter: Filter) -> None:
        self.where.append(self._filter(filter))

    def _filter(self, filter: Filter) -> str:
        if isinstance(filter, AndFilter):
            # SQLite tests the terms in the order written: cheap ones first.
            filters = sorted(filter.filters, key=_cost)
            return "(" + " AND ".join(map(self._filter, filters)) + ")" if filters else "1"
        scope = filter.scope
        if isinstance(scope, RecordFilterScope):
            return self._record_filter(filter, scope.property)
        if isinstance(scope, MetadataFilterScope):
            path = self.param(json_path(scope.metadata_property))
            return self._any_value("r.metadata", path, filter)
        if isinstance(scope, SuggestionFilterScope):
            return self._suggestion_filter(filter, scope)
        if isinstance(scope, ResponseFilterScope):
            return self._response_filter(filter, scope)
        raise UnprocessableEntityError(f"cannot filter by {scope}")

    def _record_filter(self, filter: Filter, column: str) -> str:
        if column not in _RECORD_COLUMNS:
            raise UnprocessableEntityError(f"cannot filter records by `{column}`")

        def value(raw: Any) -> Any:
            if column in _DATETIME_COLUMNS:
                return _db_datetime(raw)
            if column == "id":
                return _db_uuid(raw)
            return raw

        if isinstance(filter, TermsFilter):
            values = ", ".join(self.param(value(v)) for v in filter.values)
            return f"r.{column} IN ({values})"
        return self._range(f"r.{column}", filter, convert=value)

    def _suggestion_filter(self, filter: Filter, scope: SuggestionFilterScope) -> str:
        if scope.property in ("value", "score"):
            match = self._any_value(f"s.{scope.property}", "'$'", filter)
        elif scope.property in ("agent", "type"):
            column = f"s.{scope.property}"
            if isinstance(filter, TermsFilter):
                match = f"{column} IN ({', '.join(map(self.param, filter.values))})"
            else:
                match = self._range(column, filter)
        else:
            raise UnprocessableEntityError(f"cannot filter suggestions by `{scope.property}`")
        # One pass over the question's suggestions (its index), not a lookup per record.
        return (
            f"r.id IN (SELECT s.record_id FROM suggestions s "
            f"WHERE s.question_id = {self._question_id(scope.question)} AND {match})"
        )

    def _response_filter(self, filter: Filter, scope: ResponseFilterScope) -> str:
        of_user = f" AND x.user_id = {self.param(scope.user.id.hex)}" if scope.user else ""
        if scope.question:
            path = self.param(json_path(scope.question, "value"))
            match = self._any_value('x."values"', path, filter)
            return (
                f"EXISTS (SELECT 1 FROM responses x WHERE x.record_id = r.id{of_user} AND {match})"
            )
        if scope.property == "status" and isinstance(filter, TermsFilter):
            parts = []
            if "pending" in filter.values:
                parts.append(
                    f"NOT EXISTS (SELECT 1 FROM responses x WHERE x.record_id = r.id{of_user})"
                )
            others = [value for value in filter.values if value != "pending"]
            if others:
                statuses = ", ".join(map(self.param, others))
                parts.append(
                    f"EXISTS (SELECT 1 FROM responses x WHERE x.record_id = r.id{of_user} "
                    f"AND x.status IN ({statuses}))"
                )
            return "(" + " OR ".join(parts) + ")"
        raise UnprocessableEntityError(f"cannot filter responses by {scope}")

    def _any_value(self, document: str, path: str, filter: Filter) -> str:
        """The value at `path` of the JSON `document` matches, or for a list one of its items.

        Scalars (the common case) cost two JSON calls per row: their JSON type picks the
        branch, one json_extract compares; lists go through json_each, several times dearer.
        """
        value = f"json_extract({document}, {path})"
        if isinstance(filter, TermsFilter):
            values = ", ".join(self.param(str(v)) for v in filter.values)
            scalar = f"ELSE CAST({value} AS TEXT) IN ({values})"
            item = (
                f"v.type NOT IN ('null', 'object', 'array') AND CAST(v.value AS TEXT) IN ({values})"
            )
        else:
            bounds = self._bounds(value, filter)
            kinds = _JSON_NUMBERS if _numeric(filter) else _JSON_TEXTS
            scalar = " ".join(f"WHEN '{kind}' THEN {bounds}" for kind in kinds) + " ELSE 0"
            item = self._range("v.value", filter, typed="v.type")
        return (
            f"CASE json_type({document}, {path}) WHEN 'array' THEN "
            f"EXISTS (SELECT 1 FROM json_each({document}, {path}) v WHERE {item}) "
            f"{scalar} END"
        )

    def _extreme_value(self, document: str, path: str, extreme: str) -> str:
        """The value at `path`, or for a list its smallest (MIN) or largest (MAX) item."""
        return (
            f"CASE json_type({document}, {path}) WHEN 'array' THEN "
            f"(SELECT {extreme}(v.value) FROM json_each({document}, {path}) v "
            "WHERE v.type != 'null') "
            f"ELSE json_extract({document}, {path}) END"
        )

    def _range(
        self, column: str, filter: RangeFilter, convert: Any = None, typed: str | None = None
    ) -> str:
        """Bounds on `column`; `typed` (its SQL or JSON type) keeps numbers and texts apart,
        since SQLite orders every text above every number."""
        parts = [self._bounds(column, filter, convert)]
        if typed is not None:
            parts.insert(
                0, f"{typed} IN ('integer', 'real')" if _numeric(filter) else f"{typed} = 'text'"
            )
        return " AND ".join(parts)

    def _bounds(self, column: str, filter: RangeFilter, convert: Any = None) -> str:
        """`column` within the filter's bounds (BETWEEN evaluates `column` once)."""
        low, high = (
            None if b is None else convert(b) if convert else b for b in (filter.ge, filter.le)
        )
        if low is not None and high is not None:
            return f"{column} BETWEEN {self.param(low)} AND {self.param(high)}"
        if low is not None:
            return f"{column} >= {self.param(low)}"
        if high is not None:
            return f"{column} <= {self.param(high)}"
        return "1"

    def _question_id(self, question: str) -> str:
        return (
            "(SELECT q.id FROM questions q WHERE q.dataset_id = :dataset_id "
            f"AND q.name = {self.param(question)})"
        )

    def _suggestion_of(self, question: str) -> str:
        return f"s.record_id = r.id AND s.question_id = {self._question_id(question)}"

    # --- text -------------------------------------------------------------------------

    def add_text(self, match: TextMatch, fts_table: str | None, *, scored: bool = True) -> None:
        """Restrict to records matching a text query (`fts_table` None: no searchable field)."""
        if match.include is not None:
            if fts_table is None:
                self.where.append("0")
                return
            # CROSS JOIN keeps the full-text matches as the outer loop: otherwise SQLite
            # walks every record of the dataset and runs the FTS query once per record.
            self.source = (
                f"(SELECT rowid AS rid, -bm25({fts_table}) AS rank FROM {fts_table} "
                f"WHERE {fts_table} MATCH {self.param(match.include)}) t "
                "CROSS JOIN records r ON r.rowid = t.rid"
            )
            if scored:
                self.score = "t.rank"
        elif match.exclude is not None and fts_table is not None:
            self.where.append(
                f"r.rowid NOT IN (SELECT rowid FROM {fts_table} "
                f"WHERE {fts_table} MATCH {self.param(match.exclude)})"
            )

    # --- order ------------------------------------------------------------------------

    def add_sort(self, sort: list[Order], question_types: dict[str, str]) -> None:
        """Explicit sort; Elasticsearch returns no score then, and neither do we."""
        for order in sort:
            descending = str(order.order) == "desc"
            self.keys.append(self._sort_key(order.scope, descending, question_types))
            key = f"k{len(self.keys) - 1}"
            self.order.append(f"{key} IS NULL, {key} {'DESC' if descending else 'ASC'}")
        self.score = "NULL"

    def shuffle_for(self, user_id: UUID | str) -> None:
        """A per-user pseudo-random order (a multiplicative hash of the rowid), as score."""
        digest = hashlib.sha256(str(user_id).encode()).digest()
        multiplier = 1 + int.from_bytes(digest[:8], "big") % (_SHUFFLE_MODULUS - 1)
        offset = int.from_bytes(digest[8:16], "big") % _SHUFFLE_MODULUS
        shuffle = (
            f"((r.rowid * {self.param(multiplier)} + {self.param(offset)}) "
            f"% {_SHUFFLE_MODULUS}) / {float(_SHUFFLE_MODULUS)}"
        )
        self.score = f"({self.score}) * {shuffle}"
        self.order.append("score DESC")

    def _sort_key(self, scope: Any, descending: bool, question_types: dict[str, str]) -> str:
        extreme = "MAX" if descending else "MIN"
        if isinstance(scope, RecordFilterScope):
            if scope.property not in _RECORD_COLUMNS:
                raise UnprocessableEntityError(f"cannot sort records by `{scope.property}`")
            return f"r.{scope.property}"
        if isinstance(scope, MetadataFilterScope):
            path = self.param(json_path(scope.metadata_property))
            return self._extreme_value("r.metadata", path, extreme)
        if isinstance(scope, SuggestionFilterScope):
            condition = self._suggestion_of(scope.question)
            if scope.property in ("value", "score"):
                key = self._extreme_value(f"s.{scope.property}", "'$'", extreme)
                return f"(SELECT {key} FROM suggestions s WHERE {condition})"
            if scope.property in ("agent", "type"):
                return f"(SELECT s.{scope.property} FROM suggestions s WHERE {condition})"
            raise UnprocessableEntityError(f"cannot sort by suggestion `{scope.property}`")
        if isinstance(scope, ResponseFilterScope):
            of_user = f" AND x.user_id = {self.param(scope.user.id.hex)}" if scope.user else ""
            if scope.question:
                path = self.param(json_path(scope.question, "value"))
                mode = "AVG" if question_types.get(scope.question) == "rating" else extreme
                value = self._extreme_value('x."values"', path, extreme)
                return (
                    f"(SELECT {mode}({value}) FROM responses x WHERE x.record_id = r.id{of_user})"
                )
            return (
                f"(SELECT {extreme}(x.status) FROM responses x WHERE x.record_id = r.id{of_user})"
            )
        raise UnprocessableEntityError(f"cannot sort by {scope}")

    # --- SQL --------------------------------------------------------------------------

    def _from(self) -> str:
        return f"FROM {self.source} WHERE {' AND '.join(self.where)}"

    def page_sql(self, limit: int, offset: int) -> str:
        """Rows (id, score, total) of one page; `total` counts every match.

        The sort keys are columns of an inner query, computed once per record.
        """
        order = [*self.order]
        if self.score == "t.rank" and not order:
            order.append("score DESC")
        order += ["inserted_at ASC", "rid ASC"]
        keys = "".join(f", {key} AS k{i}" for i, key in enumerate(self.keys))
        matches = (
            f"SELECT r.id AS id, r.rowid AS rid, r.inserted_at AS inserted_at, "
            f"{self.score} AS score{keys} {self._from()}"
        )
        return (
            f"SELECT id, score, count(*) OVER () AS total FROM ({matches}) "
            f"ORDER BY {', '.join(order)} LIMIT {self.param(limit)} OFFSET {self.param(offset)}"
        )

    def count_sql(self) -> str:
        return f"SELECT count(*) {self._from()}"

    def rowids_sql(self) -> str:
        """One row: the JSON array of the matching records' rowids."""
        return f"SELECT json_group_array(r.rowid) {self._from()}"


def _cost(filter: Filter) -> int:
    """Rank of a filter's cost per record: columns, an index probe into a list of
    suggestion matches, a response lookup, then JSON parsing of the record's metadata."""
    order = (RecordFilterScope, SuggestionFilterScope, ResponseFilterScope, MetadataFilterScope)
    scope = getattr(filter, "scope", None)
    return next((i for i, kind in enumerate(order) if isinstance(scope, kind)), len(order))


def _numeric(filter: RangeFilter) -> bool:
    return all(isinstance(b, (int, float)) for b in (filter.ge, filter.le) if b is not None)


def _db_uuid(value: Any) -> str:
    try:
        return UUID(str(value)).hex
    except ValueError:
        raise UnprocessableEntityError(f"`{value}` is not a record id") from None


def _db_datetime(value: Any) -> str:
    """A date as argilla-server stores it (naive UTC); numbers are epoch milliseconds."""
    try:
        if isinstance(value, (int, float)):
            moment = datetime.fromtimestamp(value / 1000, tz=UTC)
        else:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise UnprocessableEntityError(f"`{value}` is not a date") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")
