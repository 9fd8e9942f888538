"""Escalation reasons, final calls, the adjudicator's page and the audit draw, without a server."""

from __future__ import annotations

import pandas as pd
import pytest

from curation.config import AutoApprovalConfig, ReviewConfig
from curation.review import adjudication
from curation.review.audit import AUDITED, audit


def decided_frame() -> pd.DataFrame:
    rows = [
        # record, decision, votes, majority, ai_outcome, ai_confidence
        ("tie", "tie", {"a": 1, "b": 1}, None, "a", 0.95),
        ("fix", "needs_fix", {"fix": 2}, "fix", "keep", 0.95),
        ("split", "approved", {"a": 2, "b": 1}, "a", "a", 0.5),
        ("overruled", "approved", {"b": 2}, "b", "a", 0.95),
        ("overruled-unsure", "approved", {"b": 2}, "b", "a", 0.6),
        ("settled", "approved", {"a": 2}, "a", "a", 0.95),
        ("pending", "pending", {"a": 1}, "a", "a", 0.95),
    ]
    columns = ["record_id", "decision", "votes", "majority", "ai_outcome", "ai_confidence"]
    return pd.DataFrame(rows, columns=columns)


def test_ties_and_fixes_escalate_by_default_and_the_rest_only_when_asked():
    frame = decided_frame()
    default = adjudication.escalations(frame, ["tie", "needs_fix"], 0.9)
    assert dict(zip(frame["record_id"], default, strict=True)) == {
        "tie": "tie",
        "fix": "needs_fix",
        "split": None,
        "overruled": None,
        "overruled-unsure": None,
        "settled": None,
        "pending": None,
    }
    every = adjudication.escalations(frame, list(adjudication.REASONS), 0.9)
    assert dict(zip(frame["record_id"], every, strict=True)) == {
        "tie": "tie",
        "fix": "needs_fix",
        "split": "split",
        "overruled": "overruled_ai",
        "overruled-unsure": None,  # the AI was not confident: people overruling it is normal
        "settled": None,
        "pending": None,
    }


def test_the_last_submitted_adjudication_is_final_and_replaces_the_reviewers_outcome():
    frame = pd.DataFrame(
        {
            "record_id": ["r1", "r2", "r3", "r4"],
            "decision": ["tie", "tie", "approved", "tie"],
            "majority": [None, None, "a", None],
            "preferred": [None, None, "a", None],
        }
    )
    calls = pd.DataFrame(
        {
            "record_id": ["r1", "r2", "r3", "r4"],
            "escalation": ["tie", "tie", "split", "tie"],
            "adjudicated": ["b", "tie", "b", None],
            "adjudicator": ["dave", "dave", "erin", None],
            "adjudicated_correction": [None] * 4,
        }
    )
    out = adjudication.apply(frame, calls, "preference").set_index("record_id")
    assert list(out["decision"]) == ["approved", "tie", "approved", "tie"]
    assert list(out["preferred"]) == ["b", None, "b", None]  # r3: the majority overruled
    assert list(out["reviewers_decision"]) == ["tie", "tie", "approved", "tie"]
    assert out.loc["r4", "escalation"] == "tie" and out.loc["r4", "adjudicated"] is None


def test_an_instruction_fix_needs_the_adjudicators_correction():
    frame = pd.DataFrame(
        {
            "record_id": ["keep", "fixed", "unfixed", "drop"],
            "decision": ["tie", "needs_fix", "needs_fix", "tie"],
            "majority": [None, "fix", "fix", None],
            "corrected_response": [None] * 4,
        }
    )
    calls = pd.DataFrame(
        {
            "record_id": ["keep", "fixed", "unfixed", "drop"],
            "escalation": ["tie", "needs_fix", "needs_fix", "tie"],
            "adjudicated": ["keep", "fix", "fix", "drop"],
            "adjudicator": ["dave"] * 4,
            "adjudicated_correction": [None, "The right answer.", None, None],
        }
    )
    out = adjudication.apply(frame, calls, "instruction").set_index("record_id")
    assert list(out["decision"]) == ["approved", "approved", "needs_fix", "rejected"]
    assert list(out["corrected_response"]) == [None, "The right answer.", None, None]


def test_the_adjudicator_sees_every_answer_with_its_author_and_the_ai_labelled():
    answers = pd.DataFrame(
        {
            "annotator": ["alice", "alice", "bob", "bob"],
            "question": ["preferred", "rationale", "preferred", "rating_a"],
            "value": ["a", "B rambles.", "b", "2"],
        }
    )
    suggestions = {"preferred": {"value": "b", "score": 0.9, "agent": "judge-1"}}
    text = adjudication.earlier_answers("preference", "tie", {"a": 1, "b": 1}, answers, suggestions)
    assert "**Escalated: tie** (reviewers' votes: 1 x a, 1 x b)" in text
    assert "- **alice**: preferred **a**" in text and "> B rambles." in text
    assert "- **bob**: preferred **b**, rating_a 2" in text
    assert "AI judge (a suggestion, not a person)" in text
    assert "**AI `judge-1`**: preferred b (score 0.90)" in text


