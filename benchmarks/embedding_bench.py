"""Embedding backends against raw `SentenceTransformer.encode`, in one run.

Prints, for the same short instruction-like texts (the bundled seed instructions, reworded
and combined, so there are many near-duplicates for the Deita filter to decide about):
- texts/s of raw `SentenceTransformer.encode` (the baseline: plain `encode`, which sorts a
  call's texts by length itself) and of each `selection.embedding_backend` through
  `curation`'s own `encode`, alternating rounds, best of each, as ratios to the baseline;
- each backend's mean and minimum cosine to the baseline vectors;
- Deita selections at T = 0.9 (random scores): how many of the baseline's kept rows each
  backend keeps too;
- peak RSS of embedding N and 4N texts in fresh processes (memory flat in N: only the
  output matrix grows);
- with `--ray`: `selection.engine: ray` on a local Ray with 2 single-threaded actors, texts/s
  per actor (actor start-up included), and what 10 nodes would take for 10 million rows;
- the load average beside every timed figure (the CPU is shared).

Every throughput figure is one thread (CPU time), i.e. the rate of one Ray actor.

    .venv/bin/python benchmarks/embedding_bench.py [--texts 10000] [--rounds 2] [--ray]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("torch", "onnx", "onnx-int8")
PREFIXES = ["", "Please ", "Can you ", "I need you to ", "Quickly ", "In plain words, "]
SUFFIXES = [
    "",
    " Keep it short.",
    " Use simple words.",
    " Explain it to a beginner.",
    " Answer in three sentences.",
    " Give an example.",
    " Use a friendly tone.",
    " Add a short summary at the end.",
]
TOPICS = [
    "for a student",
    "for a small business",
    "on a tight budget",
    "in winter",
    "for my grandmother",
    "at work",
    "with no experience",
    "in a hurry",
]


def bench_texts(count: int, seed: int = 0) -> list[str]:
    """Short instructions built from the bundled seeds: reworded, so near-duplicates abound."""
    seeds = [json.loads(line) for line in (ROOT / "curation" / "data" / "seeds.jsonl").open()]
    rng = np.random.default_rng(seed)
    texts = []
    for _ in range(count):
        row = seeds[int(rng.integers(len(seeds)))]
        base = row["instruction"].rstrip(".?!")
        if rng.random() < 0.5:
            base += f" {rng.choice(TOPICS)}"
        prefix = str(rng.choice(PREFIXES))
        if prefix:
            base = base[0].lower() + base[1:]
        text = f"{prefix}{base}.{rng.choice(SUFFIXES)}"
        if rng.random() < 0.3:  # some longer texts: the topic's description first
            text = f"{row['context']} {text}"
        texts.append(text)
    return texts


def timed(fn: Any) -> tuple[Any, float, float]:
    """(result, CPU seconds of this process, wall seconds)."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def load() -> float:
    return os.getloadavg()[0]


def throughput(texts: list[str], rounds: int, export_root: Path) -> dict[str, Any]:
    """Raw encode vs each backend, alternating rounds, best CPU time of each, one thread."""
    import torch

    from curation.selection import embeddings

    torch.set_num_threads(1)
    model = embeddings.load_model(embeddings.DEFAULT_MODEL)
    encoders = {
        "raw encode": lambda: model.encode(texts, batch_size=64, convert_to_numpy=True),
        **{
            backend: (
                lambda backend=backend: embeddings.encode(
                    texts, backend=backend, export_root=export_root
                )
            )
            for backend in BACKENDS
        },
    }
    for backend in BACKENDS:  # export (first time) and warm up outside the timing
        embeddings.encode(texts[:64], backend=backend, export_root=export_root)
    best: dict[str, dict[str, Any]] = {}
    for round_ in range(rounds):
        for name, encode in encoders.items():
            vectors, cpu, wall = timed(encode)
            print(
                f"  round {round_ + 1} {name:>10}: {len(texts) / cpu:7.1f} texts/s CPU, "
                f"{len(texts) / wall:7.1f} wall, load {load():.1f}",
                flush=True,
            )
            if name not in best or cpu < best[name]["cpu"]:
                best[name] = {"cpu": cpu, "wall": wall, "load": load(), "vectors": vectors}
    return best


