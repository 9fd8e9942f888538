"""Deita selection: speed and peak memory, next to the per-row reference and distilabel.

Prints, in one run:
- `curate select` end to end (Parquet in, selected + rejected Parquet out) on 100,000 and
  1,000,000 rows of 384-d embeddings with planted clusters and near-duplicates, budget 5%;
- the straightforward per-row reference (`reference.reference_select`) and distilabel's
  `DeitaFiltering` at the largest sizes they can run here, and why not larger;
- embedding throughput against `SentenceTransformer.encode` on the same texts, and a
  rerun through the cache.

Every measurement runs in a fresh process so its peak RSS (`ru_maxrss`) is its own; the
machine's load average is printed beside each figure, since the CPU is shared.

    .venv/bin/python benchmarks/selection_bench.py [--sizes 100000 1000000] [--skip ...]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import child as child_process
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curation.selection.table import list_array

THRESHOLD = 0.9  # Deita's tau, on cosine similarity
BUDGET_SHARE = 0.05
DIM = 384
# distilabel's DeitaFiltering computes X @ X.T in float64 (N x N). Here numpy 2.4.6's
# OpenBLAS segfaults on that product from about 15,500 rows (a symmetric rank-k update;
# 15,000 works), and at 100,000 rows the matrix alone would be 80 GB.
DISTILABEL_ROWS = 15_000
DATA_VERSION = 1
EMBED_RUNS = 5


# --- data ------------------------------------------------------------------------------


def planted_rows(rows: int, seed: int = 0, chunk: int = 65_536):
    """Embeddings with structure like instruction data, chunk by chunk (float32).

    100 topics; blobs of ~200 paraphrase-like rows around centres near a topic (cosine
    ~0.7 between centres of one topic), spread over 4 directions (radius 0.3-0.6, so the
    filter at 0.9 keeps several rows per blob, more the longer it walks); 10% of rows are
    near-duplicates of another row (cosine ~0.995); 0.5% are unrelated. Scores are uniform
    on [1, 30] in steps of 0.01 (ties happen), 1% are null.
    """
    rng = np.random.default_rng(seed)
    topics = _unit(rng.standard_normal((100, DIM)))
    blobs = max(1, rows // 200)
    near = np.sqrt(0.7)
    centres = _unit(
        near * topics[rng.integers(0, 100, blobs)]
        + np.sqrt(1 - near**2) * _unit(rng.standard_normal((blobs, DIM)))
    ).astype(np.float32)
    spread = (rng.standard_normal((blobs, 4, DIM)) / np.sqrt(DIM)).astype(np.float32)
    radius = rng.uniform(0.3, 0.6, blobs).astype(np.float32)
    for start in range(0, rows, chunk):
        size = min(chunk, rows - start)
        blob = rng.integers(0, blobs, size)
        offset = rng.standard_normal((size, 4)).astype(np.float32) * (radius[blob, None] / 2)
        vectors = centres[blob] + np.einsum("nk,nkd->nd", offset, spread[blob])
        vectors += 0.02 * rng.standard_normal((size, DIM)).astype(np.float32) / np.sqrt(DIM)
        unrelated = rng.random(size) < 0.005
        vectors[unrelated] = rng.standard_normal((int(unrelated.sum()), DIM))
        copies = size // 10
        source, target = rng.integers(0, size, copies), rng.integers(0, size, copies)
        norms = np.linalg.norm(vectors[source], axis=1, keepdims=True)
        noise = rng.standard_normal((copies, DIM)).astype(np.float32) / np.sqrt(DIM)
        vectors[target] = vectors[source] + 0.1 * norms * noise
        scores = np.round(rng.uniform(1, 30, size), 2)
        scores[rng.random(size) < 0.01] = np.nan
        yield start, vectors.astype(np.float32), scores


def _unit(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def dataset(rows: int, data_dir: Path) -> Path:
    """The Parquet file for `rows` rows (`id`, `deita_score`, `embedding`), made once."""
    path = data_dir / f"planted-{rows}-v{DATA_VERSION}.parquet"
    if path.exists():
        return path
    data_dir.mkdir(parents=True, exist_ok=True)
    schema = pa.schema(
        [("id", pa.string()), ("deita_score", pa.float64()), ("embedding", pa.list_(pa.float32()))]
    )
    partial = path.with_suffix(".partial")
    with pq.ParquetWriter(partial, schema) as writer:
        for start, vectors, scores in planted_rows(rows):
            ids = pa.array([f"row-{start + i}" for i in range(len(vectors))])
            score = pa.array(scores, pa.float64(), mask=np.isnan(scores))
            writer.write_table(pa.table([ids, score, list_array(vectors)], schema=schema))
    partial.rename(path)
    return path


# --- measurements (each in its own process) ----------------------------------------------


def measure_ours(path: Path, budget: int, out_dir: str) -> dict[str, Any]:
    """`curate select` as the CLI runs it: read, select, build tables, write."""
    from curation.selection.deita import free_cores
    from curation.selection.stage import SelectRequest, select_file

    request = SelectRequest(
        input=path,
        score_column="deita_score",
        embedding_column="embedding",
        threshold=THRESHOLD,
        budget=budget,
    )
    threads = free_cores()  # what the filter will use, unless the load changes meanwhile
    result = select_file(request, Path(out_dir) / "selected.parquet")
    selection = result.selection
    return {
        "threads": threads,
        "kept": len(selection.kept),
        "walked": len(selection.kept) + len(selection.rejected),
        "phases": {phase: round(seconds, 2) for phase, seconds in result.timings.items()},
        "pairs": _pairs_compared(path, selection),
        "kept_ids": _ids(path, selection.kept) if len(selection.kept) <= 5000 else None,
    }


def measure_reference(path: Path, budget: int) -> dict[str, Any]:
    """The per-row reference on the same embeddings (read by the same streaming reader).

    With as many BLAS threads as the blocked filter gets (the cores not busy elsewhere),
    so that under load it is not slowed by threads waiting on a busy core.
    """
    from threadpoolctl import threadpool_limits

    from curation.selection import table
    from curation.selection.deita import free_cores
    from curation.selection.reference import reference_select

    source = table.InputTable(path)
    scores = table.read_scores(source, "deita_score")
    embeddings = table.read_embeddings(source, "embedding", scores)
    started = time.perf_counter()
    threads = free_cores()
    with threadpool_limits(limits=threads, user_api="blas"):
        selection = reference_select(embeddings, scores, THRESHOLD, budget)
    return {
        "kept": len(selection.kept),
        "phases": {"select": round(time.perf_counter() - started, 2)},
        "kept_ids": _ids(path, selection.kept),
        "threads": threads,
    }


def measure_distilabel(path: Path, rows: int, threshold: float) -> dict[str, Any]:
    """distilabel's DeitaFiltering.process on the first `rows` rows (score x 1 as its score).

    It compares every row with its nearest neighbour in the whole input, not with the
    rows kept so far, and applies `diversity_threshold` to cosine *distance*.
    """
    from distilabel.steps import DeitaFiltering

    data = pq.read_table(path).slice(0, rows).to_pylist()
    inputs = [  # rows without a score are dropped first, as `curate select` does
        {
            "id": row["id"],
            "evol_instruction_score": row["deita_score"],
            "evol_response_score": 1.0,
            "embedding": row["embedding"],
        }
        for row in data
        if row["deita_score"] is not None
    ]
    del data
    step = DeitaFiltering(data_budget=int(rows * BUDGET_SHARE), diversity_threshold=threshold)
    step.load()
    started = time.perf_counter()
    kept = next(step.process(inputs))
    return {
        "kept": len(kept),
        "phases": {"select": round(time.perf_counter() - started, 2)},
        "kept_ids": [row["id"] for row in kept],
    }


def measure_embeddings(texts_count: int, out_dir: str) -> dict[str, Any]:
    """Our `encode` vs `SentenceTransformer.encode` on the same texts; then a cached rerun.

    One torch thread and CPU time (`time.process_time`): the machine is shared, and wall
    times of the same run varied 4x under the others' load, while the work per run does not.
    """
    import torch

    from curation.selection import embeddings

    torch.set_num_threads(1)
    texts = synthetic_instructions(texts_count)
    model = embeddings.load_model(embeddings.DEFAULT_MODEL)
    model.encode(texts[:64], batch_size=64)  # warm up
    direct, ours = [], []
    for _ in range(EMBED_RUNS):  # alternating, so drifts hit both alike
        started = time.process_time()
        expected = model.encode(texts, batch_size=64)
        direct.append(time.process_time() - started)
        started = time.process_time()
        got = embeddings.encode(texts, batch_size=64)
        ours.append(time.process_time() - started)
    assert np.allclose(expected, got, atol=1e-5)
    cache = Path(out_dir) / "embeddings.parquet"
    keys = [embeddings.text_key(embeddings.DEFAULT_MODEL, text) for text in texts]
    first = embeddings.CachedEmbeddings(got, keys, computed=len(texts), cached=0)
    ids = pa.array([str(i) for i in range(len(texts))])
    pq.write_table(embeddings.embeddings_table(ids, embeddings.DEFAULT_MODEL, first), cache)
    started = time.perf_counter()
    again = embeddings.embed_cached(texts, cache=cache)
    return {
        "direct_s": [round(s, 2) for s in direct],
        "ours_s": [round(s, 2) for s in ours],
        "rerun_computed": again.computed,
        "rerun_cached": again.cached,
        "rerun_s": round(time.perf_counter() - started, 2),
    }


def synthetic_instructions(count: int, seed: int = 0) -> list[str]:
    """Distinct instruction-like texts of 8-30 words."""
    rng = np.random.default_rng(seed)
    verbs = ["Explain", "Summarise", "Write", "Compare", "List", "Describe", "Translate"]
    topics = [
        "photosynthesis",
        "a binary search",
        "the French revolution",
        "tax brackets",
        "sourdough bread",
        "a job interview",
        "black holes",
        "SQL joins",
        "jazz chords",
    ]
    words = ["simple", "clear", "short", "detailed", "friendly", "formal", "steps", "reasons"]
    texts = []
    for i in range(count):
        extra = " ".join(rng.choice(words, size=int(rng.integers(3, 22))))
        texts.append(f"{rng.choice(verbs)} {rng.choice(topics)} ({i}): {extra}.")
    return texts


def _pairs_compared(path: Path, selection: Any) -> int:
    """How many (row, kept row) pairs the per-row walk compares: its work, for estimates."""
    from curation.selection import table
    from curation.selection.deita import walk_order

    scores = table.read_scores(table.InputTable(path), "deita_score")
    order, _ = walk_order(scores)
    position = np.empty(len(scores), dtype=np.int64)
    position[order] = np.arange(len(order))
    kept_at = np.sort(position[selection.kept])
    walked = len(selection.kept) + len(selection.rejected)
    return int(np.searchsorted(kept_at, np.arange(walked)).sum())


def _ids(path: Path, rows: np.ndarray) -> list[str]:
    ids = pq.read_table(path, columns=["id"]).column(0)
    return ids.take(pa.array(rows)).to_pylist()


def child(kind: str, args: list[str]) -> None:
    """Run one measurement and print it as JSON with wall time and peak RSS."""
    with tempfile.TemporaryDirectory() as out_dir:
        started = time.perf_counter()
        if kind == "ours":
            result = measure_ours(Path(args[0]), int(args[1]), out_dir)
        elif kind == "reference":
            result = measure_reference(Path(args[0]), int(args[1]))
        elif kind == "distilabel":
            result = measure_distilabel(Path(args[0]), int(args[1]), float(args[2]))
        else:
            result = measure_embeddings(int(args[0]), out_dir)
        result["wall_s"] = round(time.perf_counter() - started, 2)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 2)
    result["peak_rss_gib"] = round(usage.ru_maxrss / 2**20, 2)
    print(json.dumps(result))


def run_child(kind: str, *args: object) -> dict[str, Any]:
    return child_process.run_child(__file__, kind, *args)


# --- report ----------------------------------------------------------------------------


def overlap(ours: list[str] | None, theirs: list[str] | None) -> str:
    if ours is None or theirs is None:
        return "-"
    if ours == theirs:
        return "identical (ids and order)"
    return f"{len(set(ours) & set(theirs))} of {len(ours)} kept rows in common"


def line(label: str, result: dict[str, Any], note: str = "") -> None:
    phases = ", ".join(f"{k} {v}s" for k, v in result.get("phases", {}).items())
    print(
        f"  {label:<34} wall {result['wall_s']:>7.2f}s (cpu {result['cpu_s']:.1f}s)"
        f"  peak RSS {result['peak_rss_gib']:>5.2f} GiB"
        f"  kept {result['kept']:>6,}  [{phases}]  BLAS threads {result.get('threads', '-')}"
        f"  load {result['load']}  {note}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument(
        "--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "curation-selection-bench"
    )
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["reference", "distilabel", "embeddings"]
    )
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        child(options.child[0], options.child[1:])
        return

    print(
        f"Deita selection benchmark: threshold {THRESHOLD}, budget {BUDGET_SHARE:.0%} of rows, "
        f"{DIM}-d float32, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )
    reference_rate = None
    for rows in options.sizes:
        path = dataset(rows, options.data_dir)
        budget = int(rows * BUDGET_SHARE)
        print(f"\n{rows:,} rows ({path.stat().st_size / 2**30:.2f} GiB Parquet), budget {budget:,}")
        ours = run_child("ours", path, budget)
        line("curate select (blocked, exact)", ours, f"walked {ours['walked']:,} rows")
        if "reference" in options.skip:
            continue
        if reference_rate is None:
            reference = run_child("reference", path, budget)
            line("per-row reference", reference, overlap(ours["kept_ids"], reference["kept_ids"]))
            reference_rate = ours["pairs"] / reference["phases"]["select"]
            speedup = reference["phases"]["select"] / ours["phases"]["select"]
            total = reference["wall_s"] / ours["wall_s"]
            print(
                f"  -> blocked filter {speedup:.1f}x faster than the per-row reference "
                f"(selection alone; {total:.1f}x end to end)"
            )
        else:
            estimate = ours["pairs"] / reference_rate
            print(
                f"  per-row reference: not run; it would compare {ours['pairs']:,} pairs, "
                f"~{estimate / 60:.0f} min at its rate on the smaller size (a lower bound: "
                "the kept matrix no longer fits in cache)"
            )

    if "distilabel" not in options.skip:
        path = dataset(min(options.sizes), options.data_dir)
        print(
            f"\ndistilabel DeitaFiltering on the first {DISTILABEL_ROWS:,} rows: the largest it "
            "runs here (its float64 X @ X.T segfaults in this numpy's OpenBLAS from ~15,500 "
            f"rows; at 100,000 rows the N x N matrix alone would be {1e5**2 * 8 / 1e9:.0f} GB)"
        )
        subset = options.data_dir / f"planted-first-{DISTILABEL_ROWS}.parquet"
        if not subset.exists():
            pq.write_table(pq.read_table(path).slice(0, DISTILABEL_ROWS), subset)
        budget = int(DISTILABEL_ROWS * BUDGET_SHARE)
        ours = run_child("ours", subset, budget)
        line("curate select", ours)
        for threshold, meaning in ((0.9, "its default"), (0.1, "distance 0.1 = similarity 0.9")):
            theirs = run_child("distilabel", subset, DISTILABEL_ROWS, threshold)
            line(
                f"DeitaFiltering {threshold} ({meaning})",
                theirs,
                "vs exact: " + overlap(ours["kept_ids"], theirs["kept_ids"]),
            )

    if "embeddings" not in options.skip:
        result = run_child("embeddings", options.texts)
        print(
            f"\nEmbeddings, all-MiniLM-L6-v2, {options.texts:,} distinct texts, batch 64, one "
            f"torch thread, CPU seconds, {EMBED_RUNS} alternating runs each (load {result['load']})"
        )
        best = {}
        for label, key in (
            ("SentenceTransformer.encode", "direct_s"),
            ("curation encode", "ours_s"),
        ):
            best[key] = min(result[key])
            rate = options.texts / best[key]
            print(f"  {label:<28} {rate:7.1f} texts per CPU second (best)  runs {result[key]}")
        change = (best["direct_s"] / best["ours_s"] - 1) * 100
        typical = statistics.median(result["direct_s"]) / statistics.median(result["ours_s"]) - 1
        print(
            f"  -> curation encode: {change:+.1f}% throughput vs direct (best runs), "
            f"{typical * 100:+.1f}% (medians)"
        )
        print(
            f"  rerun through the cache: {result['rerun_computed']} computed, "
            f"{result['rerun_cached']:,} from the cache in {result['rerun_s']}s"
        )


if __name__ == "__main__":
    main()
