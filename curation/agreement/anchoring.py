"""Blind vs suggested: AI-human agreement where reviewers saw no AI suggestion (the blind
control slice, `review.blind`) and where they did, and the anchoring effect between them.

Agreement measured with the suggestion in view is pulled up by it; the blind slice gives
the figure without that pull, and the difference says by how much.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from curation.agreement.bootstrap import CHUNK, interval, multiplicities, with_intervals
from curation.agreement.coding import CATEGORICAL_TYPES, Coded, code_question
from curation.agreement.metrics import ai_human
from curation.agreement.results import AIHuman, Anchoring, HumanHuman


def blind_and_suggested(
    name: str,
    qtype: str,
    rows: pd.DataFrame,
    allowed: Sequence[Any] | None,
    resamples: int,
    seed: int,
) -> dict[str, AIHuman | Anchoring]:
    """The question's `ai_human_blind`, `ai_human_suggested` and `anchoring`."""
    blind = rows["blind"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    out: dict[str, Any] = {}
    coded: dict[str, Coded | None] = {}
    for key, part in (("ai_human_blind", rows[blind]), ("ai_human_suggested", rows[~blind])):
        one = (
            code_question(name, qtype, part, allowed)
            if qtype in CATEGORICAL_TYPES and len(part)
            else None
        )
        _, out[key] = with_intervals(
            qtype, HumanHuman(), ai_human(one), one, "nominal", resamples, seed
        )
        coded[key] = one
    out["anchoring"] = anchoring(
        coded["ai_human_suggested"], coded["ai_human_blind"], resamples, seed
    )
    return out


def anchoring(suggested: Coded | None, blind: Coded | None, resamples: int, seed: int) -> Anchoring:
    """Suggested minus blind exact agreement, with a 95% percentile bootstrap interval
    that resamples records within each slice (the slices are independent samples)."""
    sums = [_pair_sums(coded) for coded in (suggested, blind)]
    shares = [equal.sum() / pairs.sum() if pairs.sum() else None for pairs, equal in sums]
    counts = {
        "exact_agreement_suggested": shares[0],
        "exact_agreement_blind": shares[1],
        "n_pairs_suggested": int(sums[0][0].sum()),
        "n_pairs_blind": int(sums[1][0].sum()),
    }
    if shares[0] is None or shares[1] is None:
        return Anchoring(effect=None, ci95=None, **counts)
    effect = float(shares[0] - shares[1])
    rng = np.random.default_rng(seed)
    replicates = np.zeros(resamples)
    for sign, (pairs, equal) in zip((1, -1), sums, strict=True):
        for start in range(0, resamples, CHUNK):
            size = min(CHUNK, resamples - start)
            weight = multiplicities(rng.integers(0, len(pairs), (size, len(pairs))), len(pairs))
            with np.errstate(all="ignore"):
                replicates[start : start + size] += sign * (weight @ equal) / (weight @ pairs)
    ci95 = interval(effect, replicates) if resamples else None
    return Anchoring(effect=effect, ci95=ci95, **counts)


def _pair_sums(coded: Coded | None) -> tuple[np.ndarray, np.ndarray]:
    """Per record: AI-human pairs and how many of them agree exactly."""
    if coded is None:
        return np.zeros(0), np.zeros(0)
    paired = coded.ai >= 0
    record, n = coded.record[paired], coded.n_records
    equal = (coded.ai[paired] == coded.value[paired]).astype(float)
    return np.bincount(record, minlength=n).astype(float), np.bincount(
        record, weights=equal, minlength=n
    )
