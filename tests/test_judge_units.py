"""The judge's parts without a server: the rule, ties, calibration, the reports, relevance
(real all-MiniLM-L6-v2) and both pairwise orders (the deterministic in-test LLM)."""

from __future__ import annotations

import math
import random
from typing import ClassVar

import pytest

from curation.config import JudgeConfig
from curation.errors import CurationError
from curation.judge import calibration as cal
from curation.judge.pairwise import PREFILL, Pairwise, judge_pairs, prompt
from curation.judge.relevance import relevance
from curation.judge.report import (
    agreement,
    eval_report,
    expected_calibration_error,
    length_bias,
    same_model_warning,
)
from curation.judge.signals import length_signals
from curation.judge.verdict import rule_p, verdict
from curation.llm.server import BASELINE_ENV
from tests.fixtures.deterministic_llm import DeterministicLLM, deterministic_factory
from tests.fixtures.judge_pairs import planted_pairs

CFG = JudgeConfig()


def test_relevance_gap_outweighs_a_confident_pairwise_verdict():
    off_topic = {"relevance_gap": 0.3, "pairwise_p_a": 0.05, "log_length_ratio": -2.0}
    assert verdict(rule_p(off_topic, CFG), CFG.tie_band) == "a"
    close = {"relevance_gap": 0.01, "pairwise_p_a": 0.2}
    assert verdict(rule_p(close, CFG), CFG.tie_band) == "b"


def test_length_enters_the_rule_only_through_its_weight():
    longer_a = {**length_signals("a much longer answer here", "short"), "pairwise_p_a": 0.5}
    assert rule_p(longer_a, CFG) == 0.5
    weighted = CFG.model_copy(update={"length_weight": 1.0})
    assert rule_p(longer_a, weighted) > 0.5


def test_ties_only_where_the_judge_is_undecided():
    assert verdict(0.5, 0.005) == "tie"
    assert verdict(0.503, 0.005) == "tie"
    assert verdict(0.51, 0.005) == "a" and verdict(0.49, 0.005) == "b"
    assert verdict(0.99, 0.005, same_text=True) == "tie"
    assert verdict(None, 0.005) == "tie"


def test_pairwise_asks_both_orders_and_averages_them():
    pair = Pairwise(p_ab=0.9, p_ba=0.3)
    assert pair.p_a == pytest.approx(0.6) and pair.consistent is False
    assert Pairwise(p_ab=0.8, p_ba=0.7).consistent is True
    assert Pairwise(p_ab=None, p_ba=0.7).p_a == 0.7

    llm = deterministic_factory(CFG)
    llm.load()
    found = judge_pairs(llm, [("Say hi.", "Hi!", "Goodbye."), ("Add 2 and 2.", "4", "5")])
    for verdict_ in found:
        assert 0 <= verdict_.p_ab <= 1 and 0 <= verdict_.p_ba <= 1
        assert verdict_.p_a == pytest.approx((verdict_.p_ab + verdict_.p_ba) / 2)
    # the second order shows b first; both prompts end right before the one verdict token
    first, second = prompt("Q?", "ALPHA", "BETA", llm), prompt("Q?", "BETA", "ALPHA", llm)
    assert first[0]["content"].index("ALPHA") < first[0]["content"].index("BETA")
    assert second[0]["content"].index("BETA") < second[0]["content"].index("ALPHA")
    assert first[-1] == {"role": "assistant", "content": PREFILL}


ASKED: list[str] = []  # what OneAtATimeLLM was asked, in order


class OneAtATimeLLM(DeterministicLLM):
    """Like the local server: answers one request at a time; records what it was asked."""

    one_at_a_time: ClassVar[bool] = True

    async def agenerate(  # type: ignore[override]
        self,
        input,
        num_generations: int = 1,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        top_p: float = 1.0,
        logprobs: bool = False,
        scale: list[int] | None = None,
    ):
        ASKED.append(input[0]["content"])
        return await super().agenerate(
            input, num_generations, max_new_tokens, temperature, top_p, logprobs, scale
        )


def shown(text: str) -> tuple[str, str]:
    """(instruction, the answer shown first) of a pairwise prompt."""
    instruction = text.split("### Instruction\n")[1].split("\n")[0]
    return instruction, text.split("### Response 1\n")[1].split("\n")[0]


def test_prompts_go_one_by_one_in_prefix_sharing_order_with_the_same_verdicts(monkeypatch):
    pairs = [("Q1?", "b1", "a1"), ("Q2?", "x", "y"), ("Q1?", "a1", "c1")]
    llm = OneAtATimeLLM(generation_kwargs={"max_new_tokens": 8})
    llm.load()
    ASKED.clear()
    found = judge_pairs(llm, pairs)
    asked = [shown(text) for text in ASKED]
    # grouped by instruction, then by the answer shown first: "a1" first twice in a row
    assert asked == sorted(asked) and asked[:2] == [("Q1?", "a1")] * 2
    ASKED.clear()
    monkeypatch.setenv(BASELINE_ENV, "1")  # as before: all at once, pair by pair
    assert judge_pairs(llm, pairs) == found
    assert [shown(text) for text in ASKED[:2]] == [("Q1?", "b1"), ("Q1?", "a1")]


def test_relevance_ranks_the_on_topic_answer_first():
    rows = planted_pairs("off-topic")
    instructions = [row["instruction"] for row in rows]
    rel_a = relevance(instructions, [row["response_a"] for row in rows])
    rel_b = relevance(instructions, [row["response_b"] for row in rows])
    right = sum(
        (a > b) == (row["preferred"] == "a") for a, b, row in zip(rel_a, rel_b, rows, strict=True)
    )
    assert right / len(rows) >= 0.9
    assert all(-1 <= value <= 1 for value in [*rel_a, *rel_b])


