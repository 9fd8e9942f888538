"""`curate agreement` on a real Argilla dataset: three annotators and AI suggestions.

The dataset has the instruction template's questions. Its responses mix submitted,
draft and discarded ones and a record without suggestions; every figure checked below is
computed by hand in the comments.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from curation.agreement import agreement_from_argilla
from curation.config import load_config

pytestmark = pytest.mark.integration
CURATE = [sys.executable, "-m", "curation"]

# record: [(annotator, verdict, quality, status)], AI (verdict, quality) or None
REVIEWS = {
    "r1": [
        ("alice", "keep", 5, "submitted"),
        ("bob", "keep", 4, "submitted"),
        ("carol", "fix", 3, "submitted"),
    ],
    "r2": [("alice", "drop", 1, "submitted"), ("bob", "drop", 2, "submitted")],
    "r3": [
        ("alice", "keep", 4, "submitted"),
        ("bob", "fix", 2, "draft"),
        ("carol", "drop", 1, "discarded"),
    ],
    "r4": [
        ("bob", "fix", 3, "submitted"),
        ("carol", "keep", 4, "submitted"),
        ("alice", "drop", 1, "draft"),
    ],
}
AI = {"r1": ("keep", 4), "r2": ("drop", 2), "r3": ("fix", 3)}


@pytest.fixture(scope="module")
def reviewed(argilla_server) -> dict[str, str]:
    """A reviewed dataset; returns its name, workspace and the annotators' usernames."""
    import argilla as rg

    owner = argilla_server.client
    workspace = argilla_server.workspace(argilla_server.unique("agreement"))
    people = {
        name: argilla_server.new_annotator(workspace, argilla_server.unique(name))
        for name in ("alice", "bob", "carol")
    }
    ids = {name: owner.users(username=a.username).id for name, a in people.items()}
    settings = rg.Settings(
        fields=[rg.TextField("instruction"), rg.TextField("response")],
        questions=[
            rg.RatingQuestion("quality", values=[1, 2, 3, 4, 5]),
            rg.LabelQuestion("verdict", labels=["keep", "fix", "drop"]),
            rg.TextQuestion("corrected_response", required=False),
        ],
    )
    name = argilla_server.unique("instructions")
    dataset = rg.Dataset(name=name, workspace=workspace, settings=settings, client=owner)
    dataset.create()
    records = []
    for rid, reviews in REVIEWS.items():
        suggestions = []
        if rid in AI:
            verdict, quality = AI[rid]
            suggestions = [
                rg.Suggestion("verdict", verdict, agent="judge-model", score=0.7),
                rg.Suggestion("quality", quality, agent="judge-model"),
            ]
        responses = [
            response
            for who, verdict, quality, status in reviews
            for response in (
                rg.Response("verdict", verdict, user_id=ids[who], status=status),
                rg.Response("quality", quality, user_id=ids[who], status=status),
            )
        ]
        records.append(
            rg.Record(
                id=rid,
                fields={"instruction": f"instruction {rid}", "response": f"response {rid}"},
                suggestions=suggestions,
                responses=responses,
            )
        )
    dataset.records.log(records)
    return {"name": name, "workspace": workspace.name} | {
        who: a.username for who, a in people.items()
    }


def curate(*args: str) -> subprocess.CompletedProcess[str]:
    # The subprocess inherits CURATION_HOME and finds the session's embedded server.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARGILLA_")}
    return subprocess.run(
        [*CURATE, "agreement", *args], capture_output=True, text=True, timeout=300, env=env
    )


