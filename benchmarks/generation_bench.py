"""Generated tokens/s of the generation pipeline next to the raw local LLM server.

1. Same prompts, two ways: every instruction answered by each default generator config,
   (a) sent straight to the server (`llm_throughput.measure`, the raw figure) and (b) by
   the response steps of the preferences pipeline (`Respond`, distilabel's TextGeneration,
   with the LLMs `curate generate` builds), timed end to end including distilabel's start-up.
   Goal: (b) keeps at least 80% of (a).
2. With --full, `curate generate` end to end for --instructions instructions: stage times,
   counts and the judges' parse rate.

    python benchmarks/generation_bench.py [--port N] [--instructions 24] [--full]

The load average is printed before and after: the 2 CPU cores are shared.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from distilabel.pipeline import Pipeline
from distilabel.steps import LoadDataFromDicts
from llm_throughput import Throughput, load_line, local_server, measure, seed_prompts

from curation.config import Config, GenerationConfig, LocalLLMServerConfig
from curation.generate import pipelines
from curation.generate.candidates import Respond, output_tokens
from curation.generate.evolve import METADATA
from curation.generate.stage import default_llm_factory, generate
from curation.llm import server


def raw_prompts(cfg: GenerationConfig, count: int) -> list[list[dict]]:
    """The messages the response steps send: each generator's system prompt + instruction."""
    prompts = []
    for generator in cfg.generators:
        for messages in seed_prompts(count):
            system = [{"role": "system", "content": generator.system_prompt}]
            prompts.append((system if generator.system_prompt else []) + messages)
    return prompts


def pipeline_throughput(config: Config, count: int, cache_dir: Path) -> Throughput:
    """The response steps of the preferences pipeline, timed from building it to its rows."""
    cfg = config.generation
    llm_for = default_llm_factory(config)
    instructions = [messages[-1]["content"] for messages in seed_prompts(count)]
    started = time.perf_counter()
    with Pipeline(name="bench-responses", cache_dir=cache_dir) as pipeline:
        previous = LoadDataFromDicts(
            data=[{"instruction": text} for text in instructions], batch_size=cfg.batch_size
        )
        for index, generator in enumerate(cfg.generators):
            previous = previous >> Respond(
                name=f"respond_{index}",
                llm=llm_for(generator),
                system_prompt=generator.system_prompt,
                input_batch_size=cfg.batch_size,
                output_mappings={
                    "generation": f"generation_{index}",
                    "model_name": f"model_{index}",
                },
            )
    leaf = f"respond_{len(cfg.generators) - 1}"
    built = pipelines.Built(pipeline, cache_dir, {leaf: len(instructions)})
    rows = pipelines.run_pipeline(built, engine="local")[leaf]
    seconds = time.perf_counter() - started
    steps = [
        (row[METADATA], f"respond_{index}") for row in rows for index in range(len(cfg.generators))
    ]
    prompt_tokens = sum(output_tokens(*step, kind="input_tokens") or 0 for step in steps)
    tokens = sum(output_tokens(*step) or 0 for step in steps)
    return Throughput(len(steps), prompt_tokens, tokens, seconds)


def full_generate(config: Config, count: int) -> None:
    with tempfile.TemporaryDirectory() as runs:
        started = time.perf_counter()
        summary = generate(config, Path(runs) / "bench", num_instructions=count)
        seconds = time.perf_counter() - started
        manifest = json.loads((Path(runs) / "bench" / "manifest.json").read_text())
    print(f"curate generate, {count} instructions: {seconds:.1f} s; {summary.line()}")
    for name, stage in manifest["stages"].items():
        counts = stage.get("counts", {})
        detail = counts.get("judge") or counts.get("sources")
        print(f"  stage {name}: {stage['duration_s']:.1f} s; {json.dumps(detail, sort_keys=True)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, help="use the server already running on this port")
    parser.add_argument("--instructions", type=int, default=24)
    parser.add_argument("--full", action="store_true", help="also time `curate generate`")
    args = parser.parse_args()
    with local_server(args.port) as server_config, tempfile.TemporaryDirectory() as cache:
        config = Config(llm=LocalLLMServerConfig(port=server_config.port))
        cfg = config.generation
        generator = cfg.generators[0]
        print(f"before: {load_line()}")
        print(
            f"{args.instructions} instructions x {len(cfg.generators)} generator configs, "
            f"max_new_tokens {generator.max_new_tokens}, batch size {cfg.batch_size}"
        )
        # Each config keeps its own temperature in the pipeline; the raw run uses the
        # first one's for all (lengths, not temperatures, decide tokens/s).
        raw = measure(
            server.base_url(server_config),
            server_config.alias,
            raw_prompts(cfg, args.instructions),
            max_tokens=generator.max_new_tokens,
            temperature=generator.temperature,
        )
        print(f"raw server:      {raw.line()}")
        piped = pipeline_throughput(config, args.instructions, Path(cache))
        print(f"pipeline (e2e):  {piped.line()}")
        print(f"pipeline / raw:  {piped.tokens_per_s / raw.tokens_per_s:.0%} (goal >= 80%)")
        print(f"after: {load_line()}")
        if args.full:
            full_generate(config, args.instructions)
            print(f"after: {load_line()}")


if __name__ == "__main__":
    main()
