"""distilabel LLMs built from an `LLMConfig`: generators and judges are configured apart.

- `local`: the embedded llama.cpp server (`curate llm start`) through `LocalServerLLM`, an
  `OpenAILLM` that also renders the model's own chat template (read from the GGUF) when a
  chat API cannot express the request: Magpie's pre-query template, and an assistant
  message to continue ("prefill"), which judges use so the next token is the score.
- `openai`: any OpenAI-compatible server (OpenAI, vLLM, TGI, Ollama) at `base_url`, the key
  read from the environment variable named by `api_key_env`.
- `inference-endpoints`: `InferenceEndpointsLLM` (Hugging Face). Its client refuses every
  request, even to a local URL, while `HF_HUB_OFFLINE=1`, which this project sets by
  default; so it needs `HF_HUB_OFFLINE=0` explicitly, and says so.
- `transformers`: `TransformersLLM`, in process (model from a local path or the HF cache).

Keys are `SecretStr` from the environment only; they are never logged or written (distilabel
serialises secret fields masked).
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Optional

from distilabel.models import OpenAILLM
from distilabel.models.llms.utils import prepare_output
from distilabel.models.mixins.magpie import MagpieChatTemplateMixin
from pydantic import PrivateAttr, SecretStr

from curation.config import LLMConfig, LocalLLMServerConfig
from curation.errors import CurationError

if TYPE_CHECKING:
    from distilabel.models.llms.base import LLM
    from distilabel.typing import FormattedInput, GenerateOutput

logger = logging.getLogger(__name__)

# Judges ask for this many alternatives per position; OpenAI's API allows at most 20.
TOP_LOGPROBS = 20


class ScoringLLM:
    """What an LLM offers a judge that scores by the probabilities of the score tokens.

    `continues_prefill`: the LLM continues a trailing assistant message, so a judge can end
    its prompt with "Rating: " and read the score distribution at the first output token.
    `one_at_a_time`: the server answers one request at a time and keeps the last prompt's
    KV cache, so prompts are best sent in order, each reusing the previous one's prefix.
    """

    continues_prefill: ClassVar[bool] = False
    one_at_a_time: ClassVar[bool] = False

    def score_kwargs(self, scale: Sequence[int], rationale_tokens: int) -> dict[str, Any]:
        """Generation kwargs for one score (and a short rationale when `rationale_tokens`)."""
        return {"logprobs": True, "top_logprobs": TOP_LOGPROBS, "temperature": 0.0}


class OpenAICompatibleLLM(OpenAILLM, ScoringLLM):
    """`OpenAILLM` that returns a failed request as a missing generation, not a failed batch.

    distilabel sends a batch's requests with `asyncio.gather`: one 4xx (a prompt longer than
    the context, a refused parameter) would otherwise null every row of the batch.
    """

    @property
    def generate_parameters(self) -> list[inspect.Parameter]:
        """The parameters of `OpenAILLM.agenerate`, which this class forwards to."""
        return list(inspect.signature(OpenAILLM.agenerate).parameters.values())[1:]

    async def agenerate(self, input: FormattedInput, **kwargs: Any) -> GenerateOutput:  # type: ignore[override]
        import openai

        try:
            return await super().agenerate(input=input, **kwargs)
        except openai.BadRequestError as error:
            logger.warning("LLM request refused (%s): %s", self.model, error.message[:200])
            return prepare_output([None])


class LocalServerLLM(OpenAICompatibleLLM, MagpieChatTemplateMixin):
    """The embedded llama.cpp server: chat completions, or raw completions rendered with the
    model's chat template for Magpie and for prefilled assistant messages.

    llama.cpp also takes a GBNF `grammar` (in `extra_body`), so a judge's reply is
    always a score token first.
    """

    chat_template: str
    continues_prefill: ClassVar[bool] = True
    one_at_a_time: ClassVar[bool] = True
    _template: Any = PrivateAttr(default=None)

    def load(self) -> None:
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        super().load()
        self._template = ImmutableSandboxedEnvironment(
            trim_blocks=True, lstrip_blocks=True
        ).from_string(self.chat_template)

    def score_kwargs(self, scale: Sequence[int], rationale_tokens: int) -> dict[str, Any]:
        digits = "".join(str(value) for value in scale)
        grammar = f"root ::= [{digits}]"
        if rationale_tokens:
            grammar += ' "\\nRationale: " [^\\n]+'
        from curation.llm.server import scoring_alias

        return {
            **super().score_kwargs(scale, rationale_tokens),
            "max_new_tokens": 1 + rationale_tokens,
            # Scored by the server's F32 copy where it has one (`server.scoring_copy`).
            "extra_body": {"grammar": grammar, "model": scoring_alias(self.model)},
        }

    def render(self, messages: list[dict[str, str]]) -> str | None:
        """The raw prompt for a conversation the chat API cannot express, else None."""
        if messages and messages[-1]["role"] == "assistant":
            head = self._template.render(messages=messages[:-1], add_generation_prompt=True)
            return head + messages[-1]["content"]
        if self.use_magpie_template and (not messages or messages[-1]["role"] != "user"):
            head = self._template.render(messages=messages, add_generation_prompt=False)
            return head + self.magpie_pre_query_template
        return None

    async def agenerate(self, input: FormattedInput, **kwargs: Any) -> GenerateOutput:  # type: ignore[override]
        prompt = self.render(input) if isinstance(input, list) else None
        if prompt is None:
            return await super().agenerate(input=input, **kwargs)
        # The completions endpoint takes `top_logprobs` as its `logprobs` count and has no
        # `stop` or `response_format`: the model's end-of-turn token ends a completion.
        if not kwargs.pop("logprobs", False):
            kwargs.pop("top_logprobs", None)
        for unsupported in ("stop", "response_format"):
            kwargs.pop(unsupported, None)
        return await super().agenerate(input=prompt, **kwargs)


def chat_template(model_path: Path) -> str:
    """The Jinja chat template stored in a GGUF file's metadata."""
    return _gguf_chat_template(str(model_path))


