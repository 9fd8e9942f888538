"""Escalation, adjudication and the audit of auto-approval on the real embedded Argilla server.

Reviewers and adjudicators are real annotator accounts answering through their own API
keys, as the web UI does. Covered: ties adjudicated a / b / tie; a fix without a correction
corrected by the adjudicator and exported; an adjudicator overruling the majority of a
split vote; a non-adjudicator who can neither see nor answer the adjudication dataset;
reruns that change nothing; bad input that writes nothing; the audit that turns
auto-approval off in a score band.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from curation.config import AutoApprovalConfig, load_config
from curation.export.command import ExportRequest, export
from curation.review.adjudicate import adjudicate
from curation.review.adjudication import adjudication_name, adjudication_workspace
from curation.review.commands import push_rows, route, route_command
from curation.review.datasets import lookup
from curation.review.pull import pull
from curation.review.push import chosen_side
from curation.review.records import reviewed_rows
from curation.runs import RunDir
from tests.util import one_line_error, preference_rows

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def team(argilla_server):
    """A workspace, three reviewers, an adjudicator (dave) and a reviewer who is not (eve)."""
    workspace = argilla_server.unique("adjudicate")
    people = {
        name: argilla_server.new_annotator(workspace) for name in ("alice", "bob", "carol", "eve")
    }
    people["dave"] = argilla_server.new_annotator(argilla_server.unique("elsewhere"))
    return workspace, people


def config_for(team, **review):
    config = load_config()
    config.review.adjudicators = [team[1]["dave"].username]
    for key, value in review.items():
        setattr(config.review, key, value)
    return config


def answer(person, argilla_id: str, **values) -> None:
    """A submitted response by `person` through their own API key."""
    body = {"status": "submitted", "values": {q: {"value": v} for q, v in values.items()}}
    response = person.client.api.http_client.post(
        f"/api/v1/records/{argilla_id}/responses", json=body
    )
    assert response.status_code == 201, response.text


def ids(argilla_server, name, workspace) -> dict[str, str]:
    """record id -> Argilla record UUID."""
    pulled = pull(argilla_server.client, name, workspace)
    return dict(zip(pulled.records["record_id"], pulled.records["argilla_id"], strict=True))


def other(side: str) -> str:
    return "b" if side == "a" else "a"


def adjudication_records(person, name, workspace) -> dict[str, dict]:
    """The adjudication dataset's records as `person` reads them (the annotator's search
    API, which the web UI uses)."""
    dataset = person.client.datasets(name=adjudication_name(name), workspace=workspace)
    response = person.client.api.http_client.post(
        f"/api/v1/me/datasets/{dataset.id}/records/search",
        params={"include": ["responses", "suggestions"], "limit": 1000},
        json={},
    )
    response.raise_for_status()
    return {item["record"]["external_id"]: item["record"] for item in response.json()["items"]}


def test_ties_are_adjudicated_a_b_or_tie_and_a_rerun_changes_nothing(argilla_server, team):
    workspace, people = team
    name = argilla_server.unique("pairs")
    rows = preference_rows(4, "tie")
    push_rows(argilla_server.client, load_config(), rows, "preference", name, workspace)
    uuid = ids(argilla_server, name, workspace)
    for i in range(3):  # tie-0..tie-2: a 1-1 split; tie-3: both agree
        answer(people["alice"], uuid[f"tie-{i}"], preferred="a", rating_a=4)
        answer(people["bob"], uuid[f"tie-{i}"], preferred="b", rationale="B is shorter.")
    answer(people["alice"], uuid["tie-3"], preferred="a")
    answer(people["bob"], uuid["tie-3"], preferred="a")
    config = config_for(team)

    result = adjudicate(argilla_server.client, config.review, name, workspace)
    assert result.escalated == {"tie": 3}
    assert (result.created, result.updated, result.answered) == (3, 0, 0)
    space = adjudication_workspace(workspace)
    assert result.workspace == space and result.adjudicators == [people["dave"].username]

    # dave sees every earlier answer with its author, and the AI's, labelled; nothing is
    # pre-filled, and the pair is in the order the reviewers saw it.
    seen = adjudication_records(people["dave"], name, space)
    assert sorted(seen) == ["tie-0", "tie-1", "tie-2"]
    page = seen["tie-0"]["fields"]["earlier_answers"]
    assert f"**{people['alice'].username}**: preferred **a**, rating_a 4" in page
    assert f"**{people['bob'].username}**: preferred **b**" in page and "> B is shorter." in page
    assert "AI judge (a suggestion, not a person)" in page and "judge-1" in page
    assert seen["tie-0"]["suggestions"] == []
    source = pull(argilla_server.client, name, workspace).records.set_index("record_id")
    assert (
        seen["tie-0"]["fields"]["response_a"]
        == json.loads(source.loc["tie-0", "fields"])["response_a"]
    )

    calls = {"tie-0": "a", "tie-1": "b", "tie-2": "tie"}
    for record_id, call in calls.items():
        answer(people["dave"], seen[record_id]["id"], preferred=call, note="checked")
    _, decided = reviewed_rows(argilla_server.client, name, workspace)
    decided = decided.set_index("record_id")
    by_id = rows.set_index("id")
    for record_id in ("tie-0", "tie-1"):
        side = calls[record_id]
        expected = by_id.loc[record_id, "chosen" if side == chosen_side(record_id) else "rejected"]
        assert decided.loc[record_id, ["decision", "approved_by", "escalation"]].tolist() == [
            "approved",
            "adjudicator",
            "tie",
        ]
        assert decided.loc[record_id, "chosen"] == expected
        assert decided.loc[record_id, "adjudicator"] == people["dave"].username
    assert decided.loc["tie-2", ["decision", "approved_by"]].tolist() == ["tie", None]
    assert decided.loc["tie-3", "approved_by"] == "humans"
    assert decided.loc["tie-3", "escalation"] is None

    again = adjudicate(argilla_server.client, config.review, name, workspace)
    assert (again.created, again.updated, again.answered) == (0, 0, 3)
    after = adjudication_records(people["dave"], name, space)
    assert sorted(after) == ["tie-0", "tie-1", "tie-2"]  # no duplicate
    assert all(len(record["responses"]) == 1 for record in after.values())  # none lost


def test_a_fix_without_correction_is_corrected_by_the_adjudicator_and_exported(
    argilla_server, team, tmp_path
):
    workspace, people = team
    name = argilla_server.unique("answers")
    rows = pd.DataFrame(
        [
            {
                "id": f"fix-{i}",
                "instruction": f"How long do I steep green tea, batch {i}?",
                "response": "Ten minutes in boiling water.",
                "rating": 4.0,
                "judge_model": "judge-1",
            }
            for i in range(2)
        ]
    )
    push_rows(argilla_server.client, load_config(), rows, "instruction", name, workspace)
    uuid = ids(argilla_server, name, workspace)
    for person in ("alice", "bob"):  # both say fix, nobody writes the correction
        answer(people[person], uuid["fix-0"], verdict="fix", quality=2)
    answer(people["alice"], uuid["fix-1"], verdict="keep")
    answer(people["bob"], uuid["fix-1"], verdict="drop")
    config = config_for(team)

    result = adjudicate(argilla_server.client, config.review, name, workspace)
    assert result.escalated == {"tie": 1, "needs_fix": 1}
    seen = adjudication_records(people["dave"], name, adjudication_workspace(workspace))
    corrected = "Two to three minutes in water at about 80 C."
    answer(people["dave"], seen["fix-0"]["id"], verdict="fix", corrected_response=corrected)
    answer(people["dave"], seen["fix-1"]["id"], verdict="drop")

    _, decided = reviewed_rows(argilla_server.client, name, workspace)
    decided = decided.set_index("record_id")
    assert decided.loc["fix-0", ["decision", "approved_by", "final_response"]].tolist() == [
        "approved",
        "adjudicator",
        corrected,
    ]
    assert decided.loc["fix-1", "decision"] == "rejected"

    folder = tmp_path / "sft"
    exported = export(
        load_config(),
        ExportRequest(dataset=name, format="sft", workspace=workspace, local_dir=folder),
    )
    assert sum(exported.rows.values()) == 1
    table = pd.read_parquet(next(folder.rglob("*.parquet")))
    assert table["messages"][0][-1]["content"] == corrected
    assert table["approved_by"].tolist() == ["adjudicator"]
    assert "Adjudication:" in (folder / "README.md").read_text()


def test_an_adjudicator_overrules_the_majority_of_a_split_vote(argilla_server, team):
    workspace, people = team
    name = argilla_server.unique("split")
    rows = preference_rows(2, "split")
    push_rows(argilla_server.client, load_config(), rows, "preference", name, workspace)
    uuid = ids(argilla_server, name, workspace)
    majority = chosen_side("split-0")  # 2 of 3 side with the AI
    for person, side in (("alice", majority), ("bob", majority), ("carol", other(majority))):
        answer(people[person], uuid["split-0"], preferred=side)
    for person in ("alice", "bob"):
        answer(people[person], uuid["split-1"], preferred="a")

    by_default = adjudicate(argilla_server.client, config_for(team).review, name, workspace)
    assert by_default.escalated == {}  # a majority is a decision unless splits escalate
    assert lookup(argilla_server.client, adjudication_name(name), by_default.workspace) is None

    config = config_for(team, escalate_on=["tie", "needs_fix", "split"])
    result = adjudicate(argilla_server.client, config.review, name, workspace)
    assert result.escalated == {"split": 1}
    seen = adjudication_records(people["dave"], name, result.workspace)
    answer(people["dave"], seen["split-0"]["id"], preferred=other(majority))

    _, decided = reviewed_rows(argilla_server.client, name, workspace)
    row = decided.set_index("record_id").loc["split-0"]
    assert (row["decision"], row["approved_by"], row["human_preferred"]) == (
        "approved",
        "adjudicator",
        other(majority),
    )
    assert row["chosen"] == rows.set_index("id").loc["split-0", "rejected"]  # not the AI's
    assert row["ai_agrees"] is False


def test_only_adjudicators_can_see_or_answer_the_adjudication_dataset(argilla_server, team):
    workspace, people = team
    name = argilla_server.unique("guarded")
    push_rows(argilla_server.client, load_config(), preference_rows(1, "g"), "preference", name,
              workspace)  # fmt: skip
    uuid = ids(argilla_server, name, workspace)
    answer(people["alice"], uuid["g-0"], preferred="a")
    answer(people["bob"], uuid["g-0"], preferred="b")
    result = adjudicate(argilla_server.client, config_for(team).review, name, workspace)
    record_id = adjudication_records(people["dave"], name, result.workspace)["g-0"]["id"]

    eve = people["eve"]  # a reviewer of the dataset, not an adjudicator
    assert adjudication_name(name) not in {d.name for d in eve.client.datasets}
    response = eve.client.api.http_client.post(
        f"/api/v1/records/{record_id}/responses",
        json={"status": "submitted", "values": {"preferred": {"value": "a"}}},
    )
    assert response.status_code in (403, 404), response.text
    pulled = pull(argilla_server.client, name, workspace)
    assert pulled.adjudication is not None and pulled.adjudication.feedback.empty

    # Default adjudicators: the owners and admins, and nobody else in the workspace.
    config = load_config()
    default = adjudicate(argilla_server.client, config.review, name, workspace)
    assert "argilla" in default.adjudicators and people["dave"].username not in default.adjudicators
    members = {u.username for u in argilla_server.client.workspaces(default.workspace).users}
    assert people["dave"].username not in members and eve.username not in members


def curate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "curation", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_bad_input_is_one_line_and_writes_nothing(argilla_server, team):
    workspace, people = team
    never = argilla_server.unique("never-pushed")
    line = one_line_error(curate("adjudicate", "--dataset", never, "--workspace", workspace))
    assert f"no dataset {never!r} in workspace {workspace!r}" in line

    name = argilla_server.unique("unknown")
    push_rows(argilla_server.client, load_config(), preference_rows(1, "u"), "preference", name,
              workspace)  # fmt: skip
    uuid = ids(argilla_server, name, workspace)
    answer(people["alice"], uuid["u-0"], preferred="a")
    answer(people["bob"], uuid["u-0"], preferred="tie")
    bad = {"CURATION_REVIEW__ADJUDICATORS": json.dumps([people["dave"].username, "zed-nobody"])}
    args = ("adjudicate", "--dataset", name, "--workspace", workspace)
    line = one_line_error(curate(*args, env=bad))
    assert "review.adjudicators: no Argilla user named 'zed-nobody'" in line
    space = adjudication_workspace(workspace)
    assert lookup(argilla_server.client, adjudication_name(name), space) is None

    good = {"CURATION_REVIEW__ADJUDICATORS": json.dumps([people["dave"].username])}
    done = curate("adjudicate", "--dataset", name, "--workspace", workspace, env=good)
    assert done.returncode == 0, done.stderr
    assert "1 escalated (1 tie)" in done.stdout and "1 added" in done.stdout
    again = curate("adjudicate", "--dataset", name, "--workspace", workspace, env=good)
    assert "0 added, 0 updated" in again.stdout


def test_a_failed_audit_turns_auto_approval_off_in_its_band(argilla_server, team, tmp_path):
    workspace, people = team
    name = argilla_server.unique("audit")
    push_rows(argilla_server.client, load_config(), preference_rows(20, "au"), "preference", name,
              workspace)  # fmt: skip
    uuid = ids(argilla_server, name, workspace)
    for i in range(10):  # people decide au-0..au-9 as the AI did
        for person in ("alice", "bob"):
            answer(people[person], uuid[f"au-{i}"], preferred=chosen_side(f"au-{i}"))
    config = load_config()
    config.review.score_bands = 1
    config.review.auto_approval = AutoApprovalConfig(
        enabled=True, min_confidence=0.85, min_agreement=0.8, min_decided=5
    )
    config.review.audit_fraction = 0.25
    config.review.audit_min_decided = 2

    first = route(argilla_server.client, config, name, workspace)
    audited = sorted(first.audit.audit[first.audit.audit].index)
    assert first.audit.new == len(audited) == 3  # a quarter of the 10 it could approve
    assert first.auto_approved == 7
    metadata = {
        record_id: json.loads(m)
        for record_id, m in pull(argilla_server.client, name, workspace)
        .records.set_index("record_id")["metadata"]
        .items()
    }
    assert {r for r, m in metadata.items() if m.get("audit") == "yes"} == set(audited)
    assert all("approved_by" not in metadata[r] and metadata[r]["priority"] == 1.0 for r in audited)
    assert sum(m.get("approved_by") == "auto" for m in metadata.values()) == 7

    # People review two audit records and overrule the AI on both.
    for record_id in audited[:2]:
        for person in ("alice", "bob"):
            answer(people[person], uuid[record_id], preferred=other(chosen_side(record_id)))
    run = RunDir.open(tmp_path / "run", tmp_path)
    second = route_command(config, name, workspace, str(run.path))
    # Over all 12 decided records people still agree with the AI 10 times (83% >= 80%),
    # but on the audited ones they never did: the audit switches the band off.
    assert second.plan.agreement["score_band"]["1/1"] == {
        "agreement": 0.8333,
        "decided": 12,
        "estimate": "all",
    }
    assert second.audit.off == ["1/1"] and second.auto_approved == 0
    assert "auto-approval OFF in score band 1/1" in "\n".join(second.agreement_lines())
    assert "OFF in score band(s) 1/1" in second.summary()
    _, decided = reviewed_rows(argilla_server.client, name, workspace)
    assert "auto" not in set(decided["approved_by"].dropna())
    recorded = run.manifest()["review"]["route"][name]["audit"]
    assert recorded["off_bands"] == ["1/1"]
    assert recorded["bands"]["1/1"]["decided"] == 2 and recorded["bands"]["1/1"]["agreed"] == 0


def test_extra_review_asks_one_more_reviewer_instead(argilla_server, team):
    workspace, people = team
    name = argilla_server.unique("extra")
    push_rows(argilla_server.client, load_config(), preference_rows(1, "x"), "preference", name,
              workspace)  # fmt: skip
    uuid = ids(argilla_server, name, workspace)
    answer(people["alice"], uuid["x-0"], preferred="a")
    answer(people["bob"], uuid["x-0"], preferred="b")
    config = config_for(team, escalation="extra_review")
    result = adjudicate(argilla_server.client, config.review, name, workspace)
    assert (result.target, result.workspace) == (f"{name}-extra-review", workspace)
    assert result.created == 1
    # Ordinary reviewers see it in their workspace.
    assert people["carol"].client.datasets(name=result.target, workspace=workspace) is not None
    extra_uuid = ids(argilla_server, result.target, workspace)["x-0"]
    answer(people["alice"], extra_uuid, preferred="a")  # her second vote does not count
    _, decided = reviewed_rows(argilla_server.client, name, workspace)
    assert decided.set_index("record_id").loc["x-0", "decision"] == "tie"
    answer(people["carol"], extra_uuid, preferred="b")  # a new reviewer breaks the tie
    _, decided = reviewed_rows(argilla_server.client, name, workspace)
    row = decided.set_index("record_id").loc["x-0"]
    expected = ["approved", "humans", "b"]
    assert row[["decision", "approved_by", "human_preferred"]].tolist() == expected
    assert row["n_submitted"] == 3
    again = adjudicate(argilla_server.client, config.review, name, workspace)
    assert again.escalated == {}  # settled now


def test_the_demo_escalates_and_a_simulated_adjudicator_decides(argilla_server, tmp_path):
    """The demo's two steps: the adjudicate stage (`curate adjudicate --run`), then the
    SIMULATED adjudicator, who joins the adjudication workspace and makes the final calls."""
    from curation.demo import DemoContext, adjudication_simulated, review_adjudicate
    from curation.review.simulate import ADJUDICATION_LABEL, ADJUDICATOR, CARELESS, simulate
    from curation.run_files import SELECTED

    config = load_config()
    config.argilla.workspace = argilla_server.unique("demo")
    config.review.preference_dataset = argilla_server.unique("demo-prefs")
    config.review.instruction_dataset = argilla_server.unique("demo-inst")
    run = RunDir.open(tmp_path / "run", tmp_path)
    ctx = DemoContext(config, run, 12, console=None)  # type: ignore[arg-type]
    assert review_adjudicate(ctx).startswith("skipped: no selected.parquet")
    assert adjudication_simulated(ctx).startswith("skipped")
    pairs = preference_rows(12, "d")
    pairs.to_parquet(run.file(SELECTED))
    answers = pairs.rename(columns={"chosen": "response", "chosen_rating": "rating"})
    client, workspace = argilla_server.client, config.argilla.workspace
    for rows, template, name in (
        (pairs, "preference", config.review.preference_dataset),
        (answers, "instruction", config.review.instruction_dataset),
    ):
        push_rows(client, config, rows, template, name, workspace)
        simulate(client, pull(client, name, workspace), config.review.simulated_reviewers)

    assert "escalated" in review_adjudicate(ctx)
    assert ADJUDICATION_LABEL in adjudication_simulated(ctx)
    manifest = run.manifest()
    assert manifest["stages"]["adjudicate"]["status"] == "done"
    assert "SIMULATED" in manifest["simulated_adjudication"]["note"]
    counted = manifest["stages"]["adjudicate"]["counts"]
    calls = manifest["simulated_adjudication"]["datasets"]
    total = 0
    for name in (config.review.preference_dataset, config.review.instruction_dataset):
        escalated = sum(counted[name]["escalated"].values())
        assert calls[name]["adjudicated"] == escalated
        total += escalated
        _, decided = reviewed_rows(client, name, workspace)
        settled = decided[decided["escalation"].notna()]
        assert len(settled) == escalated
        assert set(settled["adjudicator"]) <= {ADJUDICATOR}
        assert "needs_fix" not in set(decided["decision"])  # every fix got its correction
        assert not ((decided["decision"] == "tie") & decided["adjudicator"].isna()).any()
    assert total > 0
    escalating = sum(1 for n in counted if sum(counted[n]["escalated"].values()))
    assert len([label for label in ctx.links if label.startswith("Adjudicate")]) == escalating
    feedback = pull(client, config.review.preference_dataset, workspace).feedback
    assert CARELESS in set(feedback["annotator"])

    review_adjudicate(ctx)  # a rerun escalates nothing new and decides nothing twice
    assert adjudication_simulated(ctx) == f"{ADJUDICATION_LABEL}: 0 final calls"
    assert all(run.stage("adjudicate")["counts"][n]["created"] == 0 for n in counted)
