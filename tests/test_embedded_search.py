"""The embedded Argilla server end to end: SDK and REST against a real server, no mocks.

One dataset (fields, rating/label/multi-label/text questions, terms/integer/float metadata,
a vector, overlap distribution of 2) with 48 records and suggestions, two annotators who
submit, draft and discard through their own API keys. Every filter, sort, text and
similarity query is checked against the same computation done locally on the data.
"""

from __future__ import annotations

import random
import re
import sqlite3
import time

import numpy as np
import pytest

pytestmark = pytest.mark.integration

N_RECORDS = 48
WORDS = ["apple", "banana", "cherry", "delta", "echo", "falcon", "gamma", "harbor"]
SOURCES = ["seed", "magpie", "evol-instruct"]
TOPICS = ["math", "code", "chat"]
AGENTS = ["judge-a", "judge-b"]


class Data:
    """The records as logged, plus the responses, for computing expectations locally."""

    def __init__(self) -> None:
        rng = random.Random(7)
        vectors = np.random.default_rng(7).standard_normal((N_RECORDS, 8))
        self.records = []
        for i in range(N_RECORDS):
            self.records.append(
                {
                    "id": f"r{i:03d}",
                    "instruction": " ".join(rng.choices(WORDS, k=4)),
                    "response": " ".join(rng.choices(WORDS, k=6)),
                    "metadata": {
                        "source": SOURCES[i % 3],
                        "topics": sorted(rng.sample(TOPICS, rng.randint(1, 2))),
                        "length": rng.randint(0, 100),
                        # every 5th record has no score: sorts put it last both ways
                        **({} if i % 5 == 0 else {"score": round(rng.random(), 4)}),
                    },
                    "quality": (rng.randint(1, 5), round(rng.random(), 4), AGENTS[i % 2]),
                    "verdict": (rng.choice(["keep", "fix", "drop"]), round(rng.random(), 4)),
                    "tags": sorted(rng.sample(["a", "b", "c"], rng.randint(1, 2))),
                    "vector": vectors[i].tolist(),
                }
            )
        # responses[user][record_id] = (status, values)
        self.responses: dict[str, dict[str, tuple[str, dict]]] = {"alice": {}, "bob": {}}

    def ids(self, predicate) -> set[str]:
        return {r["id"] for r in self.records if predicate(r)}

    def submitted(self, record_id: str) -> int:
        return sum(
            1 for user in self.responses.values() if user.get(record_id, ("",))[0] == "submitted"
        )


def _settings(rg):
    return rg.Settings(
        fields=[rg.TextField(name="instruction"), rg.TextField(name="response")],
        questions=[
            rg.RatingQuestion(name="quality", values=[1, 2, 3, 4, 5]),
            rg.LabelQuestion(name="verdict", labels=["keep", "fix", "drop"]),
            rg.MultiLabelQuestion(name="tags", labels=["a", "b", "c"], required=False),
            rg.TextQuestion(name="note", required=False),
        ],
        metadata=[
            rg.TermsMetadataProperty(name="source"),
            rg.TermsMetadataProperty(name="topics"),
            rg.IntegerMetadataProperty(name="length"),
            rg.FloatMetadataProperty(name="score"),
        ],
        vectors=[rg.VectorField(name="embedding", dimensions=8)],
        distribution=rg.TaskDistribution(min_submitted=2),
    )


