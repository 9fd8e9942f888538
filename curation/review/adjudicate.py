"""The `adjudicate` stage (`curate adjudicate`): escalated records into the dataset's
adjudication dataset.

- The adjudication dataset (`NAME-adjudication`) lives in a workspace of its own
  (`WS-adjudication`) whose members are exactly the adjudicators (`review.adjudicators`;
  by default the owners and admins): other reviewers cannot see it or answer in it.
- Each escalated record goes in with the same id, its fields as reviewers saw them (a
  pair in the same a/b order), and `earlier_answers`: the reason, every submitted answer
  with who gave it, and the AI's, labelled. No answer is pre-filled. One submitted
  adjudication settles a record (`min_submitted` 1); `curate pull` reads it back.
- Idempotent like `push`: a rerun adds newly escalated records, rewrites a record only
  when what it shows changed, and never touches an answer.
- `review.escalation: extra_review` asks ordinary reviewers for one more review instead:
  the escalated records, as they were pushed, go to `NAME-extra-review` in the dataset's
  own workspace (`adjudication.extra_votes` counts the answers).

Every check (the dataset was pushed, the adjudicators exist) runs before the first write.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from curation.config import ReviewConfig
from curation.errors import CurationError
from curation.review import adjudication
from curation.review.connection import argilla_errors, connect
from curation.review.datasets import dataset_url, lookup, quietly
from curation.review.pull import Pulled, pull
from curation.review.push import ensure_dataset, ensure_workspace
from curation.review.records import decisions
from curation.review.stages import DatasetsStage, selected_pairs
from curation.review.templates import (
    DECIDING_QUESTION,
    FIELD_TITLES,
    FIELDS,
    Template,
    corrected_response_question,
    text_fields,
)

if TYPE_CHECKING:
    import argilla as rg

    from curation.runs import StageContext

GUIDELINES = """# Adjudicate: make the final call

The reviewers of this record could not settle it (a tie, a `fix` without a correction,
or a disagreement the curator asked to check). **earlier_answers** shows why it is here,
every reviewer's submitted answer with their name, and the AI judge's suggestion
(labelled: it is the AI's opinion, not a person's).

