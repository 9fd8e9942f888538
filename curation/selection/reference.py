"""The straightforward Deita filter: one row at a time against every kept row, in float64.

This is the executable form of the `curate select` contract. The tests check that the
blocked filter (`deita.select_diverse`) makes exactly its decisions, and the benchmark
times it as the per-row baseline. It reports, for a rejected row, the *nearest* kept row.
"""

from __future__ import annotations

import numpy as np

from curation.selection.deita import Selection, check_arguments, squared_norms, walk_order
from curation.selection.similarity import float64_band, settle, unit_rows


def reference_select(
    embeddings: np.ndarray, scores: np.ndarray, threshold: float, budget: int | None = None
) -> Selection:
    """Walk rows by score (ties in input order); keep a row iff no kept row is > threshold."""
    scores = np.asarray(scores, dtype=np.float64)
    check_arguments(embeddings, scores, threshold, budget)
    order, null_score = walk_order(scores)
    squared_norms(embeddings, order)
    band = float64_band(embeddings.shape[1])
    capacity = min(len(order), budget or len(order))
    kept_vectors = np.empty((capacity, embeddings.shape[1]))
    kept: list[int] = []
    nn: list[float] = []
    rejected: list[int] = []
    blocked_by: list[int] = []
    similarity: list[float] = []
    stop = len(order)
    for position, row in enumerate(order):
        vector = unit_rows(embeddings[row : row + 1])[0]
        sims = kept_vectors[: len(kept)] @ vector
        sims = settle(
            sims, threshold, band, lambda close, vector=vector: (kept_vectors[close], vector)
        )
        nearest = int(np.argmax(sims)) if len(kept) else -1
        if nearest >= 0 and sims[nearest] > threshold:
            rejected.append(row)
            blocked_by.append(nearest)
            similarity.append(float(sims[nearest]))
            continue
        kept_vectors[len(kept)] = vector
        kept.append(int(row))
        nn.append(float(sims[nearest]) if nearest >= 0 else np.nan)
        if budget is not None and len(kept) >= budget:
            stop = position + 1
            break
    return Selection(
        kept=np.array(kept, dtype=np.int64),
        nn_similarity=np.array(nn, dtype=np.float64),
        rejected=np.array(rejected, dtype=np.int64),
        blocked_by=np.array(blocked_by, dtype=np.int64),
        similarity=np.array(similarity, dtype=np.float64),
        not_reached=order[stop:],
        null_score=null_score,
    )