def synthetic(n: int, seed: int = 0) -> tuple[list[dict], list[str]]:
    """Pairs whose people prefer the longer answer the more, the longer it is; pairwise and
    relevance are noise."""
    rng = random.Random(seed)
    rows, labels = [], []
    for _ in range(n):
        ratio = rng.uniform(-2, 2)
        rows.append({"log_length_ratio": ratio, "relevance_gap": rng.gauss(0, 0.02),
                     "pairwise_p_a": rng.uniform(0.3, 0.7)})  # fmt: skip
        labels.append("a" if rng.random() < 1 / (1 + math.exp(-2 * ratio)) else "b")
    return rows, labels


def test_calibration_learns_what_people_prefer_and_reports_held_out_figures(tmp_path):
    rows, labels = synthetic(200)
    fitted = cal.fit(rows, labels, CFG, "judge-model")
    weights = dict(zip(fitted.features, fitted.coefficients, strict=True))
    assert weights["log_length_ratio"] > 0
    report = fitted.report
    assert report["n_decided"] == 200 and report["folds"] == 5
    assert report["after"]["accuracy"] >= report["length_rule"]["accuracy"] - 0.02
    assert report["after"]["accuracy"] > report["before"]["accuracy"]
    assert report["after"]["tie_rate"] <= 0.02  # only where p is within tie_band of 1/2
    low, high = report["after"]["ci95"]
    assert low < report["after"]["accuracy"] < high
    assert report["after"]["calibration_error"] < report["before"]["calibration_error"]
    # symmetric: swapping a and b flips the probability, so no position bias
    row = rows[0]
    swapped = {k: -v for k, v in row.items() if k != "pairwise_p_a"}
    swapped["pairwise_p_a"] = 1 - row["pairwise_p_a"]
    assert fitted.p(row) == pytest.approx(1 - fitted.p(swapped))
    path = tmp_path / "cal.json"
    fitted.save(path)
    assert (path.stat().st_mode & 0o777) == 0o600
    assert cal.Calibration.load(path).p(row) == pytest.approx(fitted.p(row))


def test_calibration_refuses_too_few_labels():
    rows, labels = synthetic(40)
    labels = labels[:25] + ["tie"] * 10 + [None] * 5
    with pytest.raises(CurationError, match="too few labelled pairs to calibrate: 25 decided"):
        cal.fit(rows, labels, CFG, "judge-model")


def test_agreement_counts_ties_as_misses_and_gives_an_interval():
    result = agreement(["a", "tie", "b", "b"], ["a", "a", "b", None])
    assert result["n"] == 3 and result["accuracy"] == pytest.approx(2 / 3, abs=1e-4)
    assert result["decided_accuracy"] == 1.0 and result["n_decided"] == 2
    assert result["tie_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert result["ci95"][0] < 2 / 3 < result["ci95"][1]


def test_bias_report_length_position_and_same_model():
    rows = [length_signals("long answer " * 5, "short") for _ in range(4)]
    for row, consistent in zip(rows, [True, True, False, None], strict=True):
        row["position_consistent"] = consistent
        row["pairwise_p_a"] = 0.7
    bias = length_bias(["a", "a", "a", "b"], rows, ["a", "b", "b", "b"])
    assert bias["judge_prefers_longer"] == 0.75 and bias["people_prefer_longer"] == 0.25
    verdicts, people = ["a", "a", "a", "b"], ["a", "b", "b", "b"]
    report = eval_report(
        rows, verdicts, people, judge_model="m", generator_models=["m", "x"], calibrated=False
    )
    assert report["bias"]["position"]["position_consistency"] == pytest.approx(2 / 3, abs=1e-4)
    assert "also a generator" in report["bias"]["same_model_warning"]
    assert report["length_rule"]["accuracy"] == 0.25
    assert report["signals"]["pairwise"]["accuracy"] == 0.25
    assert same_model_warning("judge", ["gen"]) is None


def test_expected_calibration_error():
    assert expected_calibration_error([0.9] * 10, [1] * 9 + [0]) == pytest.approx(0.0)
    assert expected_calibration_error([0.9] * 10, [0] * 10) == pytest.approx(0.9)
    assert math.isclose(expected_calibration_error([0.6, 0.4], [1, 0]), 0.4)


def test_judge_against_reviewers_raw_calibrated_and_length_rule():
    import pandas as pd

    from curation.judge.people import judge_vs_people
    from curation.review.push import chosen_side

    ids = [f"r{i}" for i in range(6)]
    prefs = pd.DataFrame(
        {"id": ids, "chosen": ["long answer"] * 6, "rejected": ["short"] * 6,
         "judge_p_chosen": [0.9] * 6, "judge_p_chosen_raw": [0.2] * 6}
    )  # fmt: skip
    feedback = []
    for record in ids:
        side = chosen_side(record)  # the chosen (longer) answer sits here; people agree
        for who in ("ann", "bob"):
            feedback.append({"dataset": "d", "record_id": record, "annotator": who,
                             "question": "preferred", "status": "submitted", "value": side,
                             "suggestion": side})  # fmt: skip
    table = judge_vs_people(pd.DataFrame(feedback), prefs, "d", 0.0).set_index("judge")
    assert table.loc["AI judge as suggested (calibrated)", "agrees with people"] == 1.0
    assert table.loc["fixed rule, uncalibrated (raw)", "agrees with people"] == 0.0
    assert table.loc["length rule (longer wins)", "agrees with people"] == 1.0
    assert (table["records"] == 6).all() and table["low"].notna().all()
