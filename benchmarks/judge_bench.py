"""Seconds per judged pair of the AI judge on this machine, per set of signals, as ratios
against the pointwise UltraFeedback judge (the judge before `curate judge`) in the same run.

    python benchmarks/judge_bench.py [--port N] [--pairs FILE.jsonl] [--limit 90]

Pairs: the planted pairs of tests/data/judge_qa.jsonl (off-topic, truncated, made-up
facts), or a JSONL file as `curate judge eval` reads it. Where pairs are labelled, each
line also gives the share judged right (ties count as misses) and the length rule's. Without
--port a local LLM server is started for the run. The load average is printed: the CPU is
shared.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.llm_throughput import load_line, local_server
from curation.config import Config, JudgeConfig
from curation.judge.commands import load_judge
from curation.judge.pairs import read_pairs
from curation.judge.report import agreement, signal_verdicts
from curation.judge.verdict import verdict
from curation.selection.embeddings import load_model
from tests.fixtures.judge_pairs import planted_pairs

SETS = {  # name -> signals; the first is the baseline
    "pointwise UltraFeedback rating (before)": ["rating"],
    "pairwise, both orders + relevance (default)": ["pairwise", "relevance"],
    "pairwise + relevance + rating": ["pairwise", "relevance", "rating"],
}


def run(config: Config, signals: list[str], rows: list[dict]) -> tuple[float, dict, list]:
    judge_cfg = JudgeConfig(**{**config.generation.judge.model_dump(), "signals": signals})
    config = config.model_copy(
        update={"generation": config.generation.model_copy(update={"judge": judge_cfg})}
    )
    judge = load_judge(config)
    pairs = [(r["instruction"], r["response_a"], r["response_b"]) for r in rows]
    started = time.perf_counter()
    found = judge.signals(pairs, None)
    seconds = time.perf_counter() - started
    verdicts = [verdict(judge.p(s), judge_cfg.tie_band) for s in found]
    return seconds, agreement(verdicts, [r.get("preferred") for r in rows]), found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, help="use the server already running on this port")
    parser.add_argument("--pairs", type=Path, help="JSONL pairs (default: the planted pairs)")
    parser.add_argument("--limit", type=int, default=90, help="pairs to judge")
    args = parser.parse_args()
    rows = (read_pairs(args.pairs) if args.pairs else planted_pairs())[: args.limit]
    load_model(JudgeConfig().embedding_model)  # loaded once, outside the timings
    with local_server(args.port) as server_cfg:
        config = Config(llm=server_cfg)
        print(f"{len(rows)} pairs, judge {server_cfg.alias}; before: {load_line()}")
        baseline = None
        for name, signals in SETS.items():
            seconds, result, found = run(config, signals, rows)
            per_pair = seconds / len(rows)
            baseline = baseline or per_pair
            right = "" if result["accuracy"] is None else f", right {result['accuracy']:.1%}"
            print(f"{name}: {per_pair:.3f} s/pair ({per_pair / baseline:.2f}x the "
                  f"baseline's time){right}, ties {result['tie_rate'] or 0:.1%}")  # fmt: skip
        length = agreement(
            signal_verdicts(found, "log_length_ratio"), [r.get("preferred") for r in rows]
        )
        if length["accuracy"] is not None:
            print(f"length rule (longer wins): right {length['accuracy']:.1%}")
        print(f"after: {load_line()}")


if __name__ == "__main__":
    main()
