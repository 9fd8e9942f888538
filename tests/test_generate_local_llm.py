"""Generation with the real local LLM (SmolLM2-135M on llama.cpp): every pipeline end to end,
the judges' parse rate, resuming after a kill, and the Ray engine. Generations are kept
short so the suite stays within CI's time on 2 cores."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from curation.config import Config, GenerationConfig
from curation.generate.stage import generate
from curation.runs import RunDir

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SHORT = {
    "instruction_llm": {"temperature": 0.9, "max_new_tokens": 64},
    "generators": [
        {"temperature": 0.7, "max_new_tokens": 24},
        {"temperature": 1.0, "max_new_tokens": 24, "system_prompt": "Answer in one sentence."},
    ],
    "judge": {"temperature": 0.0, "max_new_tokens": 8},
}


def test_every_pipeline_with_the_local_llm(llm_server, tmp_path):
    config = Config(
        llm=llm_server,
        generation=GenerationConfig(
            num_instructions=4,
            sources=["self-instruct", "magpie", "evol-instruct", "seed"],
            **SHORT,
        ),
    )
    run = RunDir(tmp_path / "run")
    summary = generate(config, run.path)

    counts = run.stage("instructions")["counts"]["sources"]
    for source in ("self-instruct", "magpie", "evol-instruct"):
        assert counts[source]["generated"] > 0, counts  # each LLM source ran and returned text
    instructions = pq.read_table(run.file("instructions.parquet")).to_pylist()
    assert instructions and all(row["instruction"].strip() for row in instructions)
    assert all(
        row["model"] == "SmolLM2-135M-Instruct" for row in instructions if row["source"] != "seed"
    )

    preferences = pq.read_table(run.file("preferences.parquet")).to_pylist()
    assert [row["instruction_id"] for row in preferences] == [row["id"] for row in instructions]
    judge = run.stage("preferences")["counts"]["judge"]
    assert judge["parse_rate"] >= 0.99, judge
    assert summary.parse_rate == judge["parse_rate"]
    for row in preferences:
        assert len(row["generations"]) >= 2  # two generator configs (+ EvolQuality)
        assert set(row["rating_methods"]) == {"logprobs"}  # Deita expected value
        assert all(1.0 <= rating <= 5.0 for rating in row["ratings"])
        assert 1.0 <= row["complexity"] <= 6.0
        assert row["judge_model"] == "SmolLM2-135M-Instruct"
        assert json.loads(row["judge_params"])["aspect"] == "overall-rating"
        if row["chosen"] is not None:
            # the pair judge (pairwise + relevance) picked chosen: p(chosen better) >= 1/2
            assert 0.5 <= row["judge_p_chosen"] <= 1.0
            assert row["judge_uncertainty"] == pytest.approx(1 - row["judge_p_chosen"])


def write_config(tmp_path: Path, llm_server, **generation) -> Path:
    path = tmp_path / "curation.yaml"
    data = {"llm": {"port": llm_server.port}, "generation": {**SHORT, **generation}}
    path.write_text(yaml.safe_dump(data))
    return path


def generate_command(config: Path, run: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "curation",
        "generate",
        "--run",
        str(run),
        "--config",
        str(config),
    ]


def start_generate(config: Path, run: Path) -> subprocess.Popen:
    # Its own process group, like a shell job: a kill reaches distilabel's workers too.
    return subprocess.Popen(
        generate_command(config, run),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for(condition, process: subprocess.Popen, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def cached_batches(run: Path, step: str) -> list[Path]:
    """Batches of a step in distilabel's cache for the preferences stage."""
    return sorted(
        (run / ".work" / "preferences").glob(f"distilabel/*/*/steps_data/{step}_*/batch_*.json")
    )


def checkpoints(run: Path) -> list[Path]:
    return sorted((run / ".work" / "preferences" / "chunks").glob("*.parquet"))


def rerun(config: Path, run: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        generate_command(config, run), capture_output=True, text=True, timeout=900
    )


def test_killed_generation_resumes_without_duplicates_or_losses(llm_server, tmp_path):
    config = write_config(tmp_path, llm_server, num_instructions=2, sources=["seed"], batch_size=1)
    run = tmp_path / "run"
    process = start_generate(config, run)
    # Midway: the first chunk (one instruction) is checkpointed, the second one has
    # responses in distilabel's cache.
    wait_for(lambda: checkpoints(run) and len(cached_batches(run, "respond_0")) >= 1, process)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (run / "preferences.parquet").exists()
    (first_chunk,) = checkpoints(run)
    done_before_kill = {row["id"]: row for row in pq.read_table(first_chunk).to_pylist()}
    instructions_before = (run / "instructions.parquet").read_bytes()

    again = rerun(config, run)
    assert again.returncode == 0, again.stderr
    assert (run / "instructions.parquet").read_bytes() == instructions_before
    instructions = pq.read_table(run / "instructions.parquet").to_pylist()
    preferences = pq.read_table(run / "preferences.parquet").to_pylist()
    assert [row["instruction_id"] for row in preferences] == [r["id"] for r in instructions]
    assert len({row["id"] for row in preferences}) == len(preferences) == 2
    # The chunk finished before the kill was reused as it was, not generated again.
    assert all(row in preferences for row in done_before_kill.values())
    stage = RunDir(run).stage("preferences")
    assert stage["status"] == "done" and stage["resumed"] is True
    assert stage["counts"]["chunks"] == {"total": 2, "reused": 1}


def test_ctrl_c_stops_cleanly_and_the_rerun_continues_from_the_cache(llm_server, tmp_path):
    config = write_config(tmp_path, llm_server, num_instructions=2, sources=["seed"], batch_size=2)
    run = tmp_path / "run"
    process = start_generate(config, run)
    wait_for(lambda: len(cached_batches(run, "respond_0")) >= 1, process)
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 130, stderr
    assert "rerun the same command to resume" in stderr
    assert "Traceback" not in stderr
    assert RunDir(run).stage("preferences")["status"] == "interrupted"
    assert not (run / "preferences.parquet").exists()
    made_before = {
        row["instruction_id"]: row["generation_0"].strip()
        for batch in cached_batches(run, "respond_0")
        for row in json.loads(batch.read_text())["data"][0]
    }

    again = rerun(config, run)
    assert again.returncode == 0, again.stderr
    preferences = pq.read_table(run / "preferences.parquet").to_pylist()
    assert len(preferences) == 2
    for row in preferences:  # responses made before Ctrl-C came from distilabel's cache
        if row["instruction_id"] in made_before:
            assert row["generations"][0] == made_before[row["instruction_id"]]


def test_ray_engine_on_a_local_single_node(llm_server, tmp_path):
    config = Config(
        llm=llm_server,
        generation=GenerationConfig(
            engine="ray",
            num_instructions=2,
            sources=["seed"],
            evol_quality={"enabled": False},
            **SHORT,
        ),
    )
    run = RunDir(tmp_path / "run")
    summary = generate(config, run.path)
    assert summary.preferences == 2
    assert summary.parse_rate == 1.0
    rows = pq.read_table(run.file("preferences.parquet")).to_pylist()
    assert all(len(row["generations"]) == 2 for row in rows)
