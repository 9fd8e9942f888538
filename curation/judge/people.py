"""The judge against your reviewers, per record of a reviewed preference dataset: the
verdict as suggested (calibrated where a calibration was set), the fixed rule's (raw), and
the length rule, each with its 95% interval. The dashboard's Agreement page shows it.

People's outcome per record is the strict majority of their submitted `preferred` answers
(`tie` without one); records nobody answered are left out.
"""

from __future__ import annotations

import math

import pandas as pd

from curation.judge.report import agreement
from curation.judge.verdict import verdict

QUESTION = "preferred"


def people_outcomes(feedback: pd.DataFrame, dataset: str) -> pd.Series:
    """record_id -> the people's majority `a`/`b`, or `tie`."""
    rows = feedback[
        (feedback["dataset"] == dataset)
        & (feedback["question"] == QUESTION)
        & (feedback["status"] == "submitted")
    ]

    def majority(values: pd.Series) -> str:
        counts = values.value_counts()
        top = counts.index[0]
        return str(top) if counts.iloc[0] * 2 > len(values) else "tie"

    return rows.groupby("record_id")["value"].agg(majority)


def judge_vs_people(
    feedback: pd.DataFrame, preferences: pd.DataFrame, dataset: str, tie_band: float
) -> pd.DataFrame:
    """One row per judge: accuracy (ties as misses), its 95% interval, decided accuracy, n."""
    from curation.review.push import chosen_side

    people = people_outcomes(feedback, dataset)
    if people.empty:
        return pd.DataFrame()
    rows = feedback[(feedback["dataset"] == dataset) & (feedback["question"] == QUESTION)]
    suggested = rows.groupby("record_id")["suggestion"].first()
    pairs = preferences.set_index("id").reindex(people.index)
    sides = [chosen_side(str(record)) for record in people.index]
    missing = pd.Series(None, index=pairs.index, dtype=object)
    raw_p = pairs.get("judge_p_chosen_raw", missing)
    calibrated = (
        "judge_p_chosen" in pairs
        and (pairs["judge_p_chosen"] - raw_p).abs().fillna(0).gt(1e-9).any()
    )
    judges = {
        f"AI judge as suggested ({'calibrated' if calibrated else 'fixed rule'})": [
            value if isinstance(value, str) else None for value in suggested.reindex(people.index)
        ],
        "fixed rule, uncalibrated (raw)": [
            None if _missing(p) else _on_side(verdict(float(p), tie_band), side)
            for p, side in zip(raw_p, sides, strict=True)
        ],
        "length rule (longer wins)": [
            _longer(chosen, rejected, side)
            for chosen, rejected, side in zip(
                pairs.get("chosen", missing), pairs.get("rejected", missing), sides, strict=True
            )
        ],
    }
    human = list(people)
    table = []
    for name, verdicts in judges.items():
        if all(v is None for v in verdicts):
            continue
        result = agreement([v or "tie" for v in verdicts], human)
        low, high = result["ci95"] or (None, None)
        table.append({"judge": name, "agrees with people": result["accuracy"], "low": low,
                      "high": high, "on decided pairs": result["decided_accuracy"],
                      "AI ties": result["tie_rate"], "records": result["n"]})  # fmt: skip
    return pd.DataFrame(table)


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _on_side(chosen_verdict: str, side: str) -> str:
    """A verdict about (chosen, rejected) as `a`/`b` of the record's order."""
    if chosen_verdict == "tie":
        return "tie"
    other = "b" if side == "a" else "a"
    return side if chosen_verdict == "a" else other


def _longer(chosen: object, rejected: object, side: str) -> str | None:
    if not isinstance(chosen, str) or not isinstance(rejected, str):
        return None
    if len(chosen) == len(rejected):
        return "tie"
    return _on_side("a" if len(chosen) > len(rejected) else "b", side)
