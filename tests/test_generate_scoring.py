"""Reading judge replies: Deita expected value from logprobs, written scores, nulls with reasons."""

from __future__ import annotations

import math

import pytest

from curation.generate.scoring import (
    NO_OUTPUT,
    NO_SCORE,
    distribution_std,
    prob_not_better,
    read_score,
    score_distribution,
)

SCALE = (1, 2, 3, 4, 5)


def position(**probabilities: float) -> list[dict]:
    """One position's top logprobs from token -> probability."""
    return [{"token": token, "logprob": math.log(p)} for token, p in probabilities.items()]


def test_expected_value_is_over_the_score_tokens_only():
    # "The" and "7" take most of the mass; the scale tokens are renormalised (Deita).
    top = [
        {"token": "The", "logprob": math.log(0.5)},
        {"token": "7", "logprob": math.log(0.3)},
        {"token": "2", "logprob": math.log(0.05)},
        {"token": " 4", "logprob": math.log(0.15)},
    ]
    score = read_score("4\nRationale: fine", [top], SCALE, prefilled=True)
    assert score.method == "logprobs"
    assert score.value == pytest.approx(2 * 0.25 + 4 * 0.75)
    assert score.distribution == pytest.approx((0, 0.25, 0, 0.75, 0))
    assert score.rationale == "fine"
    assert score.std == pytest.approx(math.sqrt(0.25 * (2 - 3.5) ** 2 + 0.75 * (4 - 3.5) ** 2))


def test_a_sure_judge_has_no_spread_and_an_unsure_one_has_a_large_one():
    sure = read_score("5", [position(**{"5": 0.99})], SCALE, prefilled=True)
    unsure = read_score("1", [position(**{"1": 0.5, "5": 0.5})], SCALE, prefilled=True)
    assert sure.std == pytest.approx(0.0)
    assert unsure.std == pytest.approx(2.0)


def test_without_prefill_the_score_position_is_where_a_score_is_most_likely():
    first = position(Rating=0.9, **{"3": 0.1})
    second = position(**{":": 1.0})
    third = position(**{"4": 0.6, "5": 0.4})
    score = read_score("Rating: 4", [first, second, third], SCALE, prefilled=False)
    assert score.value == pytest.approx(4.4)


def test_written_score_when_no_logprobs():
    assert read_score("Rating: 3\nRationale: ok", None, SCALE, prefilled=False).value == 3.0
    assert read_score("[1] Score: 6", None, (1, 2, 3, 4, 5, 6), prefilled=False).value == 6.0
    assert read_score("2\nRationale: meh", None, SCALE, prefilled=True).method == "text"


def test_scores_off_the_scale_are_not_taken():
    score = read_score("Rating: 9 out of 10", None, SCALE, prefilled=False)
    assert score.value is None and score.null_reason == NO_SCORE


def test_logprobs_without_any_scale_token_fall_back_to_the_text():
    score = read_score("3", [position(The=0.9, A=0.1)], SCALE, prefilled=True)
    assert (score.value, score.method, score.distribution) == (3.0, "text", None)


def test_nothing_usable_is_a_null_with_a_reason():
    assert read_score(None, None, SCALE, prefilled=True).null_reason == NO_OUTPUT
    unscorable = read_score("I cannot say.", [position(I=1.0)], SCALE, prefilled=True)
    assert unscorable.value is None and unscorable.null_reason == NO_SCORE


def test_score_distribution_none_when_no_scale_token():
    assert score_distribution(position(a=0.5, b=0.5), SCALE) is None


def test_prob_not_better():
    one_hot = lambda value: [1.0 if s == value else 0.0 for s in SCALE]  # noqa: E731
    assert prob_not_better(one_hot(5), one_hot(1)) == 0.0
    assert prob_not_better(one_hot(3), one_hot(3)) == 1.0
    assert prob_not_better(one_hot(2), one_hot(4)) == 1.0
    even = [0.2] * 5
    assert prob_not_better(even, even) == pytest.approx(15 / 25)


def test_distribution_std():
    assert distribution_std(None) is None
    assert distribution_std([0.5, 0, 0, 0, 0.5]) == pytest.approx(2.0)
