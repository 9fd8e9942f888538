"""`curate select` end to end: Parquet in and out, and one-line errors that write nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.selection.reference import reference_select
from curation.selection.table import list_array
from tests.util import one_line_error

CURATE = [sys.executable, "-m", "curation", "select"]


def curate_select(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CURATE, *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def rich_table(rows: int = 40, dim: int = 6, seed: int = 0) -> tuple[pa.Table, np.ndarray]:
    """Rows with list, nested, dictionary and timestamp columns, planted duplicates, null scores."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((rows, dim)).astype(np.float32)
    vectors[rows // 2 :] = vectors[: rows - rows // 2] + 0.05 * rng.standard_normal(
        (rows - rows // 2, dim)
    ).astype(np.float32)
    scores = [None if i % 9 == 4 else float(rng.integers(0, 5)) for i in range(rows)]
    table = pa.table(
        {
            "id": pa.array([f"row-{i}" for i in range(rows)], pa.large_string()),
            "deita_score": pa.array(scores, pa.float64()),
            "embedding": list_array(vectors),
            "generations": pa.array([[f"a{i}", f"b{i}"] for i in range(rows)]),
            "meta": pa.array([{"source": "seed", "ratings": [1.0, None]} for _ in range(rows)]),
            "source": pa.array(["magpie", "seed"] * (rows // 2)).dictionary_encode(),
            "created": pa.array(np.arange(rows) * 86400, pa.int64()).cast(pa.timestamp("s", "UTC")),
        }
    )
    return table, vectors


def test_select_keeps_every_column_and_type_and_matches_the_reference(tmp_path: Path) -> None:
    table, vectors = rich_table()
    pq.write_table(table, tmp_path / "in.parquet")
    result = curate_select(
        "--input", "in.parquet", "--output", "out/selected.parquet",
        "--score-column", "deita_score", "--embedding-column", "embedding",
        "--threshold", "0.8", "--budget", "12",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "kept 12 of 40 rows" in result.stdout
    out = pq.read_table(tmp_path / "out" / "selected.parquet")
    scores = table["deita_score"].to_numpy(zero_copy_only=False)
    expected = reference_select(vectors, scores, 0.8, 12)
    assert out["id"].to_pylist() == [f"row-{i}" for i in expected.kept]
    source = pq.read_table(tmp_path / "in.parquet")  # as stored (Parquet has no seconds unit)
    assert out.schema.names == [*source.schema.names, "selection_rank", "nn_similarity"]
    for field in source.schema:
        assert out.schema.field(field.name).type == field.type
    # The rows themselves are unchanged, nested values included.
    assert out.drop_columns(["selection_rank", "nn_similarity"]).to_pylist() == (
        source.take(pa.array(expected.kept)).to_pylist()
    )
    assert out["selection_rank"].to_pylist() == list(range(12))
    nn = out["nn_similarity"].to_pylist()
    assert nn[0] is None
    np.testing.assert_allclose(nn[1:], expected.nn_similarity[1:], atol=1e-6)

    rejected = pq.read_table(tmp_path / "out" / "selection_rejected.parquet").to_pylist()
    assert len(rejected) == 40 - 12
    by_reason = {reason: [r for r in rejected if r["reason"] == reason] for reason in
                 ("too_similar", "budget_filled", "null_score")}  # fmt: skip
    assert [r["id"] for r in by_reason["too_similar"]] == [f"row-{i}" for i in expected.rejected]
    assert [r["row"] for r in by_reason["budget_filled"]] == list(expected.not_reached)
    assert [r["row"] for r in by_reason["null_score"]] == list(expected.null_score)
    kept_ids = out["id"].to_pylist()
    for row in by_reason["too_similar"]:
        assert row["similarity"] > 0.8
        assert kept_ids[row["blocked_by_rank"]] == row["blocked_by"]
    for row in by_reason["budget_filled"] + by_reason["null_score"]:
        assert row["blocked_by"] is None and row["similarity"] is None


def test_other_output_names_get_a_rejected_file_beside_them(tmp_path: Path) -> None:
    table, _ = rich_table(rows=10)
    pq.write_table(table, tmp_path / "in.parquet")
    result = curate_select(
        "--input", "in.parquet", "--output", "subset.parquet", "--score-column", "deita_score",
        "--embedding-column", "embedding", "--threshold", "1", "--budget", "100",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "subset_rejected.parquet").exists()
    assert pq.read_table(tmp_path / "subset.parquet").num_rows == 9  # row 4 has no score


def test_empty_input_gives_empty_outputs(tmp_path: Path) -> None:
    table, _ = rich_table()
    pq.write_table(table.slice(0, 0), tmp_path / "in.parquet")
    result = curate_select(
        "--input", "in.parquet", "--output", "out.parquet", "--score-column", "deita_score",
        "--embedding-column", "embedding", "--threshold", "0.9", "--budget", "5",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.num_rows == 0 and "selection_rank" in out.schema.names


def bad_tables() -> dict[str, pa.Table]:
    table, vectors = rich_table(rows=8, dim=4)
    short = [list(map(float, v)) for v in vectors]
    short[5] = short[5][:3]
    zero = vectors.copy()
    zero[3] = 0
    return {
        "good": table,
        "ragged": table.set_column(2, "embedding", pa.array(short, pa.list_(pa.float32()))),
        "text_score": table.set_column(1, "deita_score", pa.array([str(i) for i in range(8)])),
        "null_embedding": table.set_column(
            2, "embedding", pa.array([None, *short[1:5], *short[6:], short[0]])
        ),
        "zero": table.set_column(2, "embedding", list_array(zero)),
        "selected_already": table.append_column("selection_rank", pa.array(range(8))),
    }


BASE = ["--output", "out/selected.parquet", "--score-column", "deita_score"]
EMB = ["--embedding-column", "embedding"]
OK = ["--threshold", "0.9", "--budget", "3"]


ROW = "row {} (id 'row-{}'): "
BAD_INPUTS = [
    ("missing", [*EMB, *OK], "input file not found: missing.parquet"),
    ("good", ["--embedding-column", "vec", *OK], "no column `vec` (columns: id, deita_score"),
    ("good", [*EMB, *OK, "--score-column", "quality"], "no column `quality`"),
    ("text_score", [*EMB, *OK], "score column `deita_score` must be numeric, got string"),
    ("ragged", [*EMB, *OK], ROW.format(5, 5) + "`embedding` has 3 values, the rows before have 4"),
    ("null_embedding", [*EMB, *OK], ROW.format(0, 0) + "`embedding` is null but the row has"),
    ("zero", [*EMB, *OK], ROW.format(3, 3) + "embedding is all zeros"),
    ("good", OK, "give exactly one of --embedding-column and --text-column"),
    ("good", [*EMB, "--text-column", "id", *OK], "give exactly one of"),
    ("good", [*EMB, "--threshold", "1.5", "--budget", "3"], "in [-1, 1], got 1.5"),
    ("good", [*EMB, "--threshold", "-2", "--budget", "3"], "threshold must be"),
    ("good", [*EMB, "--threshold", "0.9", "--budget", "0"], "budget must be at least 1, got 0"),
    ("good", [*EMB, *OK, "--model", "x"], "--model only applies with --text-column"),
    ("good", ["--text-column", "deita_score", *OK], "`deita_score` must hold strings"),
    ("selected_already", [*EMB, *OK], "already has a `selection_rank` column"),
    ("good", [*EMB, *OK, "--run", "no-such-run"], "run directory not found"),
]


@pytest.mark.parametrize(("input_name", "args", "expected"), BAD_INPUTS)
def test_bad_input_is_one_line_and_writes_nothing(
    tmp_path: Path, input_name: str, args: list[str], expected: str
) -> None:
    tables = bad_tables()
    if input_name in tables:
        pq.write_table(tables[input_name], tmp_path / f"{input_name}.parquet")
    before = sorted(tmp_path.rglob("*"))
    line = one_line_error(
        curate_select("--input", f"{input_name}.parquet", *BASE, *args, cwd=tmp_path)
    )
    assert expected in line
    assert sorted(tmp_path.rglob("*")) == before


def test_not_a_parquet_file(tmp_path: Path) -> None:
    (tmp_path / "in.parquet").write_text("id,score\n1,2\n")
    line = one_line_error(curate_select("--input", "in.parquet", *BASE, *EMB, *OK, cwd=tmp_path))
    assert "not a readable Parquet file" in line


@pytest.mark.parametrize(
    "type_",
    [
        pa.list_(pa.float64()),
        pa.list_(pa.float32(), 6),
        pa.large_list(pa.float16()),
        pa.list_(pa.field("element", pa.int64(), nullable=False)),
    ],
    ids=str,
)
def test_embedding_column_of_any_numeric_list_type_comes_out_unchanged(
    tmp_path: Path, type_: pa.DataType
) -> None:
    """The kept embeddings are rebuilt from the matrix, not re-read: same type, same values."""
    from curation.selection.stage import SelectRequest, select_file

    table, vectors = rich_table()
    values = pa.array((vectors * 4).round().tolist()).cast(type_)
    pq.write_table(
        table.set_column(2, pa.field("embedding", type_), values), tmp_path / "in.parquet"
    )
    source = pq.read_table(tmp_path / "in.parquet")
    request = SelectRequest(
        input=tmp_path / "in.parquet",
        score_column="deita_score",
        embedding_column="embedding",
        threshold=0.8,
        budget=30,
    )
    result = select_file(request, tmp_path / "out.parquet")
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.schema.field("embedding") == source.schema.field("embedding")
    kept = pa.array(result.selection.kept)
    assert out["embedding"].to_pylist() == source["embedding"].take(kept).to_pylist()
