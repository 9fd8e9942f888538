"""From signals to p(a better) and a verdict, without a calibration: a fixed, explicit rule.

The rule adds log-odds: `relevance_weight` per unit of relevance gap (a gap of 0.3, typical
of an answer written for another instruction, outweighs any small-model pairwise verdict),
the pairwise judge's and each panel member's log-odds, `rating_weight` per rating point and
`length_weight` per unit of log length ratio (0 by default: length is reported, not used,
unless a calibration learns that your reviewers prefer longer answers).

A verdict is a tie only where p(a better) is within `tie_band` of 1/2 (by default: exactly
1/2, no signal either way) or both answers are the same text: where the judge is really
undecided.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from curation.config import JudgeConfig

# Probabilities are clipped here before taking log-odds: one token's probability of 1.0
# from a small model is not certainty.
CLIP = 0.02


def logit(p: float | None) -> float:
    """Log-odds of a probability (0 for unknown), clipped to +-log((1 - CLIP) / CLIP)."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return 0.0
    p = min(max(p, CLIP), 1 - CLIP)
    return math.log(p / (1 - p))


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


def _value(row: dict[str, Any], key: str) -> float:
    value = row.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 0.0
    return float(value)


def rule_p(row: dict[str, Any], cfg: JudgeConfig) -> float:
    """p(a better) from one pair's signals under the fixed rule."""
    score = cfg.relevance_weight * _value(row, "relevance_gap")
    score += logit(row.get("pairwise_p_a"))
    score += sum(logit(value) for key, value in row.items() if key.startswith("panel_"))
    score += cfg.rating_weight * _value(row, "rating_gap")
    score += cfg.length_weight * _value(row, "log_length_ratio")
    return sigmoid(score)


def verdict(p: float | None, tie_band: float, *, same_text: bool = False) -> str:
    """`a`, `b` or `tie` from p(a better)."""
    if same_text or p is None or abs(p - 0.5) <= tie_band:
        return "tie"
    return "a" if p > 0.5 else "b"