@pytest.fixture(scope="module")
def review(argilla_server):
    """(dataset, data, annotators) after logging records and the annotators' responses."""
    import argilla as rg

    owner = argilla_server.client
    workspace = argilla_server.workspace(argilla_server.unique("search"))
    dataset = rg.Dataset(
        name=argilla_server.unique("review"),
        workspace=workspace,
        settings=_settings(rg),
        client=owner,
    ).create()
    data = Data()
    dataset.records.log(
        [
            rg.Record(
                id=r["id"],
                fields={"instruction": r["instruction"], "response": r["response"]},
                metadata=r["metadata"],
                suggestions=[
                    rg.Suggestion(
                        "quality", r["quality"][0], score=r["quality"][1], agent=r["quality"][2]
                    ),
                    rg.Suggestion(
                        "verdict", r["verdict"][0], score=r["verdict"][1], agent="judge-a"
                    ),
                    rg.Suggestion("tags", r["tags"], agent="judge-a"),
                ],
                vectors={"embedding": r["vector"]},
            )
            for r in data.records
        ]
    )
    annotators = {name: argilla_server.new_annotator(workspace) for name in ("alice", "bob")}
    server_ids = _server_ids(owner, dataset)
    plan = {
        "alice": [(i, "submitted") for i in range(0, 16)]
        + [(i, "draft") for i in range(16, 20)]
        + [(i, "discarded") for i in range(20, 23)],
        "bob": [(i, "submitted") for i in range(10, 26)] + [(i, "draft") for i in range(26, 29)],
    }
    rng = random.Random(11)
    for name, steps in plan.items():
        http = annotators[name].client.api.http_client
        for i, status in steps:
            record_id = data.records[i]["id"]
            values = {
                "quality": {"value": rng.randint(1, 5)},
                "verdict": {"value": rng.choice(["keep", "fix", "drop"])},
                "tags": {"value": sorted(rng.sample(["a", "b", "c"], 1))},
            }
            body = {"status": status, "values": values}
            if status == "discarded":
                body.pop("values")
                values = {}
            reply = http.post(f"/api/v1/records/{server_ids[record_id]}/responses", json=body)
            assert reply.status_code == 201, reply.text
            data.responses[name][record_id] = (status, values)
    return dataset, data, annotators, server_ids


def _server_ids(client, dataset) -> dict[str, str]:
    return {record.id: str(record._server_id) for record in dataset.records(with_vectors=False)}


def _search(client, dataset, body: dict, *, me: bool = False, limit: int = 1000, offset: int = 0):
    """POST a search; returns (external ids in order, scores, total)."""
    path = f"/api/v1/{'me/' if me else ''}datasets/{dataset.id}/records/search"
    reply = client.api.http_client.post(path, json=body, params={"limit": limit, "offset": offset})
    assert reply.status_code == 200, reply.text
    items = reply.json()["items"]
    return (
        [item["record"]["external_id"] for item in items],
        [item["query_score"] for item in items],
        reply.json()["total"],
    )


def _ids(client, dataset, body: dict, **kwargs) -> set[str]:
    ids, _, total = _search(client, dataset, body, **kwargs)
    assert total == len(ids)
    return set(ids)


def _terms(scope: dict, values: list) -> dict:
    return {"filters": {"and": [{"type": "terms", "scope": scope, "values": values}]}}


def _range(scope: dict, ge=None, le=None) -> dict:
    bounds = {key: value for key, value in (("ge", ge), ("le", le)) if value is not None}
    return {"filters": {"and": [{"type": "range", "scope": scope, **bounds}]}}


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


# --- filters ---------------------------------------------------------------------------


def test_metadata_filters(argilla_server, review):
    dataset, data, _, _ = review
    owner = argilla_server.client
    scope = {"entity": "metadata", "metadata_property": "source"}
    assert _ids(owner, dataset, _terms(scope, ["seed"])) == data.ids(
        lambda r: r["metadata"]["source"] == "seed"
    )
    topics = {"entity": "metadata", "metadata_property": "topics"}
    assert _ids(owner, dataset, _terms(topics, ["code"])) == data.ids(
        lambda r: "code" in r["metadata"]["topics"]
    )
    length = {"entity": "metadata", "metadata_property": "length"}
    assert _ids(owner, dataset, _range(length, ge=20, le=60)) == data.ids(
        lambda r: 20 <= r["metadata"]["length"] <= 60
    )
    score = {"entity": "metadata", "metadata_property": "score"}
    assert _ids(owner, dataset, _range(score, ge=0.5)) == data.ids(
        lambda r: r["metadata"].get("score", -1) >= 0.5
    )