Your submitted answer is **final**: it replaces the reviewers' outcome.
{how}
- **note** (optional): why, in one sentence.
"""
HOW: dict[Template, str] = {
    "preference": "- **preferred**: `a` or `b` (that side becomes `chosen`), or `tie` when\n"
    "  neither is better (the pair is then never exported).",
    "instruction": "- **verdict**: `keep` (export as it is), `drop`, or `fix`: then write the\n"
    "  full corrected response in **corrected_response** (exported instead).",
}

TITLES = {**FIELD_TITLES, adjudication.ANSWERS_FIELD: "Earlier answers (reviewers and the AI)"}


@dataclass
class AdjudicateResult:
    dataset: str
    target: str  # the adjudication (or extra-review) dataset
    workspace: str
    mode: str
    escalated: dict[str, int]  # reason -> records
    created: int
    updated: int
    answered: int  # escalated records that already have a final call / extra review
    adjudicators: list[str] = field(default_factory=list)
    reasons: Sequence[str] = ()  # what escalates (review.escalate_on)
    url: str | None = None

    def summary(self) -> str:
        total = sum(self.escalated.values())
        if total == 0:
            return f"{self.dataset}: nothing to escalate (no {', '.join(self.reasons)} record)"
        why = ", ".join(f"{n} {reason}" for reason, n in self.escalated.items())
        line = (
            f"{self.dataset}: {total} escalated ({why}) to {self.target!r} (workspace "
            f"{self.workspace!r}): {self.created} added, {self.updated} updated, "
            f"{self.answered} answered"
        )
        if self.mode == "adjudicate":
            line += f"; adjudicators: {', '.join(self.adjudicators)}"
        return line


@dataclass
class AdjudicateStage(DatasetsStage):
    """`curate adjudicate`: escalate each dataset's unsettled records (the run's datasets
    with `--run R` alone)."""

    name = "adjudicate"
    results: dict[str, AdjudicateResult] = field(default_factory=dict)

    def run(self, ctx: StageContext) -> None:
        if self.datasets is None:
            selected_pairs(ctx.run)  # nothing pushed: nothing to escalate
        for name, result in self.escalate().items():
            ctx.counts[name] = {
                "escalated": result.escalated,
                "created": result.created,
                "updated": result.updated,
                "answered": result.answered,
            }

    def escalate(self) -> dict[str, AdjudicateResult]:
        """Each dataset in turn (`curate adjudicate --dataset` without a run calls this)."""
        client = connect(self.config)
        for name in self.names():
            with argilla_errors(f"adjudicating {name!r} on Argilla", client):
                self.results[name] = adjudicate(client, self.config.review, name, self.where())
        return self.results

    def summary(self, counts: dict[str, Any]) -> str:
        return "; ".join(
            f"{name}: {sum(c['escalated'].values())} escalated, {c['answered']} answered"
            for name, c in counts.items()
        )


def adjudicate(
    client: rg.Argilla, review: ReviewConfig, dataset: str, workspace: str | None = None
) -> AdjudicateResult:
    """Escalate `dataset`'s records as `review` says."""
    pulled = pull(client, dataset, workspace)
    template = pulled.template
    if template is None:
        raise CurationError(f"dataset {dataset!r} was not made by `curate push`: cannot adjudicate")
    users = _adjudicators(client, review.adjudicators)
    decided = decisions(pulled)
    reasons = adjudication.escalations(decided, review.escalate_on, review.escalate_confidence)
    escalated = decided[reasons.notna()] if len(decided) else pd.DataFrame()
    escalated = escalated.assign(reason=reasons[reasons.notna()])
    counts = {r: int((escalated["reason"] == r).sum()) for r in adjudication.REASONS}
    counts = {r: n for r, n in counts.items() if n}
    if review.escalation == "extra_review":
        name, space = adjudication.extra_review_name(pulled.dataset), pulled.workspace
        companion = pulled.extra_review
    else:
        name = adjudication.adjudication_name(pulled.dataset)
        space = adjudication.adjudication_workspace(pulled.workspace)
        companion = pulled.adjudication
    result = AdjudicateResult(
        dataset=pulled.dataset,
        target=name,
        workspace=space,
        mode=review.escalation,
        escalated=counts,
        created=0,
        updated=0,
        answered=0,
        adjudicators=sorted(user.username for user in users),
        reasons=review.escalate_on,
    )
    if escalated.empty:
        return result
    wanted = _planned(pulled, escalated, template, review.escalation)
    existing = _existing(companion)
    changed = [item for item in wanted if existing.get(item["id"]) != _key(item)]
    target = _target(client, pulled, template, name, space, review.escalation, users)
    _upsert(client, target, changed)
    answered = set(companion.feedback["record_id"]) if companion is not None else set()
    result.created = sum(1 for item in changed if item["id"] not in existing)
    result.updated = len(changed) - result.created
    result.answered = len(answered & set(escalated["record_id"]))
    result.url = dataset_url(client.api_url, target.id)
    return result


# --- who adjudicates --------------------------------------------------------------------


def _adjudicators(client: rg.Argilla, configured: Sequence[str]) -> list[rg.User]:
    """The configured users (default: owners and admins); a one-line error for an unknown
    name."""
    found = [] if configured else [u for u in client.users if u.role in ("owner", "admin")]
    for name in dict.fromkeys(configured):
        if name in {user.username for user in found}:
            continue
        with quietly():
            user = client.users(username=name)
        if user is None:
            raise CurationError(
                f"review.adjudicators: no Argilla user named {name!r} (create the account "
                "first, or fix the name)"
            )
        found.append(user)
    return found


def _members(client: rg.Argilla, space: rg.Workspace, users: list[rg.User]) -> None:
    """Make the adjudicators exactly the workspace's members (owners see every workspace)."""
    wanted = {user.username for user in users}
    current = {user.username: user for user in space.users}
    for user in users:
        if user.username not in current:
            user.add_to_workspace(space)
    for name, user in current.items():
        if name not in wanted:
            user.remove_from_workspace(space)


# --- the records ------------------------------------------------------------------------


