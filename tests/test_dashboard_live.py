"""The Review page's live section reads progress from a real (embedded) Argilla server."""

from __future__ import annotations

import pandas as pd
import pytest
import streamlit as st

from tests.test_dashboard import open_app

pytestmark = pytest.mark.integration


def test_live_progress_from_argilla(argilla_server, tmp_path):
    import argilla as rg

    workspace = argilla_server.workspace("dashboard-tests")
    settings = rg.Settings(
        fields=[rg.TextField(name="instruction")],
        questions=[rg.LabelQuestion(name="verdict", labels=["keep", "drop"])],
        distribution=rg.TaskDistribution(min_submitted=1),
    )
    name = argilla_server.unique("live")
    dataset = rg.Dataset(
        name=name, workspace=workspace, settings=settings, client=argilla_server.client
    ).create()
    dataset.records.log([{"instruction": f"Say {word}"} for word in ("hi", "yes", "no")])
    annotator = argilla_server.new_annotator(workspace)
    record = next(iter(dataset.records))  # read as the owner; annotators use the search API
    reply = annotator.client.api.http_client.post(
        f"/api/v1/records/{record._server_id}/responses",
        json={"status": "submitted", "values": {"verdict": {"value": "keep"}}},
    )
    assert reply.status_code == 201, reply.text

    run = tmp_path / "live-run"
    run.mkdir()
    pd.DataFrame(
        {
            "dataset": [name],
            "record_id": ["r0"],
            "template": ["instruction"],
            "dataset_id": [str(dataset.id)],
            "record_status": ["pending"],
            "n_submitted": [0],
        }
    ).to_parquet(run / "review_records.parquet")

    st.cache_data.clear()
    at = open_app(run, "views/review.py")
    assert not at.exception
    tables = [t.value for t in at.dataframe]
    progress = next(t for t in tables if {"total", "completed"} <= set(t.columns))
    assert progress.to_dict("records") == [
        {"dataset": name, "total": 3, "completed": 1, "pending": 2}
    ]
    people = next(t for t in tables if "annotator" in t.columns and "submitted" in t.columns)
    row = people[people["annotator"] == annotator.username].iloc[0]
    assert row["submitted"] == 1
    assert f"Read from {argilla_server.url}" in "\n".join(c.value for c in at.caption)
