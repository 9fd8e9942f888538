"""The blind slice, gold files, competence-weighted aggregation and reviewer speed, without
a server: the parts a user would notice in `curate push`, `curate agreement` and the
Review page, on planted data whose right answers are known.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from curation.agreement import compute_agreement
from curation.config import RoutingWeights
from curation.errors import CurationError
from curation.review import blind, quality
from curation.review.gold import plan_gold, read_gold
from curation.review.push import chosen_side, plan_records
from tests.util import one_line_error, planted_reviews, preference_rows

# --- blind slice -------------------------------------------------------------------------


def test_the_blind_slice_is_drawn_from_the_id_stably_and_grows_with_the_fraction():
    ids = [f"record-{i}" for i in range(20_000)]
    tenth = {i for i in ids if blind.is_blind(i, 0.1)}
    assert 0.09 < len(tenth) / len(ids) < 0.11
    assert tenth == {i for i in ids if blind.is_blind(i, 0.1)}  # same on every push
    assert tenth < {i for i in ids if blind.is_blind(i, 0.3)}  # a larger slice keeps it
    assert not any(blind.is_blind(i, 0.0) for i in ids)
    assert all(blind.is_blind(i, 1.0) for i in ids)
    # independent of the a/b order, which hashes the same id
    sides = pd.Series([chosen_side(i) for i in tenth]).value_counts(normalize=True)
    assert 0.45 < sides["a"] < 0.55


def test_blind_records_lose_their_suggestions_to_hidden_metadata_and_pull_restores_them():
    planned = plan_records(preference_rows(200), "preference", RoutingWeights())
    blind.withhold(planned, 0.25)
    hidden = [r for r in planned if r.metadata["blind"] == "yes"]
    shown = [r for r in planned if r.metadata["blind"] == "no"]
    assert 30 < len(hidden) < 70 and len(hidden) + len(shown) == 200
    for record in hidden:
        assert record.suggestions == {}
        assert record.metadata["withheld_preferred"] == chosen_side(record.id)
        assert record.metadata["withheld_rating_a"] in (2, 5)
        restored = blind.with_withheld({}, record.metadata)
        assert restored["preferred"]["value"] == chosen_side(record.id)
        assert restored["preferred"]["withheld"] is True
        assert restored["preferred"]["agent"] == "judge-1"
    for record in shown:
        assert set(record.suggestions) == {"preferred", "rating_a", "rating_b"}
        assert not any(key.startswith("withheld_") for key in record.metadata)


def test_blind_instruction_records_keep_the_withheld_rating():
    rows = pd.DataFrame(
        {
            "id": [f"i-{n}" for n in range(60)],
            "instruction": ["Say hi."] * 60,
            "response": ["Hi."] * 60,
            "rating": [4.4] * 60,
            "judge_model": ["judge-1"] * 60,
        }
    )
    planned = plan_records(rows, "instruction", RoutingWeights())
    blind.withhold(planned, 0.5)
    hidden = [r for r in planned if blind.is_marked(r.metadata)]
    assert 10 < len(hidden) < 50
    for record in planned:
        if record in hidden:
            assert record.suggestions == {} and record.metadata["withheld_quality"] == 4
        else:
            assert record.suggestions["quality"][0] == 4


def test_a_blind_fraction_outside_0_1_is_a_one_line_error():
    for value in ("1.5", "-0.1"):
        env = {**os.environ, "CURATION_REVIEW__BLIND_FRACTION": value}
        result = subprocess.run(
            [sys.executable, "-m", "curation", "config", "show"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        line = one_line_error(result)
        assert "review.blind_fraction" in line


# --- agreement three ways -----------------------------------------------------------------


def anchored_table(n_records: int = 120, seed: int = 3) -> tuple[pd.DataFrame, set[str]]:
    """Two reviewers who keep the AI's suggestion 90% of the time when they see it, and
    agree with the AI 55% of the time when they do not (the blind slice)."""
    rng = np.random.default_rng(seed)
    rows, blind_ids = [], set()
    for i in range(n_records):
        record = f"r{i}"
        ai = rng.choice(["a", "b"])
        is_blind = i % 3 == 0
        if is_blind:
            blind_ids.add(record)
        for who in ("ann", "bob"):
            keep = rng.random() < (0.55 if is_blind else 0.9)
            value = ai if keep else ("b" if ai == "a" else "a")
            rows.append(
                {
                    "record_id": record,
                    "annotator": who,
                    "question": "preferred",
                    "question_type": "label_selection",
                    "value": value,
                    "status": "submitted",
                    "suggestion": ai,
                    "blind": is_blind,
                }
            )
    return pd.DataFrame(rows), blind_ids


def test_agreement_is_split_into_blind_and_suggested_with_the_anchoring_effect():
    table, blind_ids = anchored_table()
    result = compute_agreement(
        table, "d", question_values={"preferred": ["a", "b", "tie"]}
    ).to_json()
    q = result["questions"]["preferred"]
    everything, hidden, shown = q["ai_human"], q["ai_human_blind"], q["ai_human_suggested"]
    assert set(hidden) == set(everything) == set(shown)
    assert hidden["n_pairs"] == 2 * len(blind_ids)
    assert hidden["n_pairs"] + shown["n_pairs"] == everything["n_pairs"]
    on_blind = table[table["blind"]]
    expected = (on_blind["value"] == on_blind["suggestion"]).mean()
    assert hidden["exact_agreement"] == pytest.approx(expected)
    effect = q["anchoring"]
    assert effect["effect"] == pytest.approx(shown["exact_agreement"] - hidden["exact_agreement"])
    low, high = effect["ci95"]
    assert 0 < low < effect["effect"] < high  # planted: +0.35, clearly above zero
    for figures in (hidden, shown):
        ci = figures["ci95"]["exact_agreement"]
        assert ci[0] <= figures["exact_agreement"] <= ci[1]
    again = compute_agreement(
        table, "d", question_values={"preferred": ["a", "b", "tie"]}
    ).to_json()
    assert again["questions"]["preferred"]["anchoring"] == effect  # fixed seed


def test_without_a_blind_slice_the_effect_is_null_not_made_up():
    table, _ = anchored_table()
    result = compute_agreement(table.assign(blind=False), "d").to_json()
    effect = result["questions"]["preferred"]["anchoring"]
    assert effect["effect"] is None and effect["ci95"] is None
    assert result["questions"]["preferred"]["ai_human_blind"]["n_pairs"] == 0
    plain = compute_agreement(table.drop(columns="blind"), "d").to_json()
    assert "anchoring" not in plain["questions"]["preferred"]


# --- competence-weighted aggregation -------------------------------------------------------


@pytest.mark.parametrize("method", ["dawid-skene", "mace"])
def test_weighted_aggregation_finds_the_careless_reviewer_and_beats_majority(method):
    answers, truth = planted_reviews([f"crowd-{i}" for i in range(40)], seed=3)
    labels, competence = quality.aggregate(answers, method)
    assert competence.idxmin() == "careless"
    assert competence["good"] > competence["careless"]
    votes = answers.groupby(["record_id", "value"]).size().unstack(fill_value=0)
    strict = votes.idxmax(axis=1).where(votes.max(axis=1) * 2 > votes.sum(axis=1))
    majority_right = (strict.reindex(truth.index) == truth).mean()
    weighted_right = (labels.reindex(truth.index) == truth).mean()
    assert weighted_right > majority_right


# --- speed ----------------------------------------------------------------------------------


def test_seconds_per_record_is_the_median_gap_so_a_break_does_not_count():
    start = pd.Timestamp("2026-01-01T10:00:00Z")
    offsets = {"quick": [0, 1, 2, 3, 3600, 3601], "steady": [0, 30, 60, 90, 120]}
    rows = [
        {
            "record_id": f"r{i}",
            "annotator": who,
            "status": "submitted",
            "question": q,
            "updated_at": start + pd.Timedelta(seconds=s),
        }
        for who, seconds in offsets.items()
        for i, s in enumerate(seconds)
        for q in ("preferred", "rating_a")  # one response answers several questions
    ]
    speed = quality.seconds_per_record(pd.DataFrame(rows))
    assert speed.loc["quick", "seconds_per_record"] == 1.0  # the hour-long break is one gap
    assert speed.loc["quick", "n_gaps"] == 5
    assert speed.loc["steady", "seconds_per_record"] == 30.0


# --- gold files -----------------------------------------------------------------------------


def gold_rows(n: int = 4) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"gold-{i}" for i in range(n)],
            "instruction": [f"Is {i} even?" for i in range(n)],
            "chosen": ["Yes." if i % 2 == 0 else "No." for i in range(n)],
            "rejected": ["No." if i % 2 == 0 else "Yes." for i in range(n)],
        }
    )


def test_a_gold_file_is_checked_before_anything_is_written(tmp_path: Path):
    real = pd.Series(["pair-0", "pair-1"])
    path = tmp_path / "gold.jsonl"
    gold_rows().to_json(path, orient="records", lines=True)
    assert list(read_gold(path, "preference", real)["id"]) == [f"gold-{i}" for i in range(4)]
    with pytest.raises(
        CurationError,
        match=r"missing column.*response, expected_verdict.*"
        r"for the instruction template \(it has the preference template",
    ):
        read_gold(path, "instruction", real)
    with pytest.raises(CurationError, match="row 1: id 'pair-1' is also a row to review"):
        clash = gold_rows().assign(id=["gold-0", "pair-1", "gold-2", "gold-3"])
        clash.to_parquet(tmp_path / "clash.parquet")
        read_gold(tmp_path / "clash.parquet", "preference", real)
    verdicts = pd.DataFrame(
        {
            "id": ["g0", "g1"],
            "instruction": ["x", "y"],
            "response": ["r", "s"],
            "expected_verdict": ["keep", "maybe"],
        }
    )
    verdicts.to_parquet(tmp_path / "verdicts.parquet")
    with pytest.raises(CurationError, match="row 1 \\(id 'g1'\\): expected_verdict 'maybe'"):
        read_gold(tmp_path / "verdicts.parquet", "instruction", real)
    with pytest.raises(CurationError, match="gold file not found"):
        read_gold(tmp_path / "nothing.parquet", "preference", real)


def test_gold_records_hide_their_answer_and_mix_into_the_queue():
    priorities = list(np.linspace(0.1, 0.9, 50))
    planned = plan_gold(
        gold_rows(40).assign(id=lambda f: f["id"]), "preference", RoutingWeights(), priorities
    )
    for record in planned:
        assert record.suggestions == {}
        assert record.metadata["gold"] == "yes" and record.metadata["blind"] == "no"
        assert record.metadata["gold_answer"] == chosen_side(record.id)
        assert 0.1 <= record.metadata["priority"] <= 0.9
    spread = pd.Series([r.metadata["priority"] for r in planned])
    assert spread.nunique() > 20 and spread.min() < 0.3 and spread.max() > 0.7


# --- routing ---------------------------------------------------------------------------------


def test_auto_approval_trusts_the_blind_slice_over_anchored_agreement():
    """People agree with the AI on every suggested record but on half the blind ones:
    the band is not trusted, and `curate route` says the figure came from the slice."""
    from curation.config import AutoApprovalConfig
    from curation.review import routing

    rows = []
    for i in range(22):
        decided, is_blind = i < 18, 12 <= i < 18
        agrees = not (is_blind and i % 2)
        rows.append(
            {
                "record_id": f"r{i}",
                "deita_score": 5.0,
                "source": "magpie",
                "judge_uncertainty": 0.05,
                "margin": 2.0,
                "human_decided": decided,
                "human_outcome": ("a" if agrees else "b") if decided else None,
                "ai_outcome": "a",
                "ai_confidence": 0.95,
                "blind": is_blind,
            }
        )
    frame = pd.DataFrame(rows).set_index("record_id", drop=False)
    policy = AutoApprovalConfig(enabled=True, min_confidence=0.9, min_agreement=0.8, min_decided=5)
    routed = routing.plan(frame, "preference", RoutingWeights(), policy, bands=1)
    assert routed.agreement["score_band"]["1/1"] == {
        "agreement": 0.5,
        "decided": 6,
        "estimate": "blind",
    }
    assert not routed.auto.any()
    without = routing.plan(frame.assign(blind=False), "preference", RoutingWeights(), policy, 1)
    assert without.auto.sum() == 4  # anchored agreement (15 of 18) would have trusted it


def test_simulated_reviewers_are_anchored_only_where_the_suggestion_shows():
    """The demo's scripted reviewers copy a shown suggestion more often than they match a
    withheld one, so the demo's Agreement page has an anchoring effect to measure."""
    import json
    from types import SimpleNamespace

    from curation.review.simulate import Behaviour, _answers

    def agreement(withheld: bool) -> float:
        shown = {"value": "a", "score": 0.9, "agent": "judge"}
        if withheld:
            shown["withheld"] = True
        record = SimpleNamespace(suggestions=json.dumps({"preferred": shown}))
        picks = [
            _answers(np.random.default_rng(i), "preference", record, Behaviour(), False)
            for i in range(600)
        ]
        return float(np.mean([p["preferred"]["value"] == "a" for p in picks]))

    suggested, blind_ = agreement(False), agreement(True)
    assert abs(suggested - Behaviour().agree) < 0.06
    assert abs(blind_ - Behaviour().agree_blind) < 0.06
    assert suggested - blind_ > 0.08
