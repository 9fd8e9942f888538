"""Consensus and approval: what the reviewers decided, record by record.

The rule (ARCHITECTURE.md, "Approval"): only submitted responses count. A record is
decided once it has at least `min_submitted` of them. An `instruction` record is
approved by a strict majority `keep`, or a strict majority `fix` where a reviewer wrote
a corrected response (exported instead of the original); a strict majority `drop`
rejects it. A `preference` record is approved by a strict majority `a` or `b`, and the
side the people preferred becomes `chosen`, whatever the AI judge said. Anything else
(no strict majority, a majority `tie`) is a tie, and ties are never exported.

Decisions: `approved`, `rejected`, `tie`, `needs_fix` (majority `fix` but nobody wrote
the correction), `pending` (too few submitted responses).
"""

from __future__ import annotations

from typing import Literal

import pandas as pd

Template = Literal["instruction", "preference"]
DECISIONS = ("approved", "rejected", "tie", "needs_fix", "pending")
RESPONSE_COLUMNS = ("record_id", "annotator", "question", "value", "status")


def decide(
    responses: pd.DataFrame,
    record_ids: list[str] | pd.Series,
    template: Template,
    min_submitted: int = 2,
) -> pd.DataFrame:
    """One row per record id: the decision and what the people chose.

    `responses` is the tidy table of `curate pull` (one row per record, annotator and
    question; any status: drafts and discarded responses are ignored here). Records
    with no responses at all are pending.

    Columns: `record_id`, `n_submitted`, `decision`, `votes` (value -> count of the
    deciding question), plus `corrected_response` (instruction) or `preferred`
    (`a`/`b`), `human_rating_a`, `human_rating_b` (mean human ratings; preference).
    """
    if template not in ("instruction", "preference"):
        raise ValueError(f"unknown template {template!r}")
    missing = [column for column in RESPONSE_COLUMNS if column not in responses.columns]
    if missing:
        raise ValueError(f"responses table lacks columns: {', '.join(missing)}")
    submitted = responses[responses["status"] == "submitted"]
    n_submitted = submitted.groupby("record_id")["annotator"].nunique()
    by_record = {key: group for key, group in submitted.groupby("record_id")}
    rows = []
    for record_id in record_ids:
        group = by_record.get(record_id)
        count = int(n_submitted.get(record_id, 0))
        if template == "instruction":
            row = _decide_instruction(group, count, min_submitted)
        else:
            row = _decide_preference(group, count, min_submitted)
        rows.append({"record_id": record_id, "n_submitted": count, **row})
    return pd.DataFrame(rows, columns=_columns(template))


def _columns(template: Template) -> list[str]:
    extra = (
        ["corrected_response"]
        if template == "instruction"
        else ["preferred", "human_rating_a", "human_rating_b"]
    )
    return ["record_id", "n_submitted", "decision", "votes", *extra]


def strict_majority(values: pd.Series) -> tuple[object | None, dict[str, int]]:
    """The value held by more than half of `values` (or None), and the vote counts."""
    counts = values.value_counts()
    votes = {str(key): int(count) for key, count in counts.items()}
    if len(counts) and counts.iloc[0] * 2 > counts.sum():
        return counts.index[0], votes
    return None, votes


def _answers(group: pd.DataFrame | None, question: str) -> pd.DataFrame:
    if group is None:
        return pd.DataFrame(columns=["annotator", "value"])
    answers = group[(group["question"] == question) & group["value"].notna()]
    return answers


def _decide_instruction(group: pd.DataFrame | None, count: int, min_submitted: int) -> dict:
    verdicts = _answers(group, "verdict")
    winner, votes = strict_majority(verdicts["value"])
    row = {"votes": votes, "corrected_response": None}
    if count < min_submitted:
        return {**row, "decision": "pending"}
    if winner == "keep":
        return {**row, "decision": "approved"}
    if winner == "drop":
        return {**row, "decision": "rejected"}
    if winner != "fix":
        return {**row, "decision": "tie"}
    fixers = set(verdicts.loc[verdicts["value"] == "fix", "annotator"])
    corrections = _answers(group, "corrected_response")
    corrections = corrections[corrections["annotator"].isin(fixers)]
    texts = corrections["value"].astype(str).str.strip()
    corrections = corrections[texts != ""]
    if corrections.empty:
        return {**row, "decision": "needs_fix"}
    return {**row, "decision": "approved", "corrected_response": _most_common(corrections)}


def _most_common(corrections: pd.DataFrame) -> str:
    """The correction most fixers wrote; among equals, the most recently updated one."""
    frame = corrections.assign(text=corrections["value"].astype(str).str.strip())
    counts = frame["text"].value_counts()
    best = counts[counts == counts.max()].index
    frame = frame[frame["text"].isin(best)]
    if "updated_at" in frame.columns and frame["updated_at"].notna().any():
        frame = frame.sort_values("updated_at", kind="stable")
    return str(frame["text"].iloc[-1])


def _decide_preference(group: pd.DataFrame | None, count: int, min_submitted: int) -> dict:
    preferred = _answers(group, "preferred")
    winner, votes = strict_majority(preferred["value"])
    row = {
        "votes": votes,
        "preferred": None,
        "human_rating_a": _mean(_answers(group, "rating_a")["value"]),
        "human_rating_b": _mean(_answers(group, "rating_b")["value"]),
    }
    if count < min_submitted:
        return {**row, "decision": "pending"}
    if winner in ("a", "b"):
        return {**row, "decision": "approved", "preferred": winner}
    return {**row, "decision": "tie"}


def _mean(values: pd.Series) -> float | None:
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    return float(numbers.mean()) if len(numbers) else None
