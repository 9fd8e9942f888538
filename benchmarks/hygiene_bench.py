"""Hygiene: near-dedup and decontamination speed and peak memory, next to baselines.

Prints, in one run:
- near-dedup (`curation.hygiene.dedup.near_duplicates`: datasketch MinHash LSH + exact
  Jaccard) of short planted texts at each size (default 100,000 and 1,000,000; goal at
  1M: < 5 min, < 4 GiB), next to datasketch used as its README shows (a `MinHash()` per
  text, `update` per shingle, sha1) on the smallest size, as a ratio;
- decontamination of 100,000 rows against 10,000 benchmark items (goal < 60 s), next to
  the floor of the same loop that only tokenises the rows.

Each measurement runs in a fresh process so its peak RSS is its own; the load average is
printed beside each figure, since the 2 CPUs are shared.

    .venv/bin/python benchmarks/hygiene_bench.py [--sizes 100000 1000000] [--skip ...]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from typing import Any

import child as child_process
import numpy as np

NEAR_SHARE = 0.1  # planted near-duplicates
THRESHOLD = 0.8


def planted_texts(rows: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Short instruction-like texts (12-20 words of a 20,000-word vocabulary); 10% are a
    copy of an earlier text with one word changed (char 5-gram Jaccard ~0.8-0.9)."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"{w}{i}" for i, w in enumerate(["ab", "cd", "ef", "gh"] * 5000)])
    lengths = rng.integers(12, 21, size=rows)
    texts = [" ".join(vocab[rng.integers(0, len(vocab), size=n)]) for n in lengths]
    copies = rng.choice(np.arange(1, rows), size=int(rows * NEAR_SHARE), replace=False)
    for row in copies:
        words = texts[int(rng.integers(0, row))].split()
        words[int(rng.integers(0, len(words)))] = "changed"
        texts[row] = " ".join(words)
    return texts, rng.random(rows)


def measure_dedup(rows: int) -> dict[str, Any]:
    from curation.hygiene.dedup import near_duplicates

    texts, scores = planted_texts(rows)
    started = time.perf_counter()
    found = near_duplicates(texts, scores, threshold=THRESHOLD)
    return {
        "rows": rows,
        "time_s": round(time.perf_counter() - started, 2),
        "dropped": found.dropped,
        "planted": int(rows * NEAR_SHARE),
        "candidates": found.candidates,
        "rejected": found.rejected,
    }


def measure_readme(rows: int) -> dict[str, Any]:
    """datasketch as its README shows it: one MinHash per text, update per shingle."""
    from datasketch import MinHash, MinHashLSH

    from curation.hygiene.text import shingles

    texts, _ = planted_texts(rows)
    started = time.perf_counter()
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=128)
    hits = 0
    for i, text in enumerate(texts):
        minhash = MinHash(num_perm=128)
        for shingle in shingles(text, "char", 5):
            minhash.update(shingle.encode())
        hits += bool(lsh.query(minhash))
        lsh.insert(i, minhash)
    return {"rows": rows, "time_s": round(time.perf_counter() - started, 2), "dropped": hits}


def benchmark_items(items: int, rng: np.random.Generator) -> list[str]:
    vocab = [f"b{i}" for i in range(30_000)]
    return [" ".join(rng.choice(vocab, size=int(rng.integers(40, 120)))) for _ in range(items)]


def measure_decontam(rows: int, items: int, floor: bool) -> dict[str, Any]:
    from curation.hygiene.decontam import Benchmark, NGramIndex, contamination
    from curation.hygiene.text import words

    rng = np.random.default_rng(1)
    bench = benchmark_items(items, rng)
    vocab = [f"r{i}" for i in range(30_000)]
    texts = [" ".join(rng.choice(vocab, size=int(rng.integers(20, 200)))) for _ in range(rows)]
    planted = rng.choice(rows, size=100, replace=False)
    for row in planted:
        item = bench[int(rng.integers(0, items))].split()
        texts[row] += " " + " ".join(item[:15])
    started = time.perf_counter()
    if floor:
        tokens = sum(len(words(text)) for text in texts)
        return {"time_s": round(time.perf_counter() - started, 2), "tokens": tokens}
    index = NGramIndex.build([Benchmark("bench", [str(i) for i in range(items)], bench)], 12)
    built = time.perf_counter() - started
    hits = contamination(texts, index)
    return {
        "time_s": round(time.perf_counter() - started, 2),
        "index_s": round(built, 2),
        "ngrams": len(index.grams),
        "hit_rows": sum(bool(h) for h in hits),
        "planted": len(planted),
    }


def child(kind: str, args: list[str]) -> None:
    if kind == "dedup":
        result = measure_dedup(int(args[0]))
    elif kind == "readme":
        result = measure_readme(int(args[0]))
    else:
        result = measure_decontam(int(args[0]), int(args[1]), args[2] == "floor")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["peak_rss_gib"] = round(usage.ru_maxrss / 2**20, 2)
    print(json.dumps(result))


def run_child(kind: str, *args: object) -> dict[str, Any]:
    return child_process.run_child(__file__, kind, *args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--skip", nargs="*", default=[], choices=["readme", "decontam"])
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        child(options.child[0], options.child[1:])
        return
    print(
        f"Hygiene benchmark: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}\n"
        f"\nNear-dedup, char 5-grams, threshold {THRESHOLD}, 128 permutations, "
        f"{NEAR_SHARE:.0%} planted near-duplicates"
    )
    first = None
    for rows in sorted(options.sizes):
        ours = run_child("dedup", rows)
        rate = rows / ours["time_s"]
        print(
            f"  {rows:>9,} texts: {ours['time_s']:>7.1f}s ({rate:,.0f} texts/s), peak RSS "
            f"{ours['peak_rss_gib']:.2f} GiB, dropped {ours['dropped']:,} (planted "
            f"{ours['planted']:,}), {ours['candidates']:,} LSH candidates, "
            f"{ours['rejected']:,} rejected by exact Jaccard; load {ours['load']}"
        )
        if first is None:
            first = ours
            if "readme" not in options.skip:
                readme = run_child("readme", rows)
                print(
                    f"  {'':>9} datasketch README usage on the same texts: "
                    f"{readme['time_s']:.1f}s -> ours {readme['time_s'] / ours['time_s']:.1f}x "
                    f"faster; load {readme['load']}"
                )
    if first is not None and max(options.sizes) < 1_000_000:
        estimate = first["time_s"] * 1_000_000 / first["rows"]
        print(f"  1,000,000 texts extrapolated linearly from {first['rows']:,}: ~{estimate:.0f}s")
    if "decontam" not in options.skip:
        print("\nDecontamination, 100,000 rows (20-200 words) against 10,000 items, 12-grams")
        floor = run_child("decontam", 100_000, 10_000, "floor")
        ours = run_child("decontam", 100_000, 10_000, "index")
        print(
            f"  index + lookups: {ours['time_s']:.1f}s (index of {ours['ngrams']:,} n-grams "
            f"{ours['index_s']:.1f}s), peak RSS {ours['peak_rss_gib']:.2f} GiB, "
            f"{ours['hit_rows']} rows hit (planted {ours['planted']}); load {ours['load']}"
        )
        print(
            f"  tokenising the rows alone: {floor['time_s']:.1f}s -> whole check "
            f"{ours['time_s'] / floor['time_s']:.1f}x that floor; load {floor['load']}"
        )


if __name__ == "__main__":
    main()
