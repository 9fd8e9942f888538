"""`curate push`: rows into an Argilla dataset, idempotently.

- Record ids are the rows' stable `id`s (Argilla's `external_id`), so pushing the same rows
  again updates them in place (suggestions, metadata, vectors) and creates no duplicate,
  and new rows are added. A push never sends responses, so no human response, submitted
  or draft, is touched (argilla-server's bulk upsert leaves responses alone when a record
  carries none).
- A preference pair goes in as `response_a` / `response_b` in an order drawn from the
  record id (`chosen_side`): random across records, so reviewers cannot learn where the
  AI's choice is, and the same on every push, so a re-push never swaps the sides under a
  reviewer's answer. The order is in the metadata (`ai_chosen_side`).
- Everything is checked before the first write (`push_input.py` reads and checks the
  rows): bad input changes nothing.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from curation.config import RoutingWeights
from curation.errors import CurationError
from curation.progress import progress_bar
from curation.review import routing
from curation.review.datasets import dataset_url, lookup, queue_url, quietly, record_count
from curation.review.rest import ArgillaREST
from curation.review.templates import (
    METADATA,
    VECTOR,
    Template,
    check_existing,
    metadata_property,
    settings,
)

if TYPE_CHECKING:
    import argilla as rg
    from rich.console import Console

SCALE = (1, 5)  # the rating scale of both templates
# How long to wait for a dataset another push is creating (seconds).
DRAFT_WAIT_S = 30.0


@dataclass
class PlannedRecord:
    """One Argilla record as plain data (`suggestions`: question -> (value, score, agent))."""

    id: str
    fields: dict[str, str]
    metadata: dict[str, Any]
    suggestions: dict[str, tuple[Any, float | None, str | None]] = field(default_factory=dict)


@dataclass
class PushResult:
    dataset: str
    workspace: str
    dataset_id: str
    url: str
    queue_url: str
    created: int
    updated: int
    new_dataset: bool

    def summary(self) -> str:
        made = "created" if self.new_dataset else "updated"
        return (
            f"{made} dataset {self.dataset!r} (workspace {self.workspace!r}): "
            f"{self.created} records added, {self.updated} updated"
        )


# --- rows -> records -------------------------------------------------------------------


def chosen_side(record_id: str) -> str:
    """`a` or `b`: where the AI's chosen response goes, drawn from the record id alone."""
    return "a" if hashlib.sha256(record_id.encode()).digest()[0] & 1 == 0 else "b"


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _rating(value: Any) -> int | None:
    """A judge rating (maybe an expected value like 3.6) as the nearest scale point."""
    number = _number(value)
    return None if number is None else min(max(math.floor(number + 0.5), SCALE[0]), SCALE[1])


def _probability(distribution: Any, rating: int | None) -> float | None:
    """P(rating) under the judge's distribution over 1..5, as the suggestion score."""
    if rating is None or distribution is None:
        return None
    values = list(distribution)
    if len(values) != SCALE[1] - SCALE[0] + 1:
        return None
    return _number(values[rating - SCALE[0]])


def _item(row: dict[str, Any], column: str, index: Any) -> Any:
    """`row[column][index]` for list columns; None when absent."""
    values = row.get(column)
    try:
        return values[int(index)] if values is not None else None
    except (TypeError, ValueError, IndexError):
        return None


def _clean(metadata: dict[str, Any], template: Template) -> dict[str, Any]:
    """Metadata as Argilla takes it: typed per property, no null or NaN values."""
    clean: dict[str, Any] = {}
    for name, value in metadata.items():
        kind = METADATA[template][name].kind
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            continue
        if kind == "terms" and not isinstance(value, str) and hasattr(value, "__iter__"):
            if len(value):  # a list of terms (any of them matches a filter); none: absent
                clean[name] = [str(item) for item in value]
        elif kind == "terms":
            clean[name] = str(value)
        else:
            number = _number(value)
            if number is not None:
                clean[name] = int(number) if kind == "integer" else round(number, 6)
    return clean


def _common_metadata(row: dict[str, Any]) -> dict[str, Any]:
    names = (
        "source",
        "complexity",
        "deita_score",
        "judge_uncertainty",
        "selection_rank",
        "nn_similarity",
        "judge_model",
        "pii_kinds",
        "contaminated_by",
    )
    return {"deita_quality": row.get("quality"), **{name: row.get(name) for name in names}}


def plan_records(
    rows: pd.DataFrame, template: Template, weights: RoutingWeights
) -> list[PlannedRecord]:
    """The records a push writes, one per row (pure: no server needed)."""
    priorities = routing.priority(routing.signals(rows, template), weights).tolist()
    as_dicts = rows.to_dict("records")
    if template == "instruction":
        return [_instruction_record(row, p) for row, p in zip(as_dicts, priorities, strict=True)]
    disagreement = routing.judge_disagreement(rows).tolist()
    return [
        _preference_record(row, p, d)
        for row, p, d in zip(as_dicts, priorities, disagreement, strict=True)
    ]


