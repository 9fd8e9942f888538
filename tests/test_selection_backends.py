"""The ONNX embedding backends and the Ray engine, with the real bundled all-MiniLM-L6-v2.

Exports are slow on a busy CPU, so one export per backend is made for the module and
shared; each test that needs a fresh one says so.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rich.console import Console

from curation.config import SelectionConfig
from curation.errors import CurationError
from curation.runs import RunDir
from curation.selection import embeddings, onnx_backend, stage
from curation.stages import run_stage
from tests.util import one_line_error

SEEDS = Path(__file__).parents[1] / "curation" / "data" / "seeds.jsonl"
CURATE = [sys.executable, "-m", "curation"]


def real_texts() -> list[str]:
    """The bundled seed instructions and their topic descriptions: real, varied texts."""
    rows = [json.loads(line) for line in SEEDS.open()]
    return [row["instruction"] for row in rows] + [row["context"] for row in rows]


@pytest.fixture(scope="module")
def export_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run-like folder whose `onnx/` holds both exports, made once (fidelity printed)."""
    root = tmp_path_factory.mktemp("exports")
    console = Console(record=True, width=200)
    embeddings.encode(real_texts()[:8], backend="onnx-int8", export_root=root, console=console)
    printed = console.export_text()
    assert "onnx fidelity against torch on 8 texts" in printed
    assert "onnx-int8 fidelity against torch on 8 texts" in printed
    return root


@pytest.mark.parametrize(
    ("backend", "mean", "minimum"), [("onnx", 0.9999, 0.999), ("onnx-int8", 0.99, 0.97)]
)
def test_backend_vectors_match_torch_on_real_texts(
    export_root: Path, backend: str, mean: float, minimum: float
) -> None:
    texts = real_texts()
    torch_vectors = embeddings.load_model(embeddings.DEFAULT_MODEL).encode(texts)
    vectors = embeddings.encode(texts, backend=backend, export_root=export_root)
    cosines = onnx_backend.cosines(vectors, torch_vectors)
    assert cosines.mean() >= mean and cosines.min() >= minimum, (cosines.mean(), cosines.min())
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)  # normalised
    # The nearest neighbours agree: the Deita filter sees the same structure.
    assert (
        np.argsort(-vectors @ vectors.T)[:, 1] == np.argsort(-torch_vectors @ torch_vectors.T)[:, 1]
    ).mean() > 0.9


def test_fidelity_is_recorded_beside_the_export(export_root: Path) -> None:
    for backend in ("onnx", "onnx-int8"):
        folder = onnx_backend.export_folder(export_root / "onnx", "all-MiniLM-L6-v2", backend)
        meta = json.loads((folder / "export.json").read_text())
        assert meta["backend"] == backend and meta["fidelity"]["sample"] == 8
        assert 0.97 <= meta["fidelity"]["min_cosine"] <= meta["fidelity"]["mean_cosine"] <= 1.0001


def test_cached_export_is_reused_not_redone(export_root: Path) -> None:
    folder = onnx_backend.export_folder(export_root / "onnx", "all-MiniLM-L6-v2", "onnx-int8")
    before = (folder / "model.onnx").stat().st_mtime_ns
    embeddings._ONNX_ENCODERS.clear()  # as a new process would start
    console = Console(record=True, width=200)
    vectors = embeddings.encode(
        ["A new text."], backend="onnx-int8", export_root=export_root, console=console
    )
    assert vectors.shape == (1, 384)
    assert "fidelity" not in console.export_text()  # no new export, no new check
    assert (folder / "model.onnx").stat().st_mtime_ns == before


