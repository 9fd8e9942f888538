"""Review routing: which records people should review first, and the auto-approval policy.

A record's `priority` (metadata, 0..1, higher first) is a weighted mean of signals that say
a human review is informative there, each 0..1:

- `judge_uncertainty`: the judge's own doubt (for a pair, P(rejected rated >= chosen));
- `judge_disagreement`: the Deita quality judge ranks the pair the other way round from
  the UltraFeedback ratings (0.5 when it rates both the same);
- `small_margin`: the ratings of chosen and rejected are close (`1 - margin / 2`, floored at 0);
- `measured_disagreement` (`curate route` only): how often people overruled the AI so far
  in the record's source and in its Deita score band.

A signal a record does not have (no distributions, no second judge, nothing measured yet)
is left out of its mean rather than guessed; a record with no signal at all gets 0.5.

`curate route` recomputes priorities from what was reviewed so far and, when the curator
turned it on (`review.auto_approval`), marks records `approved_by: auto` (see `plan`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from curation.config import AutoApprovalConfig, RoutingWeights

if TYPE_CHECKING:
    from curation.review.templates import Template

SIGNALS = ("judge_uncertainty", "judge_disagreement", "small_margin", "measured_disagreement")
# A margin of 2 rating points or more is not small.
MARGIN_SCALE = 2.0
# A source or score band needs this many records decided by people before its measured
# agreement is used for routing (auto-approval has its own, stricter `min_decided`).
MIN_MEASURED = 3
NO_BAND = "none"
AUTO = "auto"


def _column(rows: pd.DataFrame, name: str) -> pd.Series:
    if name not in rows.columns:
        return pd.Series(np.nan, index=rows.index, dtype=float)
    return pd.to_numeric(rows[name], errors="coerce").astype(float)


def judge_disagreement(rows: pd.DataFrame) -> pd.Series:
    """1 where the quality judge prefers the rejected response, 0.5 on equal, 0 agreeing."""
    needed = {"qualities", "chosen_index", "rejected_index"}
    if not needed <= set(rows.columns):
        return pd.Series(np.nan, index=rows.index, dtype=float)

    def one(qualities: Any, chosen: Any, rejected: Any) -> float:
        try:
            q_chosen, q_rejected = qualities[int(chosen)], qualities[int(rejected)]
        except (TypeError, ValueError, IndexError):
            return np.nan
        if q_chosen is None or q_rejected is None or pd.isna(q_chosen) or pd.isna(q_rejected):
            return np.nan
        return 1.0 if q_chosen < q_rejected else 0.5 if q_chosen == q_rejected else 0.0

    values = [
        one(q, c, r)
        for q, c, r in zip(
            rows["qualities"], rows["chosen_index"], rows["rejected_index"], strict=True
        )
    ]
    return pd.Series(values, index=rows.index, dtype=float)


def signals(rows: pd.DataFrame, template: Template) -> pd.DataFrame:
    """The push-time signals of each row (NaN where a row does not have one)."""
    frame = pd.DataFrame(index=rows.index)
    frame["judge_uncertainty"] = _column(rows, "judge_uncertainty").clip(0, 1)
    if template == "preference":
        # Push computes it from the judges' columns; route reads it back from metadata.
        frame["judge_disagreement"] = (
            _column(rows, "judge_disagreement")
            if "judge_disagreement" in rows.columns
            else judge_disagreement(rows)
        )
        frame["small_margin"] = (1 - _column(rows, "margin").abs() / MARGIN_SCALE).clip(0, 1)
    else:
        frame["judge_disagreement"] = np.nan
        frame["small_margin"] = np.nan
    frame["measured_disagreement"] = np.nan
    return frame


def priority(signal_frame: pd.DataFrame, weights: RoutingWeights) -> pd.Series:
    """Weighted mean of the known signals per row, rounded; 0.5 where none is known."""
    values = signal_frame[list(SIGNALS)].to_numpy(dtype=float)
    w = np.array([getattr(weights, name) for name in SIGNALS], dtype=float)
    known = ~np.isnan(values)
    total = (np.where(known, values, 0.0) * w).sum(axis=1)
    weight = (known * w).sum(axis=1)
    result = np.where(weight > 0, total / np.where(weight > 0, weight, 1.0), 0.5)
    return pd.Series(np.round(result, 4), index=signal_frame.index)


# --- curate route ----------------------------------------------------------------------


def score_bands(scores: pd.Series, bands: int) -> pd.Series:
    """Deita-score quantile band of each record: `1/4` (lowest) .. `4/4`; `none` if unscored."""
    numeric = pd.to_numeric(scores, errors="coerce")
    result = pd.Series(NO_BAND, index=scores.index, dtype=object)
    scored = numeric.dropna()
    if scored.empty:
        return result
    codes = pd.qcut(scored.rank(method="first"), q=min(bands, len(scored)), labels=False)
    count = int(codes.max()) + 1
    result.loc[scored.index] = [f"{int(code) + 1}/{count}" for code in codes]
    return result


def ai_agreed(decided: pd.DataFrame) -> pd.Series:
    """Per record decided by people: did their outcome match the AI's?

    `decided` has `human_outcome` and `ai_outcome` (preference: `a`/`b`/`tie`;
    instruction: `keep`/`drop`, with `tie` or `needs_fix` for an undecided human outcome).
    """
    return decided["human_outcome"] == decided["ai_outcome"]


def measured_agreement(
    decided: pd.DataFrame, by: str, min_blind: int = MIN_MEASURED
) -> pd.DataFrame:
    """Share of people's decisions that matched the AI's, per value of `by`, with counts.

    Where the blind control slice (`review.blind`, no suggestion shown) has at least
    `min_blind` decided records of a group, the figure comes from them alone: agreement
    measured on suggested records is inflated by anchoring. `estimate` says which.
    """
    if decided.empty:
        return pd.DataFrame(columns=["agreement", "decided", "estimate"])

    def table(rows: pd.DataFrame) -> pd.DataFrame:
        grouped = rows.assign(agreed=ai_agreed(rows)).groupby(by)["agreed"]
        return pd.DataFrame({"agreement": grouped.mean(), "decided": grouped.size()})

    result = table(decided).assign(estimate="all")
    if "blind" in decided and decided["blind"].any():
        blind = table(decided[decided["blind"].astype(bool)])
        usable = blind[blind["decided"] >= min_blind]
        result.loc[usable.index, ["agreement", "decided"]] = usable
        result.loc[usable.index, "estimate"] = "blind"
    return result


@dataclass
class RoutePlan:
    """What `curate route` will write: new metadata per record, and why."""

    priority: pd.Series
    score_band: pd.Series
    auto: pd.Series  # bool: approved without review
    agreement: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)


def plan(
    records: pd.DataFrame,
    template: Template,
    weights: RoutingWeights,
    policy: AutoApprovalConfig,
    bands: int,
) -> RoutePlan:
    """Priorities, score bands and auto-approvals from the records reviewed so far.

    `records`: one row per record (`review.records.record_frame` plus decisions) with the
    push-time metadata (`judge_uncertainty`, `margin`, ...), `source`, `deita_score`,
    `decision`, `human_decided` (bool), `human_outcome`, `ai_outcome` and `ai_confidence`.

    Auto-approval applies to records people have not decided, whose AI outcome is to keep
    (a preference the AI did not call a tie, a response it would keep), with judge
    confidence >= `min_confidence`, in a score band where people agreed with the AI on at
    least `min_agreement` of at least `min_decided` decided records.
    """
    band = score_bands(records.get("deita_score", pd.Series(index=records.index)), bands)
    frame = records.assign(score_band=band)
    decided = frame[frame["human_decided"]]
    by_source = measured_agreement(decided, "source") if "source" in frame else None
    by_band = measured_agreement(decided, "score_band")
    parts = [_disagreement(by_band, band)]
    if by_source is not None:
        parts.append(_disagreement(by_source, frame["source"]))
    signal_frame = signals(frame, template)
    signal_frame["measured_disagreement"] = pd.concat(parts, axis=1).mean(axis=1, skipna=True)
    new_priority = priority(signal_frame, weights)
    auto = pd.Series(False, index=frame.index)
    if policy.enabled and not by_band.empty:
        auto = _auto_approved(frame, decided, policy)
    return RoutePlan(
        priority=new_priority.where(~auto, 0.0),
        score_band=band,
        auto=auto,
        agreement={
            "score_band": _as_dict(by_band),
            "source": _as_dict(by_source) if by_source is not None else {},
        },
    )


def _disagreement(table: pd.DataFrame | None, keys: pd.Series) -> pd.Series:
    """Per record, 1 - the agreement measured in its group (NaN where too few decided)."""
    if table is None or table.empty:
        return pd.Series(np.nan, index=keys.index)
    usable = table[table["decided"] >= MIN_MEASURED]
    return 1 - keys.map(usable["agreement"]).astype(float)


def _auto_approved(
    frame: pd.DataFrame, decided: pd.DataFrame, policy: AutoApprovalConfig
) -> pd.Series:
    """The undecided records the AI would keep, confidently, in a band people trust."""
    measured = measured_agreement(decided, "score_band", policy.min_decided)
    trusted = measured[
        (measured["decided"] >= policy.min_decided)
        & (measured["agreement"] >= policy.min_agreement)
    ].index
    band = frame["score_band"]
    return (
        ~frame["human_decided"]
        & frame["ai_outcome"].isin(["a", "b", "keep"])
        & (pd.to_numeric(frame["ai_confidence"], errors="coerce") >= policy.min_confidence)
        & band.isin(trusted)
        & (band != NO_BAND)
    )


def _as_dict(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    return {
        str(key): {
            "agreement": round(float(row.agreement), 4),
            "decided": int(row.decided),
            "estimate": row.estimate,
        }
        for key, row in table.iterrows()
    }
