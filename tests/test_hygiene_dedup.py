"""Near-dedup on planted data: duplicates at known Jaccard found, nothing else dropped."""

from __future__ import annotations

import numpy as np
import pytest

from curation.hygiene.dedup import near_duplicates, score_order

VOCAB = [f"w{i}" for i in range(5000)]


def base_texts(n: int, words: int = 20, seed: int = 0) -> list[list[str]]:
    """`n` texts of distinct random words: two of them share almost no word."""
    rng = np.random.default_rng(seed)
    return [list(rng.choice(VOCAB, size=words, replace=False)) for _ in range(n)]


def changed(words: list[str], k: int, tag: str) -> list[str]:
    """`words` with its last k words replaced by new ones: Jaccard (n-k)/(n+k) on word sets."""
    return words[: len(words) - k] + [f"{tag}{j}" for j in range(k)]


def test_planted_duplicates_at_known_jaccard_and_nothing_else() -> None:
    texts = base_texts(400)
    planted = {}  # row -> (row it copies, exact Jaccard)
    for k, source in ((1, 3), (2, 10), (3, 20), (4, 30)):
        planted[len(texts)] = (source, (20 - k) / (20 + k))
        texts.append(changed(texts[source], k, f"new{k}x"))
    found = near_duplicates(
        [" ".join(t) for t in texts], threshold=0.8, shingle="word", ngram=1, num_perm=128
    )
    pairs = zip(found.dup_of, found.jaccard, strict=True)
    dropped = {row: (of, j) for row, (of, j) in enumerate(pairs) if of is not None}
    # k=1 (0.905) and k=2 (0.818) reach 0.8; k=3 (0.739) and k=4 (0.667) do not.
    assert dropped == {
        400: (3, pytest.approx(19 / 21, abs=1e-4)),
        401: (10, pytest.approx(18 / 22, abs=1e-4)),
    }
    assert found.dropped == 2


def test_exact_jaccard_confirms_every_drop() -> None:
    """LSH candidates under the threshold (16 permutations make many) are never dropped."""
    texts = base_texts(300, seed=1)
    texts += [changed(texts[i], 3, f"c{i}x") for i in range(50)]  # Jaccard 17/23 = 0.739
    joined = [" ".join(t) for t in texts]
    found = near_duplicates(joined, threshold=0.75, shingle="word", ngram=1, num_perm=16)
    assert found.dropped == 0
    assert found.rejected == found.candidates > 10
    found = near_duplicates(joined, threshold=0.7, shingle="word", ngram=1)
    dropped = {row: of for row, of in enumerate(found.dup_of) if of is not None}
    assert len(dropped) >= 45  # LSH may miss a pair near the threshold, never adds one
    assert all(row == 300 + of for row, of in dropped.items())
    assert {found.jaccard[row] for row in dropped} == {round(17 / 23, 4)}


def test_cluster_keeps_its_best_scored_row() -> None:
    instruction = "Write a short poem about the sea at night and the lighthouse keeper."
    texts = [
        instruction,
        "Write a short poem about the sea at night and the lighthouse keepers.",
        "Write a short poem about the sea at night, and the lighthouse keeper!",
        "Explain how a bicycle gear works to a ten year old child.",
    ]
    found = near_duplicates(texts, [2.0, 9.0, None, 5.0])  # defaults: char 5-grams, 0.8
    assert found.dup_of == [1, None, 1, None]
    assert found.jaccard[0] is not None and 0.8 <= found.jaccard[0] < 1.0
    # punctuation and case are normalised away: row 2 is row 0 to the shingles
    assert found.jaccard[2] == found.jaccard[0]


def test_empty_texts_are_never_duplicates() -> None:
    found = near_duplicates(["", None, "", "A real instruction about cooking rice."])
    assert found.dup_of == [None, None, None, None]


def test_score_order_nulls_last_ties_in_input_order() -> None:
    assert score_order([1.0, None, 3.0, 3.0, float("nan")], 5).tolist() == [2, 3, 0, 1, 4]
