"""Small helpers shared by tests."""

from __future__ import annotations

import subprocess

import pandas as pd
import psutil


def listen_addresses(port: int) -> set[str]:
    """The local IP addresses a TCP server listens on at `port` (for 127.0.0.1-only checks)."""
    return {
        conn.laddr.ip
        for conn in psutil.net_connections(kind="tcp")
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port
    }


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a failed command printed: exit 1, stderr only, no traceback."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def preference_rows(n: int, prefix: str = "pair", **overrides) -> pd.DataFrame:
    """`n` judged pairs as `curate select` writes them (columns a preference push takes)."""
    rows = []
    for i in range(n):
        rows.append(
            {
                "id": f"{prefix}-{i}",
                "instruction": f"Name the capital of country number {i}.",
                "chosen": f"The capital is City {i}.",
                "rejected": f"I think it is Town {i}, or maybe not.",
                "chosen_rating": 4.6,
                "rejected_rating": 2.2,
                "judge_model": "judge-1",
                "margin": 2.4,
                "judge_uncertainty": 0.1,
                "source": "self-instruct" if i % 2 else "magpie",
                "deita_score": float(3 + i),
                "tie": False,
                "generation_models": ["gen-a", "gen-b"],
                "chosen_index": 0,
                "rejected_index": 1,
                "selection_rank": i,
                "nn_similarity": None if i == 0 else 0.5,
                **overrides,
            }
        )
    return pd.DataFrame(rows)


def planted_reviews(record_ids: list[str], seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Planted truth (`a` or `b`) per record and three reviewers' answers to `preferred`:
    `good` right 90% of the time, `fair` 75%, `careless` clicks the first option (`a`)
    90% of the time and anything otherwise. Columns `record_id`, `annotator`, `value`."""
    import numpy as np

    rng = np.random.default_rng(seed)
    labels = np.array(["a", "b", "tie"])
    truth = pd.Series(rng.choice(["a", "b"], size=len(record_ids)), index=record_ids)
    rows = []
    for record, right in truth.items():
        for who, accuracy in (("good", 0.9), ("fair", 0.75), ("careless", None)):
            if accuracy is None:
                value = "a" if rng.random() < 0.9 else rng.choice(labels)
            elif rng.random() < accuracy:
                value = right
            else:
                value = rng.choice(labels[labels != right])
            rows.append({"record_id": record, "annotator": who, "value": str(value)})
    return pd.DataFrame(rows), truth
