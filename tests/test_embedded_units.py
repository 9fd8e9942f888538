"""Pieces of the embedded search engine that need no server: query translation, vectors."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from curation.embedded import vectors
from curation.embedded.sql_schema import VERSIONS_TABLE
from curation.embedded.text_query import TextMatch, to_fts5
from curation.embedded.vectors import VectorMatrix

DOCS = {
    1: ("the quick brown fox", "jumps over"),
    2: ("quick dog", "brown cat"),
    3: ("lazy fox", "sleeps"),
    4: ("snake_case word", "Quick thinking"),
}


@pytest.fixture(scope="module")
def fts():
    """An FTS5 table built like the server's (same tokenizer), to run translated queries."""
    from curation.embedded.sql_schema import FTS_TOKENIZER

    db = sqlite3.connect(":memory:")
    db.execute(f'CREATE VIRTUAL TABLE t USING fts5(f_a, f_b, tokenize="{FTS_TOKENIZER}")')
    db.executemany(
        "INSERT INTO t(rowid, f_a, f_b) VALUES (?, ?, ?)", [(k, *v) for k, v in DOCS.items()]
    )
    return db


def _run(db, match: TextMatch) -> set[int]:
    everything = set(DOCS)
    if match.include is not None:
        return {
            row[0] for row in db.execute("SELECT rowid FROM t WHERE t MATCH ?", (match.include,))
        }
    if match.exclude is not None:
        excluded = {
            row[0] for row in db.execute("SELECT rowid FROM t WHERE t MATCH ?", (match.exclude,))
        }
        return everything - excluded
    return everything


@pytest.mark.parametrize(
    ("query", "column", "expected"),
    [
        ("quick", None, {1, 2, 4}),
        ("QUICK brown", None, {1, 2}),  # words may match in different fields
        ("quick +brown", None, {1, 2}),
        ("fox | cat", None, {1, 2, 3}),
        ("quick -dog", None, {1, 4}),
        ("-quick", None, {3}),
        ("fox | -quick", None, {1, 3}),
        ("-fox -dog", None, {4}),
        ('"brown fox"', None, {1}),
        ('"fox brown"', None, set()),
        ("qui*", None, {1, 2, 4}),
        ("(fox | dog) quick", None, {1, 2}),
        ("snake_case", None, {4}),
        ("quick", "f_b", {4}),
        ("brown -fox", "f_b", {2}),
        ("", None, set(DOCS)),
        ("*", None, set(DOCS)),
        ("((( | + -", None, set(DOCS)),  # nothing searchable: like Elasticsearch, no error
        ('say "unterminated', None, set()),
        ("fox~2", None, {1, 3}),  # fuzziness is ignored: exact word
    ],
)
def test_simple_query_string_semantics(fts, query, column, expected):
    assert _run(fts, to_fts5(query, column)) == expected


def test_any_quote_in_a_word_is_escaped(fts):
    for query in ['a"b', 'x" OR "y', "NEAR(quick fox)", "quick AND", "NOT fox"]:
        _run(fts, to_fts5(query))  # must not raise an FTS5 syntax error


def _brute_force(matrix: np.ndarray, query: np.ndarray, least: bool = False) -> list[int]:
    cos = matrix @ query / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(query))
    scores = (1 - cos) / 2 if least else (1 + cos) / 2
    return list(np.argsort(-scores, kind="stable"))


def test_vector_matrix_matches_brute_force_and_appends():
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((300, 16))
    matrix = VectorMatrix(dimensions=16)
    # record rowids in another order than the vectors', as after a vector added later
    rows = [(i + 1, f"id{i}", 1000 - i, json.dumps(v.tolist())) for i, v in enumerate(vectors)]
    matrix.append(rows[:200])
    matrix.append(rows[200:])  # incremental load after inserts
    assert matrix.last_rowid == 300
    query = rng.standard_normal(16)

    hits = matrix.nearest(query, 10)
    assert [r for r, _ in hits] == [f"id{i}" for i in _brute_force(vectors, query)[:10]]
    cos = (
        vectors[int(hits[0][0][2:])]
        @ query
        / np.linalg.norm(vectors[int(hits[0][0][2:])])
        / np.linalg.norm(query)
    )
    assert hits[0][1] == pytest.approx((1 + cos) / 2, abs=1e-6)

    least = matrix.nearest(query, 5, least_similar=True)
    assert [r for r, _ in least] == [f"id{i}" for i in _brute_force(vectors, query, least=True)[:5]]

    allowed = np.array([1000 - i for i in range(0, 300, 7)] + [5000])  # 5000: no vector
    hits = matrix.nearest(query, 4, allowed=allowed, exclude="id0")
    order = [i for i in _brute_force(vectors, query) if i % 7 == 0 and i != 0]
    assert [r for r, _ in hits] == [f"id{i}" for i in order[:4]]
    assert matrix.nearest(query, 3, allowed=np.array([], dtype=np.int64)) == []


