"""Judges that always give a usable score or a null with a reason, never a parse failure.

Each judge is distilabel's own task (UltraFeedback, ComplexityScorer, QualityScorer) with
its prompt, changed in two ways that make small local models usable as judges:
- one item per prompt (one response, one instruction), so a score is always at a known
  place instead of somewhere in a list the model may not follow;
- where the backend allows (`continues_prefill`, the embedded llama.cpp server), the prompt
  ends inside the assistant turn right before the score ("Rating: ") and a grammar makes
  the first token a score; the score is then Deita's expected value of the score tokens
  under the model's probabilities, which also tells how sure the judge was. Other backends
  get the same prompt and are read from their logprobs or text (`scoring.read_score`).
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from distilabel.steps import StepInput
from distilabel.steps.tasks import ComplexityScorer, QualityScorer, UltraFeedback
from jinja2 import Template
from pydantic import BaseModel, PrivateAttr

from curation.generate.scoring import Score, null, read_score
from curation.llm.backends import continues_prefill, generate_in_order, score_kwargs

if TYPE_CHECKING:
    from distilabel.typing import ChatType, StepOutput


class ScoreTokenJudge(BaseModel):
    """The shared part: one prompt per item, a batch's items sent together in row order
    (`generate_in_order`: one by one to the local server, so candidates of one instruction
    share the template and instruction in its KV cache).

    Subclasses say which items a row has (`items`), how to prompt one (`format_input`), the
    score scale, the prefill that precedes the score, and where scores go (`write`).
    """

    scale: ClassVar[tuple[int, ...]]
    prefill: ClassVar[str]
    rationale_tokens: int = 0  # room for a rationale after the score (UltraFeedback)

    def items(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        raise NotImplementedError

    def write(self, row: dict[str, Any], scores: list[Score]) -> None:
        raise NotImplementedError

    def prompt(self, item: dict[str, Any]) -> "ChatType":
        messages = self.format_input(item)  # type: ignore[attr-defined]
        if continues_prefill(self.llm):  # type: ignore[attr-defined]
            messages = [*messages, {"role": "assistant", "content": self.prefill}]
        return messages

    def process(self, inputs: StepInput) -> "StepOutput":
        located = [(index, item) for index, row in enumerate(inputs) for item in self.items(row)]
        scores = self.score([self.prompt(item) for _, item in located])
        per_row: list[list[Score]] = [[] for _ in inputs]
        for (index, _), score in zip(located, scores, strict=True):
            per_row[index].append(score)
        for row, row_scores in zip(inputs, per_row, strict=True):
            self.write(row, row_scores)
        yield inputs

    def score(self, prompts: Sequence["ChatType"]) -> list[Score]:
        if not prompts:
            return []
        llm = self.llm  # type: ignore[attr-defined]
        kwargs = {
            **(llm.generation_kwargs or {}),
            **score_kwargs(llm, self.scale, self.rationale_tokens),
        }
        try:
            outputs = generate_in_order(llm, prompts, **kwargs)
        except Exception as error:  # the rows stay, each with the reason
            self._logger.warning("judge %s: LLM call failed: %r", self.name, error)  # type: ignore[attr-defined]
            return [null(f"judge LLM call failed: {type(error).__name__}")] * len(prompts)
        prefilled = continues_prefill(llm)
        return [
            read_score(
                output["generations"][0],
                (output.get("logprobs") or [None])[0],
                self.scale,
                prefilled=prefilled,
            )
            for output in outputs
        ]

    def format_output(self, output: str | None, input: dict[str, Any] | None = None) -> dict:
        """One reply read on its own (distilabel's interface; `process` does the batch)."""
        score = read_score(output, None, self.scale, prefilled=False)
        return {"score": score.value, "null_reason": score.null_reason}


def _columns(scores: list[Score]) -> dict[str, list[Any]]:
    return {
        "values": [score.value for score in scores],
        "distributions": [
            list(score.distribution) if score.distribution else None for score in scores
        ],
        "null_reasons": [score.null_reason for score in scores],
        "methods": [score.method for score in scores],
    }


class UltraFeedbackJudge(ScoreTokenJudge, UltraFeedback):
    """UltraFeedback (Cui et al.): a 1-5 rating and a rationale for each candidate response.

    The prompt is distilabel's template for the configured `aspect`, given one text.

    Input columns: instruction, generations.
    Output columns: ratings, rationales, rating_distributions, rating_null_reasons,
    rating_methods, judge_model.
    """

    scale: ClassVar[tuple[int, ...]] = (1, 2, 3, 4, 5)
    prefill: ClassVar[str] = "#### Output for Text 1\nRating: "

    @property
    def inputs(self) -> list[str]:
        return ["instruction", "generations"]

    @property
    def outputs(self) -> list[str]:
        return [
            "ratings",
            "rationales",
            "rating_distributions",
            "rating_null_reasons",
            "rating_methods",
            "judge_model",
        ]

    def items(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {"instruction": row["instruction"], "generations": [generation]}
            for generation in row.get("generations") or []
        ]

    def write(self, row: dict[str, Any], scores: list[Score]) -> None:
        columns = _columns(scores)
        row.update(
            ratings=columns["values"],
            rationales=[score.rationale for score in scores],
            rating_distributions=columns["distributions"],
            rating_null_reasons=columns["null_reasons"],
            rating_methods=columns["methods"],
            judge_model=self.llm.model_name,
        )


# distilabel's complexity-scorer.jinja2 ranks a list; this is its wording for one question,
# on Deita's 1-6 scale.
COMPLEXITY_TEMPLATE = """\
Rate the following question according to its difficulty and complexity. Score 1-5.
You can give a score of 6 if the question is too complex for you to answer it. You should
respond with the format:
[1] Score: 1

[1] {{ instruction }}"""


class ComplexityJudge(ScoreTokenJudge, ComplexityScorer):
    """Deita's complexity score (Liu et al.) of one instruction, 1-6.

    Input columns: instruction.
    Output columns: complexity, complexity_distribution, complexity_null_reason,
    complexity_method.
    """

    scale: ClassVar[tuple[int, ...]] = (1, 2, 3, 4, 5, 6)
    prefill: ClassVar[str] = "[1] Score: "
    _single: Template = PrivateAttr(default=None)

    def load(self) -> None:
        super().load()
        self._single = Template(COMPLEXITY_TEMPLATE)

    @property
    def inputs(self) -> list[str]:
        return ["instruction"]

    @property
    def outputs(self) -> list[str]:
        return [
            "complexity",
            "complexity_distribution",
            "complexity_null_reason",
            "complexity_method",
        ]

    def format_input(self, input: dict[str, Any]) -> "ChatType":
        return [{"role": "user", "content": self._single.render(instruction=input["instruction"])}]

    def items(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"instruction": row["instruction"]}]

    def write(self, row: dict[str, Any], scores: list[Score]) -> None:
        columns = _columns(scores)
        row.update(
            complexity=columns["values"][0],
            complexity_distribution=columns["distributions"][0],
            complexity_null_reason=columns["null_reasons"][0],
            complexity_method=columns["methods"][0],
        )


