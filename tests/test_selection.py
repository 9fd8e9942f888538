"""The blocked Deita filter makes exactly the decisions of the one-row-at-a-time reference."""

from __future__ import annotations

import numpy as np
import pytest

from curation.errors import CurationError
from curation.selection import deita
from curation.selection.deita import select_diverse
from curation.selection.reference import reference_select
from curation.selection.similarity import exact_dots, float32_band, unit_rows


def planted(
    rows: int, dim: int, seed: int, share: float = 0.4, dtype: type = np.float32
) -> tuple[np.ndarray, np.ndarray]:
    """Random rows with planted near-duplicates (some exact), and tied, null and NaN scores."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((rows, dim))
    copies = int(rows * share)
    source = rng.integers(0, rows, copies)
    target = rng.integers(0, rows, copies)
    noise = rng.choice([0.0, 0.02, 0.1, 0.3, 0.6], size=(copies, 1))
    vectors[target] = vectors[source] + noise * rng.standard_normal((copies, dim))
    scores = rng.integers(0, 12, rows).astype(np.float64)  # many ties
    scores[rng.random(rows) < 0.05] = np.nan
    return vectors.astype(dtype), scores


def assert_same(fast: deita.Selection, reference: deita.Selection, dim: int) -> None:
    """Identical ids and order; nn_similarity equal to float accuracy; same reasons."""
    np.testing.assert_array_equal(fast.kept, reference.kept)
    # Both report float64 similarities; the nearest kept row can be chosen differently only
    # between rows whose similarities are within float32 accuracy of each other.
    np.testing.assert_allclose(
        fast.nn_similarity, reference.nn_similarity, atol=2 * float32_band(dim), rtol=0
    )
    np.testing.assert_array_equal(np.isnan(fast.nn_similarity), np.isnan(reference.nn_similarity))
    np.testing.assert_array_equal(fast.rejected, reference.rejected)
    np.testing.assert_array_equal(fast.not_reached, reference.not_reached)
    np.testing.assert_array_equal(fast.null_score, reference.null_score)


def assert_witnesses(
    selection: deita.Selection, embeddings: np.ndarray, scores: np.ndarray, threshold: float
) -> None:
    """Every rejected row names a row kept before it, more similar than the threshold."""
    order, _ = deita.walk_order(scores)
    position = np.empty(len(scores), dtype=np.int64)
    position[order] = np.arange(len(order))
    kept_at = position[selection.kept]
    for row, rank, similarity in zip(
        selection.rejected, selection.blocked_by, selection.similarity, strict=True
    ):
        assert kept_at[rank] < position[row]
        vectors = unit_rows(embeddings[[row, selection.kept[rank]]])
        exact = exact_dots(vectors[0], vectors[1])[0]
        assert similarity > threshold
        # float32 accuracy, and exact where float32 could not tell it from the threshold
        assert similarity == pytest.approx(exact, abs=float32_band(embeddings.shape[1]))


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("threshold", [-0.2, 0.3, 0.8, 0.95, 1.0])
def test_matches_reference_on_planted_duplicates(seed: int, threshold: float) -> None:
    rng = np.random.default_rng(1000 + seed)
    rows, dim = int(rng.integers(1, 1500)), int(rng.choice([3, 16, 64]))
    embeddings, scores = planted(rows, dim, seed)
    for budget in (None, 1, 7, rows // 3 + 1, rows + 10):
        expected = reference_select(embeddings, scores, threshold, budget)
        fast = select_diverse(embeddings, scores, threshold, budget, block_rows=300)
        assert_same(fast, expected, dim)
        assert_witnesses(fast, embeddings, scores, threshold)
        if budget is not None:
            assert len(fast.kept) <= budget


@pytest.mark.parametrize("seed", range(4))
def test_probe_index_changes_nothing(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The faiss witness probe (normally for large inputs) on small ones, built early."""
    monkeypatch.setattr(deita, "PROBE_MIN_KEPT", 8)
    embeddings, scores = planted(3000, 32, seed, share=0.7)
    for threshold, budget in ((0.5, None), (0.9, 400), (0.99, 50)):
        expected = reference_select(embeddings, scores, threshold, budget)
        for probes in (1, 4):
            fast = select_diverse(
                embeddings, scores, threshold, budget, probe="on", probes=probes, block_rows=256
            )
            assert_same(fast, expected, 32)
            assert_witnesses(fast, embeddings, scores, threshold)


def test_float64_embeddings_and_large_blocks() -> None:
    embeddings, scores = planted(2000, 24, 5, dtype=np.float64)
    expected = reference_select(embeddings, scores, 0.7, 500)
    assert_same(select_diverse(embeddings, scores, 0.7, 500), expected, 24)