@functools.lru_cache(maxsize=4)
def _gguf_chat_template(model_path: str) -> str:
    from llama_cpp import Llama

    from curation.llm.server import quiet_stderr

    with quiet_stderr():
        vocab = Llama(model_path, vocab_only=True, verbose=False)
    template = vocab.metadata.get("tokenizer.chat_template")
    if not template:
        raise CurationError(f"{model_path}: the GGUF file has no chat template")
    return template


def build_llm(
    cfg: LLMConfig,
    server: LocalLLMServerConfig,
    *,
    magpie_pre_query_template: Optional[str] = None,
    check: bool = True,
) -> LLM:
    """A distilabel LLM for one generator or judge config.

    `magpie_pre_query_template` turns on Magpie (the LLM writes the user turn). With
    `check`, an unreachable server is a one-line error naming its URL, before any work.
    """
    generation_kwargs = {
        "max_new_tokens": cfg.max_new_tokens,
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
    }
    if cfg.backend == "local":
        return _local(server, generation_kwargs, magpie_pre_query_template, check)
    if cfg.backend == "openai":
        return _openai(cfg, generation_kwargs, magpie_pre_query_template, check)
    if cfg.backend == "inference-endpoints":
        return _inference_endpoints(cfg, generation_kwargs, magpie_pre_query_template)
    if cfg.backend == "transformers":
        from distilabel.models import TransformersLLM

        return TransformersLLM(
            model=cfg.model,
            device="cpu",
            use_magpie_template=magpie_pre_query_template is not None,
            magpie_pre_query_template=magpie_pre_query_template,
            generation_kwargs={**generation_kwargs, "do_sample": cfg.temperature > 0},
        )
    raise CurationError(f"unknown LLM backend: {cfg.backend}")  # config validation stops it first


def _local(
    server: LocalLLMServerConfig,
    generation_kwargs: dict[str, Any],
    magpie_pre_query_template: Optional[str],
    check: bool,
) -> LLM:
    from curation.llm import server as local_server

    url = local_server.base_url(server)
    if check:
        _check_reachable(url, hint="start it with `curate llm start`")
    model_path = server.model_path or local_server.bundled_gguf()
    return LocalServerLLM(
        model=server.alias,
        base_url=url,
        api_key=SecretStr("local"),
        chat_template=chat_template(Path(model_path)),
        use_magpie_template=magpie_pre_query_template is not None,
        magpie_pre_query_template=magpie_pre_query_template,
        generation_kwargs=generation_kwargs,
    )