class VectorTables:
    """The tables a vector load reads (vectors, records, the triggers' counters), in SQLite,
    behind the blocking `query` the server gives `vectors.current_matrix`; counts the batches
    of vectors read."""

    def __init__(self, dimensions: int) -> None:
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        self.db.executescript(
            f"CREATE TABLE records (id TEXT PRIMARY KEY);"
            f"CREATE TABLE vectors (record_id TEXT, vector_settings_id TEXT, value TEXT);"
            f"CREATE TABLE {VERSIONS_TABLE} (name TEXT PRIMARY KEY, version INTEGER);"
        )
        self.dimensions, self.lock, self.vector_reads = dimensions, threading.Lock(), 0
        self.rng = np.random.default_rng(5)
        self.values: dict[str, np.ndarray] = {}

    def insert(self, count: int) -> None:
        for _ in range(count):
            record_id = f"r{len(self.values)}"
            self.values[record_id] = self.rng.standard_normal(self.dimensions)
            value = json.dumps(self.values[record_id].tolist())
            self.db.execute("INSERT INTO records VALUES (?)", (record_id,))
            self.db.execute("INSERT INTO vectors VALUES (?, 'vs', ?)", (record_id, value))
        self.bump("vectors+vs")

    def bump(self, counter: str) -> None:
        self.db.execute(
            f"INSERT INTO {VERSIONS_TABLE} VALUES (?, 1) "
            "ON CONFLICT(name) DO UPDATE SET version = version + 1",
            (counter,),
        )

    def query(self, sql: str, params: dict) -> list:
        with self.lock:
            if "v.value" in sql:
                self.vector_reads += 1
                time.sleep(0.01)  # a read that takes time, so that threads overlap
            return self.db.execute(sql, params).fetchall()

    def nearest(self, query: np.ndarray, k: int) -> list[str]:
        ids = list(self.values)
        return [ids[i] for i in _brute_force(np.array(list(self.values.values())), query)[:k]]


@pytest.fixture
def fresh_vector_cache(monkeypatch):
    """No matrix loaded and none kept on disk, as in a process that just started."""
    monkeypatch.setattr(vectors, "_matrices", {})
    monkeypatch.setattr(vectors, "_loads", {})
    monkeypatch.setattr(vectors, "_saved_in", [])


def test_searches_arriving_at_a_cold_cache_share_one_load(fresh_vector_cache):
    tables = VectorTables(dimensions=8)
    tables.insert(1_200)
    with ThreadPoolExecutor(10) as pool:
        found = list(pool.map(lambda _: vectors.current_matrix(tables.query, "vs", 8), range(10)))
    batches = -(-1_200 // vectors.LOAD_BATCH) + 1  # the last read finds nothing more
    assert tables.vector_reads == batches  # one load, not ten
    assert all(matrix is found[0] for matrix in found)
    query = tables.rng.standard_normal(8)
    assert [r for r, _ in found[0].nearest(query, 5)] == tables.nearest(query, 5)


def test_a_restarted_server_reads_the_saved_matrix_and_only_new_vectors(
    fresh_vector_cache, tmp_path
):
    tables = VectorTables(dimensions=8)
    tables.insert(vectors.SAVE_AFTER + 10)
    saved = tmp_path / "home" / "vectors"
    vectors.keep_on_disk(saved)
    vectors.current_matrix(tables.query, "vs", 8)
    assert (saved.stat().st_mode & 0o777, (saved / "vs.npz").stat().st_mode & 0o777) == (
        0o700,
        0o600,
    )

    vectors._matrices.clear()  # a restart; meanwhile records were added
    tables.insert(30)
    tables.vector_reads = 0
    matrix = vectors.current_matrix(tables.query, "vs", 8)
    assert tables.vector_reads == 2  # the 30 new vectors, then nothing more
    query = tables.rng.standard_normal(8)
    assert [r for r, _ in matrix.nearest(query, 10)] == tables.nearest(query, 10)

    vectors._matrices.clear()  # a vector changed while the server was down: all is read again
    new = tables.rng.standard_normal(8)
    tables.values["r3"] = new
    tables.db.execute(
        "UPDATE vectors SET value = ? WHERE record_id = 'r3'", (json.dumps(new.tolist()),)
    )
    tables.bump("vectors~vs")
    tables.vector_reads = 0
    matrix = vectors.current_matrix(tables.query, "vs", 8)
    assert tables.vector_reads > 2
    assert [r for r, _ in matrix.nearest(new, 1)] == ["r3"]


@pytest.mark.parametrize("module", ["fixes", "speedups", "bulk_log"])
def test_a_patch_refuses_an_argilla_server_it_was_not_written_for(module):
    """In the server's own environment, with argilla-server claiming another version."""
    import subprocess
    from pathlib import Path

    from curation.embedded.launcher import argilla_python

    script = (
        "import argilla_server._version as v; v.__version__ = '2.9.0'; "
        f"from curation.embedded import {module}; {module}.install()"
    )
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [str(argilla_python()), "-c", script],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("RuntimeError: ")
    assert f"curation.embedded.{module} was written for argilla-server 2.8.0, found 2.9.0" in last
