"""The candidate responses: generator steps that keep their token counts, and gathering
their responses into one list of candidates per row."""

from typing import TYPE_CHECKING, Any

from distilabel.steps import Step, StepInput
from distilabel.steps.tasks import TextGeneration

from curation.generate.evolve import METADATA

if TYPE_CHECKING:
    from distilabel.typing import StepOutput


def output_tokens(metadata: Any, step: str, kind: str = "output_tokens") -> int | None:
    """Output (or, with kind="input_tokens", prompt) tokens a step recorded for this row.

    distilabel may merge copies of the statistics into a list; the first is taken.
    """
    stats = (metadata or {}).get(f"statistics_{step}")
    if isinstance(stats, list):
        stats = stats[0] if stats else None
    if not isinstance(stats, dict):
        return None
    tokens = stats.get(kind)
    if isinstance(tokens, list):
        tokens = tokens[0] if tokens else None
    return tokens


class Respond(TextGeneration):
    """distilabel's TextGeneration that keeps the metadata of the steps before it.

    distilabel replaces a row's `distilabel_metadata` with the step's own, so in a chain of
    generators only the last one's token counts (needed to tell truncated responses) would
    survive.
    """

    def process(self, inputs: StepInput) -> "StepOutput":  # type: ignore[override]
        for outputs in super().process(inputs):
            for original, row in zip(inputs, outputs, strict=True):  # one generation per row
                row[METADATA] = {**(original.get(METADATA) or {}), **(row.get(METADATA) or {})}
            yield outputs


class CollectCandidates(Step):
    """One row per instruction with its candidate responses, in a fixed order.

    `candidates` describes each generator step: `label` (kept in `candidate_labels` so
    provenance can be matched), `column` and `model_column` (where the step wrote its text
    and model), `step` (its name, for token statistics) and `max_new_tokens`. Empty
    responses are left out (listed in `dropped_candidates`); one that used all its
    `max_new_tokens` is kept and flagged in `generation_truncated`.
    """

    candidates: list[dict[str, Any]]

    @property
    def inputs(self) -> list[str]:
        return ["instruction"] + [c["column"] for c in self.candidates]

    @property
    def outputs(self) -> list[str]:
        return [
            "generations",
            "generation_models",
            "candidate_labels",
            "generation_truncated",
            "dropped_candidates",
        ]

    def process(self, inputs: StepInput) -> "StepOutput":  # type: ignore[override]
        for row in inputs:
            kept: dict[str, list[Any]] = {name: [] for name in self.outputs[:4]}
            dropped = []
            for candidate in self.candidates:
                text = row.get(candidate["column"])
                if not isinstance(text, str) or not text.strip():
                    dropped.append(candidate["label"])
                    continue
                tokens = output_tokens(row.get(METADATA), candidate["step"])
                kept["generations"].append(text.strip())
                kept["generation_models"].append(row.get(candidate["model_column"]) or "")
                kept["candidate_labels"].append(candidate["label"])
                kept["generation_truncated"].append(
                    tokens is not None and tokens >= candidate["max_new_tokens"]
                )
            row.update(kept, dropped_candidates=dropped)
        yield inputs