def _openai(
    cfg: LLMConfig,
    generation_kwargs: dict[str, Any],
    magpie_pre_query_template: Optional[str],
    check: bool,
) -> LLM:
    key = cfg.api_key()
    if key is None and cfg.base_url is None:
        raise CurationError(
            f"backend openai for model {cfg.model} needs an API key: set api_key_env to "
            "the name of the environment variable that holds it"
            + (f" (${cfg.api_key_env} is empty)" if cfg.api_key_env else "")
        )
    if cfg.base_url and check:
        _check_reachable(cfg.base_url.rstrip("/"), key=key)
    if magpie_pre_query_template is not None:
        raise CurationError(
            "magpie needs a backend that can render the chat template: local, "
            "inference-endpoints or transformers (not openai)"
        )
    kwargs: dict[str, Any] = {"base_url": cfg.base_url} if cfg.base_url else {}
    return OpenAICompatibleLLM(
        model=cfg.model,
        api_key=key or SecretStr("EMPTY"),
        generation_kwargs=generation_kwargs,
        **kwargs,
    )


def _inference_endpoints(
    cfg: LLMConfig, generation_kwargs: dict[str, Any], magpie_pre_query_template: str | None
) -> LLM:
    from distilabel.models import InferenceEndpointsLLM

    if os.environ.get("HF_HUB_OFFLINE", "0").lower() not in {"0", "false", "no", ""}:
        raise CurationError(
            "backend inference-endpoints cannot run while HF_HUB_OFFLINE=1 (its Hub client "
            "refuses every request, even to a local base_url): set HF_HUB_OFFLINE=0 for this "
            "command, or use backend openai for an OpenAI-compatible URL"
        )
    key = cfg.api_key()
    where: dict[str, Any] = {"base_url": cfg.base_url} if cfg.base_url else {"model_id": cfg.model}
    return InferenceEndpointsLLM(
        **where,
        api_key=key or SecretStr("EMPTY"),
        model_display_name=cfg.model,
        use_magpie_template=magpie_pre_query_template is not None,
        magpie_pre_query_template=magpie_pre_query_template,
        tokenizer_id=cfg.model if magpie_pre_query_template is not None else None,
        generation_kwargs=generation_kwargs,
    )


def _check_reachable(base_url: str, *, key: SecretStr | None = None, hint: str = "") -> None:
    from curation.services import http_ok

    headers = {"Authorization": f"Bearer {key.get_secret_value()}"} if key else None
    if not http_ok(f"{base_url}/models", timeout=5.0, headers=headers):
        raise CurationError(
            f"LLM server not reachable at {base_url}" + (f"; {hint}" if hint else "")
        )


def score_kwargs(llm: LLM, scale: Sequence[int], rationale_tokens: int) -> dict[str, Any]:
    """The generation kwargs a judge sends for one score with this LLM."""
    if isinstance(llm, ScoringLLM):
        return llm.score_kwargs(scale, rationale_tokens)
    return {"temperature": 0.0, "max_new_tokens": 8 + rationale_tokens}


def generate_in_order(
    llm: LLM, prompts: Sequence[FormattedInput], **kwargs: Any
) -> list[GenerateOutput]:
    """One output per prompt, for judges.

    llama-cpp-python's server evaluates one request at a time and reuses the longest prefix
    it shares with the request before; distilabel sends a batch concurrently, so they
    arrive shuffled and that prefix (the template and the instruction) is mostly lost.
    Such a server gets the prompts one by one, in the caller's order; any other backend
    the whole batch at once, as does the baseline (`CURATION_JUDGE_BASELINE=1`).
    """
    from curation.llm.server import baseline

    if getattr(llm, "one_at_a_time", False) and not baseline():
        return [
            output
            for prompt in prompts
            for output in llm.generate_outputs(inputs=[prompt], num_generations=1, **kwargs)
        ]
    return llm.generate_outputs(inputs=list(prompts), num_generations=1, **kwargs)


def continues_prefill(llm: LLM) -> bool:
    """True if the LLM continues a trailing assistant message (see `ScoringLLM`)."""
    return bool(getattr(llm, "continues_prefill", False))
