"""Real sentence-transformers embeddings (the bundled all-MiniLM-L6-v2), cached by content."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.config import SelectionConfig
from curation.errors import CurationError
from curation.runs import RunDir
from curation.selection import embeddings, stage
from curation.stages import MissingInput, run_stage

INSTRUCTIONS = [
    "How do I boil an egg so the yolk stays soft?",
    "How do I boil an egg so that the yolk stays soft?",  # a near-duplicate of the first
    "Write a haiku about autumn leaves.",
    "Explain the difference between a list and a tuple in Python.",
    "What is the capital of Australia?",
    "Write a haiku about autumn leaves.",  # an exact duplicate
    "Give me three tips for a job interview.",
    "Summarise the plot of Hamlet in two sentences.",
]
SCORES = [9.0, 8.5, 7.0, 6.0, None, 5.0, 4.0, 3.0]


def preferences() -> pa.Table:
    """Preference rows as the generation stage writes them (the columns select reads)."""
    return pa.table(
        {
            "id": [f"p{i}" for i in range(len(INSTRUCTIONS))],
            "instruction": INSTRUCTIONS,
            "generations": [["a", "b"]] * len(INSTRUCTIONS),
            "deita_score": pa.array(SCORES, pa.float64()),
        }
    )


def test_default_model_is_the_bundled_one_and_loads_offline() -> None:
    path = Path(embeddings.resolve_model("all-MiniLM-L6-v2"))
    assert (path / "model.safetensors").exists()
    assert embeddings.resolve_model("/some/model") == "/some/model"
    assert embeddings.load_model("all-MiniLM-L6-v2").get_embedding_dimension() == 384


def test_unknown_model_is_a_one_line_error() -> None:
    with pytest.raises(CurationError, match="cannot load embedding model 'no-such/model'"):
        embeddings.load_model("no-such/model")


def test_encode_equals_sentence_transformers_encode() -> None:
    texts = [f"{text} ({i})" for i, text in enumerate(INSTRUCTIONS * 20)]
    ours = embeddings.encode(texts, batch_size=16)
    direct = embeddings.load_model("all-MiniLM-L6-v2").encode(texts, batch_size=16)
    np.testing.assert_allclose(ours, direct, atol=1e-5)


def test_cache_reuses_vectors_and_embeds_each_distinct_text_once(tmp_path: Path) -> None:
    first = embeddings.embed_cached(INSTRUCTIONS)
    assert (first.computed, first.cached) == (7, 1)  # one text occurs twice
    cache = tmp_path / "embeddings.parquet"
    ids = pa.array([f"p{i}" for i in range(len(INSTRUCTIONS))])
    pq.write_table(embeddings.embeddings_table(ids, "all-MiniLM-L6-v2", first), cache)
    again = embeddings.embed_cached([*INSTRUCTIONS, "A new one."], cache=cache)
    assert (again.computed, again.cached) == (1, 8)
    np.testing.assert_array_equal(again.vectors[:8], first.vectors)
    # Another model never reuses these vectors.
    assert embeddings.text_key("other-model", INSTRUCTIONS[0]) != first.keys[0]


def test_stage_selects_with_real_embeddings_and_reruns_without_embedding(tmp_path: Path) -> None:
    run = RunDir.open(tmp_path / "run", tmp_path)
    pq.write_table(preferences(), run.file("preferences.parquet"))
    config = SelectionConfig(threshold=0.9)
    line = run_stage(run, stage.SelectStage(config)).line
    assert "embedded 7 texts" in line
    selected = pq.read_table(run.file("selected.parquet"))
    # The near-duplicate and the exact duplicate go; the row without a score is dropped.
    assert selected["id"].to_pylist() == ["p0", "p2", "p3", "p6", "p7"]
    rejected = pq.read_table(run.file("selection_rejected.parquet")).to_pylist()
    similar = {row["id"]: row for row in rejected if row["reason"] == "too_similar"}
    assert similar["p1"]["blocked_by"] == "p0" and similar["p1"]["similarity"] > 0.9
    assert similar["p5"]["blocked_by"] == "p2" and similar["p5"]["similarity"] > 0.999
    assert [row["id"] for row in rejected if row["reason"] == "null_score"] == ["p4"]
    stored = pq.read_table(run.file("embeddings.parquet"))
    assert stored["id"].to_pylist() == preferences()["id"].to_pylist()
    assert len(stored["embedding"][0]) == 384

    assert run_stage(run, stage.SelectStage(config)).line.startswith("up to date")
    # A new threshold reruns the stage, with every embedding from the cache.
    line = run_stage(run, stage.SelectStage(SelectionConfig(threshold=0.999))).line
    assert "embedded 0 texts, 8 from the cache" in line
    counts = run.stage("select")["counts"]
    assert (counts["embedded"], counts["embeddings_cached"], counts["kept"]) == (0, 8, 6)


def test_stage_says_which_command_to_run_when_generation_has_not_run(tmp_path: Path) -> None:
    run = RunDir.open(tmp_path / "run", tmp_path)
    with pytest.raises(MissingInput) as missing:
        run_stage(run, stage.SelectStage(SelectionConfig()))
    assert str(missing.value) == (
        f"no preferences.parquet in {run.path}: run `curate generate --run {run.path}` first"
    )
    assert not run.file("selected.parquet").exists()
    assert run.stage("select") is None


@pytest.mark.slow
def test_cli_text_column_with_run_cache(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    pq.write_table(preferences(), tmp_path / "prefs.parquet")
    command = [
        sys.executable, "-m", "curation", "select", "--input", "prefs.parquet",
        "--output", "run/selected.parquet", "--score-column", "deita_score",
        "--text-column", "instruction", "--threshold", "0.9", "--budget", "3", "--run", "run",
    ]  # fmt: skip
    first = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "kept 3 of 8 rows" in first.stdout
    assert "embedded 7 texts, 1 from the cache" in first.stdout
    second = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert "embedded 0 texts, 8 from the cache" in second.stdout
    assert pq.read_table(run / "selected.parquet")["id"].to_pylist() == ["p0", "p2", "p3"]
    assert (run / "selection_rejected.parquet").exists()
