"""SIMULATED reviewers, for the demo only: scripted annotator accounts answer some records.

A fresh demo has no people, so the review loop (pull, consensus, agreement, dashboard)
would show nothing. These scripted reviewers are real Argilla annotator accounts that
answer through the API like the web UI does, with seeded noise: they take the AI's
suggestion most of the time and something else otherwise. They cover part of the records
and leave the rest pending for a real person to review in the UI. Their answers are not
human judgements; everything that reports them says SIMULATED.

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
from curation.review.stages import run_datasets, selected_pairs
from curation.run_files import SELECTED

if TYPE_CHECKING:
    import argilla as rg

    from curation.config import Config
    from curation.runs import RunDir

REVIEWER_PREFIX = "simulated-reviewer"
LABEL = "SIMULATED review (demo only: scripted reviewers, not people)"
BULK = 100  # responses per request (argilla-server's limit)


@dataclass(frozen=True)
class Behaviour:
    """How the scripted reviewers behave (shares of records or answers)."""

    coverage: float = 0.6  # records that get reviews at all
    agree: float = 0.75  # answers that take the AI's suggestion
    third_reviewer: float = 0.25  # covered records that get a third review
    draft: float = 0.1  # reviews left as drafts (they do not count)
    fix: float = 0.1  # instruction verdicts that are `fix` with a correction


def reviewers(client: rg.Argilla, workspace: str, count: int) -> list[rg.Argilla]:
    """SDK clients of `count` scripted annotators in `workspace` (created when missing)."""
    import argilla as rg

    with quietly():
        space = client.workspaces(workspace)
    if space is None:
        raise CurationError(f"no workspace {workspace!r}: push a dataset first")
    clients = []
    for number in range(1, count + 1):
        name = f"{REVIEWER_PREFIX}-{number}"
        with quietly():
            user = client.users(username=name)
        if user is None:
            user = rg.User(
                username=name,
                password=secrets.token_urlsafe(16),  # nobody signs in as them
                role="annotator",
                client=client,
            ).create()
        if user.username not in {member.username for member in space.users}:
            user.add_to_workspace(space)
        response = client.api.http_client.get(f"/api/v1/users/{user.id}")
        response.raise_for_status()
        clients.append(rg.Argilla(api_url=client.api_url, api_key=response.json()["api_key"]))
    rg.Argilla._set_default(client)  # the SDK makes the last client its default
    return clients


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
    team = reviewers(client, pulled.workspace, count)
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
            values = _answers(rng, pulled.template, record, behaviour)
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
    rng: np.random.Generator, template: str, record: Any, behaviour: Behaviour
) -> dict[str, dict[str, Any]]:
    suggestions = json.loads(record.suggestions)

    def ai(question: str) -> Any:
        return (suggestions.get(question) or {}).get("value")

    agree = rng.random() < behaviour.agree
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


def _send(member: rg.Argilla, items: list[dict[str, Any]]) -> int:
    response = member.api.http_client.post("/api/v1/me/responses/bulk", json={"items": items})
    response.raise_for_status()
    errors = [item["error"]["detail"] for item in response.json()["items"] if item.get("error")]
    if errors:
        raise CurationError(f"simulated review: Argilla refused a response: {errors[0]}")
    return len(items)
