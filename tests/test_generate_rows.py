"""Row assembly: instruction filtering, chosen/rejected, ties, nulls, ids, provenance."""

from __future__ import annotations

import json

import pytest

from curation.generate.rows import (
    InstructionCandidate,
    clean_instruction,
    clean_rewrite,
    content_id,
    judge_counts,
    preference_row,
    select_instructions,
)
from curation.generate.scoring import STEP_FAILED


def candidate(text, source="self-instruct", **kwargs):
    return InstructionCandidate(text, source, "m", **kwargs)


def test_clean_instruction_strips_list_markers_and_quotes():
    assert clean_instruction("1. Explain gravity.") == "Explain gravity."
    assert clean_instruction('- "What is rain?"') == "What is rain?"
    assert clean_instruction("   ") == ""
    assert clean_instruction('#Question: "Can I compost lemon peels?"') == (
        "Can I compost lemon peels?"
    )
    assert clean_instruction("Query 2: Plan meals from leftovers.") == "Plan meals from leftovers."
    assert clean_instruction("#Rewritten Prompt#: Explain tides.") == "Explain tides."
    assert clean_instruction("Question everything: a essay prompt") == (
        "Question everything: a essay prompt"
    )
    assert clean_instruction(None) == ""


def test_a_rewrite_loses_the_label_the_evol_quality_prompt_ends_in():
    assert clean_rewrite("#Rewritten Response#:\nThe water cycle...") == "The water cycle..."
    assert clean_rewrite("#Rewritten Response:\nSammy") == "Sammy"
    assert clean_rewrite("Rewritten response: ok") == "ok"
    assert clean_rewrite("A response that mentions a rewritten response: ok") == (
        "A response that mentions a rewritten response: ok"
    )
    assert clean_rewrite(None) is None


def test_select_instructions_drops_and_counts_each_reason():
    rows, counts = select_instructions(
        [
            candidate("Explain how tides work."),
            candidate(""),
            candidate("Short?"),
            candidate("Explain how tides work."),  # duplicate
            candidate("List three uses of copper in the home.", truncated=True),
            candidate("AI assistant", prompt="# AI Application\nAI assistant"),
            candidate("Describe a rainbow to a child."),
            candidate("Name two famous bridges in Europe."),  # over the quota
            candidate("What is the boiling point of water?", source="magpie"),
            candidate("Explain how tides work.", source="magpie"),  # duplicate across sources
        ],
        {"self-instruct": 2, "magpie": 2},
        min_chars=10,
    )
    assert [row["instruction"] for row in rows] == [
        "Explain how tides work.",
        "Describe a rainbow to a child.",
        "What is the boiling point of water?",
    ]
    assert counts["self-instruct"] == {
        "generated": 8,
        "kept": 2,
        "dropped_empty": 1,
        "dropped_too_short": 1,
        "dropped_duplicate": 1,
        "dropped_truncated": 1,
        "dropped_echo": 1,
        "surplus": 1,
        "quota": 2,
        "shortfall": 0,
    }
    assert counts["magpie"]["dropped_duplicate"] == 1
    assert counts["magpie"]["shortfall"] == 1
    assert rows[0]["id"] == content_id("Explain how tides work.")
    assert {row["source"] for row in rows} == {"self-instruct", "magpie"}


def judged(**overrides):
    row = {
        "instruction": "Name a fruit.",
        "instruction_id": "i1",
        "source": "magpie",
        "generations": ["Apple.", "A banana is a fruit.", "Rock."],
        "generation_models": ["m0", "m1", "m0"],
        "candidate_labels": ["respond_0", "respond_1", "evol_quality"],
        "generation_truncated": [False, True, False],
        "ratings": [4.0, 4.5, 1.5],
        "rationales": ["ok", "good", "wrong"],
        "rating_distributions": [
            [0, 0, 0, 1.0, 0],
            [0, 0, 0, 0.5, 0.5],
            [0.5, 0.5, 0, 0, 0],
        ],
        "rating_methods": ["logprobs"] * 3,
        "rating_null_reasons": [None] * 3,
        "judge_model": "judge",
        "complexity": 2.0,
        "complexity_null_reason": None,
        "qualities": [3.0, 5.0, 1.0],
        "quality_null_reasons": [None] * 3,
    }
    row.update(overrides)
    return row


