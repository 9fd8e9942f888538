"""Vector similarity over the vectors Argilla stores, with numpy (server and worker processes).

Argilla keeps each vector as a JSON list in the `vectors` table. Parsing 20,000 of them
takes seconds, so each process keeps the L2-normalised matrix of a vector setting in
memory and checks the change counters (`sql_schema.VERSIONS_TABLE`) on every search: after
inserts only the new rows are read, after an update or delete the matrix is rebuilt. A
search after new writes is therefore always current, whichever process wrote them.

Loads run in a thread, in batches, so the server keeps answering while one parses; one
load per vector setting at a time, the other searches wait for it (10 searches arriving
at a cold cache used to parse the matrix 10 times at once: p95 12 s at 20,000 records).
The web server loads every matrix in the background at start (`warm`), from a binary copy
it keeps beside the database (`keep_on_disk`; JSON only for the vectors inserted since).

A filtered search names its records by rowid (one JSON array from SQL, not a row per
record), looked up in the matrix's sorted rowids with numpy. Scoring is one matrix-vector
product in single-threaded BLAS (`Layout.server_env`): on 2 busy cores a second BLAS thread
made the slowest searches 3x slower.

Scores follow Elasticsearch's cosine `dense_vector`: `(1 + cos) / 2`; "least similar"
negates the query vector, as argilla-server does, so the score is `(1 - cos) / 2`.
"""

# ruff: noqa: S608 (SQL is assembled from our own identifiers; every value is a bound parameter)

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np
import pydantic_core

from curation.embedded.sql_schema import VERSIONS_TABLE

log = logging.getLogger(__name__)
Query = Callable[[str, dict[str, Any]], Sequence[Any]]  # blocking: SQL, parameters -> rows
# The baseline of benchmarks/argilla_cold_bench.py: no loading at start, and every search
# that finds the matrix out of date loads it for itself (as before loads were shared).
BASELINE_ENV = "CURATION_VECTORS_BASELINE"
SHARED_LOADS = os.environ.get(BASELINE_ENV) != "1"
SAVE_AFTER = 1_000  # vectors parsed since a matrix was saved before it is saved again
LOAD_BATCH = 500  # vectors parsed while holding the interpreter (~0.1 s at 384-d)


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
    unsaved: int = 0  # rows appended since the matrix was last saved

    def append(self, loaded: Sequence[tuple[int, str, int, str]]) -> None:
        """Add (vector rowid, record id, record rowid, JSON value) rows."""
        if not loaded:
            return
        text = "[" + ",".join(row[3] for row in loaded) + "]"
        values = np.asarray(pydantic_core.from_json(text), np.float32)  # 2x json.loads
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
        self.unsaved += len(loaded)

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
_loads: dict[str, threading.Lock] = {}  # one per vector setting: who loads it now
_loads_guard = threading.Lock()
_saved_in: list[Path] = []  # the folder of matrices kept across restarts (`keep_on_disk`)