def test_suggestion_filters(argilla_server, review):
    dataset, data, _, _ = review
    owner = argilla_server.client
    verdict = {"entity": "suggestion", "question": "verdict", "property": "value"}
    assert _ids(owner, dataset, _terms(verdict, ["keep"])) == data.ids(
        lambda r: r["verdict"][0] == "keep"
    )
    quality = {"entity": "suggestion", "question": "quality", "property": "value"}
    assert _ids(owner, dataset, _terms(quality, ["4", "5"])) == data.ids(
        lambda r: r["quality"][0] >= 4
    )
    assert _ids(owner, dataset, _range(quality, ge=2, le=3)) == data.ids(
        lambda r: 2 <= r["quality"][0] <= 3
    )
    tags = {"entity": "suggestion", "question": "tags", "property": "value"}
    assert _ids(owner, dataset, _terms(tags, ["b"])) == data.ids(lambda r: "b" in r["tags"])
    score = {"entity": "suggestion", "question": "verdict", "property": "score"}
    assert _ids(owner, dataset, _range(score, ge=0.25, le=0.75)) == data.ids(
        lambda r: 0.25 <= r["verdict"][1] <= 0.75
    )
    agent = {"entity": "suggestion", "question": "quality", "property": "agent"}
    assert _ids(owner, dataset, _terms(agent, ["judge-b"])) == data.ids(
        lambda r: r["quality"][2] == "judge-b"
    )


def test_sdk_query_filter_and_text(argilla_server, review):
    """The SDK's own query API goes through the same engine."""
    import argilla as rg

    dataset, data, _, _ = review
    query = rg.Query(
        query="apple",
        filter=rg.Filter([("metadata.length", ">=", 30), ("verdict.suggestion", "==", "fix")]),
    )
    found = {record.id for record in dataset.records(query=query)}
    assert found == data.ids(
        lambda r: (
            "apple" in _words(r["instruction"] + " " + r["response"])
            and r["metadata"]["length"] >= 30
            and r["verdict"][0] == "fix"
        )
    )


def test_response_filters_for_everybody(argilla_server, review):
    dataset, data, _, _ = review
    owner = argilla_server.client
    status = {"entity": "response", "property": "status"}

    def with_status(wanted: str) -> set[str]:
        return {
            rid for user in data.responses.values() for rid, (s, _) in user.items() if s == wanted
        }

    for wanted in ("submitted", "draft", "discarded"):
        assert _ids(owner, dataset, _terms(status, [wanted])) == with_status(wanted)
    anybody = set().union(*(user.keys() for user in data.responses.values()))
    assert _ids(owner, dataset, _terms(status, ["pending"])) == data.ids(
        lambda r: r["id"] not in anybody
    )
    assert _ids(owner, dataset, _terms(status, ["pending", "draft"])) == data.ids(
        lambda r: r["id"] not in anybody
    ) | with_status("draft")
    verdict = {"entity": "response", "question": "verdict"}
    assert _ids(owner, dataset, _terms(verdict, ["keep"])) == {
        rid
        for user in data.responses.values()
        for rid, (_, values) in user.items()
        if values.get("verdict", {}).get("value") == "keep"
    }
    quality = {"entity": "response", "question": "quality"}
    assert _ids(owner, dataset, _range(quality, ge=4)) == {
        rid
        for user in data.responses.values()
        for rid, (_, values) in user.items()
        if values.get("quality", {}).get("value", 0) >= 4
    }


