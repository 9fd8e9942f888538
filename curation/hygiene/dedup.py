"""Near-duplicate rows: MinHash LSH (datasketch) proposes, exact Jaccard decides.

datasketch is the smallest well-kept library that does the whole job in process: MinHash
signatures, the band/row split that fits a Jaccard threshold, and an LSH index to query.
(datatrove's MinHash dedup is built for sharded corpora on disk, text-dedup for whole
datasets from the command line.) Hash collisions and the banding make LSH candidates, not
verdicts (and miss a few pairs near the threshold: `LSH_WEIGHTS`): a row is dropped only
when the exact Jaccard of its shingle set with a kept row reaches the threshold, so there
are no false drops.

Each duplicate cluster keeps its best-scored row: rows are walked from the best score
down (null scores last, ties in input order); a row still standing keeps itself and drops
the candidates after it whose exact Jaccard with it is at least the threshold.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import xxhash
from datasketch import LeanMinHash, MinHash, MinHashLSH

from curation.hygiene.text import Shingle, jaccard, shingles

# (false-positive, false-negative) weights for datasketch's choice of bands x rows: exact
# Jaccard removes false positives, so the banding favours recall (~95% of pairs right at
# the threshold are candidates, ~98% of pairs 0.03 above; equal weights: ~40% and ~50%).
LSH_WEIGHTS = (0.05, 0.95)
SCHEME = "affine32"  # datasketch's default permutation scheme, stated for LeanMinHash


@dataclass
class Duplicates:
    """Per row: the row it duplicates (None: kept) and their exact Jaccard similarity."""

    dup_of: list[int | None]
    jaccard: list[float | None]
    candidates: int = 0  # LSH candidate pairs checked
    rejected: int = 0  # candidates below the threshold on exact Jaccard

    @property
    def dropped(self) -> int:
        return sum(other is not None for other in self.dup_of)


def _hash(data: bytes) -> int:
    return xxhash.xxh32_intdigest(data)


def score_order(scores: Sequence[float | None] | np.ndarray | None, rows: int) -> np.ndarray:
    """Row indices from the best score down; null scores last; ties in input order."""
    if scores is None:
        return np.arange(rows)
    values = np.array([np.nan if s is None else s for s in scores], dtype=float)
    values = np.where(np.isnan(values), -np.inf, values)
    return np.lexsort((np.arange(rows), -values))


def signatures(
    texts: Sequence[str | None],
    shingle_of: Callable[[str], set[str]],
    num_perm: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """MinHash signatures, one row per text, and which texts have any shingle.

    `MinHash.generator` reuses one initialised MinHash (permutations drawn once); the
    "affine32" scheme (datasketch's default) stores uint32, 512 MB at 1M rows x 128.
    Shingle sets are made one text at a time and not kept: at 1M rows they would not fit.
    """
    present = np.zeros(len(texts), dtype=bool)

    def shingle_bytes():
        for i, text in enumerate(texts):
            shingle_set = shingle_of(text) if text else set()
            present[i] = bool(shingle_set)
            if progress is not None and i % 10_000 == 9_999:
                progress(10_000)
            yield [s.encode() for s in shingle_set]

    out = np.empty((len(texts), num_perm), dtype=np.uint32)
    minhashes = MinHash.generator(shingle_bytes(), num_perm=num_perm, seed=seed, hashfunc=_hash)
    for i, minhash in enumerate(minhashes):
        out[i] = minhash.hashvalues
    return out, present


def near_duplicates(
    texts: Sequence[str | None],
    scores: Sequence[float | None] | np.ndarray | None = None,
    *,
    threshold: float = 0.8,
    shingle: Shingle = "char",
    ngram: int = 5,
    num_perm: int = 128,
    seed: int = 1,
    progress: Callable[[int], None] | None = None,
) -> Duplicates:
    """Find near-duplicates among `texts`; each cluster keeps its best-scored row."""

    def shingle_of(text: str) -> set[str]:
        return shingles(text, shingle, ngram)

    sigs, present = signatures(texts, shingle_of, num_perm, seed, progress)
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=LSH_WEIGHTS)
    with lsh.insertion_session() as session:
        for i in np.flatnonzero(present):
            session.insert(int(i), _lean(sigs[i], seed), check_duplication=False)
    rank = np.empty(len(texts), dtype=np.int64)
    order = score_order(scores, len(texts))
    rank[order] = np.arange(len(texts))
    result = Duplicates(dup_of=[None] * len(texts), jaccard=[None] * len(texts))
    for keeper in order[present[order]]:
        keeper = int(keeper)
        if result.dup_of[keeper] is not None:
            continue
        candidates = [
            other
            for other in lsh.query(_lean(sigs[keeper], seed))
            if rank[other] > rank[keeper] and result.dup_of[other] is None
        ]
        if not candidates:
            continue
        keeper_set = shingle_of(texts[keeper])
        for other in candidates:
            result.candidates += 1
            similarity = jaccard(keeper_set, shingle_of(texts[other]))
            if similarity >= threshold:
                result.dup_of[other], result.jaccard[other] = keeper, round(similarity, 4)
            else:
                result.rejected += 1
    return result


def _lean(signature: np.ndarray, seed: int) -> LeanMinHash:
    return LeanMinHash(seed=seed, hashvalues=signature, scheme=SCHEME)
