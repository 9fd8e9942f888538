"""Relevance: how close each answer is to its instruction in embedding space.

An answer written for a different instruction sits far from this one (cosine near 0 with
all-MiniLM-L6-v2, where on-topic answers reach 0.4-0.8), whatever its fluency. A small LLM
judge cannot tell that reliably; the embedding model the project already ships can.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from curation.selection.embeddings import DEFAULT_MODEL, load_model

# Answers are cut here before embedding: MiniLM reads 256 word pieces at most anyway.
MAX_CHARS = 2000


def relevance(
    instructions: Sequence[str],
    answers: Sequence[str],
    model: str = DEFAULT_MODEL,
    batch_size: int = 32,
) -> np.ndarray:
    """Cosine similarity between each instruction and the answer at the same position."""
    if not instructions:
        return np.zeros(0, dtype=float)
    encoder = load_model(model)
    unique = list(dict.fromkeys([*instructions, *(answer[:MAX_CHARS] for answer in answers)]))
    vectors = encoder.encode(
        unique, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
    )
    index = {text: row for row, text in enumerate(unique)}
    left = vectors[[index[text] for text in instructions]]
    right = vectors[[index[answer[:MAX_CHARS]] for answer in answers]]
    return np.einsum("ij,ij->i", left, right).astype(float)
