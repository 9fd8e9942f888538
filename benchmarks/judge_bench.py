"""Seconds per judged pair of the default AI judge (pairwise in both orders + relevance),
before and after issue 17's throughput work, in one run, with the share of identical
verdicts; optionally the preferences part of `curate generate` before and after.

    python benchmarks/judge_bench.py [--pairs FILE.jsonl] [--limit 30] [--generate 2]

- before: `CURATION_JUDGE_BASELINE=1`: llama-cpp-python's own server (the quantised model
  only, logits of every prompt token), each batch's prompts sent at once (distilabel's
  concurrent requests), pairs in input order;
- after: our server (`curation.llm.llama_server`: the last token's logits only, and the
  judges' requests scored by the F32 copy of the weights), prompts sent one at a time
  sorted by (instruction, first answer), so each reuses the previous prompt's KV-cache
  prefix.
Both on every core (`llm.n_threads`).
Each mode gets its own fresh local LLM server. Pairs: the planted pairs of
tests/data/judge_qa.jsonl (interleaved so each instruction's three pairs are spread out,
as in a real file), or a JSONL file as `curate judge eval` reads it; where labelled, each
line also gives the share judged right. `--generate N` also times `generate` on N seed
instructions (responses, EvolQuality, the three pointwise judges and the pair judge: the
preferences stage of the demo; the demo's instruction stage has no judge). The load
average is printed before and after each mode: the CPU is shared.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.llm_throughput import load_line, local_server
from curation.config import Config, GenerationConfig, JudgeConfig
from curation.judge.commands import load_judge
from curation.judge.pairs import read_pairs
from curation.judge.report import agreement
from curation.judge.verdict import verdict
from curation.llm.server import BASELINE_ENV, default_threads
from curation.selection.embeddings import load_model
from tests.fixtures.judge_pairs import planted_pairs

MODES = {"before": "1", "after": None}  # mode -> CURATION_JUDGE_BASELINE


def judged(rows: list[dict]) -> tuple[float, list[str]]:
    """Seconds for all pairs and the verdicts, on a fresh local server."""
    with local_server(None) as server_cfg:
        judge = load_judge(Config(llm=server_cfg))
        pairs = [(r["instruction"], r["response_a"], r["response_b"]) for r in rows]
        started = time.perf_counter()
        found = judge.signals(pairs, None)
        seconds = time.perf_counter() - started
    return seconds, [verdict(judge.p(s), judge.cfg.tie_band) for s in found]


def generated(count: int) -> float:
    """Seconds of `generate` on `count` seed instructions, on a fresh local server."""
    from curation.generate.stage import generate

    with local_server(None) as server_cfg, tempfile.TemporaryDirectory() as run:
        config = Config(
            llm=server_cfg, generation=GenerationConfig(num_instructions=count, sources=["seed"])
        )
        started = time.perf_counter()
        generate(config, run)
        return time.perf_counter() - started


def in_mode(mode: str, work: Callable[..., Any], *args: Any) -> Any:
    if MODES[mode] is None:
        os.environ.pop(BASELINE_ENV, None)
    else:
        os.environ[BASELINE_ENV] = MODES[mode]
    try:
        print(f"{mode}: {default_threads()} server threads; {load_line()}", flush=True)
        return work(*args)
    finally:
        os.environ.pop(BASELINE_ENV, None)


def interleaved(rows: list[dict]) -> list[dict]:
    """Kind by kind, the planted pairs of one instruction sit 30 rows apart; mix them."""
    return sorted(rows, key=lambda row: (int(row["id"].rsplit("-", 1)[1]) * 7) % 30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, help="JSONL pairs (default: the planted pairs)")
    parser.add_argument("--limit", type=int, default=30, help="pairs to judge")
    parser.add_argument("--generate", type=int, default=0, help="also time generate on N")
    args = parser.parse_args()
    rows = (read_pairs(args.pairs) if args.pairs else interleaved(planted_pairs()))[: args.limit]
    load_model(JudgeConfig().embedding_model)  # loaded once, outside the timings
    labels = [r.get("preferred") for r in rows]
    results = {mode: in_mode(mode, judged, rows) for mode in MODES}
    for mode, (seconds, verdicts) in results.items():
        right = agreement(verdicts, labels)["accuracy"]
        shown = "" if right is None else f", right {right:.1%}"
        print(f"{mode}: {seconds / len(rows):.2f} s/pair over {len(rows)} pairs{shown}")
    (before, old), (after, new) = results.values()
    same = sum(a == b for a, b in zip(old, new, strict=True)) / len(rows)
    print(f"judge: {before / after:.2f}x faster, identical verdicts {same:.1%}; {load_line()}")
    if args.generate:
        before, after = (in_mode(mode, generated, args.generate) for mode in MODES)
        print(f"generate on {args.generate} seed instructions: before {before:.0f} s, after "
              f"{after:.0f} s ({before / after:.2f}x); {load_line()}")  # fmt: skip


if __name__ == "__main__":
    main()
