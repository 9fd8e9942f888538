"""Review loop pieces that need no server: input checks, rows -> records, routing, decisions."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from curation.config import AutoApprovalConfig, RoutingWeights
from curation.errors import CurationError
from curation.review import routing
from curation.review.pull import Pulled, tidy_responses
from curation.review.push import chosen_side, plan_records
from curation.review.push_input import read_rows
from curation.review.records import decisions
from curation.review.templates import check_template


def pref_row(i: int, **overrides) -> dict:
    row = {
        "id": f"pair-{i}",
        "instruction": f"How many legs does a spider have? ({i})",
        "chosen": f"Eight. ({i})",
        "rejected": f"Six. ({i})",
        "chosen_rating": 4.6,
        "rejected_rating": 2.2,
        "judge_model": "judge-1",
        "margin": 2.4,
        "judge_uncertainty": 0.2,
        "source": "magpie",
        "deita_score": 6.0,
        "tie": False,
        "generation_models": ["gen-a", "gen-b"],
        "chosen_index": 0,
        "rejected_index": 1,
        "rating_distributions": [[0.0, 0.0, 0.1, 0.3, 0.6], [0.1, 0.7, 0.2, 0.0, 0.0]],
        "qualities": [4.0, 5.0],
    }
    return {**row, **overrides}


# --- input checks ----------------------------------------------------------------------


def write(tmp_path, rows: list[dict], name: str = "rows.parquet"):
    path = tmp_path / name
    pd.DataFrame(rows).to_parquet(path)
    return path


def test_missing_columns_are_named(tmp_path):
    path = write(tmp_path, [{"id": "x", "instruction": "i"}])
    with pytest.raises(CurationError, match=r"missing column\(s\) chosen, rejected, chosen_rating"):
        read_rows(path, "preference")
    with pytest.raises(CurationError, match=r"missing column\(s\) response for the instruction"):
        read_rows(path, "instruction")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": ""}, r"row 1: `id` is empty"),
        ({"id": "pair-0"}, r"id 'pair-0' appears more than once \(rows 0, 1\)"),
        ({"chosen": "  "}, r"row 1 \(id 'pair-1'\): `chosen` is empty"),
        ({"chosen_rating": 7.0}, r"row 1 \(id 'pair-1'\): `chosen_rating` is 7.0, not a rating"),
    ],
)
def test_bad_rows_are_named(tmp_path, change, message):
    path = write(tmp_path, [pref_row(0), pref_row(1, **change)])
    with pytest.raises(CurationError, match=message):
        read_rows(path, "preference")


def test_unreadable_input_and_unknown_template(tmp_path):
    with pytest.raises(CurationError, match="input file not found"):
        read_rows(tmp_path / "nope.parquet", "instruction")
    (tmp_path / "text.parquet").write_text("not parquet")
    with pytest.raises(CurationError, match="not a readable Parquet file"):
        read_rows(tmp_path / "text.parquet", "instruction")
    with pytest.raises(CurationError, match="unknown template 'dpo': use instruction or pref"):
        check_template("dpo")


def test_rows_without_a_pair_are_skipped_not_pushed(tmp_path):
    unpaired = pref_row(1, chosen=None, rejected=None, pair_null_reason="fewer than 2 rated")
    path = write(tmp_path, [pref_row(0, pair_null_reason=None), unpaired])
    rows, skipped = read_rows(path, "preference")
    assert skipped == 1
    assert rows["id"].tolist() == ["pair-0"]


# --- rows -> records ---------------------------------------------------------------------


def test_pair_order_comes_from_the_id_alone_and_is_balanced():
    ids = [f"record-{i}" for i in range(2000)]
    sides = [chosen_side(i) for i in ids]
    assert sides == [chosen_side(i) for i in ids]  # the same on every push
    share = sides.count("a") / len(sides)
    assert 0.45 < share < 0.55


def test_preference_record_puts_the_ai_choice_on_its_side_and_suggests_it():
    rows = pd.DataFrame([pref_row(i) for i in range(40)])
    planned = plan_records(rows, "preference", RoutingWeights())
    seen = set()
    for row, record in zip(rows.to_dict("records"), planned, strict=True):
        side = chosen_side(row["id"])
        other = "b" if side == "a" else "a"
        seen.add(side)
        assert record.id == row["id"]
        assert record.fields[f"response_{side}"] == row["chosen"]
        assert record.fields[f"response_{other}"] == row["rejected"]
        assert record.metadata["ai_chosen_side"] == side
        value, score, agent = record.suggestions["preferred"]
        assert (value, agent) == (side, "judge-1")
        assert score == pytest.approx(0.8)  # 1 - judge uncertainty
        # 4.6 rounds to 5 (P = 0.6 under the judge's distribution), 2.2 to 2 (P = 0.7)
        assert record.suggestions[f"rating_{side}"] == (5, 0.6, "judge-1")
        assert record.suggestions[f"rating_{other}"] == (2, 0.7, "judge-1")
        assert record.metadata[f"model_{side}"] == "gen-a"
        assert record.metadata[f"judge_rating_{side}"] == 4.6
        assert record.metadata["judge_disagreement"] == 1.0  # quality judge prefers rejected
        assert record.metadata["length_a"] == len(record.fields["response_a"])
    assert seen == {"a", "b"}


def test_a_tie_is_suggested_as_tie_and_missing_values_stay_out_of_metadata():
    rows = pd.DataFrame([pref_row(0, tie=True, judge_uncertainty=np.nan, deita_score=None)])
    record = plan_records(rows, "preference", RoutingWeights())[0]
    assert record.suggestions["preferred"] == ("tie", None, "judge-1")
    assert "judge_uncertainty" not in record.metadata
    assert "deita_score" not in record.metadata


def test_instruction_record_suggests_the_rounded_rating():
    rows = pd.DataFrame(
        [
            {"id": "i1", "instruction": "Say hi.", "response": "Hi!", "rating": 3.4},
            {"id": "i2", "instruction": "Say bye.", "response": "Bye!", "rating": None},
        ]
    )
    first, second = plan_records(rows, "instruction", RoutingWeights())
    assert first.suggestions == {"quality": (3, None, None)}
    assert first.metadata["response_length"] == 3
    assert second.suggestions == {}
    assert first.metadata["priority"] == 0.5  # no routing signal at all


# --- routing ---------------------------------------------------------------------------


def test_priority_is_a_weighted_mean_of_the_known_signals():
    frame = pd.DataFrame(
        {
            "judge_uncertainty": [0.9, 0.1, np.nan, np.nan],
            "judge_disagreement": [1.0, 0.0, np.nan, 0.5],
            "small_margin": [1.0, 0.0, np.nan, np.nan],
            "measured_disagreement": [np.nan, np.nan, np.nan, np.nan],
        }
    )
    weights = RoutingWeights(judge_uncertainty=2, judge_disagreement=1, small_margin=1)
    result = routing.priority(frame, weights).tolist()
    assert result[0] == pytest.approx((2 * 0.9 + 1 + 1) / 4)
    assert result[1] == pytest.approx(0.05)
    assert result[2] == 0.5  # nothing known
    assert result[3] == 0.5  # only the disagreement signal, which is 0.5


def test_uncertain_close_pairs_come_first():
    rows = pd.DataFrame(
        [
            pref_row(0, judge_uncertainty=0.05, margin=3.0, qualities=[5.0, 2.0]),
            pref_row(1, judge_uncertainty=0.6, margin=0.2, qualities=[3.0, 4.0]),
        ]
    )
    priorities = [
        r.metadata["priority"] for r in plan_records(rows, "preference", RoutingWeights())
    ]
    assert priorities[1] > priorities[0]


def test_score_bands_split_by_quantile_and_keep_unscored_apart():
    bands = routing.score_bands(pd.Series([1.0, 2.0, 3.0, 4.0, None, 5.0, 6.0, 7.0, 8.0]), 4)
    assert bands.tolist() == ["1/4", "1/4", "2/4", "2/4", "none", "3/4", "3/4", "4/4", "4/4"]


def decided_frame(n_decided_agree: int, n_decided_disagree: int, n_pending: int) -> pd.DataFrame:
    rows = []
    for i in range(n_decided_agree + n_decided_disagree + n_pending):
        decided = i < n_decided_agree + n_decided_disagree
        rows.append(
            {
                "record_id": f"r{i}",
                "deita_score": 5.0,
                "source": "magpie",
                "judge_uncertainty": 0.05,
                "margin": 2.0,
                "human_decided": decided,
                "human_outcome": ("a" if i < n_decided_agree else "b") if decided else None,
                "ai_outcome": "a",
                "ai_confidence": 0.95,
            }
        )
    return pd.DataFrame(rows).set_index("record_id", drop=False)


def test_auto_approval_only_where_people_agreed_often_enough():
    policy = AutoApprovalConfig(enabled=True, min_confidence=0.9, min_agreement=0.8, min_decided=5)
    good = routing.plan(decided_frame(9, 1, 3), "preference", RoutingWeights(), policy, bands=1)
    assert good.auto.tolist() == [False] * 10 + [True] * 3  # only undecided records
    assert (good.priority[good.auto] == 0).all()
    assert good.agreement["score_band"]["1/1"] == {
        "agreement": 0.9,
        "decided": 10,
        "estimate": "all",  # no blind slice in these records
    }

    poor = routing.plan(decided_frame(6, 4, 3), "preference", RoutingWeights(), policy, bands=1)
    assert not poor.auto.any()
    few = routing.plan(decided_frame(4, 0, 3), "preference", RoutingWeights(), policy, bands=1)
    assert not few.auto.any()
    off = routing.plan(
        decided_frame(9, 1, 3), "preference", RoutingWeights(), AutoApprovalConfig(), bands=1
    )
    assert not off.auto.any()


def test_measured_disagreement_raises_priority():
    calm = routing.plan(
        decided_frame(10, 0, 2), "preference", RoutingWeights(), AutoApprovalConfig(), bands=1
    )
    stormy = routing.plan(
        decided_frame(2, 8, 2), "preference", RoutingWeights(), AutoApprovalConfig(), bands=1
    )
    assert stormy.priority.iloc[-1] > calm.priority.iloc[-1]


# --- decisions on a pulled dataset (built in memory) ------------------------------------


def pulled_preference(responses: dict[str, list[tuple[str, str, str]]], auto=()) -> Pulled:
    """Records r0.. with AI choice on side `a`; responses: record -> (user, preferred, status)."""
    records = []
    for i, (record_id, answers) in enumerate(responses.items()):
        metadata = {"ai_chosen_side": "a", "judge_rating_a": 4.0, "judge_rating_b": 2.0}
        metadata.update({"model_a": "gen-a", "model_b": "gen-b", "judge_uncertainty": 0.1})
        if record_id in auto:
            metadata["approved_by"] = "auto"
        records.append(
            {
                "record_id": record_id,
                "argilla_id": f"uuid-{i}",
                "status": "pending",
                "updated_at": "2025-01-01T00:00:00",
                "fields": json.dumps(
                    {"instruction": "Q", "response_a": f"A{i}", "response_b": f"B{i}"}
                ),
                "metadata": json.dumps(metadata),
                "suggestions": json.dumps(
                    {"preferred": {"value": "a", "score": 0.9, "agent": "j"}}
                ),
                "responses": json.dumps(
                    [
                        {
                            "user_id": user,
                            "status": status,
                            "values": {"preferred": {"value": value}},
                            "updated_at": "2025-01-02T00:00:00",
                        }
                        for user, value, status in answers
                    ]
                ),
            }
        )
    frame = pd.DataFrame(records)
    types = {"preferred": "label_selection", "rating_a": "rating", "rating_b": "rating"}
    return Pulled(
        dataset="d",
        workspace="w",
        dataset_id="id",
        api_url="http://x",
        template="preference",
        min_submitted=2,
        question_types=types,
        question_values={},
        records=frame,
        responses=tidy_responses("d", frame, types, {}),
        fetched=len(frame),
        full=True,
    )


def test_people_override_the_ai_and_auto_approval_yields_to_them():
    pulled = pulled_preference(
        {
            "agree": [("u1", "a", "submitted"), ("u2", "a", "submitted")],
            "override": [("u1", "b", "submitted"), ("u2", "b", "submitted")],
            "auto": [],
            "auto-but-decided": [("u1", "b", "submitted"), ("u2", "tie", "submitted")],
        },
        auto=("auto", "auto-but-decided"),
    )
    table = decisions(pulled).set_index("record_id")
    assert table.loc["agree", ["decision", "approved_by", "ai_agrees"]].tolist() == [
        "approved",
        "humans",
        True,
    ]
    assert table.loc["override", ["decision", "preferred", "ai_agrees"]].tolist() == [
        "approved",
        "b",
        False,
    ]
    assert table.loc["auto", ["decision", "approved_by"]].tolist() == ["approved", "auto"]
    assert table.loc["auto-but-decided", "decision"] == "tie"
    assert table.loc["auto-but-decided", "approved_by"] is None
