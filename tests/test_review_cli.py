"""`curate push`, `curate pull` and `curate route` as a user runs them.

Without a server: bad input and an unreachable server are one-line errors. With the
session's embedded server: push, pull into a run directory, route, and a template
mismatch that changes nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from curation.services import free_port
from tests.util import one_line_error

CURATE = [sys.executable, "-m", "curation"]


def rows(n: int = 4) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "id": f"cli-{i}",
                "instruction": f"What is {i} plus {i}?",
                "chosen": f"{2 * i}.",
                "rejected": f"{2 * i + 1}, I believe.",
                "chosen_rating": 5.0,
                "rejected_rating": 1.0,
                "judge_model": "judge-1",
                "judge_uncertainty": 0.1 * i,
            }
            for i in range(n)
        ]
    )


def curate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ARGILLA_")}
    return subprocess.run(
        [*CURATE, *args], capture_output=True, text=True, timeout=300, env={**base, **(env or {})}
    )


@pytest.fixture
def input_file(tmp_path: Path) -> Path:
    path = tmp_path / "pairs.parquet"
    rows().to_parquet(path)
    return path


NOWHERE = {"ARGILLA_API_URL": f"http://127.0.0.1:{free_port()}", "ARGILLA_API_KEY": "k"}


def test_bad_template_and_missing_columns_are_named(tmp_path, input_file):
    push = ["push", "--input", str(input_file), "--dataset", "d"]
    line = one_line_error(curate(*push, "--template", "pairs", env=NOWHERE))
    assert "unknown template 'pairs': use instruction or preference" in line
    rows().drop(columns=["rejected", "judge_model"]).to_parquet(tmp_path / "short.parquet")
    short = ["push", "--input", str(tmp_path / "short.parquet"), "--dataset", "d"]
    line = one_line_error(curate(*short, "--template", "preference", env=NOWHERE))
    assert "missing column(s) rejected, judge_model for the preference template" in line


def test_an_unreachable_server_is_one_line_and_nothing_is_written(tmp_path, input_file):
    push = ["push", "--input", str(input_file), "--template", "preference", "--dataset", "d"]
    line = one_line_error(curate(*push, env=NOWHERE))
    assert f"no Argilla server at {NOWHERE['ARGILLA_API_URL']}" in line
    output = tmp_path / "feedback.parquet"
    line = one_line_error(curate("pull", "--dataset", "d", "--output", str(output), env=NOWHERE))
    assert "no Argilla server" in line
    assert not output.exists()
    line = one_line_error(curate("route", "--dataset", "d", env=NOWHERE))
    assert "no Argilla server" in line


@pytest.mark.integration
def test_push_pull_route_through_the_cli(argilla_server, input_file, tmp_path):
    workspace = argilla_server.unique("cli")
    name = argilla_server.unique("cli-pairs")
    run = tmp_path / "run"
    run.mkdir()
    target = ["--dataset", name, "--workspace", workspace]
    pushed = curate(
        "push", "--input", str(input_file), "--template", "preference", *target, "--run", str(run)
    )
    assert pushed.returncode == 0, pushed.stderr
    assert "4 records added, 0 updated" in pushed.stdout
    assert "annotation-mode?sort=metadata.priority.desc" in pushed.stdout
    assert argilla_server.api_key not in pushed.stdout + pushed.stderr

    again = curate("push", "--input", str(input_file), "--template", "preference", *target)
    assert "0 records added, 4 updated" in again.stdout, again.stderr

    mismatch = curate("push", "--input", str(input_file), "--template", "instruction", *target)
    assert "missing column(s) response" in one_line_error(mismatch)
    pd.DataFrame(
        {"id": ["x"], "instruction": ["Say hi."], "response": ["Hi."]}
    ).to_parquet(tmp_path / "inst.parquet")  # fmt: skip
    mismatch = curate("push", "--input", str(tmp_path / "inst.parquet"), "--template",
                      "instruction", *target)  # fmt: skip
    assert "was made with the preference template" in one_line_error(mismatch)

    output = tmp_path / "out" / "feedback.parquet"
    pulled = curate("pull", *target, "--output", str(output), "--run", str(run))
    assert pulled.returncode == 0, pulled.stderr
    assert "4 records, 0 submitted answers" in pulled.stdout
    schema = pq.read_schema(output)
    assert schema.names == [
        "dataset", "record_id", "annotator", "question", "question_type", "value", "status",
        "suggestion", "suggestion_score", "suggestion_agent", "updated_at", "blind",
    ]  # fmt: skip
    assert str(schema.field("updated_at").type) == "timestamp[us, tz=UTC]"
    records = pd.read_parquet(run / "review_records.parquet")
    assert sorted(records["record_id"]) == [f"cli-{i}" for i in range(4)]
    assert set(records["decision"]) == {"pending"}
    assert (run / "feedback.parquet").exists()

    routed = curate("route", *target)
    assert routed.returncode == 0, routed.stderr
    assert "re-prioritised 4 records" in routed.stdout
    assert "no record decided by people yet" in routed.stdout
