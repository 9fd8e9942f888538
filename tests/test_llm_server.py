"""The local LLM server: a real llama.cpp server on 127.0.0.1 behind `curate llm`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from openai import OpenAI

from curation.services import free_port
from tests.util import listen_addresses

pytestmark = pytest.mark.integration
CURATE = [sys.executable, "-m", "curation"]


def curate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CURATE, *args], capture_output=True, text=True, timeout=180)


@pytest.fixture(autouse=True)
def own_home(tmp_path, monkeypatch):
    """Each test gets its own service home, apart from the session's shared LLM server."""
    monkeypatch.setenv("CURATION_HOME", str(tmp_path / "home"))


def test_start_status_answer_stop(tmp_path):
    config = tmp_path / "c.yaml"
    port = free_port()
    config.write_text(f"llm:\n  port: {port}\n")
    try:
        started = curate("llm", "start", "--config", str(config))
        assert started.returncode == 0, started.stderr
        assert f"http://127.0.0.1:{port}/v1" in started.stdout
        again = curate("llm", "start", "--config", str(config))
        assert "already running" in again.stdout
        assert curate("llm", "status", "--config", str(config)).returncode == 0

        assert listen_addresses(port) == {"127.0.0.1"}

        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused")
        reply = client.chat.completions.create(
            model="SmolLM2-135M-Instruct",
            messages=[{"role": "user", "content": "What is the capital of France?"}],
            max_tokens=16,
            temperature=0,
        )
        assert reply.choices[0].message.content.strip()
        assert reply.usage.completion_tokens > 0
    finally:
        stopped = curate("llm", "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert curate("llm", "status", "--config", str(config)).returncode != 0


def test_port_taken_is_a_clear_error():
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        env = {**os.environ, "CURATION_LLM__PORT": str(port)}
        result = subprocess.run(
            [*CURATE, "llm", "start"], capture_output=True, text=True, env=env, timeout=60
        )
    assert result.returncode == 1
    assert f"port {port}" in result.stderr and "taken" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_model_file_is_a_clear_error(tmp_path):
    env = {**os.environ, "CURATION_LLM__MODEL_PATH": str(tmp_path / "nope.gguf")}
    result = subprocess.run(
        [*CURATE, "llm", "start"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 1
    assert "nope.gguf" in result.stderr and "Traceback" not in result.stderr
