"""What a reviewer (role annotator) can read through every record endpoint the SDK and the web
UI use, on the embedded server: only their own responses, only the metadata shown to
annotators, the suggestions; no filter or sort on hidden metadata. Owners and admins see
everything. All through the REST API with each account's own API key.

Endpoints walked: GET /records/{id}; POST /me/datasets/{id}/records/search (text, filters,
sort, similarity); GET /me/datasets/{id}/metadata-properties; GET /records/{id}/suggestions;
POST /records/{id}/responses; POST /me/responses/bulk; PUT and DELETE /responses/{id};
GET /datasets/{id}/records; POST /datasets/{id}/records/search; PATCH and DELETE
/records/{id}; GET /metadata-properties/{id}/metrics.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import pytest

pytestmark = pytest.mark.integration

VISIBLE = {"source", "length_a"}
HIDDEN = {"ai_chosen_side", "deita_score", "judge_uncertainty", "margin"}


@dataclass
class Review:
    dataset_id: str
    ids: dict[str, str]  # server record id by external id
    metadata_ids: dict[str, str]  # metadata property id by name
    owner: object  # httpx clients
    admin: object
    alice: object
    bob: object
    user_ids: dict[str, str]  # user id by "alice" / "bob"
    bob_response: str  # id of bob's response to x1


@pytest.fixture(scope="module")
def review(argilla_server) -> Review:
    """Records x0..x5 with every metadata set; alice and bob both answered x1, bob also x2."""
    import argilla as rg

    owner = argilla_server.client
    workspace = argilla_server.workspace(argilla_server.unique("access"))
    metadata = [
        rg.TermsMetadataProperty(name="source"),
        rg.IntegerMetadataProperty(name="length_a"),
        rg.TermsMetadataProperty(name="ai_chosen_side", visible_for_annotators=False),
        rg.FloatMetadataProperty(name="deita_score", visible_for_annotators=False),
        rg.FloatMetadataProperty(name="judge_uncertainty", visible_for_annotators=False),
        rg.FloatMetadataProperty(name="margin", visible_for_annotators=False),
    ]
    settings = rg.Settings(
        fields=[rg.TextField(name="text")],
        questions=[rg.LabelQuestion(name="ok", labels=["yes", "no"])],
        metadata=metadata,
        vectors=[rg.VectorField(name="emb", dimensions=3)],
    )
    dataset = rg.Dataset(
        name=argilla_server.unique("access"), workspace=workspace, settings=settings, client=owner
    ).create()
    dataset.records.log(
        [
            rg.Record(
                id=f"x{i}",
                fields={"text": f"text {i}"},
                metadata={
                    "source": "seed",
                    "length_a": 10 * i,
                    "ai_chosen_side": "a" if i % 2 else "b",
                    "deita_score": i / 10,
                    "judge_uncertainty": 0.5,
                    "margin": float(i),
                },
                suggestions=[rg.Suggestion("ok", "yes", score=0.9, agent="judge")],
                vectors={"emb": [1.0, float(i), 2.0]},
            )
            for i in range(6)
        ]
    )
    http = owner.api.http_client
    ids = {record.id: str(record._server_id) for record in dataset.records(with_vectors=False)}
    metadata_ids = {
        prop["name"]: prop["id"]
        for prop in _ok(http.get(f"/api/v1/me/datasets/{dataset.id}/metadata-properties"))["items"]
    }
    alice = argilla_server.new_annotator(workspace)
    bob = argilla_server.new_annotator(workspace)
    answer = {"status": "submitted", "values": {"ok": {"value": "no"}}}
    bob_http = bob.client.api.http_client
    bob_response = _ok(bob_http.post(f"/api/v1/records/{ids['x1']}/responses", json=answer), 201)
    _ok(bob_http.post(f"/api/v1/records/{ids['x2']}/responses", json=answer), 201)
    alice_http = alice.client.api.http_client
    answer = {"status": "submitted", "values": {"ok": {"value": "yes"}}}
    _ok(alice_http.post(f"/api/v1/records/{ids['x1']}/responses", json=answer), 201)
    return Review(
        dataset_id=str(dataset.id),
        ids=ids,
        metadata_ids=metadata_ids,
        owner=http,
        admin=_new_admin(argilla_server, workspace),
        alice=alice_http,
        bob=bob_http,
        user_ids={name: _ok(c.get("/api/v1/me"))["id"] for name, c in [("alice", alice_http),
                                                                        ("bob", bob_http)]},
        bob_response=bob_response["id"],
    )  # fmt: skip


def _new_admin(argilla_server, workspace):
    """An admin of `workspace`: its HTTP client."""
    import argilla as rg

    owner = argilla_server.client
    user = rg.User(
        username=argilla_server.unique("admin"),
        password=secrets.token_urlsafe(12),
        role="admin",
        client=owner,
    ).create()
    user.add_to_workspace(workspace)
    api_key = _ok(owner.api.http_client.get(f"/api/v1/users/{user.id}"))["api_key"]
    admin = rg.Argilla(api_url=argilla_server.url, api_key=api_key)
    rg.Argilla._set_default(owner)
    return admin.api.http_client


def _ok(reply, status: int = 200) -> dict:
    assert reply.status_code == status, f"{reply.request.method} {reply.request.url}: {reply.text}"
    return reply.json() if reply.content else {}


def _responders(record: dict, review: Review) -> set[str]:
    names = {user_id: name for name, user_id in review.user_ids.items()}
    return {names.get(response["user_id"], "other") for response in record["responses"]}


def _me_search(client, review: Review, body: dict, include: str = "responses"):
    return client.post(
        f"/api/v1/me/datasets/{review.dataset_id}/records/search",
        json=body,
        params={"include": include, "limit": 50},
    )


# --- GET /records/{id} ---------------------------------------------------------------------


def test_a_record_shows_an_annotator_only_their_response_and_visible_metadata(review):
    record = _ok(review.alice.get(f"/api/v1/records/{review.ids['x1']}"))
    assert _responders(record, review) == {"alice"}
    assert record["responses"][0]["values"] == {"ok": {"value": "yes"}}
    assert set(record["metadata"]) == VISIBLE
    assert record["metadata"]["length_a"] == 10
    assert [s["value"] for s in record["suggestions"]] == ["yes"]  # suggestions as before

    only_bob_answered = _ok(review.alice.get(f"/api/v1/records/{review.ids['x2']}"))
    assert only_bob_answered["responses"] == []
    assert _responders(_ok(review.bob.get(f"/api/v1/records/{review.ids['x1']}")), review) == {
        "bob"
    }


def test_owners_and_admins_see_every_response_and_all_metadata(review):
    for client in (review.owner, review.admin):
        record = _ok(client.get(f"/api/v1/records/{review.ids['x1']}"))
        assert _responders(record, review) == {"alice", "bob"}
        assert set(record["metadata"]) == VISIBLE | HIDDEN
        assert record["metadata"]["ai_chosen_side"] == "a"


def test_reading_a_record_as_an_annotator_changes_nothing_stored(review):
    _ok(review.alice.get(f"/api/v1/records/{review.ids['x1']}"))
    record = _ok(review.owner.get(f"/api/v1/records/{review.ids['x1']}"))
    assert _responders(record, review) == {"alice", "bob"}
    assert record["metadata"]["margin"] == 1.0


# --- the annotator search (/me), the web UI's only way to records -------------------------


def test_annotator_search_shows_own_responses_and_visible_metadata(review):
    found = _ok(_me_search(review.alice, review, {"query": {"text": {"q": "text"}}}))
    records = {item["record"]["id"]: item["record"] for item in found["items"]}
    assert len(records) == 6
    assert all(set(r["metadata"]) == VISIBLE for r in records.values())
    assert _responders(records[review.ids["x1"]], review) == {"alice"}
    assert records[review.ids["x2"]]["responses"] == []


def _meta(name: str) -> dict:
    return {"entity": "metadata", "metadata_property": name}


def _at_least(name: str, value: float) -> dict:
    return {"type": "range", "ge": value, "scope": _meta(name)}


SCOPED_BODIES = {  # a search body naming a metadata property, by kind
    "range": lambda name: {"filters": {"and": [_at_least(name, 0.3)]}},
    "terms": lambda name: {
        "filters": {"and": [{"type": "terms", "values": ["a"], "scope": _meta(name)}]}
    },
    "sort": lambda name: {"sort": [{"scope": _meta(name), "order": "desc"}]},
    "similarity-filter": lambda name: {
        "query": {"vector": {"name": "emb", "value": [1.0, 2.0, 2.0]}},
        "filters": {"and": [_at_least(name, 0.4)]},
    },
}


@pytest.mark.parametrize(
    ("kind", "hidden"),
    [
        ("range", "deita_score"),
        ("terms", "ai_chosen_side"),
        ("sort", "margin"),
        ("similarity-filter", "judge_uncertainty"),
    ],
)
def test_annotators_cannot_filter_or_sort_on_hidden_metadata(review, kind, hidden):
    body = SCOPED_BODIES[kind]
    reply = _me_search(review.alice, review, body(hidden))
    assert reply.status_code == 422, reply.text
    # the answer for a property that does not exist: nothing about the hidden one leaks
    missing = _me_search(review.alice, review, body("no_such_property"))
    assert missing.status_code == 422
    assert reply.text == missing.text.replace("no_such_property", hidden)
    # owners and admins filter and sort on it
    assert _me_search(review.owner, review, body(hidden)).status_code == 200
    assert _me_search(review.admin, review, body(hidden)).status_code == 200


def test_annotators_filter_and_sort_on_visible_metadata(review):
    body = {
        "filters": {"and": [{"type": "range", "ge": 20, "le": 40,
                             "scope": {"entity": "metadata", "metadata_property": "length_a"}}]},
        "sort": [{"scope": {"entity": "metadata", "metadata_property": "length_a"},
                  "order": "desc"}],
    }  # fmt: skip
    found = _ok(_me_search(review.alice, review, body))
    assert [item["record"]["metadata"]["length_a"] for item in found["items"]] == [40, 30, 20]


def test_annotator_metadata_list_and_metrics_leave_out_hidden_properties(review):
    listed = _ok(review.alice.get(f"/api/v1/me/datasets/{review.dataset_id}/metadata-properties"))
    assert {prop["name"] for prop in listed["items"]} == VISIBLE
    hidden = review.metadata_ids["deita_score"]
    assert review.alice.get(f"/api/v1/metadata-properties/{hidden}/metrics").status_code == 403
    visible = review.metadata_ids["length_a"]
    assert _ok(review.alice.get(f"/api/v1/metadata-properties/{visible}/metrics"))["max"] == 50


# --- suggestions and responses --------------------------------------------------------------


def test_annotators_read_suggestions(review):
    suggestions = _ok(review.alice.get(f"/api/v1/records/{review.ids['x3']}/suggestions"))
    assert [(s["value"], s["agent"]) for s in suggestions["items"]] == [("yes", "judge")]


def test_response_endpoints_answer_with_the_annotators_own_response(review):
    answer = {"status": "draft", "values": {"ok": {"value": "yes"}}}
    path = f"/api/v1/records/{review.ids['x3']}/responses"
    created = _ok(review.alice.post(path, json=answer), 201)
    assert created["user_id"] == review.user_ids["alice"]
    submitted = {**answer, "status": "submitted"}
    updated = _ok(review.alice.put(f"/api/v1/responses/{created['id']}", json=submitted))
    assert (updated["user_id"], updated["status"]) == (review.user_ids["alice"], "submitted")
    bulk = _ok(review.alice.post("/api/v1/me/responses/bulk", json={"items": [
        {**answer, "record_id": review.ids["x2"]},  # bob answered x2 too
    ]}))  # fmt: skip
    [item] = bulk["items"]
    assert item["item"]["user_id"] == review.user_ids["alice"]
    assert item["error"] is None


def test_annotators_cannot_change_or_delete_another_reviewers_response(review):
    answer = {"status": "submitted", "values": {"ok": {"value": "yes"}}}
    bobs = f"/api/v1/responses/{review.bob_response}"
    assert review.alice.put(bobs, json=answer).status_code == 403
    assert review.alice.delete(bobs).status_code == 403
    record = _ok(review.owner.get(f"/api/v1/records/{review.ids['x1']}"))
    [bobs] = [r for r in record["responses"] if r["user_id"] == review.user_ids["bob"]]
    assert bobs["values"] == {"ok": {"value": "no"}}


# --- owner/admin-only record endpoints -------------------------------------------------------


def test_dataset_wide_record_endpoints_refuse_annotators(review):
    dataset, record = review.dataset_id, review.ids["x4"]
    include = {"include": "responses"}
    calls = [
        ("GET", f"/api/v1/datasets/{dataset}/records", {"params": include}),
        ("POST", f"/api/v1/datasets/{dataset}/records/search", {"json": {}, "params": include}),
        ("PATCH", f"/api/v1/records/{record}", {"json": {"metadata": {}}}),
        ("DELETE", f"/api/v1/records/{record}", {}),
        ("DELETE", f"/api/v1/datasets/{dataset}/records", {"params": {"ids": record}}),
    ]
    for method, path, options in calls:
        assert review.alice.request(method, path, **options).status_code == 403, (method, path)
    # the dataset-wide search answers an admin, with everything
    found = _ok(review.admin.post(calls[1][1], json={}, params=include))
    by_id = {item["record"]["id"]: item["record"] for item in found["items"]}
    assert set(by_id[review.ids["x1"]]["metadata"]) == VISIBLE | HIDDEN
    assert _responders(by_id[review.ids["x1"]], review) == {"alice", "bob"}
