"""How far to trust the judge: agreement with people, with 95% intervals, next to the
length rule (the longer answer wins), plus the bias report.

- accuracy: over the labelled pairs, a judge's tie counting as a miss (unless people tied
  too); `decided_accuracy`: over pairs both the judge and people decided;
- per-signal agreement: each signal (and panel member) alone, as a judge of its own;
- bias: how often the judge prefers the longer answer against how often people do,
  position consistency (both orders agree), and a warning when the judge model is also a
  generator (a judge favours its own writing).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from curation.judge.verdict import verdict

SIGNAL_JUDGES = {  # signal column -> how it decides alone (positive: a)
    "relevance": "relevance_gap",
    "pairwise": "pairwise_p_a",
    "rating": "rating_gap",
}
ECE_BINS = 10


def interval(hits: int, n: int) -> list[float] | None:
    """Wilson 95% interval of a proportion (None for n = 0)."""
    if n == 0:
        return None
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(hits, n, alpha=0.05, method="wilson")
    return [round(float(low), 4), round(float(high), 4)]


def agreement(predicted: Sequence[str], human: Sequence[str | None]) -> dict[str, Any]:
    """Accuracy (ties as misses) and decided-pair accuracy of verdicts against labels."""
    labelled = [(p, h) for p, h in zip(predicted, human, strict=True) if h is not None]
    hits = sum(p == h for p, h in labelled)
    decided = [(p, h) for p, h in labelled if p != "tie" and h != "tie"]
    decided_hits = sum(p == h for p, h in decided)
    n = len(labelled)
    return {
        "n": n,
        "accuracy": round(hits / n, 4) if n else None,
        "ci95": interval(hits, n),
        "decided_accuracy": round(decided_hits / len(decided), 4) if decided else None,
        "n_decided": len(decided),
        "tie_rate": round(sum(p == "tie" for p, _ in labelled) / n, 4) if n else None,
    }


def signal_verdicts(rows: Sequence[dict[str, Any]], column: str) -> list[str]:
    """The verdict each pair gets from one signal alone."""
    if column.endswith("p_a"):
        return [verdict(row.get(column), 0.0) for row in rows]
    return [_sign(row.get(column)) for row in rows]


def _sign(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "tie"
    return "a" if value > 0 else "b" if value < 0 else "tie"


def length_bias(predicted: Sequence[str], rows: Sequence[dict[str, Any]], human) -> dict:
    """Share of decided pairs where the judge / people prefer the longer answer."""

    def share(verdicts: Sequence[str | None]) -> tuple[float | None, int]:
        picks = [
            v == _sign(row["log_length_ratio"])
            for v, row in zip(verdicts, rows, strict=True)
            if v in ("a", "b") and _sign(row["log_length_ratio"]) != "tie"
        ]
        return (round(sum(picks) / len(picks), 4) if picks else None), len(picks)

    judge, n_judge = share(predicted)
    people, n_people = share(human)
    return {"judge_prefers_longer": judge, "n_judge": n_judge,
            "people_prefer_longer": people, "n_people": n_people}  # fmt: skip


def position_consistency(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    known = [
        row["position_consistent"] for row in rows if row.get("position_consistent") is not None
    ]
    hits = sum(bool(k) for k in known)
    return {
        "position_consistency": round(hits / len(known), 4) if known else None,
        "n": len(known),
        "ci95": interval(hits, len(known)),
    }


def same_model_warning(judge_model: str, generator_models: Sequence[str]) -> str | None:
    same = sorted({m for m in generator_models if m and m == judge_model})
    if not same:
        return None
    return (
        f"the judge ({judge_model}) is also a generator: a judge tends to prefer its own "
        "model's answers, so its agreement with people may be overstated"
    )


def eval_report(
    rows: Sequence[dict[str, Any]],
    predicted: Sequence[str],
    human: Sequence[str | None],
    *,
    judge_model: str,
    generator_models: Sequence[str],
    calibrated: bool,
) -> dict[str, Any]:
    """The figures `curate judge eval` prints and saves."""
    signals = {
        name: agreement(signal_verdicts(rows, column), human)
        for name, column in SIGNAL_JUDGES.items()
        if any(row.get(column) is not None for row in rows)
    }
    panel = sorted({key for row in rows for key in row if key.startswith("panel_")})
    for key in panel:
        signals[key.removesuffix("_p_a")] = agreement(signal_verdicts(rows, key), human)
    return {
        "judge_model": judge_model,
        "calibrated": calibrated,
        "n_pairs": len(rows),
        "n_labelled": sum(h is not None for h in human),
        "judge": agreement(predicted, human),
        "length_rule": agreement(signal_verdicts(rows, "log_length_ratio"), human),
        "signals": signals,
        "tie_rate": round(sum(p == "tie" for p in predicted) / len(predicted), 4)
        if predicted
        else None,
        "bias": {
            "length": length_bias(predicted, rows, human),
            "position": position_consistency(rows),
            "same_model_warning": same_model_warning(judge_model, generator_models),
        },
    }


def expected_calibration_error(p: Sequence[float], y: Sequence[int]) -> float | None:
    """Mean |confidence - accuracy| over equal-width confidence bins, weighted by size."""
    if not p:
        return None
    total = 0.0
    bins: dict[int, list[tuple[float, int]]] = {}
    for prob, label in zip(p, y, strict=True):
        confidence = max(prob, 1 - prob)
        correct = int((prob > 0.5) == bool(label)) if prob != 0.5 else 0
        index = min(int((confidence - 0.5) * 2 * ECE_BINS), ECE_BINS - 1)
        bins.setdefault(index, []).append((confidence, correct))
    for items in bins.values():
        confidence = sum(c for c, _ in items) / len(items)
        accuracy = sum(k for _, k in items) / len(items)
        total += len(items) * abs(confidence - accuracy)
    return round(total / len(p), 4)


def calibration_report(
    *,
    human: Sequence[str],
    raw: Sequence[float],
    calibrated: Sequence[float],
    log_length_ratio: Sequence[float],
    tie_band: float,
) -> dict[str, Any]:
    """Held-out figures of a calibration on the pairs people decided: before and after."""
    y = [1 if h == "a" else 0 for h in human]
    return {
        "before": {
            **agreement([verdict(p, tie_band) for p in raw], human),
            "calibration_error": expected_calibration_error(list(raw), y),
        },
        "after": {
            **agreement([verdict(p, tie_band) for p in calibrated], human),
            "calibration_error": expected_calibration_error(list(calibrated), y),
        },
        "length_rule": agreement([_sign(v) for v in log_length_ratio], human),
    }
