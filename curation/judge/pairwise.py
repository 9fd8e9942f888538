"""The pairwise judge: the LLM sees both answers and names the better one, in both orders.

Read from probabilities, not text: the prompt ends inside the assistant turn right before
the verdict (where the backend allows; a grammar then makes the one generated token `1` or
`2`), and P(1) and P(2) come from the top logprobs of that token, renormalised. Asking
again with the answers swapped cancels the position bias small models have (MT-Bench,
AlpacaEval); p(a better) is the mean of the two orders, and whether both orders agree is
the pair's position consistency.

Every prompt starts with the same question, then the instruction, then the first answer.
They are sent sorted by (instruction, first answer), one at a time to the local server
(`generate_in_order`): each prompt then reuses the previous one's KV cache for the
question and the instruction (both orders of a pair, every pair of one instruction), and
for the first answer too where one answer is compared with several. Answers are cut to
`max_chars` to bound the prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from curation.generate.scoring import read_score
from curation.llm.backends import continues_prefill, generate_in_order, score_kwargs
from curation.llm.server import baseline

if TYPE_CHECKING:
    from distilabel.models.llms.base import LLM

SCALE = (1, 2)
PREFILL = "Better response: "
TEMPLATE = """\
Which response follows the instruction better: more relevant, correct and helpful? \
Answer 1 or 2.

### Instruction
{instruction}

### Response 1
{first}

### Response 2
{second}"""


@dataclass(frozen=True)
class Pairwise:
    """P(a better) with a shown first (`p_ab`) and with b shown first (`p_ba`)."""

    p_ab: float | None
    p_ba: float | None

    @property
    def p_a(self) -> float | None:
        known = [p for p in (self.p_ab, self.p_ba) if p is not None]
        return sum(known) / len(known) if known else None

    @property
    def consistent(self) -> bool | None:
        """Both orders prefer the same answer (None when an order gave no probability)."""
        if self.p_ab is None or self.p_ba is None:
            return None
        return (self.p_ab > 0.5) == (self.p_ba > 0.5)


def prompt(instruction: str, first: str, second: str, llm: LLM) -> list[dict[str, str]]:
    content = TEMPLATE.format(instruction=instruction.strip(), first=first, second=second)
    messages = [{"role": "user", "content": content}]
    if continues_prefill(llm):
        messages.append({"role": "assistant", "content": PREFILL})
    return messages


def judge_pairs(
    llm: LLM, pairs: Sequence[tuple[str, str, str]], max_chars: int = 1200
) -> list[Pairwise]:
    """(instruction, a, b) -> Pairwise; all prompts of the batch sent together, in the order
    that shares the longest prefixes."""
    shown = []  # (instruction, first, second) per prompt: a first, then b first, per pair
    for instruction, a, b in pairs:
        a, b = a[:max_chars], b[:max_chars]
        shown += [(instruction.strip(), a, b), (instruction.strip(), b, a)]
    order = sorted(range(len(shown)), key=lambda index: shown[index][:2])
    if baseline():  # as before: a first, then b first, pair by pair
        order = list(range(len(shown)))
    answers = _first_wins(llm, [prompt(*shown[index], llm) for index in order])
    firsts: list[float | None] = [None] * len(shown)
    for index, answer in zip(order, answers, strict=True):
        firsts[index] = answer
    return [
        Pairwise(
            p_ab=firsts[2 * i], p_ba=None if firsts[2 * i + 1] is None else 1 - firsts[2 * i + 1]
        )
        for i in range(len(pairs))
    ]


def _first_wins(llm: LLM, prompts: list[list[dict[str, str]]]) -> list[float | None]:
    """P(response 1 better) per prompt; None where the backend gave no usable answer."""
    if not prompts:
        return []
    kwargs: dict[str, Any] = {**(llm.generation_kwargs or {}), **score_kwargs(llm, SCALE, 0)}
    try:
        outputs = generate_in_order(llm, prompts, **kwargs)
    except Exception:  # a failed call is a missing signal, not a failed run
        return [None] * len(prompts)
    prefilled = continues_prefill(llm)
    result: list[float | None] = []
    for output in outputs:
        score = read_score(
            output["generations"][0],
            (output.get("logprobs") or [None])[0],
            SCALE,
            prefilled=prefilled,
        )
        if score.distribution is not None:
            result.append(score.distribution[0])
        elif score.value is not None:  # a written verdict only: certain either way
            result.append(1.0 if score.value == 1 else 0.0)
        else:
            result.append(None)
    return result
