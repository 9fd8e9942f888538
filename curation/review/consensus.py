"""Consensus and approval: what the reviewers decided, record by record.

The rule (a contract: changing it changes what is exported): only submitted responses
count. A record is decided once it has at least `min_submitted` of them. An `instruction`
record is approved by a strict majority `keep`, or a strict majority `fix` where a
reviewer wrote a corrected response (exported instead of the original); a strict majority
`drop` rejects it. A `preference` record is approved by a strict majority `a` or `b`, and
the side the people preferred becomes `chosen`, whatever the AI judge said. Anything else
(no strict majority, a majority `tie`) is a tie, and ties are never exported.

Decisions: `approved`, `rejected`, `tie`, `needs_fix` (majority `fix` but nobody wrote
the correction), `pending` (too few submitted responses).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

Template = Literal["instruction", "preference"]
DECISIONS = ("approved", "rejected", "tie", "needs_fix", "pending")
RESPONSE_COLUMNS = ("record_id", "annotator", "question", "value", "status")


def decide(
    responses: pd.DataFrame,
    record_ids: list[str] | pd.Series,
    template: Template,
    min_submitted: int = 2,
    labels: pd.Series | None = None,
) -> pd.DataFrame:
    """One row per record id: the decision and what the people chose.

    `responses` is the tidy table of `curate pull` (one row per record, annotator and
    question; any status: drafts and discarded responses are ignored here). Records
    with no responses at all are pending.

    `labels` (record id -> value), where given, replaces the strict majority of the
    deciding question: the label of a competence-weighted model (`review.aggregation`,
    `quality.aggregate`); the rest of the rule is unchanged.

    Columns: `record_id`, `n_submitted`, `decision`, `votes` (value -> count of the
    deciding question), `majority` (its strict-majority value, or None), plus
    `corrected_response` (instruction) or `preferred` (`a`/`b`), `human_rating_a`,
    `human_rating_b` (mean human ratings; preference). Vectorised: a few group-bys and
    one pass over the (record, value) vote counts, whatever the number of records.
    """
    if template not in ("instruction", "preference"):
        raise ValueError(f"unknown template {template!r}")
    missing = [column for column in RESPONSE_COLUMNS if column not in responses.columns]
    if missing:
        raise ValueError(f"responses table lacks columns: {', '.join(missing)}")
    submitted = responses[responses["status"] == "submitted"]
    out = pd.DataFrame({"record_id": list(record_ids)})
    counts = submitted.groupby("record_id")["annotator"].nunique()
    out["n_submitted"] = out["record_id"].map(counts).fillna(0).astype(int)
    deciding = _answers(submitted, "verdict" if template == "instruction" else "preferred")
    votes, majority = _votes(deciding)
    if labels is not None:
        majority = labels.to_dict()
    out["votes"] = [votes.get(record_id, {}) for record_id in out["record_id"]]
    out["majority"] = out["record_id"].map(majority)
    out["majority"] = out["majority"].astype(object).where(out["majority"].notna(), None)
    pending = out["n_submitted"] < min_submitted
    if template == "instruction":
        choices, decisions = _instruction_rule(out, submitted, deciding, pending)
    else:
        choices, decisions = _preference_rule(out, submitted, pending)
    out["decision"] = np.select(choices, decisions, default="tie")
    return out[_columns(template)]


def _instruction_rule(
    out: pd.DataFrame, submitted: pd.DataFrame, deciding: pd.DataFrame, pending: pd.Series
) -> tuple[list[pd.Series], list[str]]:
    """Keep approves, drop rejects, fix approves with a correction (else needs_fix); adds
    `corrected_response` to `out`. The conditions and their decisions, first match wins."""
    out["corrected_response"] = out["record_id"].map(_corrections(submitted, deciding))
    out["corrected_response"] = out["corrected_response"].astype(object)
    out.loc[out["corrected_response"].isna(), "corrected_response"] = None
    has_fix = out["corrected_response"].notna()
    choices = [
        pending,
        out["majority"] == "keep",
        out["majority"] == "drop",
        (out["majority"] == "fix") & has_fix,
        out["majority"] == "fix",
    ]
    out.loc[pending | (out["majority"] != "fix"), "corrected_response"] = None
    return choices, ["pending", "approved", "rejected", "approved", "needs_fix"]


def _preference_rule(
    out: pd.DataFrame, submitted: pd.DataFrame, pending: pd.Series
) -> tuple[list[pd.Series], list[str]]:
    """A side (`a`/`b`) approves, anything else is a tie; adds `preferred` and the mean
    human ratings to `out`."""
    side = out["majority"].isin(["a", "b"])
    out["preferred"] = out["majority"].where(side & ~pending, None)
    for question in ("rating_a", "rating_b"):
        means = _mean_values(_answers(submitted, question))
        out[f"human_{question}"] = out["record_id"].map(means).astype(object)
        out.loc[out[f"human_{question}"].isna(), f"human_{question}"] = None
    return [pending, side], ["pending", "approved"]


def _columns(template: Template) -> list[str]:
    extra = (
        ["corrected_response"]
        if template == "instruction"
        else ["preferred", "human_rating_a", "human_rating_b"]
    )
    return ["record_id", "n_submitted", "decision", "votes", "majority", *extra]


def majority_of(votes: dict[str, int]) -> str | None:
    """The value held by more than half of the votes, or None."""
    total = sum(votes.values())
    return next((value for value, count in votes.items() if count * 2 > total), None)


def _answers(frame: pd.DataFrame, question: str) -> pd.DataFrame:
    return frame[(frame["question"] == question) & frame["value"].notna()]


def _votes(answers: pd.DataFrame) -> tuple[dict[str, dict[str, int]], dict[str, str]]:
    """Vote counts per record (most votes first) and the strict-majority value, if any."""
    counts = answers.groupby(["record_id", "value"], sort=False).size()
    counts = counts.sort_values(ascending=False, kind="stable")
    votes: dict[str, dict[str, int]] = {}
    for (record_id, value), count in counts.items():
        votes.setdefault(record_id, {})[str(value)] = int(count)
    majority = {}
    for record_id, record_votes in votes.items():
        winner = majority_of(record_votes)
        if winner is not None:
            majority[record_id] = winner
    return votes, majority


def _corrections(submitted: pd.DataFrame, verdicts: pd.DataFrame) -> pd.Series:
    """Per record, the correction most `fix` voters wrote; among equals the latest one."""
    fixers = verdicts.loc[verdicts["value"] == "fix", ["record_id", "annotator"]]
    texts = _answers(submitted, "corrected_response").merge(fixers, on=["record_id", "annotator"])
    texts = texts.assign(text=texts["value"].astype(str).str.strip())
    texts = texts[texts["text"] != ""]
    if texts.empty:
        return pd.Series(dtype=object)
    texts["n"] = texts.groupby(["record_id", "text"])["text"].transform("size")
    when = texts["updated_at"] if "updated_at" in texts else pd.Series(None, index=texts.index)
    texts["when"] = pd.to_datetime(when, errors="coerce", utc=True)
    texts = texts.sort_values(["n", "when"], kind="stable", na_position="first")
    return texts.groupby("record_id")["text"].last()


def _mean_values(answers: pd.DataFrame) -> pd.Series:
    numbers = pd.to_numeric(answers["value"], errors="coerce")
    return numbers.groupby(answers["record_id"]).mean().dropna()
