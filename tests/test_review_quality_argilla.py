"""Review you can trust, on the real embedded Argilla server with real annotator accounts.

- the blind control slice: what an annotator gets through the API has no suggestion on
  blind records (and no hidden metadata); a re-push keeps the slice; pull puts the
  withheld AI answers back beside the people's;
- `curate agreement --format json` split three ways with the anchoring effect, from
  annotators who copy the suggestion when they see one;
- gold items through `curate push --gold` (bad files refused, nothing written; re-push
  changes nothing), accuracy per reviewer with its interval, never exported;
- Dawid-Skene and MACE on a planted careless reviewer; too-fast and disagreement flags.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from curation.config import load_config
from curation.review import blind
from curation.review.commands import push_rows, write_run_files
from curation.review.datasets import lookup, record_count
from curation.review.pull import pull
from curation.review.push import chosen_side
from curation.review.quality import DISAGREES, TOO_FAST, reviewer_quality
from curation.review.records import decisions, reviewed_rows
from curation.runs import RunDir
from tests.util import one_line_error, planted_reviews, preference_rows

pytestmark = pytest.mark.integration

HIDDEN = {"blind", "gold", "gold_answer", "withheld_preferred", "withheld_rating_a"}


@pytest.fixture(scope="module")
def team(argilla_server):
    workspace = argilla_server.unique("quality")
    people = {
        name: argilla_server.new_annotator(workspace) for name in ("alice", "bob", "carol", "dave")
    }
    return workspace, people


def config_with(**review):
    config = load_config()
    for key, value in review.items():
        setattr(config.review, key, value)
    return config


def curate(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "curation", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )


def queue(annotator, argilla_server, name: str, workspace: str) -> dict[str, dict]:
    """The records as the annotator's queue gets them (the web UI's search), by record id,
    suggestions keyed by question name."""
    dataset = argilla_server.client.datasets(name=name, workspace=workspace)
    questions = {str(q.id): q.name for q in dataset.settings.questions}
    response = annotator.client.api.http_client.post(
        f"/api/v1/me/datasets/{dataset.id}/records/search",
        params=[("include", "suggestions"), ("limit", 500)],
        json={},
    )
    response.raise_for_status()
    records = {}
    for item in response.json()["items"]:
        record = item["record"]
        record["suggestions"] = {
            questions[s["question_id"]]: s["value"] for s in record["suggestions"]
        }
        records[record["external_id"]] = record
    return records


def submit(annotator, record: dict, **values) -> None:
    body = {"status": "submitted", "values": {q: {"value": v} for q, v in values.items()}}
    response = annotator.client.api.http_client.post(
        f"/api/v1/records/{record['id']}/responses", json=body
    )
    assert response.status_code == 201, response.text


# --- the blind slice ----------------------------------------------------------------------


def test_blind_records_reach_annotators_without_suggestions(argilla_server, team, tmp_path):
    workspace, people = team
    config = config_with(blind_fraction=0.3)
    rows = preference_rows(30, "bl")
    expected = {i for i in rows["id"] if blind.is_blind(i, 0.3)}
    assert 3 < len(expected) < 20
    name = argilla_server.unique("blind")
    push_rows(argilla_server.client, config, rows, "preference", name, workspace)

    seen = queue(people["alice"], argilla_server, name, workspace)
    assert set(seen) == set(rows["id"])
    for record_id, record in seen.items():
        if record_id in expected:
            assert record["suggestions"] == {}
        else:
            assert record["suggestions"]["preferred"] == chosen_side(record_id)
        assert not HIDDEN & set(record["metadata"] or {})  # annotators never see the marks

    again = push_rows(argilla_server.client, config, rows, "preference", name, workspace)
    assert (again.created, again.updated) == (0, 30)
    assert queue(people["alice"], argilla_server, name, workspace) == seen

    # the instruction template: its rating suggestion is withheld the same way
    texts = pd.DataFrame(
        {
            "id": [f"bi-{i}" for i in range(20)],
            "instruction": [f"Spell {i}." for i in range(20)],
            "response": [f"{i}: as written." for i in range(20)],
            "rating": [4.0] * 20,
            "judge_model": ["judge-1"] * 20,
        }
    )
    other = argilla_server.unique("blind-inst")
    push_rows(argilla_server.client, config, texts, "instruction", other, workspace)
    for record_id, record in queue(people["alice"], argilla_server, other, workspace).items():
        suggested = {} if blind.is_blind(record_id, 0.3) else {"quality": 4}
        assert record["suggestions"] == suggested
        assert "withheld_quality" not in (record["metadata"] or {})

    # pull puts the withheld AI answer beside the people's, marked blind
    one = next(iter(sorted(expected)))
    submit(people["alice"], seen[one], preferred="a")
    feedback = pull(argilla_server.client, name, workspace).feedback
    row = feedback[(feedback["record_id"] == one) & (feedback["question"] == "preferred")]
    assert row[["value", "suggestion", "blind"]].values.tolist() == [["a", chosen_side(one), True]]


def test_agreement_three_ways_shows_the_anchoring_effect(argilla_server, team):
    """Reviewers who keep the AI's answer when they see it and otherwise prefer `a`:
    agreement is 1 on suggested records, about one half on the blind slice."""
    workspace, people = team
    config = config_with(blind_fraction=0.5)
    rows = preference_rows(40, "anchor")
    name = argilla_server.unique("anchor")
    push_rows(argilla_server.client, config, rows, "preference", name, workspace)
    n_blind = sum(blind.is_blind(i, 0.5) for i in rows["id"])
    for who in ("alice", "bob"):
        for record in queue(people[who], argilla_server, name, workspace).values():
            submit(people[who], record, preferred=record["suggestions"].get("preferred", "a"))

    result = curate("agreement", "--dataset", name, "--format", "json", env=argilla_server.env)
    assert result.returncode == 0, result.stderr
    q = json.loads(result.stdout)["questions"]["preferred"]
    shown, hidden, effect = q["ai_human_suggested"], q["ai_human_blind"], q["anchoring"]
    assert set(shown) == set(hidden) == set(q["ai_human"])
    assert hidden["n_pairs"] == 2 * n_blind
    assert shown["n_pairs"] + hidden["n_pairs"] == q["ai_human"]["n_pairs"] == 80
    assert shown["exact_agreement"] == 1.0
    on_a = sum(chosen_side(i) == "a" for i in rows["id"] if blind.is_blind(i, 0.5))
    assert hidden["exact_agreement"] == pytest.approx(on_a / n_blind)
    assert effect["effect"] == pytest.approx(1.0 - on_a / n_blind)
    assert 0 < effect["ci95"][0] <= effect["effect"] <= effect["ci95"][1]


# --- gold ----------------------------------------------------------------------------------


def gold_rows(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"gold-{i}" for i in range(n)],
            "instruction": [f"What is {i} times two?" for i in range(n)],
            "chosen": [f"{2 * i}." for i in range(n)],
            "rejected": [f"{2 * i + 3}, roughly." for i in range(n)],
        }
    )


def test_gold_items_measure_reviewers_and_bad_gold_changes_nothing(
    argilla_server, team, tmp_path: Path
):
    workspace, people = team
    name = argilla_server.unique("gold")
    real = tmp_path / "pairs.parquet"
    preference_rows(8, "real").to_parquet(real)
    push = [
        "push",
        "--input",
        str(real),
        "--template",
        "preference",
        "--dataset",
        name,
        "--workspace",
        workspace,
    ]
    env = argilla_server.env

    wrong_template = tmp_path / "wrong.jsonl"
    pd.DataFrame(
        {"id": ["g"], "instruction": ["x"], "response": ["y"], "expected_verdict": ["keep"]}
    ).to_json(wrong_template, orient="records", lines=True)
    line = one_line_error(curate(*push, "--gold", str(wrong_template), env=env))
    assert "missing column(s) chosen, rejected for the preference template" in line
    assert "instruction template's columns" in line
    clash = tmp_path / "clash.parquet"
    gold_rows(3).assign(id=["gold-0", "real-2", "gold-2"]).to_parquet(clash)
    line = one_line_error(curate(*push, "--gold", str(clash), env=env))
    assert "id 'real-2' is also a row to review" in line
    assert lookup(argilla_server.client, name, workspace) is None  # nothing written

    gold = tmp_path / "gold.parquet"
    gold_rows(6).to_parquet(gold)
    first = curate(*push, "--gold", str(gold), env=env)
    assert first.returncode == 0, first.stderr
    assert "14 records added" in first.stdout
    second = curate(*push, "--gold", str(gold), env=env)
    assert "0 records added, 14 updated" in second.stdout
    dataset = lookup(argilla_server.client, name, workspace)
    assert record_count(argilla_server.client, dataset.id) == 14

    seen = queue(people["alice"], argilla_server, name, workspace)
    for i in range(6):
        record = seen[f"gold-{i}"]
        assert record["suggestions"] == {}  # like the blind slice: nothing to copy
        right = chosen_side(f"gold-{i}")
        wrong = "b" if right == "a" else "a"
        submit(people["alice"], record, preferred=right)
        submit(people["bob"], record, preferred=right if i < 3 else wrong)

    pulled = pull(argilla_server.client, name, workspace)
    table = reviewer_quality(pulled, load_config().review).set_index("annotator")
    alice, bob = table.loc[people["alice"].username], table.loc[people["bob"].username]
    assert (alice["gold_n"], alice["gold_correct"], alice["gold_accuracy"]) == (6, 6, 1.0)
    assert (bob["gold_n"], bob["gold_correct"], bob["gold_accuracy"]) == (6, 3, 0.5)
    assert alice["gold_low"] == pytest.approx(0.6097, abs=1e-3)  # Wilson, 6 of 6
    assert alice["gold_high"] == pytest.approx(1.0)
    assert bob["gold_low"] == pytest.approx(0.1876, abs=1e-3)
    assert bob["gold_high"] == pytest.approx(0.8124, abs=1e-3)

    _, exported = reviewed_rows(argilla_server.client, name, workspace)
    assert len(exported) == 8 and not exported["record_id"].str.startswith("gold").any()
    run = RunDir.open(tmp_path / "run", tmp_path)
    write_run_files(run, pulled)
    assert len(pd.read_parquet(run.file("review_records.parquet"))) == 8
    written = pd.read_parquet(run.file("reviewers.parquet"))
    assert set(written["annotator"]) == {people["alice"].username, people["bob"].username}


# --- aggregation and flags -----------------------------------------------------------------


def test_weighted_aggregation_recovers_planted_truth_and_flags_the_careless(argilla_server, team):
    """`good` is right 90% of the time, `fair` 75%, `careless` mostly clicks `a`."""
    workspace, _ = team
    prefix = argilla_server.unique("crowd")
    reviewers = {
        role: argilla_server.new_annotator(workspace, f"{prefix}-{role}")
        for role in ("good", "fair", "careless")
    }
    name = argilla_server.unique("careless")
    rows = preference_rows(40, "crowd")
    config = config_with(blind_fraction=0.0)
    push_rows(argilla_server.client, config, rows, "preference", name, workspace)
    answers, truth = planted_reviews(list(rows["id"]), seed=3)
    seen = queue(reviewers["good"], argilla_server, name, workspace)
    for answer in answers.itertuples():
        submit(reviewers[answer.annotator], seen[answer.record_id], preferred=answer.value)

    pulled = pull(argilla_server.client, name, workspace)
    right_share = {}
    for method in ("majority", "dawid-skene", "mace"):
        decided = decisions(pulled, aggregation=method).set_index("record_id")
        right_share[method] = (decided["preferred"] == truth).mean()
        review = config_with(aggregation=method, min_seconds_per_record=0).review
        table = reviewer_quality(pulled, review).set_index("annotator")
        assert table["competence"].idxmin() == reviewers["careless"].username
        assert DISAGREES in table.loc[reviewers["careless"].username, "flags"]
        assert table.loc[reviewers["good"].username, "flags"] == ""
    assert right_share["dawid-skene"] > right_share["majority"]
    assert right_share["mace"] > right_share["majority"]


def test_reviewers_faster_than_the_configured_pace_are_flagged(argilla_server, team):
    workspace, people = team
    name = argilla_server.unique("speed")
    rows = preference_rows(5, "speed")
    push_rows(
        argilla_server.client, config_with(blind_fraction=0.0), rows, "preference", name, workspace
    )
    seen = queue(people["dave"], argilla_server, name, workspace)
    for record_id in rows["id"]:
        submit(people["dave"], seen[record_id], preferred="a")  # back to back
    for record_id in rows["id"]:
        time.sleep(1.2)
        submit(people["alice"], seen[record_id], preferred="a")
    review = config_with(min_seconds_per_record=1.0).review
    table = reviewer_quality(pull(argilla_server.client, name, workspace), review)
    table = table.set_index("annotator")
    fast, steady = table.loc[people["dave"].username], table.loc[people["alice"].username]
    assert fast["flags"] == TOO_FAST and fast["seconds_per_record"] < 1.0
    assert steady["flags"] == "" and steady["seconds_per_record"] >= 1.0
