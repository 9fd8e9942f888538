"""Deita-style selection: sentence embeddings and the exact score-first diversity filter.

- `embeddings`: sentence-transformers (bundled all-MiniLM-L6-v2 by default), cached by
  content hash in a run's `embeddings.parquet`.
- `deita.select_diverse`: the filter on an embedding matrix and scores (blocked, exact).
- `reference.reference_select`: the same contract one row at a time (tests, benchmark).
- `similarity`: the one definition of cosine similarity both implementations decide on.
- `table`: Parquet in and out; `stage`: `curate select` and the demo's select step.
"""

from curation.selection.deita import Selection, select_diverse, walk_order

__all__ = ["Selection", "select_diverse", "walk_order"]