# distilabel's quality-scorer.jinja2 ranks a list of responses; this is its wording for
# one response, on Deita's 1-6 scale.
QUALITY_TEMPLATE = """\
Rate the following pair of instruction and response according to its quality. Your \
evaluation should consider factors such as helpfulness, relevance, accuracy, depth, \
creativity, and level of detail of the response. Score 1-5, with 6 reserved for responses \
that are already very well written and cannot be improved further. You should respond \
with the format:
[1] Score: 1

#Question#: {{ instruction }}
#Response List#:
[1] {{ response }}"""


class QualityJudge(ScoreTokenJudge, QualityScorer):
    """Deita's quality score (Liu et al.) of each candidate response, 1-6.

    Input columns: instruction, generations.
    Output columns: qualities, quality_distributions, quality_null_reasons, quality_methods.
    """

    scale: ClassVar[tuple[int, ...]] = (1, 2, 3, 4, 5, 6)
    prefill: ClassVar[str] = "[1] Score: "
    _single: Template = PrivateAttr(default=None)

    def load(self) -> None:
        super().load()
        self._single = Template(QUALITY_TEMPLATE)

    @property
    def inputs(self) -> list[str]:
        return ["instruction", "generations"]

    @property
    def outputs(self) -> list[str]:
        return ["qualities", "quality_distributions", "quality_null_reasons", "quality_methods"]

    def format_input(self, input: dict[str, Any]) -> "ChatType":
        content = self._single.render(instruction=input["instruction"], response=input["response"])
        return [{"role": "user", "content": content}]

    def items(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {"instruction": row["instruction"], "response": generation}
            for generation in row.get("generations") or []
        ]

    def write(self, row: dict[str, Any], scores: list[Score]) -> None:
        columns = _columns(scores)
        row.update(
            qualities=columns["values"],
            quality_distributions=columns["distributions"],
            quality_null_reasons=columns["null_reasons"],
            quality_methods=columns["methods"],
        )
