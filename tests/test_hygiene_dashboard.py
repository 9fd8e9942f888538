"""Topic clusters on the Diversity page (AppTest on the full fixture run): full counts."""

from __future__ import annotations

import pytest

from tests.test_dashboard import charts, frame, open_app, read, traces


def test_topics_table_counts_every_row(full_run):
    at = open_app(full_run, "views/diversity.py")
    assert not at.exception, [e.value for e in at.exception]
    table = frame(at, "topic", "rows", "kept", "approved", "AI = human", "95% interval")
    embeddings = read(full_run, "embeddings.parquet")
    selected = read(full_run, "selected.parquet")
    records = read(full_run, "review_records.parquet")
    assert table["rows"].sum() == len(embeddings)
    assert table["kept"].sum() == embeddings["id"].isin(selected["id"]).sum()
    approved = set(records.loc[records["decision"] == "approved", "record_id"])
    assert table["approved"].sum() == embeddings["id"].isin(approved).sum()
    feedback = read(full_run, "feedback.parquet")
    answers = feedback[
        (feedback["status"] == "submitted")
        & feedback["question"].isin(["preferred", "verdict"])
        & feedback["suggestion"].notna()
        & feedback["record_id"].isin(embeddings["id"])
    ]
    assert table["answers"].sum() == len(answers)
    agree = (answers["value"].astype(str) == answers["suggestion"].astype(str)).sum()
    assert (table["AI = human"] * table["answers"]).sum() == pytest.approx(agree)
    assert table["majority-label baseline"].between(0, 1).all()


def test_map_coloured_by_topic(full_run):
    at = open_app(full_run, "views/diversity.py")
    table = frame(at, "topic", "rows")
    at.radio(key="diversity:colour").set_value("topic").run()
    points = {name: len(t["x"]) for name, t in traces(charts(at)["map"]).items()}
    assert points == dict(zip(table["topic"], table["rows"], strict=True))
