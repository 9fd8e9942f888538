"""SIMULATED reviewers, for the demo only: scripted annotator accounts answer some records.

A fresh demo has no people, so the review loop (pull, consensus, agreement, dashboard)
would show nothing. These scripted reviewers are real Argilla annotator accounts that
answer through the API like the web UI does, with seeded noise: they take the AI's
suggestion most of the time and something else otherwise, and on the blind slice (no
suggestion shown) match the AI's withheld answer less often, as anchored people do. One of them,
`simulated-reviewer-careless`, answers at random (what reviewer-quality checks should
catch). They cover part of the records and leave the rest pending for a real person to
review in the UI. `simulated-adjudicator` makes the final call on escalated records
(`adjudicate`). Their answers are not human judgements; everything that reports them
says SIMULATED.

Reruns are idempotent: a reviewer never answers a record twice or changes an answer, and
each record's answers are drawn from a generator seeded by the record id.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from curation.errors import CurationError, StageSkipped
from curation.review.connection import connect
from curation.review.datasets import quietly
from curation.review.pull import Pulled, pull
from curation.review.rest import ArgillaREST
from curation.review.stages import run_datasets, selected_pairs
from curation.run_files import SELECTED

if TYPE_CHECKING:
    import argilla as rg

    from curation.config import Config
    from curation.runs import RunDir

REVIEWER_PREFIX = "simulated-reviewer"
CARELESS = f"{REVIEWER_PREFIX}-careless"
ADJUDICATOR = "simulated-adjudicator"
LABEL = "SIMULATED review (demo only: scripted reviewers, not people)"
ADJUDICATION_LABEL = "SIMULATED adjudication (demo only: a scripted adjudicator, not a person)"
BULK = 100  # responses per request (argilla-server's limit)


@dataclass(frozen=True)
class Behaviour:
    """How the scripted reviewers behave (shares of records or answers)."""

    coverage: float = 0.6  # records that get reviews at all
    agree: float = 0.75  # answers that take the AI's suggestion
    # On blind records nobody sees the suggestion: the reviewer's own call matches the AI's
    # withheld answer less often. The gap is the anchoring the Agreement page measures.
    agree_blind: float = 0.6
    third_reviewer: float = 0.25  # covered records that get a third review
    draft: float = 0.1  # reviews left as drafts (they do not count)
    fix: float = 0.1  # instruction verdicts that are `fix` with a correction
    careless: bool = True  # one more reviewer who answers at random


def account(client: rg.Argilla, name: str, workspace: rg.Workspace | None = None) -> rg.Argilla:
    """An SDK client of the scripted annotator `name` (created when missing, and made a
    member of `workspace` when given)."""
    import argilla as rg

    with quietly():
        user = client.users(username=name)
    if user is None:
        user = rg.User(
            username=name,
            password=secrets.token_urlsafe(16),  # nobody signs in as them
            role="annotator",
            client=client,
        ).create()
    if workspace is not None and name not in {member.username for member in workspace.users}:
        user.add_to_workspace(workspace)
    key = ArgillaREST(client).get(f"/api/v1/users/{user.id}")["api_key"]
    member = rg.Argilla(api_url=client.api_url, api_key=key)
    rg.Argilla._set_default(client)  # the SDK makes the last client its default
    return member


def reviewers(
    client: rg.Argilla, workspace: str, count: int, careless: bool = False
) -> list[rg.Argilla]:
    """SDK clients of `count` scripted annotators in `workspace` (created when missing),
    and of the careless one last when asked."""
    with quietly():
        space = client.workspaces(workspace)
    if space is None:
        raise CurationError(f"no workspace {workspace!r}: push a dataset first")
    names = [f"{REVIEWER_PREFIX}-{number}" for number in range(1, count + 1)]
    return [account(client, name, space) for name in [*names, *([CARELESS] if careless else [])]]


def simulate(
    client: rg.Argilla,
    pulled: Pulled,
    count: int,
    seed: int = 0,
    behaviour: Behaviour | None = None,
) -> dict[str, Any]:
    """Scripted answers to part of `pulled`'s records; counts of what was written."""
    behaviour = behaviour or Behaviour()
    if pulled.template is None:
        raise CurationError(f"dataset {pulled.dataset!r} was not made by `curate push`")
    if count == 0:
        return {"reviewers": 0, "responses": 0, "records": 0}
    team = reviewers(client, pulled.workspace, count, behaviour.careless)
    names = [member.me.username for member in team]
    answered = _answered(pulled)
    plans: dict[int, list[dict[str, Any]]] = {i: [] for i in range(len(team))}
    covered = 0
    for record in pulled.records.itertuples(index=False):
        rng = np.random.default_rng(_seed(seed, record.record_id))
        if rng.random() >= behaviour.coverage:
            continue
        covered += 1
        size = min(len(team), 3 if rng.random() < behaviour.third_reviewer else 2)
        for member in rng.choice(len(team), size=size, replace=False):
            careless = names[member] == CARELESS
            values = _answers(rng, pulled.template, record, behaviour, careless)
            status = "draft" if rng.random() < behaviour.draft else "submitted"
            if (record.argilla_id, names[member]) in answered:
                continue
            plans[int(member)].append(
                {"record_id": record.argilla_id, "status": status, "values": values}
            )
    written = 0
    for member, items in plans.items():
        for start in range(0, len(items), BULK):
            written += _send(team[member], items[start : start + BULK])
    return {"reviewers": len(team), "responses": written, "records": covered}