def _instruction_record(row: dict[str, Any], priority: float) -> PlannedRecord:
    agent = row.get("judge_model")
    agent = str(agent) if isinstance(agent, str) and agent else None
    rating = _rating(row.get("rating"))
    metadata = {
        **_common_metadata(row),
        "priority": priority,
        "judge_rating": _number(row.get("rating")),
        "response_length": len(row["response"]),
        "model": row.get("model"),
    }
    suggestions = {}
    if rating is not None:
        suggestions["quality"] = (rating, _number(row.get("rating_score")), agent)
    return PlannedRecord(
        id=str(row["id"]),
        fields={"instruction": row["instruction"], "response": row["response"]},
        metadata=_clean(metadata, "instruction"),
        suggestions=suggestions,
    )


def _preference_record(row: dict[str, Any], priority: float, disagreement: float) -> PlannedRecord:
    record_id = str(row["id"])
    side = chosen_side(record_id)
    other = "b" if side == "a" else "a"
    agent = str(row["judge_model"]) if isinstance(row["judge_model"], str) else None
    chosen, rejected = _response(row, "chosen"), _response(row, "rejected")
    sides = {side: chosen, other: rejected}
    margin = _number(row.get("margin"))
    if margin is None and None not in (chosen["rating"], rejected["rating"]):
        margin = chosen["rating"] - rejected["rating"]
    tie = bool(row["tie"]) if "tie" in row and pd.notna(row["tie"]) else margin == 0
    suggestions = _preference_suggestions(row, sides, side if not tie else "tie", agent)
    metadata = {
        **_common_metadata(row),
        "priority": priority,
        "judge_rating_a": sides["a"]["rating"],
        "judge_rating_b": sides["b"]["rating"],
        "margin": margin,
        "judge_disagreement": disagreement,
        "ai_chosen_side": side,
        "length_a": len(sides["a"]["text"]),
        "length_b": len(sides["b"]["text"]),
        "model_a": sides["a"]["model"],
        "model_b": sides["b"]["model"],
    }
    return PlannedRecord(
        id=record_id,
        fields={
            "instruction": row["instruction"],
            "response_a": sides["a"]["text"],
            "response_b": sides["b"]["text"],
        },
        metadata=_clean(metadata, "preference"),
        suggestions=suggestions,
    )


def _response(row: dict[str, Any], role: str) -> dict[str, Any]:
    """The `chosen` or `rejected` response: its text, the judge's rating and distribution,
    and the model that wrote it."""
    index = row.get(f"{role}_index")
    return {
        "text": row[role],
        "rating": _number(row[f"{role}_rating"]),
        "distribution": _item(row, "rating_distributions", index),
        "model": _item(row, "generation_models", index),
    }


def _preference_suggestions(
    row: dict[str, Any], sides: dict[str, dict[str, Any]], preferred: str, agent: str | None
) -> dict[str, tuple[Any, float | None, str | None]]:
    """The AI's answers: the preferred side (scored 1 - judge uncertainty; a tie is not
    scored) and each side's rating with its probability."""
    uncertainty = _number(row.get("judge_uncertainty"))
    score = None if preferred == "tie" or uncertainty is None else round(1 - uncertainty, 6)
    suggestions: dict[str, tuple[Any, float | None, str | None]] = {
        "preferred": (preferred, score, agent)
    }
    for name in ("a", "b"):
        rating = _rating(sides[name]["rating"])
        if rating is not None:
            probability = _probability(sides[name]["distribution"], rating)
            suggestions[f"rating_{name}"] = (rating, probability, agent)
    return suggestions


# --- writing ---------------------------------------------------------------------------


def ensure_workspace(client: rg.Argilla, name: str) -> rg.Workspace:
    import argilla as rg
    from argilla._exceptions import ConflictError

    with quietly():
        found = client.workspaces(name)
    if found is not None:
        return found
    try:
        return rg.Workspace(name=name, client=client).create()
    except ConflictError:  # another push created it since the lookup
        with quietly():
            found = client.workspaces(name)
        if found is None:
            raise
        return found


def _published(client: rg.Argilla, name: str, workspace: str) -> rg.Dataset | None:
    """The dataset once its creator has published it, or None if there is none.

    A dataset being created by another push exists as a draft with only some of its
    fields for a moment; checking it then would wrongly say it was made for something
    else. A draft that stays one (its push was killed) is reported as such.
    """
    deadline = time.monotonic() + DRAFT_WAIT_S
    while True:
        found = lookup(client, name, workspace)
        if found is None or found._model.status == "ready":
            return found
        if time.monotonic() > deadline:
            raise CurationError(
                f"dataset {name!r} in workspace {workspace!r} is an unfinished draft (a push "
                "was interrupted while creating it): delete it in Argilla, then push again"
            )
        time.sleep(0.5)