def keep_on_disk(folder: Path) -> None:
    """Keep a binary copy of every matrix in `folder` (the web server's), so that a restart
    reads 30 MB of floats instead of parsing 20,000 vectors' JSON again (seconds). The files
    hold the records' vectors: 0600 in a 0700 folder."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    _saved_in[:] = [folder]


def current_matrix(query: Query, vector_settings_id: str, dimensions: int) -> VectorMatrix:
    """The current matrix of a vector setting (`vector_settings_id`: 32 hex digits).

    Blocking (call it in a thread): a first load parses every vector, seconds at 20,000.
    One caller at a time loads a given setting; the others wait for that load and use it,
    rather than each parsing the whole matrix again at the same time.
    """
    counters = _counters(query, vector_settings_id)
    cached = _matrices.get(vector_settings_id)
    if _is_current(cached, counters, dimensions):
        return cached
    with _load_lock(vector_settings_id):
        counters = _counters(query, vector_settings_id)  # the load we waited for may be it
        cached = _matrices.get(vector_settings_id)
        if _is_current(cached, counters, dimensions):
            return cached
        if cached is not None and cached.changes == counters[1] and cached.dimensions == dimensions:
            # only inserts since: a copy (a concurrent search may still read the cached one)
            matrix = replace(cached, record_ids=list(cached.record_ids), rows=dict(cached.rows))
            _read_new_vectors(query, vector_settings_id, matrix)
        else:
            matrix = _load(query, vector_settings_id, counters, dimensions)
        matrix.inserts, matrix.changes = counters
        if _saved_in and matrix.unsaved >= SAVE_AFTER:
            _save(matrix, _saved_in[0] / f"{vector_settings_id}.npz")
        _matrices[vector_settings_id] = matrix
        return matrix


def _load(
    query: Query, vector_settings_id: str, counters: tuple[int, int], dimensions: int
) -> VectorMatrix:
    """The whole matrix: the saved copy plus the vectors inserted since, else from JSON."""
    saved = _saved(vector_settings_id, counters, dimensions)
    if saved is not None:
        _read_new_vectors(query, vector_settings_id, saved)
        count = query(
            "SELECT count(*) FROM vectors WHERE vector_settings_id = :vs",
            {"vs": vector_settings_id},
        )[0][0]
        if count == len(saved.record_ids):
            return saved
        log.warning("the saved vectors of %s are not the database's: reloading", vector_settings_id)
    matrix = VectorMatrix(dimensions=dimensions)
    _read_new_vectors(query, vector_settings_id, matrix)
    return matrix


def _read_new_vectors(query: Query, vector_settings_id: str, matrix: VectorMatrix) -> None:
    """Append the vectors after the matrix's last one, in batches: between two, the other
    threads (the event loop's) get the interpreter."""
    while rows := query(
        "SELECT v.rowid, v.record_id, r.rowid, v.value FROM vectors v "
        "JOIN records r ON r.id = v.record_id "
        "WHERE v.vector_settings_id = :vs AND v.rowid > :after ORDER BY v.rowid LIMIT :n",
        {"vs": vector_settings_id, "after": matrix.last_rowid, "n": LOAD_BATCH},
    ):
        matrix.append([tuple(row) for row in rows])


def _save(matrix: VectorMatrix, path: Path) -> None:
    """Write `matrix` to `path` as one unit (a new file renamed over the old one)."""
    part = path.with_name(f".{path.name}.part")
    numbers = [matrix.dimensions, matrix.inserts, matrix.changes, matrix.last_rowid]
    try:
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as file:
            np.savez(
                file,
                matrix=matrix.matrix,
                record_ids=np.asarray(matrix.record_ids, dtype=str),
                record_rowids=matrix.record_rowids,
                numbers=np.asarray(numbers, np.int64),
            )
        os.replace(part, path)
    except OSError as error:  # e.g. a full disk: the next restart parses the JSON again
        log.warning("cannot save the vectors to %s: %s", path, error)
        part.unlink(missing_ok=True)
        return
    matrix.unsaved = 0


def _saved(
    vector_settings_id: str, counters: tuple[int, int], dimensions: int
) -> VectorMatrix | None:
    """The saved matrix if it can be brought up to date by reading the inserts since."""
    path = _saved_in[0] / f"{vector_settings_id}.npz" if _saved_in else None
    if path is None or not path.exists():
        return None
    try:
        with np.load(path) as saved:
            saved_dimensions, inserts, changes, last_rowid = saved["numbers"].tolist()
            if (saved_dimensions, changes) != (dimensions, counters[1]) or inserts > counters[0]:
                return None
            matrix = VectorMatrix(dimensions=dimensions, last_rowid=last_rowid)
            matrix.matrix = saved["matrix"]
            matrix.record_ids = saved["record_ids"].tolist()
            matrix.record_rowids = saved["record_rowids"]
    except (OSError, ValueError, KeyError) as error:  # unreadable: parse the JSON instead
        log.warning("cannot read %s (%s): reloading the vectors", path, error)
        return None
    matrix.rows = {record_id: i for i, record_id in enumerate(matrix.record_ids)}
    matrix.by_rowid = np.argsort(matrix.record_rowids, kind="stable")
    matrix.sorted_rowids = matrix.record_rowids[matrix.by_rowid]
    return matrix


def warm(query: Query) -> None:
    """Load the matrix of every vector setting, newest datasets first, so that the first
    similarity searches after a start find it loaded (run in a thread by the server)."""
    settings = query(
        "SELECT s.id, s.dimensions FROM vectors_settings s "
        "JOIN datasets d ON d.id = s.dataset_id ORDER BY d.updated_at DESC",
        {},
    )
    for vector_settings_id, dimensions in settings:
        current_matrix(query, vector_settings_id, dimensions)


def _counters(query: Query, vector_settings_id: str) -> tuple[int, int]:
    """(inserts, changes) of a vector setting's vectors: the triggers' counters."""
    inserts, changes = f"vectors+{vector_settings_id}", f"vectors~{vector_settings_id}"
    found = dict(
        query(
            f"SELECT name, version FROM {VERSIONS_TABLE} WHERE name IN (:inserts, :changes)",
            {"inserts": inserts, "changes": changes},
        )
    )
    return found.get(inserts, 0), found.get(changes, 0)


def _is_current(
    cached: VectorMatrix | None, counters: tuple[int, int], dimensions: int
) -> TypeGuard[VectorMatrix]:
    return (
        cached is not None
        and (cached.inserts, cached.changes) == counters
        and cached.dimensions == dimensions
    )


def _load_lock(vector_settings_id: str) -> AbstractContextManager:
    if not SHARED_LOADS:
        return nullcontext()
    with _loads_guard:
        return _loads.setdefault(vector_settings_id, threading.Lock())


def forget(vector_settings_ids: Iterable[str]) -> None:
    """Drop cached matrices (their dataset was deleted)."""
    for vector_settings_id in vector_settings_ids:
        _matrices.pop(vector_settings_id, None)
        _loads.pop(vector_settings_id, None)
        if _saved_in:
            (_saved_in[0] / f"{vector_settings_id}.npz").unlink(missing_ok=True)
