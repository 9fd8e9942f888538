"""Pieces of the embedded search engine that need no server: query translation, vectors."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

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
