"""Embedded Argilla server: the first burst of annotator searches right after a restart.

Logs 20,000 records like `argilla_bench` (a 384-d vector each) into a fresh embedded
server, then twice restarts it and at once sends a burst from 10 annotators, each in its
own thread, through the annotator search the web UI uses (`/me/.../records/search`):
similarity searches (half with a metadata filter) and filtered, sorted queue searches.

- baseline: the server started with `CURATION_VECTORS_BASELINE=1`, i.e. as before: no
  loading at start, and every search that finds the vector matrix cold parses it itself;
- shared, no saved copy: one load per vector setting at a time, started in the background
  at start, parsing the vectors' JSON (as after a push and a restart with no search between);
- shared: the same from the binary copy the server saved (as after any restart once
  reviewers have searched).

Prints p50 / p95 / max of each burst (and of a second, warm burst) with the load average.
Goal: p95 < 1 s at 20,000 records and 10 threads.

    .venv/bin/python benchmarks/argilla_cold_bench.py [--records 20000] [--threads 10]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from argilla_bench import SOURCES, _load, _metadata, _range, _records, _settings, _terms

from curation.embedded import launcher, vectors
from curation.embedded.layout import Layout
from curation.services import free_port

GOAL_P95_S = 1.0
MODES = ("baseline", "shared, no saved copy", "shared")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=10, help="annotators searching at once")
    parser.add_argument("--per-thread", type=int, default=4, help="searches per annotator")
    args = parser.parse_args()
    print(f"cpus {os.cpu_count()}, load average before {_load()}")
    with tempfile.TemporaryDirectory(prefix="argilla-cold-bench-") as tmp:
        home, port = Path(tmp), free_port()
        credentials, _ = launcher.start(home, port)
        try:
            dataset_id, vectors_, keys = _populate(credentials, args.records, args.threads)
            url = credentials.url
            _burst(url, dataset_id, vectors_, keys[:1], 1, seed=0)  # reviewers have searched
            bursts = {
                mode: _burst_after_restart(home, port, url, mode, dataset_id, vectors_, keys, args)
                for mode in MODES
            }
            warm = _burst(url, dataset_id, vectors_, keys, args.per_thread, seed=99)
            _report("shared, second burst (warm)", warm)
        finally:
            launcher.stop(home)
    p95 = {mode: statistics.quantiles(times, n=20)[-1] for mode, times in bursts.items()}
    ratio = p95[MODES[0]] / p95[MODES[-1]]
    figures = ", ".join(f"{mode} {p95[mode]:.2f} s" for mode in MODES)
    print(f"first-burst p95: {figures} (baseline / shared {ratio:.1f}x); load {_load()}")


def _populate(credentials, n: int, annotators: int) -> tuple[str, list, list[str]]:
    """The dataset's id, its vectors, and the API keys of `annotators` annotators."""
    import argilla as rg

    client = rg.Argilla(api_url=credentials.url, api_key=credentials.api_key)
    workspace = rg.Workspace(name="bench", client=client).create()
    dataset = rg.Dataset(name="cold", workspace=workspace, settings=_settings(rg), client=client)
    dataset = dataset.create()
    records, vectors_ = _records(rg, n)
    started = time.perf_counter()
    dataset.records.log(records)
    print(f"logged {n} records in {time.perf_counter() - started:.0f} s; load {_load()}")
    keys = []
    for i in range(annotators):
        user = rg.User(username=f"reviewer{i}", password=f"bench-password-{i}",
                       role="annotator", client=client).create()  # fmt: skip
        user.add_to_workspace(workspace)
        keys.append(client.api.http_client.get(f"/api/v1/users/{user.id}").json()["api_key"])
    return str(dataset.id), vectors_, keys


def _burst_after_restart(home, port, url, mode, dataset_id, vectors_, keys, args) -> list:
    launcher.stop(home)
    if mode == "baseline":
        os.environ[vectors.BASELINE_ENV] = "1"  # the server inherits it
    if mode == "shared, no saved copy":
        shutil.rmtree(Layout(home).saved_vectors, ignore_errors=True)
    try:
        started = time.perf_counter()
        launcher.start(home, port)
        print(f"restart ({mode}): {time.perf_counter() - started:.1f} s to healthy")
    finally:
        os.environ.pop(vectors.BASELINE_ENV, None)
    times = _burst(url, dataset_id, vectors_, keys, args.per_thread, seed=1)
    _report(f"{mode}, first burst after restart", times)
    return [seconds for _, seconds in times]


def _burst(url, dataset_id, vectors_, keys, per_thread: int, seed: int) -> list:
    """(kind, seconds) of every search; the annotators start together."""
    start = threading.Barrier(len(keys))

    def annotator(i: int) -> list[tuple[str, float]]:
        rng = random.Random(seed * 1000 + i)
        path = f"/api/v1/me/datasets/{dataset_id}/records/search"
        with httpx.Client(
            base_url=url, headers={"X-Argilla-Api-Key": keys[i]}, timeout=300
        ) as http:
            start.wait()
            times = []
            for j in range(per_thread):
                kind, body = _search(rng, vectors_, similar=(i + j) % 2 == 0)
                began = time.perf_counter()
                http.post(path, json=body, params={"limit": 50}).raise_for_status()
                times.append((kind, time.perf_counter() - began))
            return times

    with ThreadPoolExecutor(len(keys)) as pool:
        return [t for times in pool.map(annotator, range(len(keys))) for t in times]


def _search(rng: random.Random, vectors_: list, similar: bool) -> tuple[str, dict]:
    if similar:
        body = {"query": {"vector": {"name": "embedding", "value": rng.choice(vectors_)}}}
        if rng.random() < 0.5:
            body["filters"] = {"and": [_terms(_metadata("source"), [rng.choice(SOURCES)])]}
        return "similarity", body
    return "filtered", {
        "filters": {"and": [
            _terms({"entity": "response", "property": "status"}, ["pending"]),
            _range("deita_score", rng.random() * 0.5, 0.5 + rng.random() * 0.5),
        ]},
        "sort": [{"scope": _metadata("length"), "order": "desc"}],
    }  # fmt: skip


def _report(name: str, times: list) -> None:
    def line(seconds: list[float]) -> str:
        p95 = statistics.quantiles(seconds, n=20)[-1]
        return (f"p50 {statistics.median(seconds):5.2f} s  p95 {p95:5.2f} s  "
                f"max {max(seconds):5.2f} s")  # fmt: skip

    everything = [seconds for _, seconds in times]
    p95 = statistics.quantiles(everything, n=20)[-1]
    verdict = "meets" if p95 < GOAL_P95_S else "MISSES"
    print(f"{name:42s} {line(everything)}  ({verdict} p95 < {GOAL_P95_S:.0f} s; load {_load()})")
    for kind in ("similarity", "filtered"):
        print(f"  {kind:40s} {line([s for k, s in times if k == kind])}")


if __name__ == "__main__":
    main()
