"""`python -m curation.llm.llama_server --config_file F`: llama-cpp-python's OpenAI-compatible
server, tuned for judges that read one token's probabilities after a long prompt.

- `LastTokenLogits`: llama-cpp-python returns logprobs only when the model keeps the
  logits of every prompt token (`logits_all`), which runs the 49k-word output layer on
  every token of a prompt: a fifth of SmolLM2-135M's work per token, for values nobody
  reads (prompt-token logprobs need `echo`, which we never send). This keeps the logprobs
  API but computes only the last token's logits per evaluated chunk: the same numbers.
- `ResidentModels`: every model of the config file stays loaded (llama-cpp-python's proxy
  unloads one to load the next), so the F32 scoring copy (`server.scoring_copy`) and the
  quantised model answer requests in any order, each with its own prompt cache.
"""

from __future__ import annotations

from collections.abc import Sequence

import llama_cpp
import llama_cpp.server.app
import numpy as np
from llama_cpp.server.__main__ import main
from llama_cpp.server.model import LlamaProxy
from llama_cpp.server.settings import ModelSettings


class LastTokenLogits(llama_cpp.Llama):
    """A `Llama` that says it keeps all logits (so logprobs are allowed) but computes only
    the last one of each `eval`; `echo` with logprobs would read stale rows."""

    def eval(self, tokens: Sequence[int]) -> None:
        self._logits_all = False
        try:
            super().eval(tokens)
        finally:
            self._logits_all = True
        if len(tokens):
            last = np.ctypeslib.as_array(self._ctx.get_logits(), shape=(self._n_vocab,))
            self.scores[self.n_tokens - 1, :] = last


class ResidentModels(LlamaProxy):
    """Every model is loaded at start and kept; an unknown name gets the first."""

    def __init__(self, models: list[ModelSettings]) -> None:
        super().__init__(models)
        self._resident = {self._default_model_alias: self._current_model}
        for alias, settings in self._model_settings_dict.items():
            if alias not in self._resident:
                self._resident[alias] = self.load_llama_from_model_settings(settings)

    def __call__(self, model: str | None = None) -> llama_cpp.Llama:
        return self._resident.get(model or "", self._resident[self._default_model_alias])


if __name__ == "__main__":
    # The server builds its models as `llama_cpp.Llama(...)` inside `LlamaProxy(...)`.
    llama_cpp.Llama = LastTokenLogits
    llama_cpp.server.app.LlamaProxy = ResidentModels
    main()
