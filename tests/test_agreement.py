"""Agreement figures against published worked examples and hand-computed cases.

Every result goes through `agreement()`, which returns the contract's JSON and also checks
that it is valid JSON (no NaN) and survives a round trip through text and through the
typed `Agreement` unchanged.
"""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd
import pytest

from curation.agreement import Agreement, compute_agreement, render_agreement
from curation.agreement.bootstrap import PairStats, resample_figures
from curation.agreement.coding import code_question, submitted
from curation.errors import CurationError

RATING = "rating"
LABEL = "label_selection"


def response(
    record: str,
    annotator: str,
    value: Any,
    *,
    question: str = "q",
    qtype: str = RATING,
    status: str = "submitted",
    suggestion: Any = None,
) -> dict[str, Any]:
    """One row of the tidy responses table (the shape `curate pull` writes)."""
    return {
        "record_id": record,
        "annotator": annotator,
        "question": question,
        "question_type": qtype,
        "value": value,
        "status": status,
        "suggestion": suggestion,
        "suggestion_score": None if suggestion is None else 0.9,
        "suggestion_agent": None if suggestion is None else "judge-model",
    }


def agreement(rows: list[dict] | pd.DataFrame, **kwargs: Any) -> dict[str, Any]:
    table = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    kwargs.setdefault("resamples", 0)
    typed = compute_agreement(table, "ds", **kwargs)
    result = typed.to_json()
    text = json.dumps(result, allow_nan=False)  # raises on NaN / inf
    assert json.loads(text) == result
    assert Agreement.from_json(result) == typed
    assert Agreement.from_json(json.loads(text)).to_json() == result
    return result


def reliability_rows(data: list[list[float]], qtype: str = RATING) -> list[dict]:
    """Coders x units reliability data (NaN = no response) as tidy rows."""
    rows = []
    for coder, values in enumerate(data):
        for unit, value in enumerate(values):
            if not np.isnan(value):
                rows.append(
                    response(f"unit{unit + 1}", f"coder{coder + 1}", int(value), qtype=qtype)
                )
    return rows


def count_rows(counts: list[list[int]], labels: list[str]) -> list[dict]:
    """A subjects x categories count table (Fleiss' layout) as tidy label rows."""
    rows = []
    for subject, row in enumerate(counts):
        values = [label for label, n in zip(labels, row, strict=True) for _ in range(n)]
        for rater, value in enumerate(values):
            rows.append(response(f"s{subject + 1}", f"rater{rater + 1}", value, qtype=LABEL))
    return rows


# --- published worked examples ---------------------------------------------------------

NAN = np.nan
# Wikipedia, "Krippendorff's alpha", computational example (Krippendorff 2011, "Computing
# Krippendorff's Alpha-Reliability"); the same table is in the docstring of krippendorff 0.9.0:
# 3 coders x 15 units, values 1-4, nominal alpha 0.691, interval alpha 0.811.
WIKIPEDIA_RELIABILITY = [
    [NAN, NAN, NAN, NAN, NAN, 3, 4, 1, 2, 1, 1, 3, 3, NAN, 3],
    [1, NAN, 2, 1, 3, 3, 4, 3, NAN, NAN, NAN, NAN, NAN, NAN, NAN],
    [NAN, NAN, 2, 1, 3, 4, 4, NAN, 2, 1, 1, 3, 3, NAN, 4],
]


def test_krippendorff_wikipedia_example_ignores_drafts_and_discarded():
    rows = reliability_rows(WIKIPEDIA_RELIABILITY)
    # Unsubmitted work in the empty cells, with values that would move alpha if counted.
    noise = [
        response("unit2", "coder1", 1, status="draft"),
        response("unit2", "coder2", 4, status="discarded"),
        response("unit14", "coder3", 1, status="draft"),
        response("unit1", "coder1", 4, status="discarded"),
        response("unit8", "coder3", 4, status="draft"),
    ]
    values = {"q": [1, 2, 3, 4, 5]}
    q = agreement(rows + noise, question_values=values)["questions"]["q"]
    assert q["type"] == RATING
    assert (q["n_records"], q["n_annotators"], q["n_responses"]) == (13, 3, 27)
    hh = q["human_human"]
    assert hh["alpha_level"] == "interval"  # the default for ratings
    assert hh["krippendorff_alpha"] == pytest.approx(0.811, abs=5e-4)
    nominal = agreement(rows + noise, question_values=values, alpha_level="nominal")
    assert nominal["questions"]["q"]["human_human"]["alpha_level"] == "nominal"
    assert nominal["questions"]["q"]["human_human"]["krippendorff_alpha"] == pytest.approx(
        0.691, abs=5e-4
    )
    # By hand: 12 units with >= 2 values; all pairs agree in 9, 1 of 3 in unit 6, none in 8, 15.
    assert hh["percent_agreement"] == pytest.approx(float(Fraction(9 + Fraction(1, 3), 12)))
    assert hh["n_records_multi"] == 12
    assert hh["fleiss_kappa"] is None  # units have 1, 2 or 3 values
    # The noise is real: counted as submitted, it changes alpha.
    counted = [{**row, "status": "submitted"} for row in noise]
    moved = agreement(rows + counted)["questions"]["q"]["human_human"]["krippendorff_alpha"]
    assert moved != pytest.approx(hh["krippendorff_alpha"], abs=1e-3)


# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers x
# 12 units with missing values; nominal 0.743, ordinal 0.815, interval 0.849, ratio 0.797
# (the ordinal and ratio figures are also in the krippendorff 0.9.0 docstring).
KRIPPENDORFF_2011_C = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]


@pytest.mark.parametrize(
    ("level", "expected"),
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_krippendorff_2011_every_level(level, expected):
    rows = reliability_rows(KRIPPENDORFF_2011_C)
    result = agreement(rows, alpha_level=level, question_values={"q": [1, 2, 3, 4, 5]})
    hh = result["questions"]["q"]["human_human"]
    assert hh["alpha_level"] == level
    assert hh["krippendorff_alpha"] == pytest.approx(expected, abs=5e-4)


def test_ordinal_alpha_on_labels_follows_the_declared_label_order():
    words = ["very low", "low", "mid", "high", "very high"]
    rows = reliability_rows(KRIPPENDORFF_2011_C, qtype=LABEL)
    for row in rows:
        row["value"] = words[row["value"] - 1]
    result = agreement(rows, alpha_level="ordinal", question_values={"q": words})
    assert result["questions"]["q"]["human_human"]["krippendorff_alpha"] == pytest.approx(
        0.815, abs=5e-4
    )
    labels = agreement(rows)["questions"]["q"]["human_human"]
    assert labels["alpha_level"] == "nominal"  # the default for labels
    assert labels["krippendorff_alpha"] == pytest.approx(0.743, abs=5e-4)


# Wikipedia, "Fleiss' kappa", worked example: 10 subjects, 14 raters each, 5 categories;
# P-bar = 0.378 (the mean share of agreeing rater pairs), kappa = 0.210.
FLEISS_WIKIPEDIA = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_and_percent_agreement_wikipedia_example():
    rows = count_rows(FLEISS_WIKIPEDIA, ["1", "2", "3", "4", "5"])
    hh = agreement(rows)["questions"]["q"]["human_human"]
    assert hh["fleiss_kappa"] == pytest.approx(0.210, abs=5e-4)
    assert hh["percent_agreement"] == pytest.approx(0.378, abs=5e-4)


# Fleiss (1971), "Measuring nominal scale agreement among many raters": 30 patients, 6
# psychiatrists each, 5 diagnoses; kappa = .430. Raw assignments as in R's irr::diagnoses
# (also statsmodels' inter-rater tests); the raters differ from patient to patient.
FLEISS_1971 = [
    [4, 4, 4, 4, 4, 4], [2, 2, 2, 5, 5, 5], [2, 3, 3, 3, 3, 5], [5, 5, 5, 5, 5, 5],
    [2, 2, 2, 4, 4, 4], [1, 1, 3, 3, 3, 3], [3, 3, 3, 3, 5, 5], [1, 1, 3, 3, 3, 4],
    [1, 1, 4, 4, 4, 4], [5, 5, 5, 5, 5, 5], [1, 4, 4, 4, 4, 4], [1, 2, 4, 4, 4, 4],
    [2, 2, 2, 3, 3, 3], [1, 4, 4, 4, 4, 4], [2, 2, 4, 4, 4, 5], [3, 3, 3, 3, 3, 5],
    [1, 1, 1, 4, 5, 5], [1, 1, 1, 1, 1, 2], [2, 2, 4, 4, 4, 4], [1, 3, 3, 5, 5, 5],
    [5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], [2, 2, 4, 5, 5, 5], [1, 1, 4, 4, 4, 4],
    [1, 4, 4, 4, 4, 5], [2, 2, 2, 2, 2, 4], [1, 1, 1, 1, 5, 5], [2, 2, 4, 4, 4, 4],
    [1, 3, 3, 3, 3, 3], [5, 5, 5, 5, 5, 5],
]  # fmt: skip


def test_fleiss_kappa_fleiss_1971_diagnoses():
    diagnoses = ["depression", "personality disorder", "schizophrenia", "neurosis", "other"]
    rows = [
        response(f"patient{p}", f"psychiatrist{r}", diagnoses[d - 1], qtype=LABEL)
        for p, patient in enumerate(FLEISS_1971)
        for r, d in enumerate(patient)
    ]
    hh = agreement(rows)["questions"]["q"]["human_human"]
    assert hh["fleiss_kappa"] == pytest.approx(0.430, abs=5e-4)


def test_cohen_kappa_scikit_learn_documented_example():
    # scikit-learn 1.9.1, `sklearn.metrics.cohen_kappa_score` docstring: 0.6875.
    ai = ["negative", "positive", "negative", "neutral", "positive"]
    human = ["negative", "positive", "negative", "neutral", "negative"]
    rows = [
        response(f"r{i}", "alice", h, qtype=LABEL, suggestion=a)
        for i, (a, h) in enumerate(zip(ai, human, strict=True))
    ]
    ah = agreement(rows)["questions"]["q"]["ai_human"]
    assert ah["n_pairs"] == 5
    assert ah["cohen_kappa"] == pytest.approx(0.6875)
    assert ah["exact_agreement"] == pytest.approx(0.8)
    # Ratings-only figures are null for labels.
    assert ah["cohen_kappa_quadratic"] is None
    assert ah["cohen_kappa_linear"] is None
    assert ah["spearman"] is None
    assert ah["within_one"] is None
    assert ah["preference"] is None
    matrix = ah["confusion_matrix"]
    assert (matrix["rows"], matrix["columns"]) == ("ai", "human")
    assert matrix["labels"] == ["negative", "neutral", "positive"]
    assert matrix["counts"] == [[2, 0, 0], [0, 1, 0], [1, 0, 1]]


# SAS PROC FREQ (AGREE) printout for a 3 x 3 table, reproduced in statsmodels' inter-rater
# tests: simple kappa 0.4842, weighted kappa (Cicchetti-Allison = linear weights) 0.4701.
SAS_TABLE = [[0, 4, 1], [0, 8, 0], [0, 1, 5]]


def test_cohen_kappa_unweighted_and_linear_sas_example():
    rows = []
    for a, row in enumerate(SAS_TABLE, start=1):
        for h, n in enumerate(row, start=1):
            rows += [response(f"r{a}{h}{k}", "bob", h, suggestion=a) for k in range(n)]
    ah = agreement(rows, question_values={"q": [1, 2, 3]})["questions"]["q"]["ai_human"]
    assert ah["n_pairs"] == 19
    assert ah["cohen_kappa"] == pytest.approx(0.4842, abs=5e-5)
    assert ah["cohen_kappa_linear"] == pytest.approx(0.4701, abs=5e-5)
    assert ah["confusion_matrix"]["counts"] == SAS_TABLE


# --- hand-computed cases ---------------------------------------------------------------


def rating_case() -> list[dict]:
    """AI x human pairs (1,1) (2,3) (3,3) (3,2) on a 1-3 scale, plus rows that must not count."""
    return [
        response("r1", "alice", 1, suggestion=1),
        response("r2", "alice", 3, suggestion=2),
        response("r3", "bob", 3, suggestion=3),
        response("r4", "bob", 2, suggestion=3),
        response("r5", "carol", 2),  # no AI suggestion: not a pair
        response("r1", "bob", 3, suggestion=1, status="draft"),
        response("r3", "alice", 1, suggestion=3, status="discarded"),
        response("r6", "carol", 1, suggestion=1, status="draft"),  # record with no submission
    ]


def test_ai_human_rating_figures_by_hand():
    q = agreement(rating_case(), question_values={"q": [1, 2, 3]})["questions"]["q"]
    assert (q["n_records"], q["n_annotators"], q["n_responses"]) == (5, 3, 5)
    ah = q["ai_human"]
    assert ah["n_pairs"] == 4
    assert ah["exact_agreement"] == pytest.approx(0.5)
    # p_o = 1/2, p_e = (1*1 + 1*1 + 2*2) / 16 = 3/8 -> (1/2 - 3/8) / (5/8) = 1/5
    assert ah["cohen_kappa"] == pytest.approx(0.2)
    # linear: 1 - (sum |i-j| O) / (sum |i-j| E) = 1 - 2 / 3.5 = 3/7
    assert ah["cohen_kappa_linear"] == pytest.approx(3 / 7)
    # quadratic: 1 - 2 / 5.5 = 7/11
    assert ah["cohen_kappa_quadratic"] == pytest.approx(7 / 11)
    # ranks AI [1, 2, 3.5, 3.5], human [1, 3.5, 3.5, 2]: covariance 2.25, variances 4.5
    assert ah["spearman"] == pytest.approx(0.5)
    assert ah["within_one"] == pytest.approx(1.0)
    assert ah["confusion_matrix"]["labels"] == [1, 2, 3]
    assert ah["confusion_matrix"]["counts"] == [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    # Every record has one submitted response: nothing to say about humans among themselves.
    hh = q["human_human"]
    assert hh["krippendorff_alpha"] is None
    assert hh["fleiss_kappa"] is None
    assert hh["percent_agreement"] is None
    per = q["annotators"]
    assert per["alice"]["vs_ai"]["n_pairs"] == 2
    assert per["alice"]["vs_ai"]["exact_agreement"] == pytest.approx(0.5)
    # alice: AI [1, 2], human [1, 3]: p_o = 1/2, p_e = 1/4 -> 1/3
    assert per["alice"]["vs_ai"]["cohen_kappa"] == pytest.approx(1 / 3)
    # bob: AI [3, 3], human [3, 2]: p_o = p_e = 1/2 -> 0
    assert per["bob"]["vs_ai"]["cohen_kappa"] == pytest.approx(0.0)
    assert per["carol"]["vs_ai"] == {
        "n_pairs": 0,
        "exact_agreement": None,
        "cohen_kappa": None,
        "within_one": None,
    }
    assert per["carol"]["n_responses"] == 1


def verdict_case() -> list[dict]:
    """Three reviewers, missing responses, drafts and discards; AI suggestions on r1-r3."""
    v = {"qtype": LABEL, "question": "verdict"}
    return [
        response("r1", "alice", "keep", suggestion="keep", **v),
        response("r1", "bob", "keep", suggestion="keep", **v),
        response("r1", "carol", "fix", suggestion="keep", **v),
        response("r2", "alice", "drop", suggestion="drop", **v),
        response("r2", "bob", "drop", suggestion="drop", **v),
        response("r3", "alice", "keep", suggestion="fix", **v),
        response("r3", "bob", "fix", suggestion="fix", status="draft", **v),
        response("r3", "carol", "drop", suggestion="fix", status="discarded", **v),
        response("r4", "bob", "fix", **v),
        response("r4", "carol", "keep", **v),
        response("r4", "alice", "drop", status="draft", **v),
    ]


def test_human_human_labels_by_hand():
    q = agreement(verdict_case())["questions"]["verdict"]
    assert (q["n_records"], q["n_annotators"], q["n_responses"]) == (4, 3, 8)
    hh = q["human_human"]
    # records with >= 2 responses: r1 1 of 3 pairs agree, r2 1 of 1, r4 0 of 1; r3 has one
    assert hh["n_records_multi"] == 3
    assert hh["percent_agreement"] == pytest.approx((1 / 3 + 1 + 0) / 3)
    # coincidences: keep-keep 1, keep-fix 2, fix-keep 2, drop-drop 2 -> n_keep 3, n_fix 2,
    # n_drop 2, n 7; D_o = 4/7, D_e = 32/42 -> alpha = 1 - (4/7) / (32/42) = 0.25
    assert hh["krippendorff_alpha"] == pytest.approx(0.25)
    assert hh["alpha_level"] == "nominal"
    assert hh["fleiss_kappa"] is None  # records have 3, 2, 1, 2 responses


def test_ai_human_pools_every_response_with_its_record_suggestion():
    ah = agreement(verdict_case())["questions"]["verdict"]["ai_human"]
    # r1: keep/keep x2, keep/fix; r2: drop/drop x2; r3: fix/keep; r4 has no suggestion
    assert ah["n_pairs"] == 6
    assert ah["exact_agreement"] == pytest.approx(4 / 6)
    # p_o = 4/6; margins AI keep 3, drop 2, fix 1; human keep 3, drop 2, fix 1:
    # p_e = 14/36 -> (24 - 14) / (36 - 14) = 5/11
    assert ah["cohen_kappa"] == pytest.approx(5 / 11)
    assert ah["cohen_kappa_quadratic"] is None  # ratings only
    assert ah["spearman"] is None


def test_each_annotator_against_the_others_majority_and_the_ai():
    per = agreement(verdict_case())["questions"]["verdict"]["annotators"]
    assert list(per) == ["alice", "bob", "carol"]
    # alice: r1 others keep/fix (no majority), r2 others drop (agrees), r3 nobody else
    assert per["alice"]["vs_consensus"] == {"n_records": 1, "exact_agreement": 1.0}
    # bob: r2 agrees with alice, r4 (fix) against carol's keep
    assert per["bob"]["vs_consensus"] == {"n_records": 2, "exact_agreement": 0.5}
    # carol: r1 fix against keep/keep, r4 keep against bob's fix
    assert per["carol"]["vs_consensus"] == {"n_records": 2, "exact_agreement": 0.0}
    assert per["alice"]["vs_ai"]["n_pairs"] == 3
    assert per["alice"]["vs_ai"]["exact_agreement"] == pytest.approx(2 / 3)
    assert per["bob"]["vs_ai"]["exact_agreement"] == pytest.approx(1.0)
    assert per["carol"]["vs_ai"]["exact_agreement"] == pytest.approx(0.0)
    assert per["alice"]["n_responses"] == 3


def test_rating_consensus_and_within_one():
    rows = [
        response("r1", "alice", 5),
        response("r1", "bob", 4),
        response("r1", "carol", 4),
        response("r2", "alice", 1),
        response("r2", "bob", 3),
        response("r2", "carol", 3),
    ]
    per = agreement(rows)["questions"]["q"]["annotators"]
    # alice against bob+carol's 4 (off by one) and 3 (off by two)
    assert per["alice"]["vs_consensus"] == {
        "n_records": 2,
        "exact_agreement": 0.0,
        "within_one": 0.5,
    }
    # bob: r1 others 5/4 (no majority); r2 others 1/3 (no majority)
    assert per["bob"]["vs_consensus"]["n_records"] == 0
    assert per["bob"]["vs_consensus"]["exact_agreement"] is None


def test_preference_agreement_with_and_without_ties():
    pairs = [("a", "a"), ("a", "b"), ("b", "b"), ("tie", "a"), ("a", "tie"), ("tie", "tie")]
    rows = [
        response(f"r{i}", "alice", h, question="preferred", qtype=LABEL, suggestion=a)
        for i, (a, h) in enumerate(pairs)
    ]
    values = {"preferred": ["a", "b", "tie"]}
    ah = agreement(rows, question_values=values)["questions"]["preferred"]["ai_human"]
    pref = ah["preference"]
    assert pref["n_pairs_with_ties"] == 6
    assert pref["agreement_with_ties"] == pytest.approx(0.5)
    assert pref["n_pairs_without_ties"] == 3  # pairs where neither side says tie
    assert pref["agreement_without_ties"] == pytest.approx(2 / 3)
    assert ah["exact_agreement"] == pytest.approx(0.5)


def test_multi_label_answers_compare_as_sets():
    v = {"question": "topics", "qtype": "multi_label_selection"}
    rows = [
        response("r1", "alice", ["x", "y"], suggestion=["y", "x"], **v),
        response("r1", "bob", np.array(["y", "x"]), suggestion=np.array(["y", "x"]), **v),
        response("r2", "alice", ["x"], suggestion=["x"], **v),
        response("r2", "bob", ["x", "y"], suggestion=["x"], **v),
    ]
    q = agreement(rows)["questions"]["topics"]
    assert q["human_human"]["percent_agreement"] == pytest.approx(0.5)
    assert q["ai_human"]["exact_agreement"] == pytest.approx(0.75)
    assert q["ai_human"]["confusion_matrix"]["labels"] == [["x"], ["x", "y"]]


def test_ranking_answers_compare_as_orderings():
    v = {"question": "order", "qtype": "ranking"}
    rows = [
        response("r1", "alice", [{"value": "b", "rank": 1}, {"value": "a", "rank": 2}], **v),
        response("r1", "bob", ["b", "a"], **v),
        response("r2", "alice", ["a", "b"], **v),
        response("r2", "bob", ["b", "a"], **v),
    ]
    hh = agreement(rows)["questions"]["order"]["human_human"]
    assert hh["percent_agreement"] == pytest.approx(0.5)


# --- undefined figures are null --------------------------------------------------------


def test_one_annotator_leaves_human_figures_null():
    rows = [response(f"r{i}", "alice", i % 5 + 1, suggestion=3) for i in range(10)]
    q = agreement(rows, resamples=50)["questions"]["q"]
    hh = q["human_human"]
    assert hh["krippendorff_alpha"] is None
    assert hh["fleiss_kappa"] is None
    assert hh["percent_agreement"] is None
    assert hh["ci95"] == {
        "krippendorff_alpha": None,
        "fleiss_kappa": None,
        "percent_agreement": None,
    }
    assert q["annotators"]["alice"]["vs_consensus"]["exact_agreement"] is None


def test_unanimous_answers_leave_chance_corrected_figures_null():
    rows = [
        response(f"r{i}", who, "keep", qtype=LABEL, suggestion="keep")
        for i in range(5)
        for who in ("alice", "bob")
    ]
    q = agreement(rows, question_values={"q": ["keep", "fix", "drop"]}, resamples=50)["questions"][
        "q"
    ]
    hh, ah = q["human_human"], q["ai_human"]
    assert hh["percent_agreement"] == 1.0
    assert hh["krippendorff_alpha"] is None  # no variation: expected disagreement is 0
    assert hh["fleiss_kappa"] is None  # chance agreement is 1
    assert ah["exact_agreement"] == 1.0
    assert ah["cohen_kappa"] is None  # both sequences constant
    assert ah["ci95"]["cohen_kappa"] is None
    assert ah["ci95"]["exact_agreement"] == [1.0, 1.0]


def test_constant_ai_rating_leaves_spearman_null_but_kappa_defined():
    rows = [response(f"r{i}", "alice", i % 5 + 1, suggestion=3) for i in range(10)]
    ah = agreement(rows)["questions"]["q"]["ai_human"]
    assert ah["spearman"] is None
    assert ah["cohen_kappa"] == pytest.approx(0.0)  # p_o = p_e = 1/5


def test_no_suggestions_leave_ai_figures_null():
    rows = [response(f"r{i}", who, i % 3 + 1) for i in range(4) for who in ("alice", "bob")]
    ah = agreement(rows)["questions"]["q"]["ai_human"]
    assert ah["n_pairs"] == 0
    for figure in ("exact_agreement", "cohen_kappa", "cohen_kappa_quadratic", "spearman"):
        assert ah[figure] is None


def test_fleiss_kappa_needs_the_same_number_of_responses_everywhere():
    equal = [
        response(f"r{i}", who, (i + j) % 3 + 1) for i in range(6) for j, who in enumerate("ab")
    ]
    assert agreement(equal)["questions"]["q"]["human_human"]["fleiss_kappa"] is not None
    extra = [*equal, response("r0", "c", 2)]
    assert agreement(extra)["questions"]["q"]["human_human"]["fleiss_kappa"] is None
    single = [*equal, response("r9", "a", 2)]
    assert agreement(single)["questions"]["q"]["human_human"]["fleiss_kappa"] is None


def test_questions_without_submitted_responses_and_free_text():
    rows = [
        response("r1", "alice", 4, question="quality", status="draft"),
        response("r1", "alice", "fixed text", question="note", qtype="text"),
        response("r2", "bob", "other text", question="note", qtype="text"),
    ]
    result = agreement(rows, question_types={"verdict": LABEL, "quality": RATING})
    assert list(result["questions"]) == ["verdict", "quality", "note"]
    for name in ("verdict", "quality"):
        q = result["questions"][name]
        assert (q["n_records"], q["n_annotators"], q["n_responses"]) == (0, 0, 0)
        assert q["human_human"]["krippendorff_alpha"] is None
        assert q["ai_human"]["n_pairs"] == 0
        assert q["ai_human"]["exact_agreement"] is None
    note = result["questions"]["note"]
    assert note["type"] == "text"
    assert (note["n_records"], note["n_annotators"], note["n_responses"]) == (2, 2, 2)
    assert note["human_human"]["alpha_level"] is None
    assert note["ai_human"]["cohen_kappa"] is None


def test_contract_keys_are_all_there():
    result = agreement(verdict_case())
    assert {"dataset", "questions"} <= set(result)
    q = result["questions"]["verdict"]
    assert {"type", "n_records", "n_annotators", "n_responses", "human_human", "ai_human"} <= set(q)
    assert {"krippendorff_alpha", "alpha_level", "fleiss_kappa", "percent_agreement"} <= set(
        q["human_human"]
    )
    assert {
        "n_pairs",
        "exact_agreement",
        "cohen_kappa",
        "cohen_kappa_quadratic",
        "spearman",
    } <= set(q["ai_human"])
    assert result["dataset"] == "ds"


def test_alpha_level_over_a_dataset_applies_where_it_can():
    rows = verdict_case() + reliability_rows(WIKIPEDIA_RELIABILITY)
    result = agreement(rows, alpha_level="ordinal")["questions"]
    assert result["q"]["human_human"]["alpha_level"] == "ordinal"
    # verdict declares no label order here: it keeps its nominal default, and says so
    assert result["verdict"]["human_human"]["alpha_level"] == "nominal"
    assert result["verdict"]["human_human"]["krippendorff_alpha"] == pytest.approx(0.25)
    ordered = agreement(
        rows, alpha_level="ordinal", question_values={"verdict": ["keep", "fix", "drop"]}
    )
    assert ordered["questions"]["verdict"]["human_human"]["alpha_level"] == "ordinal"


def test_question_option_selects_one_question():
    rows = verdict_case() + rating_case()
    result = agreement(rows, question="verdict")
    assert list(result["questions"]) == ["verdict"]


# --- bad input: one clear error --------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "kwargs", "message"),
    [
        ([response("r1", "a", 7)], {"question_values": {"q": [1, 2, 3, 4, 5]}}, "record 'r1'"),
        ([response("r1", "a", "good")], {}, "'good' is not a rating value"),
        ([response("r1", "a", 3, suggestion=9)], {"question_values": {"q": [1, 2, 3]}}, "AI"),
        ([response("r1", "a", 1), response("r1", "a", 2)], {}, "more than one submitted"),
        ([response("r1", "a", None)], {}, "has no value"),
        ([response("r1", "a", 1, status="accepted")], {}, "unknown response status"),
        ([response("r1", "a", 1)], {"alpha_level": "cardinal"}, "unknown alpha level"),
        (
            [response("r1", "a", "x", qtype=LABEL)],
            {"alpha_level": "interval", "question": "q"},
            "needs numbers",
        ),
        (
            [response("r1", "a", "x", qtype=LABEL)],
            {"alpha_level": "ordinal", "question": "q"},
            "declares none",
        ),
        ([response("r1", "a", 1)], {"question": "nope"}, "no question 'nope'"),
        ([response("r1", "a", 1, qtype="poll")], {}, "unknown type 'poll'"),
        ([response("r1", "a", "x", qtype="multi_label_selection")], {}, "not a multi_label"),
    ],
)
def test_bad_input_is_one_clear_error(rows, kwargs, message):
    with pytest.raises(CurationError, match=message):
        compute_agreement(pd.DataFrame(rows), "ds", resamples=0, **kwargs)


def test_missing_column_is_named():
    table = pd.DataFrame([response("r1", "a", 1)]).drop(columns=["suggestion"])
    with pytest.raises(CurationError, match=r"lacks column.*suggestion"):
        compute_agreement(table, "ds")


def test_out_of_scale_rating_names_record_and_annotator():
    rows = [response("r1", "a", 3), response("rec-42", "zoe", 6)]
    with pytest.raises(CurationError) as error:
        compute_agreement(pd.DataFrame(rows), "ds", question_values={"q": [1, 2, 3, 4, 5]})
    assert "rec-42" in str(error.value)
    assert "zoe" in str(error.value)
    assert "\n" not in str(error.value)


# --- bootstrap intervals ---------------------------------------------------------------


def simulated(n_records: int, seed: int = 1) -> pd.DataFrame:
    """Ratings 1-5 from three reviewers and an AI, all noisy copies of a hidden truth."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, 6, n_records)

    def noisy() -> np.ndarray:
        return np.clip(truth + rng.integers(-1, 2, n_records), 1, 5)

    ai = noisy()
    rows = [
        response(f"r{i}", who, int(value), suggestion=int(ai[i]))
        for who in ("alice", "bob", "carol")
        for i, value in enumerate(noisy())
    ]
    return pd.DataFrame(rows)


def test_bootstrap_intervals_bracket_the_figures_and_are_reproducible():
    table = simulated(60)
    first = agreement(table, resamples=200, seed=7)
    assert first == agreement(table, resamples=200, seed=7)
    assert first["bootstrap"] == {"resamples": 200, "seed": 7, "confidence": 0.95}
    q = first["questions"]["q"]
    for part in ("human_human", "ai_human"):
        for figure, interval in q[part]["ci95"].items():
            point = q[part][figure]
            if point is None:
                assert interval is None
                continue
            low, high = interval
            assert low <= point <= high, (figure, point, interval)
            assert high - low > 0, figure  # 60 noisy records: not a single value
    assert set(q["ai_human"]["ci95"]) == {
        "exact_agreement",
        "cohen_kappa",
        "cohen_kappa_linear",
        "cohen_kappa_quadratic",
        "spearman",
        "within_one",
    }
    other = agreement(table, resamples=200, seed=8)["questions"]["q"]
    assert other["ai_human"]["ci95"] != q["ai_human"]["ci95"]


def test_no_resamples_or_one_record_gives_no_interval():
    table = simulated(20)
    q = agreement(table, resamples=0)["questions"]["q"]
    assert all(ci is None for ci in q["ai_human"]["ci95"].values())
    one = table[table["record_id"] == "r0"]
    q = agreement(one, resamples=100)["questions"]["q"]
    assert q["human_human"]["ci95"]["percent_agreement"] is None


def test_resampling_all_records_once_reproduces_every_figure():
    """The vectorised resample path (weighted record sums, confusion tables through
    statsmodels) must compute the same figures as the point path (scikit-learn, scipy)."""
    table = simulated(40)
    q = agreement(table)["questions"]["q"]
    rows = submitted(table)
    coded = code_question("q", RATING, rows, None)
    wanted = {*q["human_human"]["ci95"], *q["ai_human"]["ci95"]}
    identity = np.arange(coded.n_records)[None, :]
    figures = resample_figures(
        coded, coded.counts(), "interval", wanted, identity, PairStats(coded)
    )
    assert set(figures) == wanted
    for figure, values in figures.items():
        point = q["human_human"].get(figure, q["ai_human"].get(figure))
        assert values[0] == pytest.approx(point), figure


def test_preference_intervals():
    rng = np.random.default_rng(3)
    labels = np.array(["a", "b", "tie"])
    rows = [
        response(
            f"r{i}",
            who,
            str(labels[rng.integers(0, 3)]),
            question="preferred",
            qtype=LABEL,
            suggestion=str(labels[i % 3]),
        )
        for i in range(40)
        for who in ("alice", "bob")
    ]
    pref = agreement(rows, resamples=100)["questions"]["preferred"]["ai_human"]["preference"]
    for figure in ("agreement_with_ties", "agreement_without_ties"):
        low, high = pref["ci95"][figure]
        assert low <= pref[figure] <= high


# --- the table for people --------------------------------------------------------------


def test_rendered_table_shows_figures_and_undefined_marks():
    from rich.console import Console

    result = agreement(verdict_case() + rating_case(), question_values={"q": [1, 2, 3]})
    console = Console(record=True, width=140)
    console.print(render_agreement(Agreement.from_json(result)))
    text = console.export_text()
    assert "verdict (label_selection): 4 records, 3 annotators, 8 responses" in text
    assert "0.250" in text  # verdict alpha
    assert "0.636" in text  # q quadratic kappa 7/11
    assert "—" in text  # q has no human-human figures
    assert "AI ↓ human →" in text
    assert "carol" in text


def test_resamples_without_any_ai_pair_count_as_undefined():
    # r3 and r4 carry no suggestion: some resamples hold no AI-human pair at all.
    rows = [
        response("r1", "alice", 1, suggestion=1),
        response("r2", "alice", 2, suggestion=3),
        response("r3", "alice", 3),
        response("r4", "alice", 2),
    ]
    ah = agreement(rows, resamples=200)["questions"]["q"]["ai_human"]
    assert ah["cohen_kappa"] is not None
    assert ah["ci95"]["cohen_kappa"] is None  # undefined in too many resamples
