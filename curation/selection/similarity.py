"""Cosine similarity, defined once so the fast filter and the reference decide identically.

The selection keeps a row iff its similarity to every kept row is `<= threshold`, so a
decision can hinge on the last bit of one dot product. Floating-point sums depend on
their order (BLAS kernels, block sizes), so "the float64 cosine" is not one number. The
definition used everywhere here is:

- each embedding is normalised in float64 by `unit_rows` (the same code for every row,
  whichever batch it comes in);
- the similarity of two rows is the dot product of those float64 unit vectors, rounded
  once to float64 (`exact_dots`; error-free products and `math.fsum`).

Both implementations compute in faster arithmetic and call `settle` for every value
close enough to the threshold that the rounding of that arithmetic could matter; the
bands below are rigorous error bounds, so only genuinely close calls pay for the exact
sum.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

_SPLIT = 134217729.0  # 2**27 + 1: Veltkamp's constant for splitting float64 into halves


def unit_rows(raw: np.ndarray) -> np.ndarray:
    """Rows as float64 unit vectors. Row by row, so a row's result never depends on its batch.

    Zero rows come out as NaN: callers reject them before (a zero vector has no direction).
    """
    rows = np.ascontiguousarray(raw, dtype=np.float64)
    norms = np.sqrt(np.add.reduce(rows * rows, axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return rows / norms[:, None]


def float32_band(dim: int) -> float:
    """Bound on |float32 dot product - defined similarity| for float32 unit vectors.

    The float32 vectors are within 2u of the defined ones per component (a float32 scale
    and one rounded product), which costs at most 4u on the dot product; any order of
    float32 summation at most dim*u/(1-dim*u) (u = 2**-24, Higham's gamma_n). 5% slack
    covers the second-order terms.
    """
    unit = 2.0**-24
    return 1.05 * (4 * unit + dim * unit / (1 - dim * unit))


def float64_band(dim: int) -> float:
    """Bound on |float64 dot product of unit vectors - exact dot|, for any summation order."""
    unit = 2.0**-53
    return 1.05 * (unit + dim * unit / (1 - dim * unit))


def _split(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scaled = _SPLIT * values
    high = scaled - (scaled - values)
    return high, values - high


def exact_dots(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Row-wise dot products of float64 arrays, each rounded once (error-free products + fsum).

    `left` and `right` have the same shape (k, d) or `right` is one row (d,). Slow
    (a Python loop over k); used only for values within `float64_band` of a threshold.
    """
    left = np.atleast_2d(np.asarray(left, dtype=np.float64))
    right = np.broadcast_to(np.asarray(right, dtype=np.float64), left.shape)
    products = left * right
    left_high, left_low = _split(left)
    right_high, right_low = _split(right)
    # Dekker's TwoProduct: products + errors == left * right exactly (for |values| <= 1).
    errors = (
        (left_high * right_high - products) + left_high * right_low + left_low * right_high
    ) + left_low * right_low
    return np.array(
        [math.fsum(np.concatenate((p, e))) for p, e in zip(products, errors, strict=True)],
        dtype=np.float64,
    )


def rowwise_dots(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Float64 dot products of matching rows (`right` may be a single row)."""
    left = np.atleast_2d(np.asarray(left, dtype=np.float64))
    right = np.broadcast_to(np.asarray(right, dtype=np.float64), left.shape)
    return np.einsum("ij,ij->i", left, right)


def settle(
    approx: np.ndarray,
    threshold: float,
    band: float,
    vectors: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
) -> np.ndarray:
    """`approx` with every value within `band` of `threshold` replaced by the defined similarity.

    `approx[i]` approximates, to within `band`, the similarity of a pair of float64 unit
    vectors; `vectors(indices)` returns those pairs for the given entries (left rows and
    right rows, or one right row). Values further from the threshold already compare to it
    correctly and stay as they are; close ones are recomputed in float64, and those still
    within `float64_band` exactly.
    """
    approx = np.array(approx, dtype=np.float64)
    close = np.flatnonzero(np.abs(approx - threshold) <= band)
    if close.size:
        left, right = vectors(close)
        values = rowwise_dots(left, right)
        tight = np.flatnonzero(np.abs(values - threshold) <= float64_band(left.shape[-1]))
        if tight.size:
            right = np.asarray(right)
            values[tight] = exact_dots(left[tight], right[tight] if right.ndim == 2 else right)
        approx[close] = values
    return approx
