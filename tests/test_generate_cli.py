"""`curate generate` on bad input: one line naming the problem, exit 1, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from curation.services import free_port


def curate(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CURATION_RUNS_DIR": str(cwd / "runs")}
    return subprocess.run(
        [sys.executable, "-m", "curation", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def write_config(tmp_path: Path, **generation) -> Path:
    path = tmp_path / "curation.yaml"
    path.write_text(yaml.safe_dump({"llm": {"port": free_port()}, "generation": generation}))
    return path


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_missing_seed_file(tmp_path):
    config = write_config(tmp_path, seeds=str(tmp_path / "missing.jsonl"))
    result = curate("generate", "--run", "r", "--config", str(config), cwd=tmp_path)
    assert_one_line_error(result, "seed file not found", "missing.jsonl")
    assert not (tmp_path / "runs").exists()


def test_malformed_seed_line(tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text('{"context": "fine"}\n{"context": "broken"\n')
    config = write_config(tmp_path, seeds=str(seeds))
    result = curate("generate", "--run", "r", "--config", str(config), cwd=tmp_path)
    assert_one_line_error(result, "seeds.jsonl: line 2, column", "invalid JSON")
    assert not (tmp_path / "runs").exists()


def test_unknown_backend(tmp_path):
    config = write_config(tmp_path, judge={"backend": "llamafile"})
    result = curate("generate", "--run", "r", "--config", str(config), cwd=tmp_path)
    assert_one_line_error(result, "generation.judge.backend")
    assert not (tmp_path / "runs").exists()


def test_unreachable_llm_server_names_the_url(tmp_path):
    config = write_config(tmp_path)
    port = yaml.safe_load(config.read_text())["llm"]["port"]
    result = curate("generate", "--run", "r", "--config", str(config), cwd=tmp_path)
    assert_one_line_error(result, f"http://127.0.0.1:{port}/v1", "curate llm start")
    assert not (tmp_path / "runs").exists()


def test_openai_backend_without_a_key_says_which_variable(tmp_path):
    remote = {"backend": "openai", "model": "gpt-4o-mini", "api_key_env": "NO_SUCH_KEY"}
    config = write_config(
        tmp_path,
        sources=["seed"],
        instruction_llm=remote,
        generators=[remote, remote],
        judge=remote,
    )
    result = curate("generate", "--run", "r", "--config", str(config), cwd=tmp_path)
    assert_one_line_error(result, "needs an API key", "NO_SUCH_KEY")
    assert not (tmp_path / "runs").exists()
