"""Vector similarity over the vectors Argilla stores, with numpy (server and worker processes).

Argilla keeps each vector as a JSON list in the `vectors` table. Parsing 20,000 of them
takes seconds, so each process keeps the L2-normalised matrix of a vector setting in
memory and checks the change counters (`sql_schema.VERSIONS_TABLE`) on every search: after
inserts only the new rows are read, after an update or delete the matrix is rebuilt. A
search after new writes is therefore always current, whichever process wrote them.

A filtered search names its records by rowid (one JSON array from SQL, not a row per
record), looked up in the matrix's sorted rowids with numpy. Scoring is one matrix-vector
product in single-threaded BLAS (`Layout.server_env`): on 2 busy cores a second BLAS thread
made the slowest searches 3x slower.

Scores follow Elasticsearch's cosine `dense_vector`: `(1 + cos) / 2`; "least similar"
negates the query vector, as argilla-server does, so the score is `(1 - cos) / 2`.
"""

# ruff: noqa: S608 (SQL is assembled from our own identifiers; every value is a bound parameter)

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from curation.embedded.sql_schema import VERSIONS_TABLE

Query = Callable[[str, dict[str, Any]], Awaitable[Sequence[Any]]]


@dataclass
class VectorMatrix:
    """The normalised vectors of one vector setting, row i belonging to `record_ids[i]`."""

    dimensions: int
    record_ids: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    record_rowids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    sorted_rowids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    by_rowid: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    inserts: int = 0
    changes: int = 0
    last_rowid: int = 0

    def append(self, loaded: Sequence[tuple[int, str, int, str]]) -> None:
        """Add (vector rowid, record id, record rowid, JSON value) rows."""
        if not loaded:
            return
        values = np.asarray(json.loads("[" + ",".join(row[3] for row in loaded) + "]"), np.float32)
        norms = np.linalg.norm(values, axis=1, keepdims=True)
        values /= np.where(norms == 0, 1, norms)
        base = len(self.record_ids)
        for offset, (_, record_id, _, _) in enumerate(loaded):
            self.rows[record_id] = base + offset
            self.record_ids.append(record_id)
        self.matrix = values if base == 0 else np.vstack([self.matrix, values])
        rowids = np.fromiter((row[2] for row in loaded), dtype=np.int64, count=len(loaded))
        self.record_rowids = np.concatenate([self.record_rowids, rowids])
        self.by_rowid = np.argsort(self.record_rowids, kind="stable")
        self.sorted_rowids = self.record_rowids[self.by_rowid]
        self.last_rowid = max(self.last_rowid, max(row[0] for row in loaded))

    def positions(self, record_rowids: np.ndarray) -> np.ndarray:
        """Matrix rows of the records with these rowids (records without a vector: none)."""
        if self.sorted_rowids.size == 0:
            return np.zeros(0, dtype=np.int64)
        at = np.minimum(
            np.searchsorted(self.sorted_rowids, record_rowids), self.sorted_rowids.size - 1
        )
        return self.by_rowid[at[self.sorted_rowids[at] == record_rowids]]

    def nearest(
        self,
        query: Sequence[float],
        k: int,
        *,
        least_similar: bool = False,
        allowed: np.ndarray | None = None,
        exclude: str | None = None,
    ) -> list[tuple[str, float]]:
        """The k best (record_id, score), best first, among the records whose rowids are
        `allowed` (None: all), leaving out the record `exclude` (an id)."""
        if not self.record_ids or k <= 0:
            return []
        vector = np.asarray(query, dtype=np.float32)
        norm = float(np.linalg.norm(vector))
        if norm > 0:
            vector = vector / norm
        if least_similar:
            vector = -vector
        # Score every row (one matrix-vector product), then mask: cheaper than gathering
        # the allowed rows into a new matrix first.
        scores = (1.0 + self.matrix @ vector) / 2.0
        keep = np.ones(len(self.record_ids), dtype=bool)
        if allowed is not None:
            keep[:] = False
            keep[self.positions(np.asarray(allowed, dtype=np.int64))] = True
        if exclude is not None and exclude in self.rows:
            keep[self.rows[exclude]] = False
        candidates = np.flatnonzero(keep)
        if candidates.size == 0:
            return []
        scores = scores[candidates]
        if k < candidates.size:
            top = np.argpartition(-scores, k - 1)[:k]
        else:
            top = np.arange(candidates.size)
        # Best first; equal scores in row (insertion) order.
        top = top[np.lexsort((candidates[top], -scores[top]))]
        return [(self.record_ids[candidates[i]], float(scores[i])) for i in top]


_matrices: dict[str, VectorMatrix] = {}


async def matrix_for(query: Query, vector_settings_id: str, dimensions: int) -> VectorMatrix:
    """The current matrix of a vector setting (`vector_settings_id`: 32 hex digits)."""
    counters = dict(
        await query(
            f"SELECT name, version FROM {VERSIONS_TABLE} WHERE name IN (:inserts, :changes)",
            {
                "inserts": f"vectors+{vector_settings_id}",
                "changes": f"vectors~{vector_settings_id}",
            },
        )
    )
    inserts = counters.get(f"vectors+{vector_settings_id}", 0)
    changes = counters.get(f"vectors~{vector_settings_id}", 0)
    cached = _matrices.get(vector_settings_id)
    if cached is not None and (cached.inserts, cached.changes) == (inserts, changes):
        return cached
    if cached is None or cached.changes != changes or cached.dimensions != dimensions:
        cached = VectorMatrix(dimensions=dimensions)
    else:  # a copy: a concurrent search may still be reading the cached one
        cached = replace(cached, record_ids=list(cached.record_ids), rows=dict(cached.rows))
    rows = await query(
        "SELECT v.rowid, v.record_id, r.rowid, v.value FROM vectors v "
        "JOIN records r ON r.id = v.record_id "
        "WHERE v.vector_settings_id = :vs AND v.rowid > :after ORDER BY v.rowid",
        {"vs": vector_settings_id, "after": cached.last_rowid},
    )
    cached.append([tuple(row) for row in rows])
    cached.inserts, cached.changes = inserts, changes
    _matrices[vector_settings_id] = cached
    return cached


def forget(vector_settings_ids: Iterable[str]) -> None:
    """Drop cached matrices (their dataset was deleted)."""
    for vector_settings_id in vector_settings_ids:
        _matrices.pop(vector_settings_id, None)