def test_response_filters_per_annotator(review):
    """`/me/.../records/search` (the annotator UI) scopes response filters to the caller."""
    dataset, data, annotators, _ = review
    alice = annotators["alice"].client
    mine = data.responses["alice"]
    status = {"entity": "response", "property": "status"}
    assert _ids(alice, dataset, _terms(status, ["pending"]), me=True) == data.ids(
        lambda r: r["id"] not in mine
    )
    for wanted in ("submitted", "draft", "discarded"):
        assert _ids(alice, dataset, _terms(status, [wanted]), me=True) == {
            rid for rid, (s, _) in mine.items() if s == wanted
        }
    # The annotator cannot use the all-responses endpoint at all.
    path = f"/api/v1/datasets/{dataset.id}/records/search"
    assert alice.api.http_client.post(path, json={}).status_code == 403


def test_record_status_follows_distribution(argilla_server, review):
    dataset, data, _, _ = review
    status = {"entity": "record", "property": "status"}
    completed = data.ids(lambda r: data.submitted(r["id"]) >= 2)
    assert completed  # alice and bob overlap on 10..15
    assert _ids(argilla_server.client, dataset, _terms(status, ["completed"])) == completed
    assert _ids(argilla_server.client, dataset, _terms(status, ["pending"])) == (
        data.ids(lambda r: True) - completed
    )


def test_record_id_and_date_filters(argilla_server, review):
    dataset, _, _, server_ids = review
    owner = argilla_server.client
    wanted = ["r001", "r007"]
    scope = {"entity": "record", "property": "id"}
    assert _ids(owner, dataset, _terms(scope, [server_ids[r] for r in wanted])) == set(wanted)
    external = {"entity": "record", "property": "external_id"}
    assert _ids(owner, dataset, _terms(external, wanted)) == set(wanted)
    inserted = {"entity": "record", "property": "inserted_at"}
    assert len(_ids(owner, dataset, _range(inserted, ge="2000-01-01T00:00:00"))) == N_RECORDS
    assert _ids(owner, dataset, _range(inserted, le="2000-01-01T00:00:00")) == set()


# --- sorting and paging ------------------------------------------------------------------


def _sort(scope: dict, order: str) -> dict:
    return {"sort": [{"scope": scope, "order": order}]}


def test_sort_by_metadata_with_missing_values_last(argilla_server, review):
    dataset, data, _, _ = review
    owner = argilla_server.client
    scope = {"entity": "metadata", "metadata_property": "score"}
    with_score = [r for r in data.records if "score" in r["metadata"]]
    missing = {r["id"] for r in data.records if "score" not in r["metadata"]}
    for order, reverse in (("asc", False), ("desc", True)):
        ids, scores, total = _search(owner, dataset, _sort(scope, order))
        ordered = sorted(with_score, key=lambda r: r["metadata"]["score"], reverse=reverse)
        expected = [r["id"] for r in ordered]
        assert ids[: len(expected)] == expected
        assert set(ids[len(expected) :]) == missing
        assert total == N_RECORDS
        assert all(score is None for score in scores)  # sorted results carry no score


def test_sort_by_suggestion_and_response_values(argilla_server, review):
    dataset, data, _, _ = review
    owner = argilla_server.client
    scope = {"entity": "suggestion", "question": "verdict", "property": "score"}
    ids, _, _ = _search(owner, dataset, _sort(scope, "desc"))
    scores = {r["id"]: r["verdict"][1] for r in data.records}
    assert [scores[i] for i in ids] == sorted(scores.values(), reverse=True)

    quality = {"entity": "response", "question": "quality"}
    ids, _, _ = _search(owner, dataset, _sort(quality, "desc"))
    averages = {}
    for user in data.responses.values():
        for rid, (_, values) in user.items():
            if "quality" in values:
                averages.setdefault(rid, []).append(values["quality"]["value"])
    averages = {rid: sum(v) / len(v) for rid, v in averages.items()}
    ranked = [averages[i] for i in ids[: len(averages)]]
    assert ranked == sorted(averages.values(), reverse=True)
    assert not set(ids[len(averages) :]) & set(averages)  # records without responses last


