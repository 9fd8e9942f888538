"""The Deita score-first diversity filter: exact, in blocks, memory O(N x d).

The semantics (README, "Deita selection"): drop rows without a score; walk the
rest by score, highest first, ties in input order; keep a row iff its cosine similarity
to every row kept so far is `<= threshold`; stop once `budget` rows are kept.

Walking one row at a time is simple and slow. Here the walk goes in blocks of rows:

1. *Probe* (large inputs): the kept rows are grouped around a few of them (an IVF-style
   partition); for most rows that will be rejected, the kept rows in the row's nearest
   partitions hold one above the threshold. One such witness settles a rejection; the
   probe never decides a keep.
2. *Scan*: the rows still open are compared with every kept row in float32 matrix
   products, chunk by chunk; a row drops out of the scan as soon as a witness shows up.
3. *Greedy*: the rows that survive the scan are walked in order against each other
   (a small matrix), because a row kept inside the block can block later ones.

float32 products are screened with a rigorous error band around the threshold: values
inside it are recomputed by `similarity.settle` (float64, then exact), so every decision
is the one `reference.reference_select` makes, bit for bit.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from threadpoolctl import ThreadpoolController

from curation.errors import CurationError
from curation.selection.similarity import float32_band, settle, unit_rows

Progress = Callable[[int], None]

# Rows per block of the walk, and kept rows per matrix product in the scan. Sized so the
# float32 similarity blocks stay near 16 MB whatever N is.
BLOCK_ROWS = 8192
SCAN_ROWS = 1024
KEPT_CHUNK = 4096
# The probe pays off once many rows are rejected; for fewer scored rows the scan alone
# is fast. It is built once this many rows are kept, and rebuilt (with more partitions)
# each time the kept set has doubled.
PROBE_MIN_ROWS = 20_000
PROBE_MIN_KEPT = 256


@dataclass(frozen=True)
class Selection:
    """Outcome of the walk, as row numbers of the input.

    `kept[r]` has selection rank r; `nn_similarity[r]` is its largest similarity to a row
    kept before it (NaN for rank 0). `rejected` rows (walk order) were each blocked by the
    kept row of rank `blocked_by` with `similarity` > threshold (a witness, most often
    the nearest kept row but not always). `not_reached` rows had a score but the budget
    was filled before the walk got to them; `null_score` rows had none (null or NaN).
    """

    kept: np.ndarray
    nn_similarity: np.ndarray
    rejected: np.ndarray
    blocked_by: np.ndarray
    similarity: np.ndarray
    not_reached: np.ndarray
    null_score: np.ndarray


def walk_order(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows by score descending with ties in input order, rows without a score)."""
    scores = np.asarray(scores, dtype=np.float64)
    missing = np.isnan(scores)
    scored = np.flatnonzero(~missing)
    order = scored[np.argsort(-scores[scored], kind="stable")]
    return order, np.flatnonzero(missing)


def check_arguments(
    embeddings: np.ndarray, scores: np.ndarray, threshold: float, budget: int | None
) -> None:
    """Raise CurationError for arguments the filter cannot work with."""
    if embeddings.ndim != 2 or embeddings.shape[0] != len(scores):
        raise CurationError(
            f"embeddings must be a matrix with one row per score, got shape {embeddings.shape} "
            f"for {len(scores)} scores"
        )
    if embeddings.shape[0] and not embeddings.shape[1]:
        raise CurationError("embeddings have no dimensions")
    if not -1.0 <= threshold <= 1.0:
        raise CurationError(f"threshold must be a cosine similarity in [-1, 1], got {threshold}")
    if budget is not None and budget < 1:
        raise CurationError(f"budget must be at least 1, got {budget}")


def squared_norms(
    embeddings: np.ndarray,
    rows: np.ndarray,
    row_name: Callable[[int], str] = "row {}".format,
    chunk: int = 16384,
) -> np.ndarray:
    """Squared L2 norms of `rows` (float64); a row without a direction is an error.

    Every scored row is checked, whether or not the walk reaches it: finite values, not
    all zero (float32 squares are exact in float64, so nothing underflows or overflows).
    """
    every = np.empty(len(embeddings))
    for start in range(0, len(embeddings), chunk):  # in input order: no gathering
        block = embeddings[start : start + chunk]
        every[start : start + len(block)] = np.einsum("ij,ij->i", block, block, dtype=np.float64)
    squares = every[rows]
    bad = np.flatnonzero(~((squares > 0) & np.isfinite(squares)))
    if bad.size:
        row, value = int(rows[bad[0]]), squares[bad[0]]
        problem = "is all zeros" if value == 0 else "has NaN, infinite or huge values"
        raise CurationError(
            f"{row_name(row)}: embedding {problem}; "
            "cosine similarity needs a finite, non-zero vector"
        )
    return squares