def fidelity_and_selection(best: dict[str, Any], threshold: float) -> dict[str, Any]:
    """Cosines to the raw vectors, and Deita selections at `threshold` against raw's."""
    from curation.selection import onnx_backend
    from curation.selection.deita import select_diverse

    reference = best["raw encode"]["vectors"]
    scores = np.random.default_rng(1).uniform(1, 10, len(reference))
    kept_raw = set(select_diverse(reference, scores, threshold).kept.tolist())
    figures = {}
    for name, run in best.items():
        cosines = onnx_backend.cosines(run["vectors"], reference)
        kept = set(select_diverse(run["vectors"], scores, threshold).kept.tolist())
        figures[name] = {
            "mean_cosine": float(cosines.mean()),
            "min_cosine": float(cosines.min()),
            "kept": len(kept),
            "same_rows": len(kept & kept_raw) / max(1, len(kept_raw)),
        }
    return figures


def peak_memory(backend: str, count: int, export_root: Path) -> float:
    """Peak RSS (GiB) of a fresh process that embeds `count` texts with `backend`."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", backend, str(count), str(export_root)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return float(out.stdout.strip().splitlines()[-1])


def child(backend: str, count: int, export_root: str) -> None:
    from curation.selection import embeddings

    texts = distinct_texts(count)
    if backend == "raw encode":
        embeddings.load_model(embeddings.DEFAULT_MODEL).encode(texts, batch_size=64)
    else:
        embeddings.encode(texts, backend=backend, export_root=Path(export_root))
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the (large) parent across exec.
    status = Path("/proc/self/status").read_text()
    kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
    print(int(kib) / 2**20)


def ray_rate(texts: list[str], backend: str, export_root: Path, workers: int = 2) -> None:
    """`selection.engine: ray` on a local Ray: texts/s per actor, and 10 nodes x 10M rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import ray

    from curation.selection.ray_embed import embed_with_ray

    source = export_root / "ray-input.parquet"
    pq.write_table(pa.table({"id": range(len(texts)), "text": texts}), source)
    ray.init(num_cpus=workers + 1, include_dashboard=False, log_to_driver=False)
    try:
        done = embed_with_ray(
            source, "text", export_root / "ray-cache.parquet", backend=backend, workers=workers
        )
    finally:
        ray.shutdown()
    per_actor = done.computed / done.seconds / workers
    # A 10-node cluster of such 2-core machines: one actor per core (the driver reads).
    hours = 10_000_000 / (per_actor * 2 * 10) / 3600
    print(
        f"\nray, {backend}, {workers} actors: {done.line()}; {per_actor:.0f} texts/s per "
        f"actor (start-up included), load {load():.1f}\n  10 nodes x 2 actors, 10M texts: "
        f"about {hours:.1f} h at this rate"
    )


def distinct_texts(count: int) -> list[str]:
    return list(dict.fromkeys(bench_texts(3 * count)))[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--ray", metavar="BACKEND", help="also time selection.engine: ray")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.child[2])
        return
    texts = distinct_texts(args.texts)
    with tempfile.TemporaryDirectory() as tmp:
        export_root = Path(tmp)
        print(f"{len(texts):,} distinct texts, one thread each, load {load():.1f}", flush=True)
        best = throughput(texts, args.rounds, export_root)
        figures = fidelity_and_selection(best, args.threshold)
        base = best["raw encode"]["cpu"]
        print(f"\nbest of {args.rounds} (CPU time; ratio to raw encode in this run):")
        print(
            f"{'':>10} {'texts/s':>8} {'ratio':>6} {'mean cos':>9} {'min cos':>8} "
            f"{'kept':>5} {'same rows':>9} {'load':>5}"
        )
        for name, run in best.items():
            fig = figures[name]
            print(
                f"{name:>10} {len(texts) / run['cpu']:8.1f} {base / run['cpu']:5.2f}x "
                f"{fig['mean_cosine']:9.5f} {fig['min_cosine']:8.5f} {fig['kept']:5d} "
                f"{fig['same_rows']:8.1%} {run['load']:5.1f}"
            )
        small = max(500, len(texts) // 4)
        print(f"\npeak RSS, fresh process (GiB), {small:,} vs {len(texts):,} texts:")
        for name in ("raw encode", "onnx-int8"):
            sizes = [peak_memory(name, count, export_root) for count in (small, len(texts))]
            print(
                f"{name:>10} {sizes[0]:.3f} {sizes[1]:.3f} "
                f"(+{(sizes[1] - sizes[0]) * 1024:.0f} MiB; the vectors alone "
                f"+{(len(texts) - small) * 384 * 4 / 2**20:.0f} MiB), load {load():.1f}"
            )
        if args.ray:
            ray_rate(texts, args.ray, export_root)


if __name__ == "__main__":
    main()