def test_sort_by_two_keys_and_paging(argilla_server, review):
    dataset, data, _, _ = review
    owner = argilla_server.client
    body = {
        "sort": [
            {"scope": {"entity": "metadata", "metadata_property": "source"}, "order": "asc"},
            {"scope": {"entity": "metadata", "metadata_property": "length"}, "order": "desc"},
        ]
    }
    # lengths can tie: compare the keys, not the ids
    key = {r["id"]: (r["metadata"]["source"], -r["metadata"]["length"]) for r in data.records}
    expected = sorted(key, key=key.__getitem__)
    pages = []
    for offset in range(0, N_RECORDS, 10):
        ids, _, total = _search(owner, dataset, body, limit=10, offset=offset)
        assert total == N_RECORDS
        pages += ids
    assert len(pages) == N_RECORDS and len(set(pages)) == N_RECORDS
    assert [key[i] for i in pages] == [key[i] for i in expected]
    _, _, total = _search(owner, dataset, body, limit=10, offset=100)
    assert total == N_RECORDS  # the total is known past the last page too


def test_annotator_order_is_their_own(review):
    """Without a sort each annotator gets all records in a stable order of their own."""
    dataset, _, annotators, _ = review
    orders = {}
    for name, annotator in annotators.items():
        first, _, _ = _search(annotator.client, dataset, {}, me=True)
        again, _, _ = _search(annotator.client, dataset, {}, me=True)
        assert first == again and len(set(first)) == N_RECORDS
        orders[name] = first
    assert orders["alice"] != orders["bob"]


# --- text --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "field", "expected"),
    [
        ("apple", None, lambda i, r: "apple" in i | r),
        ("Apple banana", None, lambda i, r: {"apple", "banana"} <= i | r),
        ("apple | falcon", None, lambda i, r: bool({"apple", "falcon"} & (i | r))),
        ("apple -banana", None, lambda i, r: "apple" in i | r and "banana" not in i | r),
        ("-gamma", None, lambda i, r: "gamma" not in i | r),
        ("ban*", None, lambda i, r: "banana" in i | r),
        ("cherry", "instruction", lambda i, r: "cherry" in i),
        ("cherry delta", "response", lambda i, r: {"cherry", "delta"} <= r),
    ],
)
def test_text_queries(argilla_server, review, q, field, expected):
    dataset, data, _, _ = review
    body = {"query": {"text": {"q": q, **({"field": field} if field else {})}}}
    found = _ids(argilla_server.client, dataset, body)
    assert found == data.ids(lambda r: expected(_words(r["instruction"]), _words(r["response"])))
    assert found  # each query matches something, so the test can fail


def test_phrase_query_and_relevance(argilla_server, review):
    dataset, data, _, _ = review
    first = data.records[3]["instruction"].split()
    phrase = f'"{first[0]} {first[1]}"'
    found = _ids(argilla_server.client, dataset, {"query": {"text": {"q": phrase}}})
    assert found == data.ids(
        lambda r: (
            f" {first[0]} {first[1]} " in f" {r['instruction']} "
            or f" {first[0]} {first[1]} " in f" {r['response']} "
        )
    )
    _, scores, _ = _search(argilla_server.client, dataset, {"query": {"text": {"q": "harbor"}}})
    assert scores == sorted(scores, reverse=True) and scores[0] > 0


# --- similarity --------------------------------------------------------------------------


def _cosine_ranking(data: Data, query: list[float], candidates: set[str]) -> list:
    vectors = {r["id"]: np.asarray(r["vector"]) for r in data.records if r["id"] in candidates}
    q = np.asarray(query)
    scores = {
        rid: float(v @ q / (np.linalg.norm(v) * np.linalg.norm(q))) for rid, v in vectors.items()
    }
    return sorted(scores.items(), key=lambda item: -item[1])