def test_int8_export_made_on_the_other_kind_of_cpu_is_redone(
    export_root: Path, tmp_path: Path
) -> None:
    """A run folder copied between a VNNI machine (s8 weights) and one without (u8)."""
    shutil.copytree(export_root / "onnx", tmp_path / "onnx")
    folder = onnx_backend.export_folder(tmp_path / "onnx", "all-MiniLM-L6-v2", "onnx-int8")
    meta = json.loads((folder / "export.json").read_text())
    assert meta["weights"] == onnx_backend.int8_weights()
    other = {"s8": "u8", "u8": "s8"}[meta["weights"]]
    (folder / "export.json").write_text(json.dumps({**meta, "weights": other}))
    embeddings._ONNX_ENCODERS.clear()
    console = Console(record=True, width=200)
    embeddings.encode(["A new text."], backend="onnx-int8", export_root=tmp_path, console=console)
    printed = console.export_text()
    assert "onnx-int8 fidelity" in printed and "onnx fidelity" not in printed  # float reused
    assert json.loads((folder / "export.json").read_text())["weights"] == meta["weights"]


def test_cache_keys_tell_backends_apart(export_root: Path) -> None:
    texts = real_texts()[:4]
    cache = export_root / "embeddings.parquet"  # beside the module's exports
    first = embeddings.embed_cached(texts, backend="onnx", cache=cache)
    pq.write_table(
        embeddings.embeddings_table(pa.array(range(4)), embeddings.DEFAULT_MODEL, first, "onnx"),
        cache,
    )
    assert embeddings.embed_cached(texts, backend="onnx", cache=cache).computed == 0
    assert embeddings.embed_cached(texts, backend="torch", cache=cache).computed == 4
    assert pq.read_table(cache).column("backend").to_pylist() == ["onnx"] * 4


def test_unknown_backend_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(CurationError, match="unknown embedding backend 'fp16'"):
        embeddings.encode(["a"], backend="fp16")
    config = tmp_path / "curation.yaml"
    config.write_text("selection:\n  embedding_backend: fp16\n")
    table = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": ["a"], "text": ["x"], "score": [1.0]}), table)
    result = subprocess.run(
        [
            *CURATE,
            "select",
            "--config",
            str(config),
            "--input",
            str(table),
            "--output",
            str(tmp_path / "out.parquet"),
            "--score-column",
            "score",
            "--text-column",
            "text",
            "--threshold",
            "0.9",
            "--budget",
            "5",
        ],
        capture_output=True,
        text=True,
    )
    line = one_line_error(result)
    assert "selection.embedding_backend" in line and "onnx-int8" in line
    assert not (tmp_path / "out.parquet").exists()


def test_ray_on_two_workers_writes_the_local_cache(export_root: Path, tmp_path: Path) -> None:
    """Ray Data (a local Ray, 2 actors) fills the run's cache; the stage then embeds nothing."""
    texts = [f"{text} (variant {i})" for i in range(6) for text in real_texts()]
    run = RunDir.open(tmp_path / "run", tmp_path)
    (run.path / "onnx").symlink_to(export_root / "onnx")  # the module's export, reused
    preferences = pa.table(
        {
            "id": [f"p{i}" for i in range(len(texts))],
            "instruction": texts,
            "deita_score": pa.array(np.linspace(9, 1, len(texts))),
        }
    )
    pq.write_table(preferences, run.file("preferences.parquet"))
    config = SelectionConfig(embedding_backend="onnx", engine="ray", ray_workers=2, batch_size=16)
    line = run_stage(run, stage.SelectStage(config)).line
    assert f"embedded 0 texts, {len(texts)} from the cache" in line
    cache = pq.read_table(run.file("embeddings.parquet"))
    ray_vectors = np.stack(cache.column("embedding").to_numpy(zero_copy_only=False))
    local = embeddings.encode(texts, backend="onnx", export_root=export_root)
    order = {key: i for i, key in enumerate(cache.column("key").to_pylist())}
    keys = [embeddings.text_key(embeddings.DEFAULT_MODEL, text, "onnx") for text in texts]
    np.testing.assert_allclose(ray_vectors[[order[key] for key in keys]], local, atol=2e-5)
    assert cache.column("id").to_pylist() == preferences.column("id").to_pylist()
