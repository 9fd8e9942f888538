"""From pulled records to decisions: what people decided, record by record.

- `decisions(pulled)`: one row per record: the consensus (`consensus.decide`, the approval
  rule), an adjudicator's final call where one was made (`adjudication.apply`), who
  approved it (`humans`, `adjudicator`, `auto`, or nobody), and how the people's outcome
  compares with the AI's.
- `review_records(pulled)`: the run directory's `review_records.parquet` rows.
- `reviewed_rows(client, dataset, ...)`: everything an export needs, one row per record.

Auto-approval (`routing.plan`, written by `curate route`) is read from the record's
`approved_by: auto` metadata; a record people have decided is theirs, whatever it says.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from curation.review import adjudication, consensus, quality
from curation.review.adjudication import ADJUDICATOR
from curation.review.pull import Pulled, pull
from curation.review.routing import AUTO
from curation.review.templates import DECIDING_QUESTION, METADATA, Template

if TYPE_CHECKING:
    import argilla as rg

REVIEW_RECORD_COLUMNS = (
    "dataset",
    "record_id",
    "template",
    "argilla_id",
    "dataset_id",
    "record_status",
    "priority",
    "n_submitted",
    "decision",
    "approved_by",
    "source",
    "deita_score",
    "escalation",
    "adjudicated",
    "adjudicator",
)
# An instruction the AI rates this high (1-5) is one it would keep.
AI_KEEP_RATING = 3


def record_frame(pulled: Pulled) -> pd.DataFrame:
    """One row per record: ids, status, fields, metadata and the AI's suggestions as columns.

    Suggestions become `ai_<question>` (value) and `ai_<question>_score`.
    """
    template = pulled.template or "instruction"
    meta_names = list(METADATA[template])
    rows = []
    for record in pulled.records.itertuples(index=False):
        fields = json.loads(record.fields)
        metadata = json.loads(record.metadata)
        suggestions = json.loads(record.suggestions)
        row: dict[str, Any] = {
            "record_id": record.record_id,
            "argilla_id": record.argilla_id,
            "record_status": record.status,
            **fields,
            **{name: metadata.get(name) for name in meta_names},
        }
        for question, suggestion in suggestions.items():
            row[f"ai_{question}"] = suggestion.get("value")
            row[f"ai_{question}_score"] = suggestion.get("score")
        rows.append(row)
    frame = pd.DataFrame(rows)
    for name in meta_names:
        if name not in frame:
            frame[name] = None
    # review/blind.py and review/gold.py; gold records are test items, never data
    frame["blind"] = frame["blind"] == "yes"
    frame["gold"] = frame["gold"] == "yes"
    return frame


def decisions(
    pulled: Pulled, min_submitted: int | None = None, aggregation: str = "majority"
) -> pd.DataFrame:
    """`record_frame` plus the decision of each record and how it compares with the AI.

    `aggregation` (`review.aggregation`): `majority` (the approval rule) or a
    competence-weighted model (`dawid-skene`, `mace`) that decides the deciding question.

    Added columns: those of `consensus.decide` (`n_submitted`, `decision`, `votes`, ...),
    those of `adjudication.apply` (`reviewers_decision`, `escalation`, `adjudicated`,
    `adjudicator`: an adjudicator's final call replaces the reviewers' outcome),
    `approved_by` (`humans` | `adjudicator` | `auto` | None), `human_decided`,
    `human_outcome` (the majority answer of the deciding question, the adjudicated one
    where there is one, or `tie`), `ai_outcome` (preference: the
    suggested `a`/`b`/`tie`; instruction: `keep` or `drop` from the suggested quality),
    `ai_confidence` (1 - judge uncertainty) and `ai_agrees` (None until people decided).
    """
    template: Template = pulled.template or "instruction"
    needed = pulled.min_submitted if min_submitted is None else min_submitted
    frame = record_frame(pulled)
    if frame.empty:
        return frame
    responses = adjudication.extra_votes(pulled)
    labels = None
    if aggregation != "majority":
        labels, _ = quality.aggregate(quality.answers(pulled), aggregation)
    decided = consensus.decide(responses, frame["record_id"], template, needed, labels)
    frame = frame.merge(decided, on="record_id", how="left")
    calls = adjudication.final_calls(pulled.adjudication, template)
    frame = adjudication.apply(frame, calls, template)
    for question, qtype in pulled.question_types.items():
        if qtype == "rating" and f"human_{question}" not in frame:
            frame[f"human_{question}"] = frame["record_id"].map(
                _mean_submitted(pulled.responses, question)
            )
    frame["human_decided"] = frame["decision"] != "pending"
    outcome = frame["majority"].where(frame["majority"].notna(), "tie")
    frame["human_outcome"] = outcome.where(frame["human_decided"], None)
    frame["ai_outcome"] = _ai_outcome(frame, template)
    uncertainty = pd.to_numeric(frame["judge_uncertainty"], errors="coerce")
    frame["ai_confidence"] = 1 - uncertainty
    agrees = frame["human_outcome"] == frame["ai_outcome"]
    known = frame["human_decided"] & frame["ai_outcome"].notna()
    frame["ai_agrees"] = agrees.astype(object).where(known, None)
    auto = ~frame["human_decided"] & (frame["approved_by"] == AUTO)
    approved_by = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    approved_by[frame["decision"] == "approved"] = "humans"
    approved_by[(frame["decision"] == "approved") & frame["adjudicated"].notna()] = ADJUDICATOR
    approved_by[auto] = AUTO
    frame["approved_by"] = approved_by
    frame.loc[auto, "decision"] = "approved"
    return frame


def _mean_submitted(responses: pd.DataFrame, question: str) -> pd.Series:
    """Mean submitted rating per record id for one question."""
    rows = responses[(responses["status"] == "submitted") & (responses["question"] == question)]
    return pd.to_numeric(rows["value"], errors="coerce").groupby(rows["record_id"]).mean()


def _ai_outcome(frame: pd.DataFrame, template: Template) -> pd.Series:
    if template == "preference":
        column = f"ai_{DECIDING_QUESTION['preference']}"
        return frame[column] if column in frame else _nones(frame.index)
    if "ai_quality" not in frame:
        return _nones(frame.index)
    rating = pd.to_numeric(frame["ai_quality"], errors="coerce")
    outcome = np.where(rating >= AI_KEEP_RATING, "keep", "drop")
    return pd.Series(outcome, index=frame.index, dtype=object).where(rating.notna(), None)


def _nones(index: pd.Index) -> pd.Series:
    return pd.Series([None] * len(index), index=index, dtype=object)


def nulls_as_none(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns with None (not NaN) for missing values, as an export expects."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].astype(object).where(out[column].notna(), None)
    return out


def review_records(pulled: Pulled, decided: pd.DataFrame | None = None) -> pd.DataFrame:
    """The `review_records.parquet` rows of one dataset (columns `REVIEW_RECORD_COLUMNS`)."""
    decided = decisions(pulled) if decided is None else decided
    if not decided.empty:
        decided = decided[~decided["gold"]]
    if decided.empty:
        return pd.DataFrame(columns=list(REVIEW_RECORD_COLUMNS))
    frame = decided.assign(
        dataset=pulled.dataset,
        template=pulled.template,
        dataset_id=pulled.dataset_id,
        record_status=decided["record_status"],
        priority=pd.to_numeric(decided["priority"], errors="coerce").astype(float),
        deita_score=pd.to_numeric(decided["deita_score"], errors="coerce").astype(float),
        n_submitted=decided["n_submitted"].astype("int64"),
    )
    return frame[list(REVIEW_RECORD_COLUMNS)].reset_index(drop=True)


# The columns `reviewed_rows` gives for both templates ("deita_quality" becomes "quality").
COMMON_COLUMNS = (
    "record_id",
    "argilla_id",
    "dataset",
    "instruction",
    "decision",
    "approved_by",
    "escalation",
    "adjudicator",
    "n_submitted",
    "votes",
    "ai_agrees",
    "source",
    "judge_model",
    "deita_score",
    "complexity",
    "deita_quality",
    "judge_uncertainty",
    "selection_rank",
    "nn_similarity",
    "priority",
    "pii_kinds",
    "contaminated_by",
)


def reviewed_rows(
    client: rg.Argilla,
    dataset_name: str,
    workspace: str | None = None,
    min_submitted: int | None = None,
    aggregation: str = "majority",
) -> tuple[Template, pd.DataFrame]:
    """Every record of a reviewed dataset with what an export needs, and its template.

    Pulls the dataset (incrementally) and decides each record (`decisions`). One row per
    record, every decision (filter on `decision == "approved"` to export), gold records
    left out. Columns:

    - all: `record_id` (the stable row id), `argilla_id`, `dataset`, `instruction`,
      `decision` (`approved` | `rejected` | `tie` | `needs_fix` | `pending`),
      `approved_by` (`humans` | `adjudicator` | `auto` | None: auto rows were approved
      without review by the curator's policy and must stay marked), `escalation` (why the
      record went to adjudication, or None), `adjudicator` (who made the final call),
      `n_submitted`, `votes` (answer -> count
      of the deciding question), `ai_agrees` (did people decide as the AI did; None until
      they decided), provenance and scores from the push: `source`, `judge_model`,
      `deita_score`, `complexity`, `quality`, `judge_uncertainty`, `selection_rank`,
      `nn_similarity`, `priority`, and the `curate hygiene` flags `pii_kinds`,
      `contaminated_by` (lists of terms, None when absent).
    - `instruction`: `response` (as pushed), `final_response` (the reviewers' correction
      where the decision came from `fix`, else `response`), `corrected` (bool),
      `model` (generator), `ai_quality` (the judge's rating), `ai_verdict` (`keep`/`drop`),
      `human_quality` (mean submitted rating).
    - `preference`: `chosen`, `rejected` (texts as the people decided, mapped back through
      the record's a/b order; for `auto` rows the AI's pair; None unless approved),
      `chosen_model`, `rejected_model`, `human_preferred` (`a`/`b`, the side people
      chose), `human_rating_chosen`, `human_rating_rejected` (mean submitted ratings),
      `ai_chosen`, `ai_rejected` (the AI's pair), `ai_chosen_side`, `ai_preferred`
      (`a`/`b`/`tie`), `ai_rating_chosen`, `ai_rating_rejected` (judge ratings),
      `response_a`, `response_b` (as reviewers saw them).
    """
    pulled = pull(client, dataset_name, workspace)
    template: Template = pulled.template or "instruction"
    decided = decisions(pulled, min_submitted, aggregation)
    if not decided.empty:
        decided = decided[~decided["gold"]]
    if decided.empty:
        return template, decided
    decided = decided.assign(dataset=pulled.dataset, votes=decided["votes"].map(json.dumps))
    rows = (
        _instruction_rows(decided, list(COMMON_COLUMNS))
        if template == "instruction"
        else _preference_rows(decided, list(COMMON_COLUMNS))
    )
    return template, nulls_as_none(rows.rename(columns={"deita_quality": "quality"}))


def _instruction_rows(frame: pd.DataFrame, common: list[str]) -> pd.DataFrame:
    corrected = frame["corrected_response"].notna() & (frame["decision"] == "approved")
    out = frame.assign(
        final_response=frame["corrected_response"].where(corrected, frame["response"]),
        corrected=corrected,
        ai_quality=frame.get("ai_quality"),
        ai_verdict=frame["ai_outcome"],
        human_quality=frame.get("human_quality"),
    )
    return out[
        [
            *common,
            "response",
            "final_response",
            "corrected",
            "model",
            "ai_quality",
            "ai_verdict",
            "human_quality",
        ]
    ].reset_index(drop=True)


def _preference_rows(frame: pd.DataFrame, common: list[str]) -> pd.DataFrame:
    ai_side = frame["ai_chosen_side"]
    other = {"a": "b", "b": "a"}
    rows = frame.to_dict("records")

    def pick(side: pd.Series, prefix: str) -> pd.Series:
        """Per record, the column `<prefix>a` or `<prefix>b` named by `side` (None: none)."""
        values = [
            row.get(f"{prefix}{s}") if s in other else None
            for s, row in zip(side, rows, strict=True)
        ]
        return pd.Series(values, index=frame.index, dtype=object)

    def text(side: pd.Series) -> pd.Series:
        return pick(side, "response_")

    ai_other = ai_side.map(other)
    approved = frame["decision"] == "approved"
    by_humans = frame["approved_by"].isin(["humans", ADJUDICATOR])
    side = frame["preferred"].where(by_humans, ai_side).where(approved, None)
    rejected_side = side.map(other)
    out = frame.assign(
        human_preferred=frame["preferred"],
        chosen=text(side),
        rejected=text(rejected_side),
        chosen_model=pick(side, "model_"),
        rejected_model=pick(rejected_side, "model_"),
        human_rating_chosen=pick(side, "human_rating_"),
        human_rating_rejected=pick(rejected_side, "human_rating_"),
        ai_chosen=text(ai_side),
        ai_rejected=text(ai_other),
        ai_preferred=frame.get("ai_preferred"),
        ai_rating_chosen=pick(ai_side, "judge_rating_"),
        ai_rating_rejected=pick(ai_other, "judge_rating_"),
    )
    return out[
        [
            *common,
            "chosen",
            "rejected",
            "chosen_model",
            "rejected_model",
            "human_preferred",
            "human_rating_chosen",
            "human_rating_rejected",
            "ai_chosen",
            "ai_rejected",
            "ai_chosen_side",
            "ai_preferred",
            "ai_rating_chosen",
            "ai_rating_rejected",
            "response_a",
            "response_b",
        ]
    ].reset_index(drop=True)