def test_cli_json_has_the_hand_computed_figures(reviewed):
    result = curate("--dataset", reviewed["name"], "--format", "json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # stdout is the JSON alone; nothing else is said
    out = json.loads(result.stdout)
    assert out["dataset"] == reviewed["name"]
    assert list(out["questions"]) == ["quality", "verdict", "corrected_response"]

    verdict = out["questions"]["verdict"]
    assert verdict["type"] == "label_selection"
    # drafts (bob r3, alice r4) and the discard (carol r3) do not count
    assert (verdict["n_records"], verdict["n_annotators"], verdict["n_responses"]) == (4, 3, 8)
    hh = verdict["human_human"]
    # coincidences keep-keep 1, keep-fix 2+2, drop-drop 2: alpha = 1 - (4/7) / (32/42)
    assert hh["krippendorff_alpha"] == pytest.approx(0.25)
    assert hh["alpha_level"] == "nominal"
    assert hh["percent_agreement"] == pytest.approx((1 / 3 + 1 + 0) / 3)
    assert hh["fleiss_kappa"] is None  # records have 3, 2, 1, 2 responses
    ah = verdict["ai_human"]
    # r1 keep/keep x2 + keep/fix, r2 drop/drop x2, r3 fix/keep; r4 has no suggestion
    assert ah["n_pairs"] == 6
    assert ah["exact_agreement"] == pytest.approx(4 / 6)
    assert ah["cohen_kappa"] == pytest.approx(5 / 11)  # p_o 24/36, p_e 14/36
    assert ah["confusion_matrix"]["labels"] == ["keep", "fix", "drop"]
    assert ah["confusion_matrix"]["counts"] == [[2, 1, 0], [1, 0, 0], [0, 0, 2]]
    per = verdict["annotators"]
    assert set(per) == {reviewed["alice"], reviewed["bob"], reviewed["carol"]}
    assert per[reviewed["bob"]]["vs_consensus"] == {"n_records": 2, "exact_agreement": 0.5}
    assert per[reviewed["alice"]]["vs_ai"]["exact_agreement"] == pytest.approx(2 / 3)

    quality = out["questions"]["quality"]
    hh, ah = quality["human_human"], quality["ai_human"]
    # interval: D_o = 10/7 (r1 5,4,3; r2 1,2; r4 3,4), D_e = 152/42 -> alpha = 23/38
    assert hh["alpha_level"] == "interval"
    assert hh["krippendorff_alpha"] == pytest.approx(23 / 38)
    assert hh["percent_agreement"] == 0.0  # no two reviewers gave a record the same rating
    # pairs (AI, human): (4,5) (4,4) (4,3) (2,1) (2,2) (3,4)
    assert ah["n_pairs"] == 6
    assert ah["exact_agreement"] == pytest.approx(1 / 3)
    assert ah["within_one"] == 1.0
    assert ah["cohen_kappa"] == pytest.approx(1 / 9)  # p_o 1/3, p_e 9/36
    assert ah["confusion_matrix"]["labels"] == [1, 2, 3, 4, 5]
    for figure in ("cohen_kappa_linear", "cohen_kappa_quadratic", "spearman"):
        assert isinstance(ah[figure], float)

    text = out["questions"]["corrected_response"]
    assert text["type"] == "text"
    assert text["n_responses"] == 0
    assert text["human_human"]["krippendorff_alpha"] is None


def test_python_entry_point_reads_the_same_dataset(reviewed, argilla_env):
    result = agreement_from_argilla(
        load_config(), reviewed["name"], reviewed["workspace"], question="quality", resamples=0
    )
    assert list(result.questions) == ["quality"]
    assert result.questions["quality"].ai_human.cohen_kappa == pytest.approx(1 / 9)


def test_cli_table_for_people(reviewed):
    result = curate(
        "--dataset", reviewed["name"], "--workspace", reviewed["workspace"], "--format", "table"
    )
    assert result.returncode == 0, result.stderr
    assert "verdict (label_selection): 4 records, 3 annotators, 8 responses" in result.stdout
    assert "0.250" in result.stdout
    assert reviewed["carol"] in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--workspace", "no-such-workspace"), "no dataset"),
        (("--question", "verdict", "--alpha-level", "interval"), "needs numbers"),
        (("--question", "nope"), "no question 'nope'"),
    ],
)
def test_cli_errors_are_one_line(reviewed, args, message):
    result = curate("--dataset", reviewed["name"], *args, "--format", "json")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr


def test_a_name_in_two_workspaces_needs_workspace(argilla_server):
    import argilla as rg

    name = argilla_server.unique("twice")
    settings = rg.Settings(
        fields=[rg.TextField("instruction")],
        questions=[rg.LabelQuestion("verdict", labels=["keep", "drop"])],
    )
    spaces = [argilla_server.workspace(argilla_server.unique(w)) for w in ("one", "two")]
    for space in spaces:
        rg.Dataset(
            name=name, workspace=space, settings=settings, client=argilla_server.client
        ).create()
    result = curate("--dataset", name, "--format", "json")
    assert result.returncode == 1
    assert "several workspaces" in result.stderr
    chosen = curate("--dataset", name, "--workspace", spaces[1].name, "--format", "json")
    assert chosen.returncode == 0, chosen.stderr
    verdict = json.loads(chosen.stdout)["questions"]["verdict"]
    assert (verdict["n_records"], verdict["n_responses"]) == (0, 0)