def test_similarity_by_value_and_by_record(argilla_server, review):
    dataset, data, _, server_ids = review
    owner = argilla_server.client
    query = data.records[5]["vector"]
    everyone = data.ids(lambda r: True)
    ranking = _cosine_ranking(data, query, everyone)

    body = {"query": {"vector": {"name": "embedding", "value": query}}}
    ids, scores, _ = _search(owner, dataset, body, limit=5)
    assert ids == [rid for rid, _ in ranking[:5]]
    assert scores == pytest.approx([(1 + cos) / 2 for _, cos in ranking[:5]], abs=1e-5)

    body["query"]["vector"]["order"] = "least_similar"
    ids, _, _ = _search(owner, dataset, body, limit=5)
    assert ids == [rid for rid, _ in ranking[::-1][:5]]

    by_record = {"query": {"vector": {"name": "embedding", "record_id": server_ids["r005"]}}}
    ids, _, _ = _search(owner, dataset, by_record, limit=5)
    assert ids == [rid for rid, _ in ranking if rid != "r005"][:5]


def test_similarity_with_filter_and_text(argilla_server, review):
    import argilla as rg

    dataset, data, _, _ = review
    query = data.records[9]["vector"]
    allowed = data.ids(
        lambda r: (
            r["metadata"]["source"] == "magpie"
            and "echo" in _words(r["instruction"] + " " + r["response"])
        )
    )
    ranking = _cosine_ranking(data, query, allowed)
    found = list(
        dataset.records(
            query=rg.Query(
                query="echo",
                similar=rg.Similar(name="embedding", value=query),
                filter=rg.Filter([("metadata.source", "==", "magpie")]),
            ),
            limit=3,
        )
    )
    # with a similarity query the SDK yields (record, score) pairs
    assert [record.id for record, _ in found] == [rid for rid, _ in ranking[:3]]


# --- progress and metrics ----------------------------------------------------------------


def test_dataset_and_annotator_progress(argilla_server, review):
    dataset, data, annotators, _ = review
    completed = len(data.ids(lambda r: data.submitted(r["id"]) >= 2))
    progress = dataset.progress()
    assert progress["total"] == N_RECORDS
    assert progress["completed"] == completed
    assert progress["pending"] == N_RECORDS - completed

    for name, annotator in annotators.items():
        reply = annotator.client.api.http_client.get(f"/api/v1/me/datasets/{dataset.id}/metrics")
        assert reply.status_code == 200, reply.text
        metrics = reply.json()["responses"]
        statuses = [status for status, _ in data.responses[name].values()]
        for status in ("submitted", "draft", "discarded"):
            assert metrics[status] == statuses.count(status), (name, status)
        assert metrics["pending"] == N_RECORDS - len(statuses)


def test_metadata_metrics(argilla_server, review):
    dataset, data, _, _ = review
    http = argilla_server.client.api.http_client
    properties = http.get(f"/api/v1/me/datasets/{dataset.id}/metadata-properties").json()["items"]
    by_name = {p["name"]: p["id"] for p in properties}

    metrics = http.get(f"/api/v1/metadata-properties/{by_name['topics']}/metrics").json()
    counts = {}
    for r in data.records:
        for topic in r["metadata"]["topics"]:
            counts[topic] = counts.get(topic, 0) + 1
    assert metrics["total"] == sum(counts.values())
    assert {v["term"]: v["count"] for v in metrics["values"]} == counts

    metrics = http.get(f"/api/v1/metadata-properties/{by_name['length']}/metrics").json()
    lengths = [r["metadata"]["length"] for r in data.records]
    assert (metrics["min"], metrics["max"]) == (min(lengths), max(lengths))
    metrics = http.get(f"/api/v1/metadata-properties/{by_name['score']}/metrics").json()
    scores = [r["metadata"]["score"] for r in data.records if "score" in r["metadata"]]
    assert metrics["min"] == pytest.approx(min(scores))
    assert metrics["max"] == pytest.approx(max(scores))


