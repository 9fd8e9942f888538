"""Text normalisation shared by near-dedup and decontamination, so both see the same words."""

from __future__ import annotations

import re
from typing import Literal

WORD = re.compile(r"\w+")
Shingle = Literal["char", "word"]


def words(text: str) -> list[str]:
    """Lower-cased word tokens: punctuation, case and spacing do not make texts differ."""
    return WORD.findall(text.lower())


def ngrams(tokens: list[str], n: int) -> list[str]:
    """The n-token windows of `tokens`, joined by a space (none when there are fewer)."""
    return [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def shingles(text: str, kind: Shingle, n: int) -> set[str]:
    """The shingle set of a text: character or word n-grams of its normalised form.

    A text shorter than one shingle is a single shingle, so it can still equal another.
    """
    tokens = words(text)
    if kind == "word":
        grams = ngrams(tokens, n)
        return set(grams) if grams else ({" ".join(tokens)} if tokens else set())
    flat = " ".join(tokens)
    if len(flat) <= n:
        return {flat} if flat else set()
    return {flat[i : i + n] for i in range(len(flat) - n + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    """|a ∩ b| / |a ∪ b| (0 for two empty sets)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0
