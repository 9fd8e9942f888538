"""The approval rule, case by case (curation/review/consensus.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from curation.review.consensus import decide


def responses(*rows: tuple) -> pd.DataFrame:
    """Rows of (record_id, annotator, question, value, status[, updated_at])."""
    frame = pd.DataFrame(
        [row if len(row) == 6 else (*row, None) for row in rows],
        columns=["record_id", "annotator", "question", "value", "status", "updated_at"],
    )
    return frame


def verdicts(record: str, *votes: tuple[str, str, str]) -> list[tuple]:
    return [(record, who, "verdict", value, status) for who, value, status in votes]


def one(frame: pd.DataFrame, template: str, record: str = "r", **kwargs) -> dict:
    return decide(frame, [record], template, **kwargs).iloc[0].to_dict()


@pytest.mark.parametrize(
    ("votes", "decision"),
    [
        ([("u1", "keep", "submitted"), ("u2", "keep", "submitted")], "approved"),
        (
            [("u1", "keep", "submitted"), ("u2", "keep", "submitted"), ("u3", "drop", "submitted")],
            "approved",
        ),
        ([("u1", "drop", "submitted"), ("u2", "drop", "submitted")], "rejected"),
        ([("u1", "keep", "submitted"), ("u2", "drop", "submitted")], "tie"),
        (
            [("u1", "keep", "submitted"), ("u2", "fix", "submitted"), ("u3", "drop", "submitted")],
            "tie",
        ),
        # Too few submitted responses: drafts and discarded ones do not count.
        ([("u1", "keep", "submitted")], "pending"),
        ([("u1", "keep", "submitted"), ("u2", "keep", "draft")], "pending"),
        ([("u1", "keep", "draft"), ("u2", "keep", "draft")], "pending"),
        ([("u1", "keep", "submitted"), ("u2", "keep", "discarded")], "pending"),
        (
            [("u1", "drop", "discarded"), ("u2", "keep", "submitted"), ("u3", "keep", "submitted")],
            "approved",
        ),
    ],
)
def test_instruction_decisions(votes, decision):
    assert one(responses(*verdicts("r", *votes)), "instruction")["decision"] == decision


def test_min_submitted_is_respected():
    frame = responses(*verdicts("r", ("u1", "keep", "submitted"), ("u2", "keep", "submitted")))
    assert one(frame, "instruction", min_submitted=3)["decision"] == "pending"
    assert one(frame, "instruction", min_submitted=1)["decision"] == "approved"


def test_fix_majority_exports_the_correction():
    frame = responses(
        *verdicts(
            "r", ("u1", "fix", "submitted"), ("u2", "fix", "submitted"), ("u3", "keep", "submitted")
        ),
        ("r", "u1", "corrected_response", "Paris is the capital.", "submitted", "2024-01-01"),
        ("r", "u2", "corrected_response", "Paris.", "submitted", "2024-01-02"),
        # A keeper's text and a draft never count as the correction.
        ("r", "u3", "corrected_response", "ignored keeper text", "submitted", "2024-01-03"),
    )
    row = one(frame, "instruction")
    assert row["decision"] == "approved"
    assert row["corrected_response"] == "Paris."  # equal counts: the most recent wins
    assert row["votes"] == {"fix": 2, "keep": 1}


def test_fix_majority_with_most_common_correction():
    frame = responses(
        *verdicts("r", *[(f"u{i}", "fix", "submitted") for i in range(3)]),
        ("r", "u0", "corrected_response", "B", "submitted", "2024-01-03"),
        ("r", "u1", "corrected_response", "A", "submitted", "2024-01-01"),
        ("r", "u2", "corrected_response", " A ", "submitted", "2024-01-02"),
    )
    assert one(frame, "instruction")["corrected_response"] == "A"


def test_fix_majority_without_correction_is_not_approved():
    frame = responses(
        *verdicts("r", ("u1", "fix", "submitted"), ("u2", "fix", "submitted")),
        ("r", "u1", "corrected_response", "   ", "submitted"),
    )
    assert one(frame, "instruction")["decision"] == "needs_fix"


def prefs(record: str, *votes: tuple[str, str, str]) -> list[tuple]:
    return [(record, who, "preferred", value, status) for who, value, status in votes]


@pytest.mark.parametrize(
    ("votes", "decision", "preferred"),
    [
        ([("u1", "a", "submitted"), ("u2", "a", "submitted")], "approved", "a"),
        (
            [("u1", "b", "submitted"), ("u2", "b", "submitted"), ("u3", "a", "submitted")],
            "approved",
            "b",
        ),
        ([("u1", "a", "submitted"), ("u2", "b", "submitted")], "tie", None),
        ([("u1", "tie", "submitted"), ("u2", "tie", "submitted")], "tie", None),
        ([("u1", "a", "submitted"), ("u2", "tie", "submitted")], "tie", None),
        ([("u1", "a", "submitted"), ("u2", "a", "draft")], "pending", None),
        ([("u1", "a", "discarded"), ("u2", "a", "discarded")], "pending", None),
    ],
)
def test_preference_decisions(votes, decision, preferred):
    row = one(responses(*prefs("r", *votes)), "preference")
    assert row["decision"] == decision
    assert row["preferred"] == preferred


def test_preference_mean_human_ratings_ignore_drafts():
    frame = responses(
        *prefs("r", ("u1", "a", "submitted"), ("u2", "a", "submitted"), ("u3", "b", "draft")),
        ("r", "u1", "rating_a", 5, "submitted"),
        ("r", "u2", "rating_a", 4, "submitted"),
        ("r", "u1", "rating_b", 2, "submitted"),
        ("r", "u3", "rating_b", 5, "draft"),
    )
    row = one(frame, "preference")
    assert row["human_rating_a"] == 4.5
    assert row["human_rating_b"] == 2.0


def test_records_without_responses_are_pending_and_order_is_kept():
    frame = responses(*verdicts("r2", ("u1", "keep", "submitted"), ("u2", "keep", "submitted")))
    table = decide(frame, ["r1", "r2", "r3"], "instruction")
    assert table["record_id"].tolist() == ["r1", "r2", "r3"]
    assert table["decision"].tolist() == ["pending", "approved", "pending"]
    assert table["n_submitted"].tolist() == [0, 2, 0]


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="status"):
        decide(
            pd.DataFrame({"record_id": [], "annotator": [], "question": [], "value": []}),
            [],
            "instruction",
        )