def _planned(
    pulled: Pulled, escalated: pd.DataFrame, template: Template, mode: str
) -> list[dict[str, Any]]:
    """Plain records to write: id, fields, metadata (and, for extra_review, suggestions)."""
    source = pulled.records.set_index("record_id")
    submitted = pulled.feedback
    items = []
    for row in escalated.itertuples(index=False):
        record = source.loc[row.record_id]
        metadata = {"reason": row.reason, "n_submitted": int(row.n_submitted)}
        if mode == "extra_review":
            fields = json.loads(record["fields"])
            items.append(
                {
                    "id": row.record_id,
                    "fields": {name: fields[name] for name in FIELDS[template]},
                    "metadata": {},
                    "suggestions": json.loads(record["suggestions"]),
                }
            )
            continue
        answers = submitted[submitted["record_id"] == row.record_id]
        fields = adjudication.adjudication_fields(template, record, row.reason, row.votes, answers)
        items.append({"id": row.record_id, "fields": fields, "metadata": metadata})
    return items


def _key(item: dict[str, Any]) -> str:
    return json.dumps([item["fields"], item["metadata"]], sort_keys=True)


def _existing(companion: Pulled | None) -> dict[str, str]:
    """record id -> what it shows now, to write only what changed."""
    if companion is None:
        return {}
    return {
        record_id: json.dumps([json.loads(fields), json.loads(metadata)], sort_keys=True)
        for record_id, fields, metadata in zip(
            companion.records["record_id"],
            companion.records["fields"],
            companion.records["metadata"],
            strict=True,
        )
    }


def _target(
    client: rg.Argilla,
    pulled: Pulled,
    template: Template,
    name: str,
    space: str,
    mode: str,
    users: list[rg.User],
) -> rg.Dataset:
    """The adjudication (or extra-review) dataset, created when missing."""
    if mode == "extra_review":
        found, _ = ensure_dataset(client, name, space, template, 1, 1, None)
        return found
    workspace = ensure_workspace(client, space)
    _members(client, workspace, users)
    found = lookup(client, name, space)
    if found is None:
        return settings_dataset(client, template, name, workspace).create()
    fields = tuple(f.name for f in found.settings.fields)
    questions = tuple(q.name for q in found.settings.questions)
    if (fields, questions) != (
        adjudication.fields_of(template),
        adjudication.QUESTIONS[template],
    ):
        raise CurationError(
            f"dataset {name!r} in workspace {space!r} is not the adjudication dataset of a "
            f"{template} dataset: rename or delete it"
        )
    return found


def settings_dataset(
    client: rg.Argilla, template: Template, name: str, workspace: rg.Workspace
) -> rg.Dataset:
    """The adjudication dataset of a `template` dataset (not yet created)."""
    import argilla as rg

    c = {"client": client}
    fields = text_fields(client, adjudication.fields_of(template), TITLES)
    deciding = DECIDING_QUESTION[template]
    labels = ("a", "b", "tie") if template == "preference" else ("keep", "fix", "drop")
    questions: list[Any] = [
        rg.LabelQuestion(
            **c, name=deciding, title="Your final call", labels=list(labels), required=True
        )
    ]
    if template == "instruction":
        questions.append(corrected_response_question(client))
    questions.append(
        rg.TextQuestion(**c, name=adjudication.NOTE_QUESTION, title="Why", required=False)
    )
    settings = rg.Settings(
        guidelines=GUIDELINES.format(how=HOW[template]),
        fields=fields,
        questions=questions,
        metadata=[
            rg.TermsMetadataProperty(name="reason", title="Why escalated", **c),
            rg.IntegerMetadataProperty(name="n_submitted", title="Reviews submitted", **c),
        ],
        distribution=rg.TaskDistribution(min_submitted=1),
        allow_extra_metadata=False,
    )
    return rg.Dataset(name=name, workspace=workspace, settings=settings, client=client)


def _upsert(client: rg.Argilla, target: rg.Dataset, items: list[dict[str, Any]]) -> None:
    """Write the records (ids are the source record ids; responses are never sent)."""
    import argilla as rg

    for start in range(0, len(items), 200):
        models = []
        for item in items[start : start + 200]:
            record = rg.Record(
                id=item["id"],
                fields=item["fields"],
                metadata=item["metadata"],
                suggestions=[
                    rg.Suggestion(
                        question_name=q, value=s["value"], score=s.get("score"), agent=s["agent"]
                    )
                    for q, s in item.get("suggestions", {}).items()
                    if s.get("value") is not None
                ],
            )
            record.dataset = target
            models.append(record.api_model())
        client.api.records.bulk_upsert(target.id, models)
