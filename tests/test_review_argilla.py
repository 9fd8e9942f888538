"""The review loop against the real embedded Argilla server, with real annotator accounts.

Annotators answer through their own API keys, as the web UI does. Covered: the templates
as the contract names them; pushing twice (no duplicates, suggestions and metadata
updated, every response kept, new rows added, pair order unchanged); every approval case
through pull and the decisions; incremental pulls, counted; routing and auto-approval;
bad input that changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from curation.config import AutoApprovalConfig, load_config
from curation.errors import CurationError
from curation.feedback import FEEDBACK_COLUMNS
from curation.review.commands import push_rows, route, write_run_files
from curation.review.datasets import record_count
from curation.review.pull import pull
from curation.review.push import chosen_side
from curation.review.records import REVIEW_RECORD_COLUMNS, reviewed_rows
from curation.review.templates import METADATA, VECTOR
from curation.runs import RunDir
from tests.util import preference_rows

pytestmark = pytest.mark.integration


def instruction_rows(n: int, prefix: str = "inst") -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "id": f"{prefix}-{i}",
                "instruction": f"Explain step {i} of making tea.",
                "response": f"Step {i}: pour hot water over the leaves.",
                "rating": 4.0 if i % 2 == 0 else 2.0,
                "judge_model": "judge-1",
                "source": "evol-instruct",
                "deita_score": float(i),
            }
            for i in range(n)
        ]
    )


@pytest.fixture(scope="module")
def team(argilla_server):
    """A workspace of its own and three annotators in it."""
    workspace = argilla_server.unique("review")
    people = {name: argilla_server.new_annotator(workspace) for name in ("alice", "bob", "carol")}
    return workspace, people


def push(argilla_server, rows, template, name, workspace, config=None, **kwargs):
    if config is None:  # suggestions are checked record by record here: no blind slice
        config = load_config()  # (tests/test_review_quality_argilla.py tests the slice)
        config.review.blind_fraction = 0.0
    return push_rows(argilla_server.client, config, rows, template, name, workspace, **kwargs)


def ids_of(argilla_server, name, workspace) -> dict[str, str]:
    """record id -> Argilla record UUID."""
    pulled = pull(argilla_server.client, name, workspace)
    return dict(zip(pulled.records["record_id"], pulled.records["argilla_id"], strict=True))


def answer(annotator, argilla_id: str, status: str = "submitted", **values) -> None:
    """A response by `annotator` through their own API key, as the web UI sends it."""
    body = {"status": status, "values": {q: {"value": v} for q, v in values.items()}}
    if status == "discarded" and not values:
        body.pop("values")
    response = annotator.client.api.http_client.post(
        f"/api/v1/records/{argilla_id}/responses", json=body
    )
    assert response.status_code == 201, response.text


def server_records(argilla_server, name, workspace) -> dict[str, dict]:
    """The dataset's records as the server returns them (raw API: the SDK cannot read a
    discarded response without values), keyed by record id."""
    dataset = argilla_server.client.datasets(name=name, workspace=workspace)
    response = argilla_server.client.api.http_client.get(
        f"/api/v1/datasets/{dataset.id}/records",
        params={"include": ["responses", "suggestions", "vectors"], "limit": 1000},
    )
    response.raise_for_status()
    questions = {str(q.id): q.name for q in dataset.settings.questions}
    records = {}
    for item in response.json()["items"]:
        item["suggestions"] = {
            questions[s["question_id"]]: (s["value"], s["agent"]) for s in item["suggestions"]
        }
        records[item["external_id"]] = item
    return records


# --- templates, push twice ---------------------------------------------------------------


def test_templates_have_the_contract_names_and_settings(argilla_server, team):
    workspace, _ = team
    for template, rows in (
        ("preference", preference_rows(2, "t")),
        ("instruction", instruction_rows(2, "t")),
    ):
        name = argilla_server.unique(template)
        push(argilla_server, rows, template, name, workspace)
        dataset = argilla_server.client.datasets(name=name, workspace=workspace)
        found = dataset.settings
        fields = [f.name for f in found.fields]
        questions = {q.name: (q.type, q.required) for q in found.questions}
        if template == "preference":
            assert fields == ["instruction", "response_a", "response_b"]
            assert questions == {
                "preferred": ("label_selection", True),
                "rating_a": ("rating", False),
                "rating_b": ("rating", False),
                "rationale": ("text", False),
            }
            assert list(found.questions["preferred"].labels) == ["a", "b", "tie"]
        else:
            assert fields == ["instruction", "response"]
            assert questions == {
                "quality": ("rating", False),
                "verdict": ("label_selection", True),
                "corrected_response": ("text", False),
            }
            assert list(found.questions["verdict"].labels) == ["keep", "fix", "drop"]
        assert {m.name for m in found.metadata} == set(METADATA[template])
        visible = {m.name for m in found.metadata if m.visible_for_annotators}
        assert "priority" in visible and "judge_uncertainty" not in visible
        assert [(v.name, v.dimensions) for v in found.vectors] == [(VECTOR, 384)]
        assert found.distribution.min_submitted == 2
        words = ("tie", "random") if template == "preference" else ("keep", "fix", "drop")
        for word in (*words, "priority", "suggestion", "Submit", "draft"):
            assert word in found.guidelines


def test_push_twice_updates_in_place_keeps_every_response_and_adds_new_rows(argilla_server, team):
    workspace, people = team
    name = argilla_server.unique("prefs")
    first = push(argilla_server, preference_rows(6), "preference", name, workspace)
    assert (first.created, first.updated, first.new_dataset) == (6, 0, True)
    ids = ids_of(argilla_server, name, workspace)
    before = server_records(argilla_server, name, workspace)
    answer(people["alice"], ids["pair-0"], preferred="a", rating_a=5)
    answer(people["bob"], ids["pair-0"], status="draft", preferred="b")
    answer(people["carol"], ids["pair-1"], status="discarded")

    # The judge changed its mind (new ratings, model, uncertainty) and two rows are new;
    # this time it gave pair-5's rejected response no rating.
    again = preference_rows(8, chosen_rating=3.6, judge_model="judge-2", judge_uncertainty=0.5)
    again.loc[5, "rejected_rating"] = None
    second = push(argilla_server, again, "preference", name, workspace, min_submitted=3)
    assert (second.created, second.updated, second.new_dataset) == (2, 6, False)
    settings = argilla_server.client.datasets(name=name, workspace=workspace).settings
    assert settings.distribution.min_submitted == 3  # --min-submitted updates the overlap
    assert "at least **3**" in settings.guidelines

    after = server_records(argilla_server, name, workspace)
    assert sorted(after) == sorted(f"pair-{i}" for i in range(8))  # no duplicate
    assert record_count(argilla_server.client, second.dataset_id) == 8
    for record_id in before:
        assert after[record_id]["fields"] == before[record_id]["fields"]  # the pair never swaps
        side = chosen_side(record_id)
        assert after[record_id]["metadata"]["ai_chosen_side"] == side
        assert after[record_id]["metadata"]["judge_uncertainty"] == 0.5
        suggestions = after[record_id]["suggestions"]
        assert suggestions["preferred"] == (side, "judge-2")
        assert suggestions[f"rating_{side}"] == (4, "judge-2")  # 3.6 now, was 4.6
        assert len(after[record_id]["vectors"][VECTOR]) == 384
    rejected_side = "b" if chosen_side("pair-5") == "a" else "a"
    assert f"rating_{rejected_side}" not in after["pair-5"]["suggestions"]  # no stale answer
    assert f"rating_{rejected_side}" in after["pair-4"]["suggestions"]
    me = {who: str(a.client.me.id) for who, a in people.items()}
    kept = {
        (record_id, r["user_id"], r["status"], json.dumps(r["values"], sort_keys=True))
        for record_id, record in after.items()
        for r in record["responses"]
    }
    assert kept == {
        (
            "pair-0",
            me["alice"],
            "submitted",
            '{"preferred": {"value": "a"}, "rating_a": {"value": 5}}',
        ),
        ("pair-0", me["bob"], "draft", '{"preferred": {"value": "b"}}'),
        ("pair-1", me["carol"], "discarded", "null"),
    }


def test_a_template_mismatch_is_refused_and_changes_nothing(argilla_server, team):
    workspace, _ = team
    name = argilla_server.unique("mismatch")
    push(argilla_server, preference_rows(3), "preference", name, workspace)
    before = server_records(argilla_server, name, workspace)
    with pytest.raises(CurationError, match="was made with the preference template, not the inst"):
        push(argilla_server, instruction_rows(3), "instruction", name, workspace)
    after = server_records(argilla_server, name, workspace)
    assert sorted(after) == sorted(before)
    assert all(after[k]["fields"] == before[k]["fields"] for k in before)


# --- approval, end to end ------------------------------------------------------------------


def test_every_approval_case_through_pull_and_the_decisions(argilla_server, team, tmp_path):
    workspace, people = team
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    prefs = argilla_server.unique("approval-prefs")
    push(argilla_server, preference_rows(6, "p"), "preference", prefs, workspace)
    ids = ids_of(argilla_server, prefs, workspace)
    ai = {f"p-{i}": chosen_side(f"p-{i}") for i in range(6)}
    other = {k: "b" if v == "a" else "a" for k, v in ai.items()}
    # p-0: majority with the AI; p-1: people overrule the AI (2 against 1); p-2: a tie;
    # p-3: too few responses; p-4: discards do not count; p-5: drafts only.
    answer(alice, ids["p-0"], preferred=ai["p-0"])
    answer(bob, ids["p-0"], preferred=ai["p-0"])
    answer(alice, ids["p-1"], preferred=other["p-1"], **{f"rating_{other['p-1']}": 5})
    answer(bob, ids["p-1"], preferred=other["p-1"], **{f"rating_{other['p-1']}": 4})
    answer(carol, ids["p-1"], preferred=ai["p-1"], **{f"rating_{ai['p-1']}": 2})
    answer(alice, ids["p-2"], preferred="a")
    answer(bob, ids["p-2"], preferred="b")
    answer(alice, ids["p-3"], preferred="a")
    answer(alice, ids["p-4"], status="discarded")
    answer(bob, ids["p-4"], status="discarded")
    answer(carol, ids["p-4"], preferred="a")
    answer(alice, ids["p-5"], status="draft", preferred="a")
    answer(bob, ids["p-5"], status="draft", preferred="a")

    insts = argilla_server.unique("approval-inst")
    push(argilla_server, instruction_rows(5, "i"), "instruction", insts, workspace)
    iids = ids_of(argilla_server, insts, workspace)
    # i-0: keep; i-1: fix with corrections; i-2: fix, nobody wrote one; i-3: drop;
    # i-4: a fix correction left as a draft does not count.
    answer(alice, iids["i-0"], verdict="keep", quality=4)
    answer(bob, iids["i-0"], verdict="keep", quality=5)
    answer(alice, iids["i-1"], verdict="fix", corrected_response="Step 1: warm the pot first.")
    answer(bob, iids["i-1"], verdict="fix", corrected_response="Step 1: warm the pot first.")
    answer(carol, iids["i-1"], verdict="keep")
    answer(alice, iids["i-2"], verdict="fix")
    answer(bob, iids["i-2"], verdict="fix")
    answer(alice, iids["i-3"], verdict="drop", quality=1)
    answer(bob, iids["i-3"], verdict="drop", quality=2)
    answer(alice, iids["i-4"], verdict="fix")
    answer(bob, iids["i-4"], verdict="fix")
    answer(carol, iids["i-4"], verdict="fix", corrected_response="Only a draft.", status="draft")

    template, pairs = reviewed_rows(argilla_server.client, prefs, workspace)
    assert template == "preference"
    pairs = pairs.set_index("record_id")
    rows = preference_rows(6, "p").set_index("id")
    assert pairs["decision"].to_dict() == {
        "p-0": "approved",
        "p-1": "approved",
        "p-2": "tie",
        "p-3": "pending",
        "p-4": "pending",
        "p-5": "pending",
    }
    assert pairs.loc["p-0", "chosen"] == rows.loc["p-0", "chosen"]
    assert pairs.loc["p-0", "ai_agrees"] is True
    # People overruled the AI: their side is exported as chosen.
    assert pairs.loc["p-1", "chosen"] == rows.loc["p-1", "rejected"]
    assert pairs.loc["p-1", "rejected"] == rows.loc["p-1", "chosen"]
    assert pairs.loc["p-1", "ai_chosen"] == rows.loc["p-1", "chosen"]
    assert pairs.loc["p-1", "ai_agrees"] is False
    assert pairs.loc["p-1", "human_rating_chosen"] == 4.5
    assert pairs.loc["p-1", "human_rating_rejected"] == 2.0
    assert pairs.loc["p-1", "chosen_model"] == "gen-b"
    assert pairs.loc["p-1", "ai_rating_chosen"] == 4.6
    assert json.loads(pairs.loc["p-1", "votes"]) == {other["p-1"]: 2, ai["p-1"]: 1}
    assert pairs.loc["p-1", "approved_by"] == "humans"
    for undecided in ("p-2", "p-3", "p-4", "p-5"):
        assert pairs.loc[undecided, "chosen"] is None
        assert pairs.loc[undecided, "approved_by"] is None
    assert pairs["n_submitted"].to_dict() == {
        "p-0": 2, "p-1": 3, "p-2": 2, "p-3": 1, "p-4": 1, "p-5": 0,
    }  # fmt: skip

    template, texts = reviewed_rows(argilla_server.client, insts, workspace)
    assert template == "instruction"
    texts = texts.set_index("record_id")
    assert texts["decision"].to_dict() == {
        "i-0": "approved",
        "i-1": "approved",
        "i-2": "needs_fix",
        "i-3": "rejected",
        "i-4": "needs_fix",
    }
    assert texts.loc["i-0", "final_response"] == "Step 0: pour hot water over the leaves."
    assert texts.loc["i-1", "final_response"] == "Step 1: warm the pot first."
    assert texts.loc["i-1", "corrected"]
    assert not texts.loc["i-0", "corrected"]
    assert texts.loc["i-0", "human_quality"] == 4.5
    # The AI rated even rows 4 (keep) and odd rows 2 (drop).
    assert texts.loc["i-3", ["ai_verdict", "ai_agrees"]].tolist() == ["drop", True]
    assert texts.loc["i-2", ["ai_verdict", "ai_agrees"]].tolist() == ["keep", False]  # fix

    # The pulled table: submitted responses only, the AI suggestion beside each answer.
    pulled = pull(argilla_server.client, prefs, workspace)
    feedback = pulled.feedback
    assert list(feedback.columns) == list(FEEDBACK_COLUMNS)
    assert set(feedback["status"]) == {"submitted"}
    assert set(feedback["record_id"]) == {"p-0", "p-1", "p-2", "p-3", "p-4"}
    row = feedback[
        (feedback["record_id"] == "p-1")
        & (feedback["annotator"] == carol.username)
        & (feedback["question"] == "preferred")
    ].iloc[0]
    assert (row["value"], row["suggestion"], row["suggestion_agent"]) == (
        ai["p-1"],
        ai["p-1"],
        "judge-1",
    )
    assert row["question_type"] == "label_selection"
    assert row["suggestion_score"] == pytest.approx(0.9)
    assert str(row["updated_at"].tz) == "UTC"

    # The run files the dashboard reads.
    run = RunDir.open(tmp_path / "run", tmp_path)
    write_run_files(run, pulled)
    write_run_files(run, pull(argilla_server.client, insts, workspace))
    records = pd.read_parquet(run.file("review_records.parquet"))
    assert list(records.columns) == list(REVIEW_RECORD_COLUMNS)
    assert set(records["dataset"]) == {prefs, insts}
    by_id = records.set_index(["dataset", "record_id"])
    assert by_id.loc[(prefs, "p-1"), "decision"] == "approved"
    assert by_id.loc[(prefs, "p-1"), "record_status"] == "completed"
    assert by_id.loc[(prefs, "p-5"), "record_status"] == "pending"
    assert by_id.loc[(insts, "i-2"), "decision"] == "needs_fix"
    assert pd.isna(by_id.loc[(insts, "i-2"), "approved_by"])
    run_feedback = pd.read_parquet(run.file("feedback.parquet"))
    assert set(run_feedback["dataset"]) == {prefs, insts}
    manifest = run.manifest()["review"]["pull"]
    assert manifest[prefs]["decisions"] == {"pending": 3, "approved": 2, "tie": 1}


# --- incremental pull ------------------------------------------------------------------


def test_pull_fetches_only_what_changed(argilla_server, team, tmp_path):
    workspace, people = team
    name = argilla_server.unique("incremental")
    push(argilla_server, preference_rows(10, "n"), "preference", name, workspace)
    cache = tmp_path / "cache"
    client = argilla_server.client

    first = pull(client, name, workspace, cache)
    assert (first.fetched, first.full, len(first.records)) == (10, True, 10)
    assert pull(client, name, workspace, cache).fetched == 0  # nothing changed

    ids = dict(zip(first.records["record_id"], first.records["argilla_id"], strict=True))
    answer(people["alice"], ids["n-3"], preferred="a")
    third = pull(client, name, workspace, cache)
    assert (third.fetched, third.full) == (1, False)  # the one record with a response
    assert third.feedback["record_id"].tolist() == ["n-3"]

    answer(people["bob"], ids["n-7"], status="draft", preferred="b")
    fourth = pull(client, name, workspace, cache)
    assert fourth.fetched == 2  # the answered records only, never the 8 untouched ones
    assert len(fourth.responses) == 2 and len(fourth.feedback) == 1

    push(argilla_server, preference_rows(1, "extra"), "preference", name, workspace)
    fifth = pull(client, name, workspace, cache)
    assert fifth.fetched == 1 and len(fifth.records) == 11  # the new record

    # What the increments built equals a full read from scratch.
    fresh = pull(client, name, workspace, tmp_path / "fresh-cache")
    assert fresh.full and fresh.fetched == 11
    key = ["record_id", "annotator", "question"]
    pd.testing.assert_frame_equal(
        fifth.responses.sort_values(key).reset_index(drop=True),
        fresh.responses.sort_values(key).reset_index(drop=True),
    )
    assert sorted(fifth.records["record_id"]) == sorted(fresh.records["record_id"])


# --- routing and auto-approval -------------------------------------------------------------


def test_route_reprioritises_and_auto_approves_where_people_agreed(argilla_server, team):
    workspace, people = team
    name = argilla_server.unique("routing")
    push(argilla_server, preference_rows(8, "q"), "preference", name, workspace)
    ids = ids_of(argilla_server, name, workspace)
    for i in range(5):  # people decide q-0..q-4 as the AI did
        side = chosen_side(f"q-{i}")
        answer(people["alice"], ids[f"q-{i}"], preferred=side)
        answer(people["bob"], ids[f"q-{i}"], preferred=side)

    config = load_config()
    config.review.score_bands = 1
    result = route(argilla_server.client, config, name, workspace)
    assert result.auto_approved == 0  # off by default
    assert result.plan.agreement["score_band"]["1/1"] == {
        "agreement": 1.0,
        "decided": 5,
        "estimate": "all",
    }

    config.review.auto_approval = AutoApprovalConfig(
        enabled=True, min_confidence=0.85, min_agreement=0.8, min_decided=5
    )
    config.review.audit_fraction = 0  # the audit has its own test (test_adjudication_argilla)
    result = route(argilla_server.client, config, name, workspace)
    assert result.auto_approved == 3
    records = server_records(argilla_server, name, workspace)
    assert {k for k, r in records.items() if r["metadata"].get("approved_by") == "auto"} == {
        "q-5", "q-6", "q-7",
    }  # fmt: skip
    assert records["q-5"]["metadata"]["priority"] == 0
    assert records["q-0"]["metadata"]["score_band"] == "1/1"

    _, rows = reviewed_rows(argilla_server.client, name, workspace)
    rows = rows.set_index("record_id")
    assert rows.loc["q-5", ["decision", "approved_by"]].tolist() == ["approved", "auto"]
    assert rows.loc["q-5", "chosen"] == preference_rows(8, "q").set_index("id").loc["q-5", "chosen"]
    assert rows.loc["q-0", "approved_by"] == "humans"

    # People decide an auto-approved record differently: their decision wins.
    answer(people["alice"], ids["q-6"], preferred="a")
    answer(people["bob"], ids["q-6"], preferred="b")
    _, rows = reviewed_rows(argilla_server.client, name, workspace)
    assert rows.set_index("record_id").loc["q-6", "decision"] == "tie"
    route(argilla_server.client, config, name, workspace)
    assert "approved_by" not in server_records(argilla_server, name, workspace)["q-6"]["metadata"]


def test_demo_review_steps_push_simulate_pull_and_write_agreement(argilla_server, tmp_path):
    from rich.console import Console

    from curation.demo import DemoContext, review_pull, review_push, review_simulated
    from curation.review.simulate import LABEL

    config = load_config()
    config.argilla.workspace = argilla_server.unique("demo")
    config.review.preference_dataset = argilla_server.unique("demo-prefs")
    config.review.instruction_dataset = argilla_server.unique("demo-inst")
    run = RunDir.open(tmp_path / "run", tmp_path)
    selected = preference_rows(12, "d")
    selected["rating_distributions"] = [[[0, 0, 0.1, 0.3, 0.6], [0.1, 0.7, 0.2, 0, 0]]] * 12
    selected["rating_stds"] = [[0.7, 0.5]] * 12
    selected.to_parquet(run.file("selected.parquet"))
    ctx = DemoContext(config=config, run=run, num_instructions=12, console=Console(quiet=True))

    assert "+12 new" in review_push(ctx)
    assert len(ctx.links) == 2
    said = review_simulated(ctx)
    assert said.startswith(LABEL)
    assert "SIMULATED" in run.manifest()["simulated_review"]["note"]
    again = review_simulated(ctx)  # a rerun answers nothing twice
    assert f"{config.review.preference_dataset}: 0 reviews" in again
    assert "submitted reviews" in review_pull(ctx)
    assert {"push", "pull", "agreement"} <= set(run.manifest()["stages"])
    assert set(run.manifest()["review"]["push"]) == {
        config.review.preference_dataset,
        config.review.instruction_dataset,
    }

    records = pd.read_parquet(run.file("review_records.parquet"))
    assert set(records["dataset"]) == {
        config.review.preference_dataset,
        config.review.instruction_dataset,
    }
    pending = (records["n_submitted"] == 0).sum()
    assert 0 < pending < len(records)  # part reviewed, part left for a person
    for name in (config.review.preference_dataset, config.review.instruction_dataset):
        figures = json.loads(Path(run.path / "agreement" / f"{name}.json").read_text())
        assert figures["dataset"] == name
        assert figures["questions"]
    feedback = pd.read_parquet(run.file("feedback.parquet"))
    assert feedback["annotator"].str.startswith("simulated-reviewer-").all()


def test_a_new_demo_run_replaces_the_records_of_an_earlier_one(argilla_server, tmp_path):
    from rich.console import Console

    from curation.demo import DemoContext, review_pull, review_push

    config = load_config()
    config.argilla.workspace = argilla_server.unique("demo")
    config.review.preference_dataset = argilla_server.unique("demo-prefs")
    config.review.instruction_dataset = argilla_server.unique("demo-inst")
    contexts = []
    for name, prefix in (("first", "old"), ("second", "new")):
        run = RunDir.open(tmp_path / name, tmp_path)
        preference_rows(4, prefix).to_parquet(run.file("selected.parquet"))
        contexts.append(DemoContext(config, run, num_instructions=4, console=Console(quiet=True)))
    first, second = contexts
    assert "+4 new" in review_push(first)
    assert "removed" not in review_push(first)  # a rerun of the same run keeps its records

    said = review_push(second)  # say, after `rm -rf runs/demo` or in another checkout
    assert "+4 new" in said and "4 of an earlier run removed" in said
    review_pull(second)
    records = pd.read_parquet(second.run.file("review_records.parquet"))
    for dataset in (config.review.preference_dataset, config.review.instruction_dataset):
        ids = set(records.loc[records["dataset"] == dataset, "record_id"])
        assert ids == {f"new-{i}" for i in range(4)}