def simulated_review(config: Config, run: RunDir) -> str:
    """The demo's SIMULATED review of the run's datasets; recorded as such in the manifest."""
    count = config.review.simulated_reviewers
    if not run.file(SELECTED).exists():
        return f"skipped: no {SELECTED} in the run"
    try:
        selected_pairs(run)
    except StageSkipped as skipped:
        return f"skipped: {skipped}"
    if count == 0:
        return "skipped (review.simulated_reviewers is 0)"
    client = connect(config)
    done = {}
    for name, _ in run_datasets(config):
        done[name] = simulate(client, pull(client, name, config.argilla.workspace), count)
    run.update(simulated_review={"note": LABEL, "datasets": done})
    answered = ", ".join(
        f"{name}: {d['responses']} reviews of {d['records']} records" for name, d in done.items()
    )
    return f"{LABEL}: {count} reviewers; {answered}; the other records wait for you"


def simulated_adjudication(config: Config, run: RunDir) -> str:
    """The demo's SIMULATED final calls on what `curate adjudicate` escalated; recorded as
    such in the manifest."""
    from curation.review.adjudication import adjudication_workspace

    if config.review.simulated_reviewers == 0:
        return "skipped (review.simulated_reviewers is 0)"
    if not run.file(SELECTED).exists():
        return f"skipped: no {SELECTED} in the run"
    client = connect(config)
    done = {}
    for name, _ in run_datasets(config):
        source = pull(client, name, config.argilla.workspace)
        with quietly():
            space = client.workspaces(adjudication_workspace(source.workspace))
        if space is not None:  # something was escalated: the adjudicator joins its workspace
            account(client, ADJUDICATOR, space)
        done[name] = adjudicate(client, source)
    run.update(simulated_adjudication={"note": ADJUDICATION_LABEL, "datasets": done})
    decided = sum(counts["adjudicated"] for counts in done.values())
    return f"{ADJUDICATION_LABEL}: {decided} final calls"