def ensure_dataset(
    client: rg.Argilla,
    name: str,
    workspace: str,
    template: Template,
    min_submitted: int | None,
    default_min_submitted: int,
    vector_dims: int | None,
) -> tuple[rg.Dataset, bool]:
    """The dataset, created from the template or brought up to date; (dataset, created).

    An existing dataset must have been made with the same template (else an error before
    any write). Its guidelines, overlap (`min_submitted`, when given), and any metadata
    property or vector the template gained since are updated; nothing else changes.
    """
    import argilla as rg
    from argilla._exceptions import ConflictError

    found = _published(client, name, workspace)
    if found is None:
        space = ensure_workspace(client, workspace)
        wanted = settings(client, template, min_submitted or default_min_submitted, vector_dims)
        dataset = rg.Dataset(name=name, workspace=space, settings=wanted, client=client)
        try:
            return dataset.create(), True
        except ConflictError:  # another push created it since the lookup: use theirs
            found = _published(client, name, workspace)
            if found is None:
                raise
    check_existing(found, template, vector_dims)
    current = found.settings
    overlap = min_submitted or current.distribution.min_submitted
    guidelines = settings(client, template, overlap, None).guidelines.strip()
    changed = False
    if (current.guidelines or "").strip() != guidelines:  # the server strips it
        current.guidelines = guidelines
        changed = True
    if current.distribution.min_submitted != overlap:
        current.distribution = rg.TaskDistribution(min_submitted=overlap)
        changed = True
    have = {prop.name for prop in current.metadata}
    for prop_name, meta in METADATA[template].items():
        if prop_name not in have:
            current.metadata.add(metadata_property(client, prop_name, meta))
            changed = True
    if vector_dims and VECTOR not in {vector.name for vector in current.vectors}:
        current.vectors.add(
            rg.VectorField(name=VECTOR, title="Similar instructions", dimensions=vector_dims)
        )
        changed = True
    if changed:
        found.update()
    return found, False


def push_records(
    client: rg.Argilla,
    planned: Sequence[PlannedRecord],
    template: Template,
    dataset: str,
    workspace: str,
    *,
    min_submitted: int | None = None,
    default_min_submitted: int = 2,
    vectors: np.ndarray | None = None,
    batch_size: int = 200,
    console: Console | None = None,
) -> PushResult:
    """Create or update `dataset` with `planned` records, in batches, with a progress bar."""
    import argilla as rg

    dims = int(vectors.shape[1]) if vectors is not None and len(vectors) else None
    target, created_dataset = ensure_dataset(
        client, dataset, workspace, template, min_submitted, default_min_submitted, dims
    )
    # The bulk endpoint does not say which records were new: count before and after.
    before = 0 if created_dataset else record_count(client, target.id)
    with progress_bar(console) as progress:
        task = progress.add_task(f"pushing to {dataset}", total=len(planned))
        for start in range(0, len(planned), batch_size):
            batch = planned[start : start + batch_size]
            records = []
            for offset, item in enumerate(batch):
                record = rg.Record(
                    id=item.id,
                    fields=item.fields,
                    metadata=item.metadata,
                    suggestions=[
                        rg.Suggestion(question_name=q, value=v, score=s, agent=a)
                        for q, (v, s, a) in item.suggestions.items()
                    ],
                    vectors=(
                        {VECTOR: vectors[start + offset].tolist()} if vectors is not None else {}
                    ),
                )
                record.dataset = target
                records.append(record.api_model())
            saved, _ = client.api.records.bulk_upsert(target.id, records)
            if not created_dataset:
                _drop_stale_suggestions(client, target, batch, saved)
            progress.advance(task, len(batch))
    created = record_count(client, target.id) - before
    return PushResult(
        dataset=dataset,
        workspace=workspace,
        dataset_id=str(target.id),
        url=dataset_url(client.api_url, target.id),
        queue_url=queue_url(client.api_url, target.id),
        created=created,
        updated=len(planned) - created,
        new_dataset=created_dataset,
    )


def _drop_stale_suggestions(
    client: rg.Argilla, dataset: rg.Dataset, batch: Sequence[PlannedRecord], saved: list
) -> None:
    """Delete suggestions a re-push no longer makes (the judge gave no value this time).

    The bulk upsert only adds and replaces suggestions; without this an old AI answer
    would stay on the record as if it were current.
    """
    question_ids = {str(q.id): q.name for q in dataset.settings.questions}
    wanted = {item.id: set(item.suggestions) for item in batch}
    for model in saved:
        stale = [
            str(suggestion.id)
            for suggestion in model.suggestions or []
            if question_ids.get(str(suggestion.question_id))
            not in wanted.get(model.external_id, ())
        ]
        if stale:
            ArgillaREST(client).delete(
                f"/api/v1/records/{model.id}/suggestions", params={"ids": ",".join(stale)}
            )
