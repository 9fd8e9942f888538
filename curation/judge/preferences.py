"""The pair judge in `curate generate`: decides chosen/rejected, tie and uncertainty.

The candidates' UltraFeedback ratings pick the best and the worst candidate as before;
then the judge (its signals, combined by the calibration in `generation.judge.calibration`
or by the fixed rule) says which of the two is better and how sure it is:
- `chosen`/`rejected` (and their ratings, indexes, quality and Deita score) follow its verdict;
- `judge_uncertainty` = 1 - max(p, 1 - p), what routing, auto-approval and the
  suggestion scores read;
- `tie` only where p is within `tie_band` of 1/2 (or both texts are the same);
- `judge_p_chosen` (the verdict's p), `judge_p_chosen_raw` (the fixed rule's) and
  `judge_signals` (JSON) record why.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from curation.judge.calibration import Calibration
from curation.judge.signals import compute
from curation.judge.verdict import rule_p, verdict

if TYPE_CHECKING:
    from curation.config import JudgeConfig

SWAPPED = (("chosen", "rejected"), ("chosen_rating", "rejected_rating"),
           ("chosen_index", "rejected_index"))  # fmt: skip


def decide(rows: list[dict[str, Any]], cfg: JudgeConfig, llm: Any, panel: list[Any]) -> None:
    """Judge each row's best/worst pair in place (rows without a pair are left alone)."""
    calibration = Calibration.load(cfg.calibration) if cfg.calibration else None
    if calibration is not None:
        cfg = cfg.model_copy(
            update={"signals": calibration.signals, "embedding_model": calibration.embedding_model}
        )
    judged = [row for row in rows if row["chosen"] is not None and row["rejected"] is not None]
    pairs = [(row["instruction"], row["chosen"], row["rejected"]) for row in judged]
    found = compute(
        pairs,
        cfg,
        llm,
        panel=panel,
        ratings=lambda _: [(row["chosen_rating"], row["rejected_rating"]) for row in judged],
    )
    for row, signals in zip(judged, found, strict=True):
        raw = rule_p(signals, cfg)
        p = calibration.p(signals) if calibration else raw
        if p < 0.5:
            _swap(row)
            p, raw = 1 - p, 1 - raw
        row.update(
            tie=verdict(p, cfg.tie_band, same_text=row["chosen"] == row["rejected"]) == "tie",
            judge_uncertainty=1 - p,
            judge_p_chosen=p,
            judge_p_chosen_raw=raw,
            judge_signals=json.dumps(signals, sort_keys=True),
        )


def _swap(row: dict[str, Any]) -> None:
    for first, second in SWAPPED:
        row[first], row[second] = row[second], row[first]
    if row["chosen_rating"] is not None and row["rejected_rating"] is not None:
        row["margin"] = row["chosen_rating"] - row["rejected_rating"]
    qualities = row.get("qualities") or []
    index = row["chosen_index"]
    row["quality"] = qualities[index] if index is not None and index < len(qualities) else None
    complexity = row.get("complexity")
    row["deita_score"] = (
        complexity * row["quality"] if None not in (complexity, row["quality"]) else None
    )
