"""Review loop throughput on the embedded server: push, re-push, full and incremental pull.

Starts a fresh embedded server in a temporary home, pushes N preference rows (template
`preference`: 3 fields, 4 questions, 3 suggestions, 20 metadata values and a 384-d vector
per record; random vectors, so the embedding model's time is not in it), pushes them
again (the update path), pulls the dataset (full read), pulls again with nothing changed,
lets two annotators answer K records and pulls again (incremental), then decides every
record (`reviewed_rows`). Prints seconds and records/s for each.

    .venv/bin/python benchmarks/review_bench.py [--records 5000] [--answered 100]

The machine is shared: the load average is printed before and after, read figures with it.
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from curation.config import RoutingWeights
from curation.embedded import launcher
from curation.review.pull import pull
from curation.review.push import chosen_side, plan_records, push_records
from curation.review.records import reviewed_rows
from curation.services import free_port


def rows(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    ratings = rng.uniform(1, 5, size=(n, 2))
    return pd.DataFrame(
        {
            "id": [f"bench-{i}" for i in range(n)],
            "instruction": [
                f"Explain topic number {i} to a curious twelve-year-old." for i in range(n)
            ],
            "chosen": [f"Topic {i} is about how things work, step by step. " * 4 for i in range(n)],
            "rejected": [f"Topic {i}? Not sure. " * 3 for i in range(n)],
            "chosen_rating": ratings.max(axis=1),
            "rejected_rating": ratings.min(axis=1),
            "margin": ratings.max(axis=1) - ratings.min(axis=1),
            "judge_model": "judge-bench",
            "judge_uncertainty": rng.uniform(0, 1, n),
            "complexity": rng.uniform(1, 6, n),
            "quality": rng.uniform(1, 6, n),
            "deita_score": rng.uniform(1, 36, n),
            "source": rng.choice(["self-instruct", "magpie", "evol-instruct"], n),
            "selection_rank": np.arange(n),
            "nn_similarity": rng.uniform(0, 0.9, n),
        }
    )


def timed(label: str, n: int, work):
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    rate = f", {n / seconds:,.0f} records/s" if n else ""
    print(f"{label}: {seconds:.2f} s{rate}")
    return result


def run(credentials: launcher.Credentials, n: int, answered: int) -> None:
    import argilla as rg

    client = rg.Argilla(api_url=credentials.url, api_key=credentials.api_key)
    table = rows(n)
    vectors = np.random.default_rng(1).normal(size=(n, 384)).astype(np.float32)
    planned = timed("plan records", n, lambda: plan_records(table, "preference", RoutingWeights()))

    def push():
        return push_records(client, planned, "preference", "bench", "bench", vectors=vectors)

    timed("push (new records)", n, push)
    timed("push again (updates)", n, push)
    cache = Path(tempfile.mkdtemp(prefix="review-bench-cache-"))
    first = timed("pull, full read", n, lambda: pull(client, "bench", "bench", cache))
    timed("pull, nothing changed", 0, lambda: pull(client, "bench", "bench", cache))

    workspace = client.workspaces("bench")
    ids = first.records["argilla_id"].tolist()[:answered]
    record_ids = first.records["record_id"].tolist()[:answered]
    for _ in range(2):
        password = secrets.token_urlsafe(12)
        user = rg.User(
            username=f"bench-{secrets.token_hex(3)}", password=password, role="annotator",
            client=client,
        ).create()  # fmt: skip
        user.add_to_workspace(workspace)
        key = client.api.http_client.get(f"/api/v1/users/{user.id}").json()["api_key"]
        annotator = rg.Argilla(api_url=credentials.url, api_key=key)
        items = [
            {
                "record_id": i,
                "status": "submitted",
                "values": {"preferred": {"value": chosen_side(r)}},
            }
            for i, r in zip(ids, record_ids, strict=True)
        ]
        for start in range(0, len(items), 100):
            annotator.api.http_client.post(
                "/api/v1/me/responses/bulk", json={"items": items[start : start + 100]}
            ).raise_for_status()
        rg.Argilla._set_default(client)
    changed = timed(
        f"pull after {answered} records were answered",
        0,
        lambda: pull(client, "bench", "bench", cache),
    )
    print(f"  fetched {changed.fetched} of {len(changed.records)} records")
    _, decided = timed(
        "reviewed_rows (pull + decide)", n, lambda: reviewed_rows(client, "bench", "bench")
    )
    print(f"  approved {int((decided['decision'] == 'approved').sum())} records")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5_000)
    parser.add_argument("--answered", type=int, default=100)
    args = parser.parse_args()
    print(f"cpus {os.cpu_count()}, load average before {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="review-bench-") as home:
        os.environ["CURATION_HOME"] = home  # the pull cache of reviewed_rows goes here too
        credentials, _ = launcher.start(Path(home) / "argilla", free_port())
        try:
            run(credentials, args.records, args.answered)
        finally:
            launcher.stop(Path(home) / "argilla")
    print(f"load average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
