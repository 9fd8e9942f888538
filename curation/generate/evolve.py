"""distilabel's EvolInstruct and EvolQuality with token counts per row.

The originals put the token statistics of the whole batch on every row, so a row cannot
tell whether its own generation stopped at `max_new_tokens` (truncated). These keep the
prompts, the random mutations and the outputs as they are, and store each row's own
`statistics_<step>` (input and output tokens of its last evolution) in its metadata.
Only the shapes used here are supported: the last evolution only, no answers.

EvolInstruct declares a `seed` but never applies it: its mutation comes from numpy's global
generator, so two runs of the same seeds and the same LLM evolved different instructions
(and every later stage differed). Here each mutation is drawn from a generator seeded by
`seed` and the instruction itself: the same instruction always gets the same mutation.
"""

import hashlib
from typing import TYPE_CHECKING, Any

import numpy as np
from distilabel.steps import StepInput
from distilabel.steps.tasks import EvolInstruct, EvolQuality

from curation.generate.rows import clean_rewrite

if TYPE_CHECKING:
    from distilabel.typing import StepOutput

METADATA = "distilabel_metadata"


def _row_statistics(statistics: dict[str, list[Any]], rows: int, index: int) -> dict[str, Any]:
    """One row's statistics from batch lists ordered evolution by evolution, row by row."""
    return {key: values[len(values) - rows + index] for key, values in statistics.items()}


class EvolveInstruction(EvolInstruct):
    """EvolInstruct (Xu et al., WizardLM): rewrite an instruction `num_evolutions` times.

    Input columns: instruction. Output columns: evolved_instruction, model_name.
    """

    store_evolutions: bool = False
    generate_answers: bool = False

    def _apply_random_mutation(self, instruction: str) -> str:
        """A mutation prompt around `instruction`, drawn reproducibly (see module doc)."""
        digest = hashlib.sha256(instruction.encode("utf-8")).digest()
        rng = np.random.default_rng([self.seed, int.from_bytes(digest[:8], "big")])
        mutation = rng.choice(self.mutation_templates_names)
        return self.mutation_templates[mutation].replace("<PROMPT>", instruction)

    def process(self, inputs: StepInput) -> "StepOutput":  # type: ignore[override]
        evolved, statistics = self._evolve_instructions(inputs)
        for index, (row, instructions) in enumerate(zip(inputs, evolved, strict=True)):
            row.update(self.format_output(instructions))
            row[METADATA] = {
                **(row.get(METADATA) or {}),
                f"statistics_{self.name}": _row_statistics(statistics, len(inputs), index),
            }
        yield inputs


class RewriteResponse(EvolQuality):
    """EvolQuality (Liu et al., Deita): rewrite a response to improve it, as another candidate.

    Input columns: instruction, response. Output columns: evolved_response, model_name.
    """

    store_evolutions: bool = False

    def process(self, inputs: StepInput) -> "StepOutput":  # type: ignore[override]
        evolved, statistics = self._evolve_reponses(inputs)
        for index, (row, responses) in enumerate(zip(inputs, evolved, strict=True)):
            row.update(self.format_output(responses))
            row["evolved_response"] = clean_rewrite(row["evolved_response"])
            row[METADATA] = {
                **(row.get(METADATA) or {}),
                f"statistics_{self.name}": _row_statistics(statistics, len(inputs), index),
            }
        yield inputs