# --- writes after indexing ---------------------------------------------------------------


def test_updates_and_deletes_are_searchable_at_once(argilla_server, review):
    """No refresh delay: what was just written (fields, vectors, deletes) is what searches see."""
    import argilla as rg

    owner = argilla_server.client
    dataset = rg.Dataset(
        name=argilla_server.unique("writes"),
        workspace=review[0].workspace,
        settings=_settings(rg),
        client=owner,
    ).create()
    base = np.eye(8)
    dataset.records.log(
        [
            rg.Record(id=f"w{i}", fields={"instruction": f"zebra {i}", "response": "x"},
                      vectors={"embedding": base[i].tolist()})
            for i in range(4)
        ]
    )  # fmt: skip
    text = {"query": {"text": {"q": "zebra"}}}
    assert _ids(owner, dataset, text) == {"w0", "w1", "w2", "w3"}
    # Change a text and a vector, then delete a record.
    dataset.records.log(
        [rg.Record(id="w1", fields={"instruction": "yak", "response": "x"},
                   vectors={"embedding": base[3].tolist()})]
    )  # fmt: skip
    assert _ids(owner, dataset, text) == {"w0", "w2", "w3"}
    assert _ids(owner, dataset, {"query": {"text": {"q": "yak"}}}) == {"w1"}
    similar = {"query": {"vector": {"name": "embedding", "value": base[3].tolist()}}}
    ids, _, _ = _search(owner, dataset, similar, limit=2)
    assert set(ids) == {"w1", "w3"}
    dataset.records.delete([record for record in dataset.records if record.id == "w3"])
    assert _ids(owner, dataset, text) == {"w0", "w2"}
    ids, _, _ = _search(owner, dataset, similar, limit=1)
    assert ids == ["w1"]


# --- restart and the worker --------------------------------------------------------------


def test_everything_survives_a_restart_and_the_worker_agrees(argilla_server, review):
    """Restart the server; then the worker recomputes statuses after a distribution change."""
    dataset, data, annotators, _ = review
    owner = argilla_server.client
    similar = {"query": {"vector": {"name": "embedding", "value": data.records[0]["vector"]}}}
    by_length = _sort({"entity": "metadata", "metadata_property": "length"}, "asc")

    def snapshot() -> dict:
        return {
            "text": _ids(owner, dataset, {"query": {"text": {"q": "apple -banana"}}}),
            "similar": _search(owner, dataset, similar)[0],
            "sort": _search(owner, dataset, by_length)[0],
            "progress": dataset.progress(),
        }

    before = snapshot()
    # Stop, lose the dataset's full-text table (an outside VACUUM or an old database can
    # leave it stale), start: the server rebuilds it from the records.
    argilla_server.stop()
    with sqlite3.connect(argilla_server.home / "argilla.db") as db:
        db.execute(f"DROP TABLE curation_fts_{dataset.id.hex}")
    argilla_server.start()
    after = snapshot()
    assert after == before
    status = {"entity": "response", "property": "status"}
    assert _ids(annotators["alice"].client, dataset, _terms(status, ["draft"]), me=True) == {
        rid for rid, (s, _) in data.responses["alice"].items() if s == "draft"
    }

    # A distribution change is applied to existing records by a job in the rq worker.
    reply = owner.api.http_client.patch(
        f"/api/v1/datasets/{dataset.id}",
        json={"distribution": {"strategy": "overlap", "min_submitted": 1}},
    )
    assert reply.status_code == 200, reply.text
    completed = data.ids(lambda r: data.submitted(r["id"]) >= 1)
    record_status = {"entity": "record", "property": "status"}
    deadline = time.monotonic() + 60
    while _ids(owner, dataset, _terms(record_status, ["completed"])) != completed:
        assert time.monotonic() < deadline, "the worker did not update the record statuses"
        time.sleep(0.5)
    assert dataset.progress()["completed"] == len(completed)
