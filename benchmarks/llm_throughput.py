"""Generated tokens/s of the local LLM server (llama.cpp, SmolLM2-135M) on this machine.

This is the raw figure other benchmarks compare with (`generation_bench.py` imports
`measure`). The server answers one request at a time; two requests are kept in flight so
it never waits for the next one.

    python benchmarks/llm_throughput.py [--port N] [--requests 24] [--max-tokens 128]

Without --port it starts its own server on a free port (under a temporary CURATION_HOME)
and stops it at the end. The load average is printed: the CPU is shared.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from curation.config import LocalLLMServerConfig
from curation.generate.seeds import load_seeds
from curation.llm import server
from curation.services import free_port


@dataclass
class Throughput:
    requests: int
    prompt_tokens: int
    completion_tokens: int
    seconds: float

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        return (
            f"{self.completion_tokens} tokens in {self.seconds:.1f} s = "
            f"{self.tokens_per_s:.1f} tokens/s ({self.requests} requests, "
            f"{self.prompt_tokens} prompt tokens)"
        )


def chat_request(
    base_url: str, model: str, messages: Sequence[dict], max_tokens: int, temperature: float
) -> dict:
    body = json.dumps(
        {
            "model": model,
            "messages": list(messages),
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
    ).encode()
    request = urllib.request.Request(
        f"{base_url}/chat/completions", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.load(response)


def measure(
    base_url: str,
    model: str,
    prompts: Sequence[Sequence[dict]],
    *,
    max_tokens: int,
    temperature: float,
    in_flight: int = 2,
) -> Throughput:
    """Send every chat prompt straight to the server; generated tokens over wall time."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=in_flight) as pool:
        replies = list(
            pool.map(
                lambda messages: chat_request(base_url, model, messages, max_tokens, temperature),
                prompts,
            )
        )
    seconds = time.perf_counter() - started
    return Throughput(
        requests=len(replies),
        prompt_tokens=sum(reply["usage"]["prompt_tokens"] for reply in replies),
        completion_tokens=sum(reply["usage"]["completion_tokens"] for reply in replies),
        seconds=seconds,
    )


def seed_prompts(count: int) -> list[list[dict]]:
    """`count` user prompts from the bundled seed instructions (cycled)."""
    instructions = [seed.instruction for seed in load_seeds(None)[1] if seed.instruction]
    return [
        [{"role": "user", "content": instructions[index % len(instructions)]}]
        for index in range(count)
    ]


@contextlib.contextmanager
def local_server(port: int | None) -> Iterator[LocalLLMServerConfig]:
    """The server on `port`, or one started here for the duration."""
    if port is not None:
        yield LocalLLMServerConfig(port=port)
        return
    with tempfile.TemporaryDirectory() as home:
        saved = os.environ.get("CURATION_HOME")
        os.environ["CURATION_HOME"] = home
        config = LocalLLMServerConfig(port=free_port())
        try:
            server.start(config)
            yield config
        finally:
            server.stop()
            if saved is None:
                os.environ.pop("CURATION_HOME", None)
            else:
                os.environ["CURATION_HOME"] = saved


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, help="use the server already running on this port")
    parser.add_argument("--requests", type=int, default=24)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--temperature", type=float, default=0.7)
    args = parser.parse_args()
    with local_server(args.port) as config:
        print(f"local LLM {config.alias} at {server.base_url(config)}; before: {load_line()}")
        result = measure(
            server.base_url(config),
            config.alias,
            seed_prompts(args.requests),
            max_tokens=args.max_tokens,
            temperature=args.temperature,
        )
        print(f"raw server throughput: {result.line()}")
        print(f"after: {load_line()}")


if __name__ == "__main__":
    main()
