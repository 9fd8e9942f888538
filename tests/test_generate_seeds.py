"""Seed files: every supported format, and one-line errors that name the problem."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.errors import CurationError
from curation.generate.seeds import Seed, bundled_seeds, load_seeds


def test_bundled_seeds_have_contexts_and_instructions():
    path, seeds = load_seeds(None)
    assert path == bundled_seeds()
    assert len(seeds) >= 30
    assert all(seed.context and seed.instruction for seed in seeds)
    assert len({seed.context for seed in seeds}) == len(seeds)


def test_jsonl_with_aliases(tmp_path):
    path = tmp_path / "seeds.jsonl"
    path.write_text(
        json.dumps({"topic": "Tea"}) + "\n\n" + json.dumps({"prompt": "Brew green tea."}) + "\n"
    )
    assert load_seeds(path)[1] == [Seed("Tea", None), Seed(None, "Brew green tea.")]


def test_csv_and_parquet(tmp_path):
    csv_path = tmp_path / "seeds.csv"
    csv_path.write_text("context,instruction\nBirds,Why do birds sing?\n")
    assert load_seeds(csv_path)[1] == [Seed("Birds", "Why do birds sing?")]
    parquet_path = tmp_path / "seeds.parquet"
    pq.write_table(pa.table({"input": ["Rivers", "Lakes"]}), parquet_path)
    assert [seed.context for seed in load_seeds(parquet_path)[1]] == ["Rivers", "Lakes"]


def test_datasets_folder(tmp_path):
    from datasets import Dataset

    Dataset.from_list([{"question": "What is a comet?"}]).save_to_disk(str(tmp_path / "ds"))
    assert load_seeds(tmp_path / "ds")[1] == [Seed(None, "What is a comet?")]


def test_missing_file(tmp_path):
    with pytest.raises(CurationError, match=r"seed file not found: .*nope\.jsonl"):
        load_seeds(tmp_path / "nope.jsonl")


def test_malformed_jsonl_names_the_line_and_column(tmp_path):
    path = tmp_path / "seeds.jsonl"
    path.write_text('{"context": "ok"}\n{"context": oops}\n')
    with pytest.raises(CurationError, match=r"seeds\.jsonl: line 2, column 13: invalid JSON"):
        load_seeds(path)


def test_record_without_seed_text_names_the_record(tmp_path):
    path = tmp_path / "seeds.jsonl"
    path.write_text('{"context": "ok"}\n{"title": "no text"}\n')
    with pytest.raises(CurationError, match=r"line 2: no seed text"):
        load_seeds(path)


def test_unknown_type_and_empty_file(tmp_path):
    (tmp_path / "seeds.txt").write_text("hello")
    with pytest.raises(CurationError, match="unknown seed file type"):
        load_seeds(tmp_path / "seeds.txt")
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(CurationError, match="no seed records"):
        load_seeds(tmp_path / "empty.jsonl")
