"""LLM backends from config: keys from the environment and never serialised, the local
server's raw prompts (prefill, Magpie), scoring requests, and the offline guard."""

from __future__ import annotations

import json

import pytest
from distilabel.pipeline import Pipeline
from distilabel.steps import LoadDataFromDicts
from distilabel.steps.tasks import TextGeneration
from pydantic import SecretStr

from curation.config import LLMConfig, LocalLLMServerConfig
from curation.errors import CurationError
from curation.llm.backends import (
    LocalServerLLM,
    OpenAICompatibleLLM,
    build_llm,
    continues_prefill,
    score_kwargs,
)

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def local_llm(**kwargs) -> LocalServerLLM:
    llm = LocalServerLLM(
        model="m", base_url="http://127.0.0.1:1/v1", api_key=SecretStr("local"),
        chat_template=CHATML, **kwargs,
    )  # fmt: skip
    llm.load()
    return llm


def test_openai_key_comes_from_the_named_variable_and_is_never_serialised(monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-very-secret-123")
    cfg = LLMConfig(backend="openai", model="gpt-4o-mini", api_key_env="MY_KEY")
    llm = build_llm(cfg, LocalLLMServerConfig(), check=False)
    assert isinstance(llm, OpenAICompatibleLLM)
    assert llm.api_key.get_secret_value() == "sk-very-secret-123"
    with Pipeline(name="secret-check") as pipeline:
        LoadDataFromDicts(data=[{"instruction": "hi"}]) >> TextGeneration(llm=llm)
    assert "sk-very-secret" not in json.dumps(pipeline.dump(), default=str)


def test_openai_compatible_server_without_a_key_gets_a_placeholder():
    cfg = LLMConfig(backend="openai", model="llama3", base_url="http://127.0.0.1:1/v1")
    llm = build_llm(cfg, LocalLLMServerConfig(), check=False)
    assert llm.api_key.get_secret_value() == "EMPTY"
    assert llm.generation_kwargs == {"max_new_tokens": 256, "temperature": 0.7, "top_p": 1.0}


def test_openai_backend_cannot_do_magpie():
    cfg = LLMConfig(backend="openai", model="llama3", base_url="http://127.0.0.1:1/v1")
    with pytest.raises(CurationError, match="magpie needs a backend"):
        build_llm(cfg, LocalLLMServerConfig(), magpie_pre_query_template="x", check=False)


def test_inference_endpoints_refuses_clearly_while_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = LLMConfig(backend="inference-endpoints", base_url="http://127.0.0.1:1")
    with pytest.raises(CurationError, match="HF_HUB_OFFLINE=0"):
        build_llm(cfg, LocalLLMServerConfig(), check=False)


def test_unreachable_local_server_names_its_url():
    server = LocalLLMServerConfig(port=1)
    with pytest.raises(CurationError, match=r"not reachable at http://127\.0\.0\.1:1/v1"):
        build_llm(LLMConfig(), server)


def test_prefill_continues_the_assistant_turn():
    prompt = local_llm().render(
        [{"role": "user", "content": "Rate it."}, {"role": "assistant", "content": "Rating: "}]
    )
    assert prompt == "<|im_start|>user\nRate it.<|im_end|>\n<|im_start|>assistant\nRating: "


def test_magpie_opens_the_user_turn_after_the_system_prompt():
    llm = local_llm(use_magpie_template=True, magpie_pre_query_template="<|im_start|>user\n")
    prompt = llm.render([{"role": "system", "content": "Be brief."}])
    assert prompt == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n"
    assert llm.render([{"role": "user", "content": "hi"}]) is None  # plain chat


def test_plain_chat_goes_to_the_chat_api():
    assert local_llm().render([{"role": "user", "content": "hi"}]) is None


def test_scoring_request_on_the_local_server_forces_a_score_token_first():
    kwargs = score_kwargs(local_llm(), (1, 2, 3, 4, 5), rationale_tokens=16)
    assert kwargs["extra_body"]["grammar"].startswith("root ::= [12345]")
    assert kwargs["max_new_tokens"] == 17
    assert kwargs["logprobs"] is True and kwargs["top_logprobs"] == 20
    assert score_kwargs(local_llm(), (1, 2, 3, 4, 5, 6), 0)["extra_body"] == {
        "grammar": "root ::= [123456]",
        "model": f"{local_llm().model}-f32",  # the server's F32 copy scores (test_llm_server)
    }
    assert continues_prefill(local_llm())
