"""The run directory: skip current stages, rerun stale ones, keep outputs safe on failure."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.runs import RunDir


def make_table(n: int) -> pa.Table:
    return pa.table({"id": [str(i) for i in range(n)], "x": list(range(n))})


@pytest.fixture
def run(tmp_path) -> RunDir:
    return RunDir.open("r1", tmp_path)


def produce(n: int, calls: list[str]):
    def work(ctx):
        calls.append(ctx.name)
        ctx.write_parquet("a.parquet", make_table(n))
        ctx.counts["made"] = n

    return work


def test_stage_runs_once_then_skips_while_current(run):
    calls: list[str] = []
    assert run.run_stage("a", produce(3, calls), outputs=["a.parquet"], config={"n": 3})
    assert not run.run_stage("a", produce(3, calls), outputs=["a.parquet"], config={"n": 3})
    assert calls == ["a"]
    record = json.loads(run.manifest_path.read_text())["stages"]["a"]
    assert record["status"] == "done"
    assert record["rows"] == {"a.parquet": 3}
    assert record["counts"] == {"made": 3}
    assert record["duration_s"] >= 0


def test_config_change_or_input_change_reruns(run):
    calls: list[str] = []
    run.run_stage("a", produce(3, calls), outputs=["a.parquet"], config={"n": 3})

    def downstream(ctx):
        calls.append("b")
        ctx.write_parquet("b.parquet", pq.read_table(ctx.path("a.parquet")))

    run.run_stage("b", downstream, inputs=["a.parquet"], outputs=["b.parquet"])
    run.run_stage("b", downstream, inputs=["a.parquet"], outputs=["b.parquet"])
    assert calls == ["a", "b"]
    # New config for "a" makes a new a.parquet, so "b" is stale too.
    run.run_stage("a", produce(5, calls), outputs=["a.parquet"], config={"n": 5})
    run.run_stage("b", downstream, inputs=["a.parquet"], outputs=["b.parquet"])
    assert calls == ["a", "b", "a", "b"]
    assert pq.read_table(run.file("b.parquet")).num_rows == 5


def test_output_edited_by_hand_is_not_current(run):
    calls: list[str] = []
    run.run_stage("a", produce(3, calls), outputs=["a.parquet"])
    pq.write_table(make_table(1), run.file("a.parquet"))
    run.run_stage("a", produce(3, calls), outputs=["a.parquet"])
    assert calls == ["a", "a"]
    assert pq.read_table(run.file("a.parquet")).num_rows == 3


def test_failed_stage_keeps_earlier_outputs_and_records_the_error(run):
    run.run_stage("a", produce(3, []), outputs=["a.parquet"])
    before = run.file("a.parquet").read_bytes()

    def broken(ctx):
        ctx.write_parquet("b.parquet", make_table(2))
        raise ValueError("judge exploded")

    with pytest.raises(ValueError):
        run.run_stage("b", broken, inputs=["a.parquet"], outputs=["b.parquet"])
    assert run.file("a.parquet").read_bytes() == before
    record = run.stage("b")
    assert record["status"] == "failed" and "judge exploded" in record["error"]
    assert run.stage("a")["status"] == "done"


def test_interrupted_stage_keeps_its_work_dir_and_resumes(run):
    def interrupted(ctx):
        (ctx.work_dir / "checkpoint").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run.run_stage("a", interrupted, outputs=["a.parquet"])
    assert run.stage("a")["status"] == "interrupted"
    assert not run.file("a.parquet").exists()

    seen = []

    def resume(ctx):
        seen.append((ctx.work_dir / "checkpoint").read_text())
        ctx.write_parquet("a.parquet", make_table(1))

    assert run.run_stage("a", resume, outputs=["a.parquet"])
    assert seen == ["half"]
    assert run.stage("a")["resumed"] is True
    assert not (run.path / ".work" / "a").exists()


def test_stage_that_forgets_an_output_fails(run):
    with pytest.raises(Exception, match=r"did not write b\.parquet"):
        run.run_stage("a", lambda ctx: None, outputs=["b.parquet"])


def test_manifest_records_tool_versions(run):
    run.run_stage("a", produce(1, []), outputs=["a.parquet"])
    versions = json.loads(run.manifest_path.read_text())["tool_versions"]
    assert versions["distilabel"] == "1.5.3"
    assert versions["argilla"] == "2.8.0"


def test_open_by_id_or_path(tmp_path):
    by_id = RunDir.open("x", tmp_path / "runs")
    assert by_id.path == tmp_path / "runs" / "x"
    by_path = RunDir.open(str(by_id.path), tmp_path / "other")
    assert by_path.path == by_id.path
    with pytest.raises(Exception, match="run directory not found"):
        RunDir.open("missing", tmp_path / "runs", create=False)