def _seed(seed: int, record_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{record_id}".encode()).digest()[:8], "big")


def _answered(pulled: Pulled) -> set[tuple[str, str]]:
    """(argilla record id, username) of every existing response."""
    ids = dict(zip(pulled.records["record_id"], pulled.records["argilla_id"], strict=True))
    return {
        (ids[record_id], annotator)
        for record_id, annotator in zip(
            pulled.responses["record_id"], pulled.responses["annotator"], strict=True
        )
    }


def _near(rng: np.random.Generator, rating: Any) -> int:
    """A rating near the AI's (or a middling one when the AI gave none)."""
    base = int(rating) if rating is not None else 3
    return int(np.clip(base + rng.choice([-1, 0, 0, 1]), 1, 5))


def _answers(
    rng: np.random.Generator, template: str, record: Any, behaviour: Behaviour, careless: bool
) -> dict[str, dict[str, Any]]:
    if careless:
        return _careless(rng, template)
    suggestions = json.loads(record.suggestions)

    def ai(question: str) -> Any:
        return (suggestions.get(question) or {}).get("value")

    blind = any((s or {}).get("withheld") for s in suggestions.values())
    agree = rng.random() < (behaviour.agree_blind if blind else behaviour.agree)
    if template == "preference":
        suggested = ai("preferred") or "tie"
        preferred = suggested if agree else str(rng.choice([v for v in "ab" if v != suggested]))
        return {
            "preferred": {"value": preferred},
            "rating_a": {"value": _near(rng, ai("rating_a"))},
            "rating_b": {"value": _near(rng, ai("rating_b"))},
        }
    quality = _near(rng, ai("quality"))
    ai_verdict = "keep" if (ai("quality") or 3) >= 3 else "drop"
    verdict = (
        ai_verdict if agree else str(rng.choice([v for v in ("keep", "drop") if v != ai_verdict]))
    )
    answers = {"quality": {"value": quality}, "verdict": {"value": verdict}}
    if rng.random() < behaviour.fix:
        response = json.loads(record.fields)["response"]
        answers["verdict"] = {"value": "fix"}
        answers["corrected_response"] = {"value": f"{response.strip()}\n\n(SIMULATED correction)"}
    return answers


def _careless(rng: np.random.Generator, template: str) -> dict[str, dict[str, Any]]:
    """Answers drawn at random, whatever the record says."""
    if template == "preference":
        return {
            "preferred": {"value": str(rng.choice(["a", "b", "tie"]))},
            "rating_a": {"value": int(rng.integers(1, 6))},
            "rating_b": {"value": int(rng.integers(1, 6))},
        }
    return {
        "quality": {"value": int(rng.integers(1, 6))},
        "verdict": {"value": str(rng.choice(["keep", "drop"]))},
    }


def adjudicate(client: rg.Argilla, source: Pulled, seed: int = 0) -> dict[str, int]:
    """SIMULATED final calls on `source`'s escalated records, by `simulated-adjudicator`.

    The script: a pair goes to the side people rated higher on average (the AI's side
    when they rated both the same, a tie when the AI saw one too); an instruction with a
    `fix` vote gets a SIMULATED correction, any other is kept or dropped as the AI's
    rating says. Records it already answered are left alone.
    """
    escalated = source.adjudication
    if escalated is None or source.template is None:
        return {"adjudicated": 0}
    answered = escalated.responses
    done = set(answered.loc[answered["annotator"] == ADJUDICATOR, "record_id"])
    member = account(client, ADJUDICATOR)
    records = source.records.set_index("record_id")
    items = []
    for record_id, argilla_id in zip(
        escalated.records["record_id"], escalated.records["argilla_id"], strict=True
    ):
        if record_id in done or record_id not in records.index:
            continue
        answers = source.feedback[source.feedback["record_id"] == record_id]
        values = _final_call(source.template, records.loc[record_id], answers)
        items.append({"record_id": argilla_id, "status": "submitted", "values": values})
    written = sum(_send(member, items[i : i + BULK]) for i in range(0, len(items), BULK))
    return {"adjudicated": written}


def _final_call(template: str, record: Any, answers: Any) -> dict[str, dict[str, Any]]:
    suggestions = json.loads(record["suggestions"])
    ai = {q: (s or {}).get("value") for q, s in suggestions.items()}
    numbers = answers.assign(number=answers["value"].map(_number))
    mean = numbers.groupby("question")["number"].mean()
    note = {"note": {"value": "SIMULATED adjudication (demo only)"}}
    if template == "preference":
        a, b = mean.get("rating_a"), mean.get("rating_b")
        if a is not None and b is not None and a == a and b == b and a != b:
            side = "a" if a > b else "b"
        else:
            side = ai.get("preferred") or "tie"
        return {"preferred": {"value": side}, **note}
    if "fix" in set(answers.loc[answers["question"] == "verdict", "value"]):
        response = json.loads(record["fields"])["response"]
        corrected = f"{response.strip()}\n\n(SIMULATED correction by the adjudicator)"
        return {
            "verdict": {"value": "fix"},
            "corrected_response": {"value": corrected},
            **note,
        }
    keep = (ai.get("quality") or 3) >= 3
    return {"verdict": {"value": "keep" if keep else "drop"}, **note}


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _send(member: rg.Argilla, items: list[dict[str, Any]]) -> int:
    answer = ArgillaREST(member).post("/api/v1/me/responses/bulk", json={"items": items})
    errors = [item["error"]["detail"] for item in answer["items"] if item.get("error")]
    if errors:
        raise CurationError(f"simulated review: Argilla refused a response: {errors[0]}")
    return len(items)
