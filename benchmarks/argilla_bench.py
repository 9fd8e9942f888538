"""Embedded Argilla server: bulk-log throughput and search latency at 20,000 records.

Starts a fresh embedded server in a temporary home, creates a dataset like the review
templates (2 text fields, 3 questions with suggestions, 5 metadata properties, one 384-d
vector), logs the records through the SDK's `dataset.records.log` and prints records/s,
then p50/p95 latency of filtered, text, similarity and annotator-queue searches (REST,
limit 50, as the SDK and the web UI send them). Goals: >= 500 records/s, p95 < 150 ms.

    .venv/bin/python benchmarks/argilla_bench.py [--records 20000] [--searches 40]

The machine is shared: the load average is printed before and after, read figures with it.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from curation.embedded import launcher
from curation.services import free_port

GOAL_RECORDS_PER_S = 500
GOAL_P95_MS = 150


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--searches", type=int, default=40, help="timed searches per kind")
    args = parser.parse_args()
    print(f"cpus {os.cpu_count()}, load average before {_load()}")
    with tempfile.TemporaryDirectory(prefix="argilla-bench-") as home:
        started = time.perf_counter()
        credentials, _ = launcher.start(Path(home), free_port())
        print(f"server start (new home, migrations): {time.perf_counter() - started:.1f} s")
        try:
            run(credentials, args.records, args.searches, Path(home))
        finally:
            launcher.stop(Path(home))
    print(f"load average after {_load()}")


def run(credentials: launcher.Credentials, n: int, searches: int, home: Path) -> None:
    import argilla as rg

    client = rg.Argilla(api_url=credentials.url, api_key=credentials.api_key)
    workspace = rg.Workspace(name="bench", client=client).create()
    dataset = rg.Dataset(name="bench", workspace=workspace, settings=_settings(rg), client=client)
    dataset = dataset.create()
    records, vectors = _records(rg, n)

    started = time.perf_counter()
    dataset.records.log(records)
    seconds = time.perf_counter() - started
    rate = n / seconds
    verdict = "meets" if rate >= GOAL_RECORDS_PER_S else "MISSES"
    print(f"logged {n} records in {seconds:.1f} s: {rate:.0f} records/s "
          f"({verdict} the goal of {GOAL_RECORDS_PER_S}); load average {_load()}")  # fmt: skip
    print(f"database size {_size_mb(home / 'argilla.db')} MB, server RSS {_rss_mb(home)} MB")

    annotator = rg.User(username="reviewer", password="bench-password", role="annotator",
                        client=client).create()  # fmt: skip
    annotator.add_to_workspace(workspace)
    annotator_key = client.api.http_client.get(f"/api/v1/users/{annotator.id}").json()["api_key"]
    reviewer = rg.Argilla(api_url=credentials.url, api_key=annotator_key)
    rg.Argilla._set_default(client)

    rng = random.Random(1)
    kinds = {
        "filtered (metadata range + suggestion value)": lambda: {
            "filters": {"and": [
                _range("deita_score", rng.random() * 0.5, 0.5 + rng.random() * 0.5),
                _terms({"entity": "suggestion", "question": "verdict", "property": "value"},
                       [rng.choice(VERDICTS)]),
            ]},
            "sort": [{"scope": _metadata("length"), "order": "desc"}],
        },
        "text (two words)": lambda: {
            "query": {"text": {"q": f"{rng.choice(WORDS)} {rng.choice(WORDS)}"}}
        },
        "similarity (k=50, by vector)": lambda: {
            "query": {"vector": {"name": "embedding", "value": vectors[rng.randrange(n)]}}
        },
        "similarity + filter": lambda: {
            "query": {"vector": {"name": "embedding", "value": vectors[rng.randrange(n)]}},
            "filters": {"and": [_terms(_metadata("source"), [rng.choice(SOURCES)])]},
        },
    }  # fmt: skip
    path = f"/api/v1/datasets/{dataset.id}/records/search"
    for name, body in kinds.items():
        _report(name, _latencies(client.api.http_client, path, body, searches))
    queue = {"filters": {"and": [
        _terms({"entity": "response", "property": "status"}, ["pending"]),
        _terms({"entity": "record", "property": "status"}, ["pending"]),
    ]}}  # fmt: skip
    me_path = f"/api/v1/me/datasets/{dataset.id}/records/search"
    _report(
        "annotator queue (/me, pending, own order)",
        _latencies(reviewer.api.http_client, me_path, lambda: queue, searches),
    )


def _metadata(name: str) -> dict:
    return {"entity": "metadata", "metadata_property": name}


def _terms(scope: dict, values: list) -> dict:
    return {"type": "terms", "scope": scope, "values": values}


def _range(name: str, ge: float, le: float) -> dict:
    return {"type": "range", "scope": _metadata(name), "ge": round(ge, 2), "le": round(le, 2)}


WORDS = [f"w{i:04d}" for i in range(2000)]
VERDICTS = ["keep", "fix", "drop"]
SOURCES = ["seed", "self-instruct", "evol-instruct", "magpie"]


def _settings(rg):
    return rg.Settings(
        fields=[rg.TextField(name="instruction"), rg.TextField(name="response")],
        questions=[
            rg.RatingQuestion(name="quality", values=[1, 2, 3, 4, 5]),
            rg.LabelQuestion(name="verdict", labels=VERDICTS),
            rg.TextQuestion(name="corrected_response", required=False),
        ],
        metadata=[
            rg.FloatMetadataProperty(name="deita_score"),
            rg.IntegerMetadataProperty(name="length"),
            rg.TermsMetadataProperty(name="source"),
            rg.FloatMetadataProperty(name="judge_uncertainty"),
            rg.IntegerMetadataProperty(name="selection_rank"),
        ],
        vectors=[rg.VectorField(name="embedding", dimensions=384)],
    )


def _records(rg, n: int):
    rng = random.Random(0)
    vectors = np.random.default_rng(0).standard_normal((n, 384)).astype(np.float32).tolist()
    records = [
        rg.Record(
            id=f"rec{i}",
            fields={
                "instruction": " ".join(rng.choices(WORDS, k=15)),
                "response": " ".join(rng.choices(WORDS, k=60)),
            },
            metadata={
                "deita_score": rng.random(),
                "length": rng.randint(10, 2000),
                "source": rng.choice(SOURCES),
                "judge_uncertainty": rng.random(),
                "selection_rank": i,
            },
            suggestions=[
                rg.Suggestion("quality", rng.randint(1, 5), score=rng.random(), agent="judge"),
                rg.Suggestion("verdict", rng.choice(VERDICTS), score=rng.random(), agent="judge"),
                rg.Suggestion("corrected_response", "A better answer.", agent="judge"),
            ],
            vectors={"embedding": vectors[i]},
        )
        for i in range(n)
    ]
    return records, vectors


def _latencies(http, path: str, body, count: int) -> list[float]:
    http.post(path, json=body(), params={"limit": 50}).raise_for_status()  # warm the caches
    times = []
    for _ in range(count):
        payload = body()
        started = time.perf_counter()
        reply = http.post(path, json=payload, params={"limit": 50})
        times.append((time.perf_counter() - started) * 1000)
        reply.raise_for_status()
    return times


def _report(name: str, times: list[float]) -> None:
    p50 = statistics.median(times)
    p95 = statistics.quantiles(times, n=20)[-1]
    verdict = "meets" if p95 < GOAL_P95_MS else "MISSES"
    print(f"{name:45s} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  ({verdict} p95 < {GOAL_P95_MS} ms)")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _size_mb(path: Path) -> str:
    total = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    return f"{total / 2**20:.0f}"


def _rss_mb(home: Path) -> str:
    try:
        pid = (home / "argilla.pid").read_text().strip()
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS"):
                return f"{int(line.split()[1]) / 1024:.0f}"
    except (OSError, ValueError):
        pass
    return "?"


if __name__ == "__main__":
    main()
