"""`python -m curation.llm.llama_server --config_file F`: llama-cpp-python's OpenAI-compatible
server, tuned for judges that read one token's probabilities after a long prompt.

- `LastTokenLogits`: llama-cpp-python returns logprobs only when the model keeps the
  logits of every prompt token (`logits_all`), which runs the 49k-word output layer on
  every token of a prompt: a fifth of SmolLM2-135M's work per token, for values nobody
  reads (prompt-token logprobs need `echo`, which we never send). This keeps the logprobs
  API but computes only the last token's logits per evaluated chunk: the same numbers.
- `log_softmax_on_demand`: for logprobs llama-cpp-python takes the log-softmax of every
  prompt token's row (n_tokens x 49k words), then keeps the rows after the prompt: 0.3 s
  per request for a 300-token prompt on this CPU, where reading the prompt takes ~2 s.
  Rows are now computed when indexed: the same numbers.
- `ResidentModels`: every model of the config file stays loaded (llama-cpp-python's proxy
  unloads one to load the next), so the F32 scoring copy (`server.scoring_copy`) and the
  quantised model answer requests in any order, each with its own prompt cache.
"""

from __future__ import annotations

from collections.abc import Sequence

import llama_cpp
import llama_cpp.llama
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


_log_softmax = llama_cpp.llama.Llama.logits_to_logprobs


class RowsOnDemand:
    """The log-softmax of a matrix of logits, row by row as the rows are indexed."""

    def __init__(self, logits: np.ndarray) -> None:
        self.logits = logits

    def __getitem__(self, rows: int | slice) -> np.ndarray:
        return _log_softmax(self.logits[rows])


def log_softmax_on_demand(logits: np.ndarray, axis: int = -1) -> np.ndarray | RowsOnDemand:
    """`Llama.logits_to_logprobs`, deferred for a matrix (llama-cpp-python slices it at once)."""
    if np.ndim(logits) == 2 and axis == -1:
        return RowsOnDemand(logits)
    return _log_softmax(logits, axis)


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
    # llama.py calls it as `Llama.logits_to_logprobs`, the base class's attribute.
    llama_cpp.llama.Llama.logits_to_logprobs = staticmethod(log_softmax_on_demand)
    llama_cpp.server.app.LlamaProxy = ResidentModels
    main()
