"""Benchmark contamination: rows that share a word n-gram with an evaluation item.

As in datatrove's n-gram decontamination (and GPT-3's, open-instruct's): the benchmark
items are cut into word n-grams of normalised text (`text.words`), and a row that
contains any of them overlaps that item. A hit records the benchmark, the item (its id
column, else its row number) and the n-gram. Items shorter than n words cannot be
matched this way; they are counted, so a too-large n shows up in the manifest.

Benchmarks are files the user names: JSON Lines (`.jsonl`, `.jsonl.gz`, `.json`),
Parquet, or a folder written by `datasets` (`save_to_disk`; every split is read).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from curation.errors import CurationError
from curation.hygiene.text import ngrams, words


@dataclass(frozen=True)
class Benchmark:
    """The items of one benchmark: a name, an id and a text per item."""

    name: str
    ids: list[str]
    texts: list[str]


@dataclass
class NGramIndex:
    """Every benchmark n-gram, with the first (benchmark, item) it comes from."""

    n: int
    grams: dict[str, tuple[str, str]] = field(default_factory=dict)
    benchmarks: list[str] = field(default_factory=list)
    items: int = 0
    too_short: int = 0

    @classmethod
    def build(cls, benchmarks: Sequence[Benchmark], n: int) -> NGramIndex:
        index = cls(n)
        for benchmark in benchmarks:
            index.benchmarks.append(benchmark.name)
            for item, text in zip(benchmark.ids, benchmark.texts, strict=True):
                grams = ngrams(words(text), n)
                index.items += 1
                index.too_short += not grams
                for gram in grams:
                    index.grams.setdefault(gram, (benchmark.name, item))
        return index

    def hits(self, text: str | None) -> list[dict[str, str]]:
        """One hit per benchmark item the text overlaps: benchmark, item and an n-gram."""
        if not text:
            return []
        found: dict[tuple[str, str], str] = {}
        for gram in ngrams(words(text), self.n):
            source = self.grams.get(gram)
            if source is not None and source not in found:
                found[source] = gram
        return [{"benchmark": b, "item": i, "ngram": g} for (b, i), g in found.items()]


def contamination(texts: Sequence[str | None], index: NGramIndex) -> list[list[dict[str, str]]]:
    """Per row, its hits (an empty list for a clean row)."""
    return [index.hits(text) for text in texts]


def load_benchmark(
    path: Path, text_column: str, name: str | None = None, id_column: str | None = None
) -> Benchmark:
    """Read one benchmark file or folder; a one-line error for anything unusable."""
    frame = _read(Path(path))
    for column, option in ((text_column, "text_column"), (id_column, "id_column")):
        if column is not None and column not in frame.columns:
            have = ", ".join(map(str, frame.columns)) or "none"
            raise CurationError(
                f"{path}: no column {column!r} (the benchmark's {option}); columns: {have}"
            )
    if frame.empty:
        raise CurationError(f"{path}: the benchmark has no items")
    ids = frame[id_column] if id_column else pd.Series(range(len(frame)), index=frame.index)
    texts = frame[text_column].map(_as_text)
    return Benchmark(
        name=name or _stem(Path(path)), ids=ids.astype(str).tolist(), texts=texts.tolist()
    )


def _as_text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".jsonl", ".json", ".parquet"):
        name = name.removesuffix(suffix)
    return name


def _read(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise CurationError(f"benchmark file not found: {path}")
    try:
        if path.is_dir():
            return _read_saved_dataset(path)
        if path.name.endswith(".parquet"):
            return pd.read_parquet(path)
        if any(path.name.endswith(s) for s in (".jsonl", ".jsonl.gz", ".json", ".json.gz")):
            return pd.read_json(path, lines=not path.name.endswith((".json", ".json.gz")))
    except CurationError:
        raise
    except (OSError, ValueError, EOFError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CurationError(f"{path}: not a readable benchmark file ({reason})") from None
    raise CurationError(
        f"{path}: unknown benchmark format; give JSON Lines (.jsonl, .jsonl.gz), "
        "Parquet (.parquet) or a `datasets` folder (save_to_disk)"
    )


def _read_saved_dataset(path: Path) -> pd.DataFrame:
    """A `datasets.save_to_disk` folder: a Dataset, or a DatasetDict (splits concatenated)."""
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except FileNotFoundError:
        raise CurationError(
            f"{path}: a folder, but not one written by `datasets` (save_to_disk)"
        ) from None
    if isinstance(loaded, datasets.DatasetDict):
        return pd.concat([split.to_pandas() for split in loaded.values()], ignore_index=True)
    return loaded.to_pandas()
