"""Every signal of a pair in one row: what the verdict is built from, and what gets reported.

Columns (None where a signal is off or the backend gave nothing):
- `length_a`, `length_b` (characters) and `log_length_ratio` = log((len_a + 1) / (len_b + 1)):
  always measured, so a judge's length bias is visible, and used only where configured;
- `repetition_a`, `repetition_b`, `repetition_gap` (b's minus a's share of repeated word
  trigrams): always measured, used only by a calibration (looping answers are long but
  people dislike them);
- `relevance_a`, `relevance_b`, `relevance_gap` (signal `relevance`);
- `pairwise_p_ab`, `pairwise_p_ba`, `pairwise_p_a`, `position_consistent` (signal `pairwise`);
- `rating_a`, `rating_b`, `rating_gap`: UltraFeedback expected ratings (signal `rating`);
- `panel_<i>_p_a`: each extra pairwise judge of the panel.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from curation.judge.pairwise import judge_pairs
from curation.judge.relevance import relevance
from curation.llm.server import baseline

if TYPE_CHECKING:
    from distilabel.models.llms.base import LLM

    from curation.config import JudgeConfig

Pair = tuple[str, str, str]  # instruction, response a, response b
# Pairs per LLM batch: small enough for a moving progress bar, large enough to keep the
# server busy.
BATCH = 8


def repetition(text: str) -> float:
    """Share of repeated word trigrams: 0 for varied text, near 1 for a looping answer."""
    words = text.lower().split()
    grams = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


def length_signals(a: str, b: str) -> dict[str, Any]:
    """The text's own features, measured for every pair: length and repetition."""
    rep_a, rep_b = repetition(a), repetition(b)
    return {
        "length_a": len(a),
        "length_b": len(b),
        "log_length_ratio": math.log((len(a) + 1) / (len(b) + 1)),
        "repetition_a": rep_a,
        "repetition_b": rep_b,
        "repetition_gap": rep_b - rep_a,  # positive: a repeats itself less
    }


def compute(
    pairs: Sequence[Pair],
    cfg: JudgeConfig,
    llm: LLM | None,
    *,
    panel: Sequence[LLM] = (),
    ratings: Callable[[Sequence[Pair]], list[tuple[float | None, float | None]]] | None = None,
    advance: Callable[[int], None] = lambda done: None,
) -> list[dict[str, Any]]:
    """The signals of each pair, in order; `advance(n)` is called as pairs are done.

    `ratings`, when given, supplies the pointwise ratings (generate has them already);
    otherwise signal `rating` asks the UltraFeedback judge.
    """
    rows = [length_signals(a, b) for _, a, b in pairs]
    if "relevance" in cfg.signals and pairs:
        instructions = [i for i, _, _ in pairs]
        rel_a = relevance(instructions, [a for _, a, _ in pairs], cfg.embedding_model)
        rel_b = relevance(instructions, [b for _, _, b in pairs], cfg.embedding_model)
        for row, ra, rb in zip(rows, rel_a, rel_b, strict=True):
            row.update(relevance_a=float(ra), relevance_b=float(rb), relevance_gap=float(ra - rb))
    if "rating" in cfg.signals:
        found = ratings(pairs) if ratings is not None else _ultrafeedback(pairs, cfg, llm)
        for row, (ra, rb) in zip(rows, found, strict=True):
            gap = None if ra is None or rb is None else ra - rb
            row.update(rating_a=ra, rating_b=rb, rating_gap=gap)
    # Pairs of one instruction go to the LLM together (their prompts share a prefix).
    order = sorted(range(len(pairs)), key=lambda index: pairs[index][0])
    if baseline():
        order = list(range(len(pairs)))
    for start in range(0, len(order), BATCH):
        indexes = order[start : start + BATCH]
        batch = [pairs[index] for index in indexes]
        batch_rows = [rows[index] for index in indexes]
        if "pairwise" in cfg.signals and llm is not None:
            for row, verdict in zip(
                batch_rows, judge_pairs(llm, batch, cfg.max_answer_chars), strict=True
            ):
                row.update(
                    pairwise_p_ab=verdict.p_ab,
                    pairwise_p_ba=verdict.p_ba,
                    pairwise_p_a=verdict.p_a,
                    position_consistent=verdict.consistent,
                )
        for index, member in enumerate(panel):
            for row, verdict in zip(
                batch_rows, judge_pairs(member, batch, cfg.max_answer_chars), strict=True
            ):
                row[f"panel_{index}_p_a"] = verdict.p_a
        advance(len(batch))
    return rows


def _ultrafeedback(
    pairs: Sequence[Pair], cfg: JudgeConfig, llm: LLM | None
) -> list[tuple[float | None, float | None]]:
    """Expected UltraFeedback rating of each answer (the same judge `curate generate` runs)."""
    if llm is None:
        return [(None, None)] * len(pairs)
    from curation.generate.judges import UltraFeedbackJudge

    judge = UltraFeedbackJudge(llm=llm, aspect="overall-rating")
    judge.load()
    prompts = [
        judge.prompt({"instruction": instruction, "generations": [answer[: cfg.max_answer_chars]]})
        for instruction, a, b in pairs
        for answer in (a, b)
    ]
    scores = judge.score(prompts)
    return [(scores[2 * i].value, scores[2 * i + 1].value) for i in range(len(pairs))]
