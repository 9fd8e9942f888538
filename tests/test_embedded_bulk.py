"""Bulk logs of new records (`curation.embedded.bulk_log`) answer what argilla-server answers.

A batch of new records is written with executemany and answered from the rows written,
not read back. The SDK reads that answer, so it must be what a fresh read of the records
gives (byte for byte, key order included), and what argilla-server's own path answers for
the same batch; a bad record still rejects the whole batch with argilla-server's message,
and the records are searchable at once.
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration


def _settings(rg):
    return rg.Settings(
        fields=[rg.TextField(name="prompt"), rg.TextField(name="answer")],
        questions=[
            rg.RatingQuestion(name="quality", values=[1, 2, 3, 4, 5]),
            rg.LabelQuestion(name="verdict", labels=["keep", "fix", "drop"]),
            rg.MultiLabelQuestion(name="tags", labels=["a", "b", "c"], required=False),
            rg.RankingQuestion(name="order", values=["x", "y", "z"], required=False),
            rg.SpanQuestion(name="spans", field="answer", labels=["ent"], required=False),
            rg.TextQuestion(name="note", required=False),
        ],
        metadata=[
            rg.TermsMetadataProperty(name="source"),
            rg.IntegerMetadataProperty(name="length"),
            rg.FloatMetadataProperty(name="score"),
        ],
        vectors=[
            rg.VectorField(name="emb", dimensions=4),
            rg.VectorField(name="other", dimensions=2),
        ],
        allow_extra_metadata=True,
    )


def _dataset(argilla_server, rg, workspace):
    return rg.Dataset(
        name=argilla_server.unique("bulk"),
        workspace=workspace,
        settings=_settings(rg),
        client=argilla_server.client,
    ).create()


def _items(question_ids: dict[str, str]) -> list[dict]:
    """REST items covering every kind of value: no metadata, no external id, one vector,
    none, float32-like floats, integers where floats go, unicode and quotes in texts."""
    q = question_ids
    return [
        {
            "external_id": "b0",
            "fields": {"prompt": 'say "hi" ☃', "answer": "Paris is big"},
            "metadata": {"source": "seed", "length": 12, "score": 0.1257302165031433},
            "suggestions": [
                {"question_id": q["quality"], "value": 4, "score": 0.5, "agent": "judge"},
                {"question_id": q["verdict"], "value": "keep", "score": 1, "type": "model"},
                {"question_id": q["tags"], "value": ["a", "c"], "score": [0.25, 0.75]},
                {
                    "question_id": q["order"],
                    "value": [{"value": "y", "rank": 1}, {"value": "x", "rank": 2}],
                },
                {
                    "question_id": q["spans"],
                    "value": [{"label": "ent", "start": 0, "end": 5}],
                    "agent": "ner",
                },
                {"question_id": q["note"], "value": "A better answer.", "type": "human"},
            ],
            "vectors": {"emb": [0.1257302165031433, -1e-05, 2, 3.5], "other": [1, 0]},
        },
        {
            "fields": {"prompt": "second", "answer": "no id, no metadata"},
            "vectors": {"other": [0.0, 1.0]},
        },
        {
            "external_id": "b2",
            "fields": {"prompt": "third", "answer": "dataset_id in metadata"},
            "metadata": {"source": "magpie", "dataset_id": "x"},
            "suggestions": [{"question_id": q["verdict"], "value": "drop"}],
        },
    ]


def _question_ids(http, dataset) -> dict[str, str]:
    questions = http.get(f"/api/v1/datasets/{dataset.id}/questions").json()["items"]
    return {question["name"]: question["id"] for question in questions}


def _put(http, dataset, items: list[dict]):
    return http.put(f"/api/v1/datasets/{dataset.id}/records/bulk", json={"items": items})


def test_the_answer_is_what_a_fresh_read_gives(argilla_server):
    import argilla as rg

    http = argilla_server.client.api.http_client
    workspace = argilla_server.workspace(argilla_server.unique("bulk"))
    dataset = _dataset(argilla_server, rg, workspace)
    items = _items(_question_ids(http, dataset))
    reply = _put(http, dataset, items)
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    assert list(answer) == ["items"]  # as argilla-server's route answers
    assert [item["external_id"] for item in answer["items"]] == ["b0", None, "b2"]
    for item in answer["items"]:
        stored = http.get(f"/api/v1/records/{item['id']}")
        assert stored.status_code == 200, stored.text
        assert json.dumps(item) == json.dumps(stored.json())  # values, order, key order
    # Listing gives them in the order logged, as the same JSON.
    listed = http.get(
        f"/api/v1/datasets/{dataset.id}/records",
        params=[("include", "responses"), ("include", "suggestions"), ("include", "vectors")],
    ).json()["items"]
    assert json.dumps(listed) == json.dumps(answer["items"])
    first = answer["items"][0]
    assert first["vectors"] == {"emb": [0.1257302165031433, -1e-05, 2.0, 3.5], "other": [1.0, 0.0]}
    assert [s["value"] for s in first["suggestions"]][:3] == [4, "keep", ["a", "c"]]

    # Searchable at once: text, metadata, suggestion and similarity.
    search = f"/api/v1/datasets/{dataset.id}/records/search"

    def found(body: dict) -> list:
        reply = http.post(search, json=body)
        assert reply.status_code == 200, reply.text
        return [item["record"]["external_id"] for item in reply.json()["items"]]

    assert found({"query": {"text": {"q": "Paris"}}}) == ["b0"]
    terms = {"entity": "metadata", "metadata_property": "source"}
    assert found(
        {"filters": {"and": [{"type": "terms", "scope": terms, "values": ["magpie"]}]}}
    ) == ["b2"]
    verdict = {"entity": "suggestion", "question": "verdict", "property": "value"}
    assert found(
        {"filters": {"and": [{"type": "terms", "scope": verdict, "values": ["drop"]}]}}
    ) == ["b2"]
    similar = {"query": {"vector": {"name": "other", "value": [0.0, 1.0]}}}
    assert found(similar)[0] is None  # the record without an external id


def _comparable(items: list[dict], question_names: dict[str, str]) -> list[dict]:
    """Items without what differs between two loggings of the same batch: ids, timestamps."""
    out = []
    for item in items:
        item = {
            k: v
            for k, v in item.items()
            if k not in ("id", "dataset_id", "inserted_at", "updated_at")
        }
        item["suggestions"] = [
            {
                **{k: v for k, v in s.items() if k not in ("id", "inserted_at", "updated_at")},
                "question_id": question_names[s["question_id"]],
            }
            for s in item["suggestions"]
        ]
        out.append(item)
    return out


def test_same_answer_as_argilla_servers_own_path(argilla_server):
    """A response on one record sends the batch down argilla-server's own path: every
    other record must come back as the new-records path answers it."""
    import argilla as rg

    http = argilla_server.client.api.http_client
    owner_id = http.get("/api/v1/me").json()["id"]
    workspace = argilla_server.workspace(argilla_server.unique("bulk"))
    answers = []
    for own_path in (False, True):
        dataset = _dataset(argilla_server, rg, workspace)
        question_ids = _question_ids(http, dataset)
        items = _items(question_ids)
        if own_path:
            draft = {"user_id": owner_id, "status": "draft", "values": {"note": {"value": "n"}}}
            items.append({"external_id": "with-response", "fields": {"prompt": "p", "answer": "a"},
                          "responses": [draft]})  # fmt: skip
        reply = _put(http, dataset, items)
        assert reply.status_code == 200, reply.text
        names = {qid: name for name, qid in question_ids.items()}
        assert list(reply.json()) == ["items"]
        answers.append(_comparable(reply.json()["items"][:3], names))
    assert answers[0] == answers[1]


def test_a_bad_record_rejects_the_batch(argilla_server):
    import argilla as rg

    http = argilla_server.client.api.http_client
    workspace = argilla_server.workspace(argilla_server.unique("bulk"))
    dataset = _dataset(argilla_server, rg, workspace)
    items = _items(_question_ids(http, dataset))
    items[1]["vectors"] = {"emb": [1.0, 2.0]}  # 2 values for a 4-d vector
    reply = _put(http, dataset, items)
    assert reply.status_code == 422
    assert "Record at position 1 is not valid because" in reply.text
    assert "must have 4 elements, got 2 elements" in reply.text
    listed = http.get(f"/api/v1/datasets/{dataset.id}/records").json()["items"]
    assert listed == []  # nothing of the batch was written


def test_relogging_updates_through_argilla_servers_path(argilla_server):
    """Records that exist already go argilla-server's way: the answer holds what the
    records have now."""
    import argilla as rg

    http = argilla_server.client.api.http_client
    workspace = argilla_server.workspace(argilla_server.unique("bulk"))
    dataset = _dataset(argilla_server, rg, workspace)
    question_ids = _question_ids(http, dataset)
    first = _put(http, dataset, _items(question_ids)).json()["items"]
    again = [
        {
            "external_id": "b2",
            "suggestions": [{"question_id": question_ids["verdict"], "value": "fix"}],
        }
    ]
    reply = _put(http, dataset, again)
    assert reply.status_code == 200, reply.text
    (item,) = reply.json()["items"]
    assert item["id"] == first[2]["id"]
    assert item["fields"] == first[2]["fields"] and item["metadata"] == first[2]["metadata"]
    assert [s["value"] for s in item["suggestions"]] == ["fix"]


def test_logged_records_reach_the_database_file(argilla_server):
    """The WAL is checkpointed in the background (not inside the requests' commits): what
    was logged is in the database file itself within seconds, so the WAL cannot grow
    without bound and a restart has nothing to replay."""
    import sqlite3
    import time

    import argilla as rg

    http = argilla_server.client.api.http_client
    workspace = argilla_server.workspace(argilla_server.unique("bulk"))
    dataset = _dataset(argilla_server, rg, workspace)
    reply = _put(http, dataset, _items(_question_ids(http, dataset)))
    assert reply.status_code == 200, reply.text
    # immutable=1 reads the database file alone, ignoring the WAL.
    uri = f"file:{argilla_server.home / 'argilla.db'}?immutable=1"
    deadline = time.monotonic() + 30
    while True:
        try:
            with sqlite3.connect(uri, uri=True) as db:
                count = db.execute(
                    "SELECT count(*) FROM records WHERE dataset_id = ?", (dataset.id.hex,)
                ).fetchone()[0]
        except sqlite3.DatabaseError:  # a page caught mid-copy: look again
            count = None
        if count == 3:
            break
        assert time.monotonic() < deadline, f"records in the database file: {count}, not 3"
        time.sleep(0.5)