def test_walk_is_by_score_with_ties_in_input_order() -> None:
    # Rows 1 and 3 tie on the top score; 1 comes first in the input, so 3 (its duplicate)
    # is the one rejected. Row 2 has no score at all.
    embeddings = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0], [1, 1, 0]], float)
    scores = np.array([1.0, 5.0, np.nan, 5.0, 2.0])
    result = select_diverse(embeddings, scores, threshold=0.9, budget=None)
    np.testing.assert_array_equal(result.kept, [1, 4, 0])
    np.testing.assert_array_equal(result.rejected, [3])
    np.testing.assert_array_equal(result.null_score, [2])
    assert result.similarity[0] == pytest.approx(1.0)
    assert np.isnan(result.nn_similarity[0])
    assert result.nn_similarity[1:] == pytest.approx([np.sqrt(0.5), np.sqrt(0.5)])


def test_nan_score_is_treated_as_null() -> None:
    embeddings = np.eye(3)
    result = select_diverse(embeddings, np.array([np.nan, 2.0, 1.0]), 0.5, None)
    np.testing.assert_array_equal(result.kept, [1, 2])
    np.testing.assert_array_equal(result.null_score, [0])


def test_exact_tie_at_threshold_is_kept() -> None:
    # (1,0,0,0) and (2,2,2,2) have cosine exactly 0.5 in any arithmetic: `<= T` keeps it.
    embeddings = np.array([[1, 0, 0, 0], [2, 2, 2, 2]], dtype=np.float32)
    scores = np.array([2.0, 1.0])
    assert list(select_diverse(embeddings, scores, 0.5, None).kept) == [0, 1]
    assert list(select_diverse(embeddings, scores, np.nextafter(0.5, 0), None).kept) == [0]


def test_decisions_at_the_threshold_follow_float64_not_float32() -> None:
    """Pairs where float32 rounding lands on the other side of T from the exact value."""
    rng = np.random.default_rng(7)
    dim, found = 384, 0
    for _ in range(2000):
        pair = rng.standard_normal((2, dim)).astype(np.float32)
        pair[1] = pair[0] + 0.3 * pair[1]
        units = unit_rows(pair)
        exact = exact_dots(units[0], units[1])[0]
        single = float(units[0].astype(np.float32) @ units[1].astype(np.float32))
        if single == exact:
            continue
        found += 1
        # Screening in float32 alone would decide one of the two thresholds wrongly.
        assert single > exact or single <= np.nextafter(exact, -1)
        scores = np.array([2.0, 1.0])
        # At T = exact similarity the second row is kept, just below it it is rejected,
        # whatever float32 says.
        for threshold, kept in ((exact, [0, 1]), (np.nextafter(exact, -1), [0])):
            fast = select_diverse(pair, scores, threshold, None)
            assert list(fast.kept) == kept
            assert list(reference_select(pair, scores, threshold, None).kept) == kept
        if found == 25:
            break
    assert found == 25


def test_budget_larger_than_input_and_empty_input() -> None:
    embeddings, scores = planted(50, 8, 3)
    result = select_diverse(embeddings, scores, 0.95, budget=1000)
    assert len(result.not_reached) == 0
    scored = int((~np.isnan(scores)).sum())
    assert len(result.kept) + len(result.rejected) == scored
    empty = select_diverse(np.zeros((0, 8), np.float32), np.zeros(0), 0.9, 10)
    assert len(empty.kept) == len(empty.rejected) == len(empty.not_reached) == 0


def test_zero_or_nan_embedding_is_an_error_unless_the_row_has_no_score() -> None:
    embeddings = np.eye(4)
    embeddings[2] = 0
    with pytest.raises(CurationError, match="row 2: embedding is all zeros"):
        select_diverse(embeddings, np.ones(4), 0.9, None)
    scores = np.array([1.0, 1.0, np.nan, 1.0])
    assert list(select_diverse(embeddings, scores, 0.9, None).kept) == [0, 1, 3]
    embeddings[2, 1] = np.nan
    with pytest.raises(CurationError, match="row 2: embedding has NaN"):
        select_diverse(embeddings, np.ones(4), 0.9, None)


@pytest.mark.parametrize(
    ("threshold", "budget", "message"),
    [(1.5, 3, "threshold must be"), (-1.01, 3, "threshold must be"), (0.5, 0, "budget must")],
)
def test_bad_arguments(threshold: float, budget: int, message: str) -> None:
    with pytest.raises(CurationError, match=message):
        select_diverse(np.eye(3), np.ones(3), threshold, budget)


def test_normalisation_of_a_row_does_not_depend_on_its_batch() -> None:
    """The blocked filter normalises rows in blocks, the reference one by one: same bits."""
    rng = np.random.default_rng(11)
    for dim in (5, 384, 1000):
        rows = rng.standard_normal((257, dim)).astype(np.float32) * 3
        together = unit_rows(rows)
        for i in (0, 1, 100, 256):
            assert np.array_equal(together[i], unit_rows(rows[i : i + 1])[0])
        assert np.array_equal(together[50:90], unit_rows(rows[50:90]))


def test_exact_dots_are_correctly_rounded() -> None:
    from fractions import Fraction

    rng = np.random.default_rng(3)
    left, right = unit_rows(rng.standard_normal((20, 64))), unit_rows(rng.standard_normal((20, 64)))
    for a, b, value in zip(left, right, exact_dots(left, right), strict=True):
        exact = sum(Fraction(float(x)) * Fraction(float(y)) for x, y in zip(a, b, strict=True))
        assert value == float(exact)