class _Kept:
    """The kept rows so far: input row numbers, nearest-kept similarity, float32 unit vectors."""

    def __init__(self, dim: int, capacity: int) -> None:
        self.count = 0
        self.rows = np.empty(capacity, dtype=np.int64)
        self.nn = np.empty(capacity, dtype=np.float64)
        self.vec32 = np.empty((capacity, dim), dtype=np.float32)

    def extend(self, rows: np.ndarray, vec32: np.ndarray, nn: np.ndarray) -> None:
        """Append kept rows in keep order."""
        needed = self.count + len(rows)
        if needed > len(self.rows):  # grows by doubling when there is no budget
            capacity = max(needed, 2 * len(self.rows))
            self.rows = _grown(self.rows, capacity)
            self.nn = _grown(self.nn, capacity)
            self.vec32 = _grown(self.vec32, capacity)
        self.rows[self.count : needed] = rows
        self.nn[self.count : needed] = nn
        self.vec32[self.count : needed] = vec32
        self.count = needed


def _grown(array: np.ndarray, capacity: int) -> np.ndarray:
    bigger = np.empty((capacity, *array.shape[1:]), dtype=array.dtype)
    bigger[: len(array)] = array
    return bigger


class _Probe:
    """Kept rows grouped by their nearest centre, to find a rejection witness cheaply.

    A row is compared only with the kept rows of the partitions of its `probes` nearest
    centres; a witness found there settles a rejection, and rows without one go on to the
    full scan, so the grouping changes the speed, never the result. The centres are kept
    rows themselves: kept rows are pairwise no more similar than the threshold, so they are
    already spread over the data and nothing has to be trained. About sqrt(probes x kept)
    partitions balance finding the nearest centres against scanning the partitions.

    (faiss's IndexIVFFlat does the same; measured here it took ~20 us per row, mostly in
    scanning the short lists one row at a time, where grouped matrix products take a few.)
    """

    def __init__(self, kept: _Kept, probes: int) -> None:
        self.kept = kept
        self.built_at = kept.count
        partitions = max(1, min(kept.count, int(np.sqrt(probes * kept.count))))
        self.centres = kept.vec32[np.linspace(0, kept.count - 1, partitions).astype(np.int64)]
        self.probes = min(probes, partitions)
        self.partition = self._nearest_centres(kept.vec32[: kept.count], 1)[:, 0]

    def _nearest_centres(self, vec32: np.ndarray, count: int) -> np.ndarray:
        sims = vec32 @ self.centres.T
        if count >= sims.shape[1]:
            return np.broadcast_to(np.arange(sims.shape[1]), sims.shape)
        if count == 1:
            return sims.argmax(axis=1)[:, None]
        return np.argpartition(-sims, count - 1, axis=1)[:, :count]

    def add(self, vec32: np.ndarray) -> None:
        """Assign newly kept rows (appended to `kept` in rank order) to their partitions."""
        self.partition = np.concatenate((self.partition, self._nearest_centres(vec32, 1)[:, 0]))

    def nearest(self, vec32: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Largest float32 similarity among the probed partitions and its rank (-1: none)."""
        members = np.argsort(self.partition, kind="stable")
        member_bounds = np.searchsorted(self.partition[members], np.arange(len(self.centres) + 1))
        probed = self._nearest_centres(vec32, self.probes)
        rows = np.repeat(np.arange(len(vec32)), probed.shape[1])
        by_partition = np.argsort(probed.ravel(), kind="stable")
        rows, partitions = rows[by_partition], probed.ravel()[by_partition]
        bounds = np.searchsorted(partitions, np.arange(len(self.centres) + 1))
        best = np.full(len(vec32), -np.inf, dtype=np.float32)
        best_rank = np.full(len(vec32), -1, dtype=np.int64)
        # Many small products: BLAS threads cost more than they give (7x slower measured).
        with _blas_threads().limit(limits=1, user_api="blas"):
            for part in np.flatnonzero((np.diff(bounds) > 0) & (np.diff(member_bounds) > 0)):
                queries = rows[bounds[part] : bounds[part + 1]]  # distinct: one probe each
                ranks = members[member_bounds[part] : member_bounds[part + 1]]
                sims = vec32[queries] @ self.kept.vec32[ranks].T
                at = sims.argmax(axis=1)
                value = sims[np.arange(len(queries)), at]
                better = value > best[queries]
                best[queries[better]] = value[better]
                best_rank[queries[better]] = ranks[at[better]]
        return best, best_rank


@functools.cache
def _blas_threads() -> ThreadpoolController:
    return ThreadpoolController()


def select_diverse(
    embeddings: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    budget: int | None = None,
    *,
    probe: Literal["auto", "on", "off"] = "auto",
    probes: int = 2,
    block_rows: int = BLOCK_ROWS,
    progress: Progress | None = None,
    row_name: Callable[[int], str] = "row {}".format,
) -> Selection:
    """Run the Deita filter on an (N, d) embedding matrix and N scores (NaN = no score).

    `embeddings` may be float32 or float64 and is only read (a memory map works); extra
    memory is O(N + (budget + block) x d). `probe`, `probes` and `block_rows` change the
    speed, never the result. `progress(n)` is called as n more rows are walked;
    `row_name(row)` names a row in an error message.
    """
    scores = np.asarray(scores, dtype=np.float64)
    check_arguments(embeddings, scores, threshold, budget)
    order, null_score = walk_order(scores)
    use_probe = probe == "on" or (probe == "auto" and len(order) >= PROBE_MIN_ROWS)
    walk = _Walk(
        embeddings=embeddings,
        order=order,
        squares=squared_norms(embeddings, order, row_name),
        threshold=threshold,
        budget=budget,
        probes=probes if use_probe else 0,
    )
    with _blas_threads().limit(limits=free_cores(), user_api="blas"):
        walk.run(block_rows, progress)
    return walk.result(null_score)


def free_cores() -> int:
    """Cores not busy with other work (by the 1-minute load average), at least one.

    A multi-threaded matrix product waits for its slowest thread; on a core that another
    process keeps busy that thread crawls. On this shared 2-core machine at load ~3, two
    BLAS threads made the filter 3x slower than one; on idle cores they help.
    """
    affinity = getattr(os, "sched_getaffinity", None)  # Linux; elsewhere all the CPUs
    cores = len(affinity(0)) if affinity else os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average (Windows)
        return cores
    return max(1, min(cores, int(cores - load + 0.5)))


class _Walk:
    """State of one walk; `run` fills it block by block, `result` turns it into a Selection.

    Rows are compared as float32 unit vectors. Every float32 similarity within `band` of
    the threshold is recomputed from the input by `similarity.settle` (float64, exact if
    need be), so decisions, and reported values close to the threshold, are the defined
    ones; values further away are reported to float32 accuracy (about `band`).
    """

    def __init__(
        self,
        *,
        embeddings: np.ndarray,
        order: np.ndarray,
        squares: np.ndarray,
        threshold: float,
        budget: int | None,
        probes: int,
    ) -> None:
        self.embeddings = embeddings
        self.order = order
        self.scale = 1.0 / np.sqrt(squares)  # per walk position
        # numpy scalars: a Python float would be compared in float32 with float32 arrays.
        self.threshold = np.float64(threshold)
        self.band = np.float64(float32_band(embeddings.shape[1]))
        self.budget = budget
        self.probes = probes  # partitions to probe per row; 0: no probe
        self.probe: _Probe | None = None
        capacity = min(len(order), budget or len(order), 1 << 16)
        self.kept = _Kept(embeddings.shape[1], capacity)
        # Per walk position: the rank of the kept row that blocked it (-1: not blocked).
        self.blocker = np.full(len(order), -1, dtype=np.int64)
        self.similarity = np.full(len(order), np.nan)
        self.stop = len(order)  # walk positions from here on were not reached

    def full(self) -> bool:
        return self.budget is not None and self.kept.count >= self.budget

    def run(self, block_rows: int, progress: Progress | None) -> None:
        # Blocks start small and double: early on the kept set is tiny and changes
        # fast, and the probe can only help from its second block on.
        start, size = 0, min(block_rows, SCAN_ROWS)
        while start < len(self.order) and not self.full():
            stop = min(start + size, len(self.order))
            self._block(start, stop)
            if progress is not None:
                progress(min(stop, self.stop) - start)
            start, size = stop, min(2 * size, block_rows)

    def _unit32(self, start: int, stop: int) -> np.ndarray:
        """float32 unit vectors of walk positions [start, stop) (within 2u of the defined)."""
        raw = self.embeddings[self.order[start:stop]]
        scale = self.scale[start:stop, None]
        if raw.dtype == np.float32:
            raw *= scale.astype(np.float32)
            return raw
        return (raw * scale).astype(np.float32)

    def _settle(self, values: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """float32 `values` of pairs of input rows (`right`: maybe one row), close ones settled."""

        def pairs(close: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            left_vectors = unit_rows(self.embeddings[left[close]])
            if np.ndim(right) == 0:
                return left_vectors, unit_rows(self.embeddings[[right]])[0]
            return left_vectors, unit_rows(self.embeddings[right[close]])

        return settle(values, self.threshold, self.band, pairs)

    def _block(self, start: int, stop: int) -> None:
        """Walk positions [start, stop): probe, then scan and greedy in sub-blocks."""
        vec32 = self._unit32(start, stop)
        open_rows = np.arange(stop - start)
        if self.probes and self.kept.count >= PROBE_MIN_KEPT:
            if self.probe is None or self.kept.count >= 2 * self.probe.built_at:
                self.probe = _Probe(self.kept, self.probes)
            open_rows = self._probe_block(start, vec32)
        for first in range(0, len(open_rows), SCAN_ROWS):
            part = open_rows[first : first + SCAN_ROWS]
            best, best_rank = self._scan(start, part, vec32)
            survivors = np.flatnonzero(self.blocker[start + part] < 0)
            self._greedy(start, part[survivors], vec32, best[survivors], best_rank[survivors])
            if self.full():
                return

    def _probe_block(self, start: int, vec32: np.ndarray) -> np.ndarray:
        """Reject the rows that have a witness in their probed partitions; return the rest."""
        assert self.probe is not None
        value, rank = self.probe.nearest(vec32)
        hits = np.flatnonzero((rank >= 0) & (value > self.threshold - self.band))
        if hits.size:
            rows = self.order[start + hits]
            values = self._settle(value[hits], rows, self.kept.rows[rank[hits]])
            blocked = values > self.threshold
            self._reject(start + hits[blocked], rank[hits[blocked]], values[blocked])
        return np.flatnonzero(self.blocker[start : start + len(vec32)] < 0)

    def _scan(
        self, start: int, part: np.ndarray, vec32: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Compare rows `part` of the block with every kept row; reject those with a witness.

        Returns, for every row of `part`, its largest similarity to a kept row and that
        row's rank (-inf, -1 when nothing is kept), settled where it is close.
        """
        best = np.full(len(part), -np.inf)
        best_rank = np.full(len(part), -1, dtype=np.int64)
        active = np.arange(len(part))
        query = vec32[part]
        sure = self.threshold + self.band
        for first in range(0, self.kept.count, KEPT_CHUNK):
            last = min(first + KEPT_CHUNK, self.kept.count)
            sims = query[active] @ self.kept.vec32[first:last].T
            at = sims.argmax(axis=1)
            value = sims[np.arange(len(active)), at]
            better = value > best[active]
            best[active[better]] = value[better]
            best_rank[active[better]] = at[better] + first
            active = active[best[active] <= sure]  # a sure witness ends the scan of a row
            if not active.size:
                break
        certain = np.flatnonzero(best > sure)
        self._reject(start + part[certain], best_rank[certain], best[certain])
        for i in np.flatnonzero(np.abs(best - self.threshold) <= self.band):
            best[i], best_rank[i] = self._settle_row(start + part[i], vec32[part[i]])
        return best, best_rank

    def _settle_row(self, position: int, vec32: np.ndarray) -> tuple[float, int]:
        """A row whose largest float32 similarity is close to the threshold: decide exactly."""
        sims = self.kept.vec32[: self.kept.count] @ vec32
        close = np.flatnonzero(sims >= self.threshold - self.band)
        values = self._settle(sims[close], self.kept.rows[close], self.order[position])
        top = int(np.argmax(values))
        if values[top] > self.threshold:
            self._reject(np.array([position]), close[top : top + 1], values[top : top + 1])
        return float(values[top]), int(close[top])

    def _greedy(
        self,
        start: int,
        rows: np.ndarray,
        vec32: np.ndarray,
        best: np.ndarray,
        best_rank: np.ndarray,
    ) -> None:
        """Walk `rows` (block indices, no witness among earlier blocks) against each other.

        Conflicts (similarity > threshold with an earlier row of the block) are few: a row
        without one is kept whatever the others do, and only rows with one are walked.
        """
        if not rows.size:
            return
        count = len(rows)
        inputs = self.order[start + rows]
        gram = vec32[rows] @ vec32[rows].T
        earlier = np.tri(count, k=-1, dtype=bool)
        pairs = np.argwhere(earlier & (gram > self.threshold - self.band))  # sorted by row
        values = self._settle(
            gram[pairs[:, 0], pairs[:, 1]], inputs[pairs[:, 0]], inputs[pairs[:, 1]]
        )
        conflicts, values = pairs[values > self.threshold], values[values > self.threshold]
        keep = np.ones(count, dtype=bool)
        blocked_by = np.full(count, -1, dtype=np.int64)  # block index of the blocking row
        similarity = np.full(count, np.nan)
        bounds = np.searchsorted(conflicts[:, 0], np.arange(count + 1))
        for i in np.unique(conflicts[:, 0]):  # rows before i are decided when i comes up
            earlier_rows = conflicts[bounds[i] : bounds[i + 1], 1]
            kept_before = np.flatnonzero(keep[earlier_rows])
            if kept_before.size:
                keep[i] = False
                top = bounds[i] + kept_before[np.argmax(values[bounds[i] + kept_before])]
                blocked_by[i], similarity[i] = conflicts[top, 1], values[top]
        kept = np.flatnonzero(keep)
        if self.budget is not None and len(kept) >= self.budget - self.kept.count:
            kept = kept[: self.budget - self.kept.count]
            self.stop = start + int(rows[kept[-1]]) + 1
        ranks = np.full(count, -1, dtype=np.int64)
        ranks[kept] = self.kept.count + np.arange(len(kept))
        rejected = np.flatnonzero(~keep)
        rejected = rejected[start + rows[rejected] < self.stop]
        self._reject(start + rows[rejected], ranks[blocked_by[rejected]], similarity[rejected])
        # The nearest earlier kept row: from the scan, or one kept earlier in this block.
        inner = np.where(earlier[kept][:, kept], gram[np.ix_(kept, kept)], -np.inf)
        at = inner.argmax(axis=1) if len(kept) else np.zeros(0, dtype=np.int64)
        inner_value = inner[np.arange(len(kept)), at]
        use_inner = inner_value > best[kept]
        nn_rank = np.where(use_inner, ranks[kept[at]], best_rank[kept])
        nn = np.where(use_inner, inner_value, best[kept])
        has_nn = np.flatnonzero(nn_rank >= 0)
        nn[has_nn] = self._settle(
            nn[has_nn], inputs[kept[has_nn]], self._kept_rows(nn_rank[has_nn], inputs, kept)
        )
        nn[nn_rank < 0] = np.nan
        self.kept.extend(inputs[kept], vec32[rows[kept]], nn)
        if self.probe is not None and len(kept):
            self.probe.add(vec32[rows[kept]])

    def _kept_rows(self, ranks: np.ndarray, inputs: np.ndarray, kept: np.ndarray) -> np.ndarray:
        """Input rows of kept ranks, including the ones being added from this block."""
        rows = np.empty(len(ranks), dtype=np.int64)
        old = ranks < self.kept.count
        rows[old] = self.kept.rows[ranks[old]]
        rows[~old] = inputs[kept[ranks[~old] - self.kept.count]]
        return rows

    def _reject(self, positions: np.ndarray, ranks: np.ndarray, similarity: np.ndarray) -> None:
        """Record rejections: the blocking kept row and the similarity to it."""
        self.blocker[positions] = ranks
        self.similarity[positions] = similarity

    def result(self, null_score: np.ndarray) -> Selection:
        count = self.kept.count
        walked = np.arange(self.stop)
        rejected = walked[self.blocker[: self.stop] >= 0]
        return Selection(
            kept=self.kept.rows[:count].copy(),
            nn_similarity=self.kept.nn[:count].copy(),
            rejected=self.order[rejected],
            blocked_by=self.blocker[rejected],
            similarity=self.similarity[rejected],
            not_reached=self.order[self.stop :],
            null_score=null_score,
        )
