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


def scored(client: OpenAI, model: str, prompt: str) -> dict[str, float]:
    """The top logprobs of a judge's one-token verdict, as the judges ask for it."""
    reply = client.completions.create(
        model=model,
        prompt=prompt,
        max_tokens=1,
        temperature=0,
        logprobs=5,
        extra_body={"grammar": "root ::= [12]"},
    )
    return reply.choices[0].logprobs.top_logprobs[0]


def test_judges_are_scored_by_an_f32_copy_made_once(tmp_path):
    """The server holds the quantised model and its F32 copy; a judge's request to the
    copy gets (nearly) the same probabilities, and a restart reuses the copy."""
    config = tmp_path / "c.yaml"
    port = free_port()
    config.write_text(f"llm:\n  port: {port}\n  n_threads: 1\n")
    prompt = (
        "<|im_start|>user\nWhich answer is right, 1 or 2?\n1: Paris is in France.\n"
        "2: Paris is in Peru.<|im_end|>\n<|im_start|>assistant\nBetter response: "
    )
    copy = tmp_path / "home" / "llm" / "SmolLM2-135M-Instruct.Q4_1.F32.gguf"
    try:
        assert curate("llm", "start", "--config", str(config)).returncode == 0
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused")
        assert {m.id for m in client.models.list()} == {
            "SmolLM2-135M-Instruct",
            "SmolLM2-135M-Instruct-f32",
        }
        assert copy.stat().st_mode & 0o777 == 0o600
        made = copy.stat().st_mtime_ns
        quantised = scored(client, "SmolLM2-135M-Instruct", prompt)
        f32 = scored(client, "SmolLM2-135M-Instruct-f32", prompt)
        assert max(quantised, key=quantised.get) == max(f32, key=f32.get)
        assert abs(quantised["1"] - f32["1"]) < 0.25 and quantised != f32  # two models
        curate("llm", "stop")
        assert curate("llm", "start", "--config", str(config)).returncode == 0
        assert copy.stat().st_mtime_ns == made
    finally:
        curate("llm", "stop")


def test_scoring_copy_can_be_turned_off(tmp_path):
    config = tmp_path / "c.yaml"
    port = free_port()
    config.write_text(f"llm:\n  port: {port}\n  n_threads: 1\n  scoring_copy: false\n")
    try:
        assert curate("llm", "start", "--config", str(config)).returncode == 0
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused")
        assert [m.id for m in client.models.list()] == ["SmolLM2-135M-Instruct"]
        # A judge's request for the copy is answered by the model itself.
        assert scored(client, "SmolLM2-135M-Instruct-f32", "Answer 1 or 2: ")
    finally:
        curate("llm", "stop")
    assert not list((tmp_path / "home" / "llm").glob("*.gguf"))


def test_last_token_logits_give_the_same_logprobs(monkeypatch):
    """Our server's model computes only the last prompt token's logits, and the log-softmax
    of the rows it reads; the logprobs a judge reads are the ones llama-cpp-python computes
    with every token's logits."""
    import llama_cpp.llama
    from llama_cpp import Llama

    from curation.llm.llama_server import LastTokenLogits, log_softmax_on_demand
    from curation.llm.server import bundled_gguf, quiet_stderr

    prompt = "<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\n"
    found = []
    for model in (Llama, LastTokenLogits):
        if model is LastTokenLogits:  # as `python -m curation.llm.llama_server` does
            monkeypatch.setattr(
                llama_cpp.llama.Llama, "logits_to_logprobs", staticmethod(log_softmax_on_demand)
            )
        with quiet_stderr():
            llm = model(str(bundled_gguf()), n_ctx=512, n_threads=1, logits_all=True)
        reply = llm(prompt, max_tokens=3, temperature=0, logprobs=5)["choices"][0]
        found.append((reply["text"], reply["logprobs"]["top_logprobs"]))
        llm.close()
    (text, expected), (same_text, got) = found
    assert same_text == text and len(got) == 3
    for want, have in zip(expected, got, strict=True):
        assert want.keys() == have.keys()
        assert all(abs(want[k] - have[k]) < 1e-4 for k in want)