def review(**overrides) -> ReviewConfig:
    policy = AutoApprovalConfig(enabled=True, min_agreement=0.8)
    return ReviewConfig(auto_approval=policy, **overrides)


def audit_frame(n: int, bands: list[str]) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    ids = [f"r{i}" for i in range(n)]
    frame = pd.DataFrame(
        {
            "human_decided": False,
            "human_outcome": None,
            "ai_outcome": "a",
            "audit": None,
        },
        index=ids,
    )
    band = pd.Series([bands[i % len(bands)] for i in range(n)], index=ids)
    return frame, pd.Series(True, index=ids), band


def test_the_audit_draws_a_stable_share_of_every_band():
    frame, auto, band = audit_frame(40, ["1/2", "2/2"])
    band.iloc[:4] = "3/3"  # a small band still gets one audit record
    first = audit(frame, auto, band, review(audit_fraction=0.1))
    drawn = first.audit[first.audit].index
    assert first.new == len(drawn) == 2 + 2 + 1
    assert {b: int((band[drawn] == b).sum()) for b in ("1/2", "2/2", "3/3")} == {
        "1/2": 2,
        "2/2": 2,
        "3/3": 1,
    }
    assert not (first.auto & first.audit).any()
    # The next run finds them marked and draws nothing new: the same records stay audited.
    frame.loc[drawn, "audit"] = AUDITED
    second = audit(frame, auto & ~first.audit, band, review(audit_fraction=0.1))
    assert second.new == 0 and list(second.audit[second.audit].index) == list(drawn)
    nothing = audit(frame, auto, band, review(audit_fraction=0.0))
    assert nothing.new == 0


def test_a_failed_audit_turns_auto_approval_off_in_its_band_only():
    frame, auto, band = audit_frame(20, ["1/2", "2/2"])
    audited = ["r0", "r2", "r4", "r1", "r3"]  # r0, r2, r4 in band 1/2; r1, r3 in 2/2
    frame.loc[audited, ["audit", "human_decided"]] = [AUDITED, True]
    frame.loc[["r0", "r2", "r4"], "human_outcome"] = "b"  # people overruled the AI
    frame.loc[["r1", "r3"], "human_outcome"] = "a"
    auto[audited] = False
    result = audit(frame, auto, band, review(audit_min_decided=2))
    assert result.off == ["1/2"]
    assert not result.auto[band == "1/2"].any()
    assert result.auto[(band == "2/2") & ~result.audit].all()
    assert result.bands["1/2"].agreement == 0.0 and result.bands["2/2"].agreement == 1.0
    low, high = result.bands["1/2"].ci95
    assert low == 0.0 and 0.4 < high < 0.8  # Wilson interval of 0 of 3
    assert any("auto-approval OFF in score band 1/2" in line for line in result.lines())
    assert result.as_dict()["off_bands"] == ["1/2"]
    # With too few audited records the figure is shown but not acted on.
    timid = audit(frame, auto, band, review(audit_min_decided=4))
    assert timid.off == []


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_the_audit_fraction_must_be_a_share(fraction):
    with pytest.raises(ValueError):
        ReviewConfig(audit_fraction=fraction)


def test_the_review_page_counts_escalations_and_says_where_the_audit_turned_off():
    from dashboards.escalation import audit_lines, escalations

    records = pd.DataFrame(
        {
            "dataset": ["p", "p", "p", "p", "i"],
            "record_id": ["1", "2", "3", "4", "5"],
            "decision": ["approved", "tie", "approved", "approved", "pending"],
            "approved_by": ["adjudicator", None, "humans", "auto", None],
            "escalation": ["tie", "tie", None, None, None],
            "adjudicated": ["a", None, None, None, None],
        }
    )
    table = escalations(records)
    assert table.loc["p"].to_dict() == {
        "escalated": 2,
        "tie": 2,
        "adjudicated": 1,
        "waiting": 1,
        "approved by humans": 1,
        "approved by adjudicator": 1,
        "approved by auto": 1,
    }
    assert table.loc["i", "escalated"] == 0
    manifest = {
        "review": {
            "route": {
                "p": {
                    "audit": {
                        "threshold": 0.9,
                        "bands": {
                            "1/2": {"drawn": 3, "decided": 3, "agreement": 1 / 3,
                                    "ci95": [0.06, 0.79], "off": True},
                            "2/2": {"drawn": 1, "decided": 0, "agreement": None,
                                    "ci95": None, "off": False},
                        },
                    }
                }
            }
        }
    }  # fmt: skip
    lines = audit_lines(manifest)
    assert lines[0] == (
        "p",
        "auto-approval OFF in score band 1/2: people agreed with the AI on 33% (95% CI 6%-79%) "
        "of 3 audited records (threshold 90%)",
        True,
    )
    assert lines[1] == ("p", "score band 2/2: 1 audit records, none decided yet", False)
    assert audit_lines(None) == []
