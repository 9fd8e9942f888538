"""Escalation and adjudication: which records people could not settle, and the final calls.

A record whose reviewers left it undecided (`tie`, `needs_fix`) is escalated; so, when the
curator asks for it (`review.escalate_on`), is a `split` vote (a majority that was not
unanimous) and a record where people `overruled_ai` although the AI was confident
(`review.escalate_confidence`). `curate adjudicate` (`adjudicate.py`) copies escalated
records into the dataset's adjudication dataset, where an adjudicator sees every earlier
answer, who gave it, and the AI's (labelled), and makes the final call.

This module is the part without a server: naming, the reasons, the page the adjudicator
reads, and `apply`, which turns the adjudicators' answers into final decisions. The last
submitted adjudication of a record wins (one adjudicator is enough; a later one overrides
an earlier one). With `review.escalation: extra_review` an escalated record asks for one
more ordinary review instead (`extra_votes`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pandas as pd

from curation.review.templates import DECIDING_QUESTION, FIELDS, Template

if TYPE_CHECKING:
    from curation.review.pulled import Pulled

REASONS = ("tie", "needs_fix", "split", "overruled_ai")
SUFFIX = "-adjudication"
EXTRA_SUFFIX = "-extra-review"
ANSWERS_FIELD = "earlier_answers"
NOTE_QUESTION = "note"
ADJUDICATOR = "adjudicator"
# What the adjudicator answers, per template of the escalated dataset.
QUESTIONS: dict[Template, tuple[str, ...]] = {
    "preference": ("preferred", NOTE_QUESTION),
    "instruction": ("verdict", "corrected_response", NOTE_QUESTION),
}
CALL_COLUMNS = ("record_id", "escalation", "adjudicated", "adjudicator", "adjudicated_correction")


def adjudication_name(dataset: str) -> str:
    """The adjudication dataset of `dataset` (one per dataset, a stable name)."""
    return f"{dataset}{SUFFIX}"


def adjudication_workspace(workspace: str) -> str:
    """Adjudication datasets live in a workspace of their own: only adjudicators are in it."""
    return f"{workspace}{SUFFIX}"


def extra_review_name(dataset: str) -> str:
    """`escalation: extra_review`: the dataset asking ordinary reviewers for one more review."""
    return f"{dataset}{EXTRA_SUFFIX}"


def fields_of(template: Template) -> tuple[str, ...]:
    """The adjudication dataset's fields: the record's own, then the earlier answers."""
    return (*FIELDS[template], ANSWERS_FIELD)


# --- which records escalate -------------------------------------------------------------


def escalations(
    decided: pd.DataFrame, escalate_on: list[str] | tuple[str, ...], confidence: float
) -> pd.Series:
    """Per record, why it goes to adjudication, or None (first matching reason wins).

    `decided` is `records.decisions(...)`; the reviewers' own outcome counts
    (`reviewers_decision`, `reviewers_majority`), not an adjudicated one.
    """
    if decided.empty:
        return pd.Series(dtype=object)
    decision = decided.get("reviewers_decision", decided["decision"])
    majority = decided.get("reviewers_majority", decided["majority"])
    settled = decision.isin(["approved", "rejected"])
    votes = decided["votes"].map(lambda v: len(v) if isinstance(v, dict) else 0)
    confident = pd.to_numeric(decided["ai_confidence"], errors="coerce") >= confidence
    overruled = (
        settled & decided["ai_outcome"].notna() & (majority != decided["ai_outcome"]) & confident
    )
    tests = {
        "tie": decision == "tie",
        "needs_fix": decision == "needs_fix",
        "overruled_ai": overruled,
        "split": settled & (votes > 1),
    }
    reasons = pd.Series([None] * len(decided), index=decided.index, dtype=object)
    for reason in ("tie", "needs_fix", "overruled_ai", "split"):
        if reason in escalate_on:
            reasons = reasons.where(reasons.notna() | ~tests[reason], reason)
    return reasons


# --- what the adjudicator reads -----------------------------------------------------------


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" for line in str(text).strip().splitlines()) or "> (empty)"


def earlier_answers(
    template: Template,
    reason: str,
    votes: dict[str, int],
    answers: pd.DataFrame,
    suggestions: dict[str, dict[str, Any]],
) -> str:
    """Markdown: why the record is here, each reviewer's submitted answer, then the AI's.

    `answers`: the record's submitted rows of the tidy responses table.
    """
    deciding = DECIDING_QUESTION[template]
    tally = ", ".join(f"{n} x {value}" for value, n in votes.items()) or "no votes"
    lines = [f"**Escalated: {reason}** (reviewers' votes: {tally})", "", "### Reviewers"]
    for annotator, rows in answers.groupby("annotator", sort=True):
        values = dict(zip(rows["question"], rows["value"], strict=True))
        parts = [f"{deciding} **{values.get(deciding, '-')}**"]
        parts += [f"{q} {values[q]}" for q in _ratings(template) if values.get(q) is not None]
        lines.append(f"- **{annotator}**: " + ", ".join(parts))
        text = values.get("corrected_response") or values.get("rationale")
        if text:
            lines.append(_quote(text))
    if answers.empty:
        lines.append("- (no submitted answer)")
    lines += ["", "### AI judge (a suggestion, not a person)"]
    agent = next((s.get("agent") for s in suggestions.values() if s.get("agent")), None)
    ai = [
        f"{q} {s['value']}" + (f" (score {s['score']:.2f})" if s.get("score") is not None else "")
        for q, s in suggestions.items()
        if s.get("value") is not None
    ]
    lines.append(f"- **AI `{agent or 'judge'}`**: " + (", ".join(ai) if ai else "no suggestion"))
    return "\n".join(lines)


def _ratings(template: Template) -> tuple[str, ...]:
    return ("rating_a", "rating_b") if template == "preference" else ("quality",)


def adjudication_fields(
    template: Template, record: Any, reason: str, votes: dict[str, int], answers: pd.DataFrame
) -> dict[str, str]:
    """The adjudication record's fields from a pulled record (a `Pulled.records` row)."""
    fields = json.loads(record["fields"])
    own = {name: fields[name] for name in FIELDS[template]}
    suggestions = json.loads(record["suggestions"])
    own[ANSWERS_FIELD] = earlier_answers(template, reason, votes, answers, suggestions)
    return own


