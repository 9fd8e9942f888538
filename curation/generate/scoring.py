"""Reading a score out of a judge's reply, so that a judge never silently yields nothing.

The score is, in order of preference:
1. Deita's method: the expected value of the score tokens under the model's probabilities
   at the position where it writes the score (`top_logprobs`), renormalised over the scale.
   The spread of that distribution says how sure the judge was.
2. The score written in the text ("Rating: 4", or a leading digit after a prefill).
3. Null, with a short reason that the manifest counts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# Null reasons, counted in the manifest.
NO_OUTPUT = "no output from the judge LLM"
NO_SCORE = "no score on the scale in the judge output"
STEP_FAILED = "judge step failed (see the distilabel log in the stage work dir)"

_RATING_IN_TEXT = re.compile(r"(?:rating|score)\s*[:=]?\s*\[?\s*(\d+)", re.IGNORECASE)
_LEADING_NUMBER = re.compile(r"\s*(\d+)")
_ANY_NUMBER = re.compile(r"\b(\d+)\b")
_RATIONALE = re.compile(r"rationale:\s*(.*)", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Score:
    """One judged item: a value on the scale, or None with `null_reason`."""

    value: float | None
    distribution: tuple[float, ...] | None = None  # P(score == s) for s in the scale
    rationale: str | None = None
    null_reason: str | None = None
    method: str = "none"  # "logprobs" | "text" | "none"

    @property
    def std(self) -> float | None:
        """Standard deviation of the score under the judge's distribution (None if unknown)."""
        return distribution_std(self.distribution)


def null(reason: str) -> Score:
    return Score(value=None, null_reason=reason)


def score_distribution(position: Sequence[dict[str, Any]], scale: Sequence[int]) -> tuple | None:
    """P(score == s) for each s in `scale` from one position's top logprobs, renormalised.

    Scale values missing from the top logprobs count as probability 0. None when no scale
    value is among them.
    """
    labels = {str(value): index for index, value in enumerate(scale)}
    mass = [0.0] * len(scale)
    for candidate in position:
        index = labels.get(str(candidate["token"]).strip())
        if index is not None:
            mass[index] += math.exp(candidate["logprob"])
    total = sum(mass)
    if total <= 0.0:
        return None
    return tuple(value / total for value in mass)


def read_score(
    text: str | None,
    logprobs: Sequence[Sequence[dict[str, Any]]] | None,
    scale: Sequence[int],
    *,
    prefilled: bool,
) -> Score:
    """The score of one judge reply (see the module docstring for the order).

    `prefilled`: the prompt ended inside the assistant turn right before the score, so the
    first output position is the score; otherwise the first position whose most likely
    token is a scale value is taken as where the judge wrote its score.
    """
    if text is None:
        return null(NO_OUTPUT)
    rationale = _rationale(text)
    if logprobs:
        position = logprobs[0] if prefilled else _score_position(logprobs, scale)
        distribution = score_distribution(position, scale) if position else None
        if distribution is not None:
            value = sum(s * p for s, p in zip(scale, distribution, strict=True))
            return Score(value, distribution, rationale, method="logprobs")
    written = _written_score(text, scale, prefilled=prefilled)
    if written is not None:
        return Score(float(written), None, rationale, method="text")
    return null(NO_SCORE)


def distribution_std(distribution: Sequence[float] | None) -> float | None:
    """Standard deviation of a distribution over the scale 1..len(distribution)."""
    if distribution is None:
        return None
    mean = sum(s * p for s, p in enumerate(distribution, start=1))
    variance = sum(p * (s - mean) ** 2 for s, p in enumerate(distribution, start=1))
    return math.sqrt(max(variance, 0.0))


def prob_not_better(chosen: Sequence[float], rejected: Sequence[float]) -> float:
    """P(a rating drawn for `rejected` >= one drawn for `chosen`), the two independent.

    The judge's own doubt about the pair: 0 when it is sure the chosen is better, near 1
    when it would as likely rate them the other way round or equal.
    """
    return sum(p * q for i, p in enumerate(chosen) for j, q in enumerate(rejected) if j >= i)


def _score_position(
    logprobs: Sequence[Sequence[dict[str, Any]]], scale: Sequence[int]
) -> Sequence[dict[str, Any]] | None:
    labels = {str(value) for value in scale}
    for position in logprobs:
        if position and str(max(position, key=lambda c: c["logprob"])["token"]).strip() in labels:
            return position
    return None


def _written_score(text: str, scale: Sequence[int], *, prefilled: bool) -> int | None:
    patterns = [_LEADING_NUMBER] if prefilled else [_RATING_IN_TEXT, _LEADING_NUMBER, _ANY_NUMBER]
    for pattern in patterns:
        match = pattern.match(text) if pattern is _LEADING_NUMBER else pattern.search(text)
        if match and int(match.group(1)) in scale:
            return int(match.group(1))
    return None


def _rationale(text: str) -> str | None:
    match = _RATIONALE.search(text)
    rationale = (match.group(1) if match else "").strip()
    return rationale or None