PARAMS = {"respond_0": {"temperature": 0.7}, "respond_1": {"temperature": 1.0}}


def build(row, tie_margin=0.1):
    return preference_row(
        row, candidate_params=PARAMS, judge_params={"model": "judge"}, tie_margin=tie_margin
    )


def test_chosen_is_best_rejected_is_worst_and_deita_uses_the_chosen_quality():
    row = build(judged())
    assert row["chosen"] == "A banana is a fruit." and row["chosen_index"] == 1
    assert row["rejected"] == "Rock." and row["rejected_index"] == 2
    assert row["margin"] == pytest.approx(3.0)
    assert row["tie"] is False
    assert row["quality"] == 5.0
    assert row["deita_score"] == pytest.approx(10.0)
    assert row["judge_uncertainty"] == 0.0  # every chosen rating beats every rejected one
    assert row["id"] == content_id("Name a fruit.", "Apple.", "A banana is a fruit.", "Rock.")
    assert json.loads(row["generation_params"][1]) == {"temperature": 1.0}
    assert row["generation_truncated"] == [False, True, False]


def test_close_ratings_are_a_tie_that_keeps_both_texts_for_review():
    row = build(judged(ratings=[4.0, 4.05, 3.95]))
    assert row["tie"] is True
    assert row["chosen"] == "A banana is a fruit." and row["rejected"] == "Rock."
    assert row["margin"] == pytest.approx(0.1)


def test_identical_texts_are_a_tie_even_when_rated_apart():
    row = build(judged(generations=["Same.", "Same.", "Same."]))
    assert row["tie"] is True


def test_unrated_candidates_keep_their_null_and_the_pair_uses_the_rated_ones():
    row = build(
        judged(
            ratings=[None, 4.5, 1.5],
            rating_null_reasons=["no score on the scale in the judge output", None, None],
        )
    )
    assert row["ratings"][0] is None
    assert row["rating_null_reasons"][0].startswith("no score")
    assert row["chosen_index"] == 1 and row["rejected_index"] == 2


def test_fewer_than_two_rated_candidates_is_a_row_with_a_null_pair_and_a_reason():
    row = build(judged(ratings=[None, 4.0, None]))
    assert row["chosen"] is None and row["rejected"] is None and row["margin"] is None
    assert row["pair_null_reason"] == "fewer than 2 rated candidates (1 of 3)"
    assert row["tie"] is False
    assert row["deita_score"] is None


def test_a_failed_judge_step_is_recorded_as_such():
    row = build(judged(ratings=None, rating_null_reasons=None, complexity=None, qualities=None))
    assert row["ratings"] == [None, None, None]
    assert row["rating_null_reasons"] == [STEP_FAILED] * 3
    assert row["complexity_null_reason"] == STEP_FAILED
    assert row["quality_null_reasons"] == [STEP_FAILED] * 3


def test_judge_counts_report_the_parse_rate_and_reasons():
    rows = [
        build(judged()),
        build(judged(ratings=[None, 4.0, 2.0], rating_null_reasons=["x", None, None])),
    ]
    counts = judge_counts(rows)
    assert counts["ultrafeedback"]["items"] == 6
    assert counts["ultrafeedback"]["scored"] == 5
    assert counts["ultrafeedback"]["null_reasons"] == {"x": 1}
    assert counts["complexity"]["parse_rate"] == 1.0
    assert counts["parse_rate"] == pytest.approx(13 / 14, abs=1e-4)