# --- the final calls --------------------------------------------------------------------


def final_calls(adjudication: Pulled | None, template: Template) -> pd.DataFrame:
    """Per escalated record: its reason and, once adjudicated, the last submitted call."""
    if adjudication is None or adjudication.records.empty:
        return pd.DataFrame(columns=list(CALL_COLUMNS))
    reasons = {
        record_id: json.loads(metadata).get("reason")
        for record_id, metadata in zip(
            adjudication.records["record_id"], adjudication.records["metadata"], strict=True
        )
    }
    out = pd.DataFrame({"record_id": list(reasons), "escalation": list(reasons.values())})
    submitted = adjudication.responses[adjudication.responses["status"] == "submitted"]
    deciding = submitted[submitted["question"] == DECIDING_QUESTION[template]]
    deciding = deciding[deciding["value"].notna()].sort_values("updated_at", kind="stable")
    last = deciding.groupby("record_id").last()
    out["adjudicated"] = out["record_id"].map(last["value"])
    out["adjudicator"] = out["record_id"].map(last["annotator"])
    texts = submitted[submitted["question"] == "corrected_response"]
    texts = texts.set_index(["record_id", "annotator"])["value"]
    out["adjudicated_correction"] = [
        _text(texts.get((record_id, who))) if isinstance(who, str) else None
        for record_id, who in zip(out["record_id"], out["adjudicator"], strict=True)
    ]
    return out.astype(object).where(out.notna(), None)


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def apply(frame: pd.DataFrame, calls: pd.DataFrame, template: Template) -> pd.DataFrame:
    """The decisions with adjudicators' final calls in place of the reviewers' outcome.

    Adds `reviewers_decision`, `reviewers_majority`, `escalation`, `adjudicated`,
    `adjudicator`. An adjudicated
    preference `a`/`b` is approved with that side preferred, `tie` stays a tie (final);
    an instruction `keep` is approved as it is, `fix` with the adjudicator's correction is
    approved with it (without one it stays `needs_fix`), `drop` is rejected.
    """
    out = frame.merge(calls, on="record_id", how="left")
    out["reviewers_decision"] = out["decision"]
    out["reviewers_majority"] = out["majority"]
    call = out["adjudicated"]
    done = call.notna()
    if template == "preference":
        side = done & call.isin(["a", "b"])
        out.loc[side, "decision"] = "approved"
        out.loc[side, "preferred"] = call[side]
        out.loc[done & (call == "tie"), "decision"] = "tie"
        out.loc[done & (call == "tie"), "preferred"] = None
    else:
        correction = out["adjudicated_correction"]
        fixed = done & (call == "fix") & correction.notna()
        out.loc[done & (call == "keep"), "decision"] = "approved"
        out.loc[done & (call == "drop"), "decision"] = "rejected"
        out.loc[fixed, "decision"] = "approved"
        out.loc[done & (call == "fix") & correction.isna(), "decision"] = "needs_fix"
        out.loc[done, "corrected_response"] = correction.where(fixed, None)[done]
    out["majority"] = out["majority"].where(~done, call)
    out = out.drop(columns=["adjudicated_correction"])
    for column in ("preferred", "corrected_response", "majority", *CALL_COLUMNS[1:4]):
        if column in out:
            out[column] = out[column].astype(object).where(out[column].notna(), None)
    return out


def extra_votes(pulled: Pulled) -> pd.DataFrame:
    """`extra_review`: the source responses plus the extra dataset's submitted reviews.

    A review there counts as one more vote on the record, unless its author had already
    answered the record in the source dataset (one vote per person).
    """
    extra = pulled.extra_review
    if extra is None or extra.responses.empty:
        return pulled.responses
    answered = set(zip(pulled.responses["record_id"], pulled.responses["annotator"], strict=True))
    new = extra.responses[
        [
            (record_id, who) not in answered
            for record_id, who in zip(
                extra.responses["record_id"], extra.responses["annotator"], strict=True
            )
        ]
    ]
    return pd.concat([pulled.responses, new.assign(dataset=pulled.dataset)], ignore_index=True)
