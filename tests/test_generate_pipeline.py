"""The generation stages end to end through real distilabel pipelines, with the
deterministic in-test LLM (fast); the real local LLM is in test_generate_local_llm.py."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from curation.config import Config, GenerationConfig
from curation.errors import CurationError
from curation.generate.rows import INSTRUCTION_SCHEMA, PREFERENCE_SCHEMA, content_id
from curation.generate.scoring import NO_SCORE
from curation.generate.stage import generate
from curation.runs import RunDir
from tests.fixtures.deterministic_llm import FAIL, UNSCORABLE, DeterministicLLM

pytestmark = pytest.mark.slow


def make_config(**generation) -> Config:
    return Config(generation=GenerationConfig(**generation))


def read(run: RunDir, name: str) -> list[dict]:
    return pq.read_table(run.file(name)).to_pylist()


def test_all_sources_and_the_preference_rows(tmp_path, deterministic_llm_factory):
    config = make_config(
        num_instructions=8,
        sources=["seed", "self-instruct", "magpie", "evol-instruct"],
        evol_instruct={"num_evolutions": 2},
    )
    run = RunDir(tmp_path / "run")
    summary = generate(config, run.path, llm_factory=deterministic_llm_factory)

    instructions = read(run, "instructions.parquet")
    assert pq.read_schema(run.file("instructions.parquet")).names == INSTRUCTION_SCHEMA.names
    assert {row["source"] for row in instructions} == {
        "seed",
        "self-instruct",
        "magpie",
        "evol-instruct",
    }
    assert len(instructions) == 8
    assert all(row["id"] == content_id(row["instruction"]) for row in instructions)
    assert len({row["instruction"] for row in instructions}) == 8
    evolved = [row for row in instructions if row["source"] == "evol-instruct"]
    assert all(
        row["parent"] and json.loads(row["generation_params"])["num_evolutions"] == 2
        for row in evolved
    )

    preferences = read(run, "preferences.parquet")
    assert pq.read_schema(run.file("preferences.parquet")).names == PREFERENCE_SCHEMA.names
    assert [row["instruction_id"] for row in preferences] == [row["id"] for row in instructions]
    for row in preferences:
        # two generator configs and the EvolQuality rewrite
        assert len(row["generations"]) == 3
        assert [json.loads(p)["kind"] for p in row["generation_params"]] == [
            "response",
            "response",
            "evol-quality",
        ]
        assert all(rating is not None for rating in row["ratings"])
        assert row["rating_methods"] == ["logprobs"] * 3
        assert row["id"] == content_id(row["instruction"], *row["generations"])
        assert row["chosen"] == row["generations"][row["chosen_index"]]
        assert row["rejected"] == row["generations"][row["rejected_index"]]
        # best and worst rated, in the order the pair judge decided
        assert {row["chosen_rating"], row["rejected_rating"]} == {
            max(row["ratings"]),
            min(row["ratings"]),
        }
        assert row["margin"] == pytest.approx(row["chosen_rating"] - row["rejected_rating"])
        assert row["deita_score"] == pytest.approx(
            row["complexity"] * row["qualities"][row["chosen_index"]]
        )
        assert row["judge_model"] == "deterministic-test-llm"
        assert 0.0 <= row["judge_uncertainty"] <= 1.0
    counts = run.stage("preferences")["counts"]
    assert counts["judge"]["parse_rate"] == 1.0
    assert counts["rows"] == 8 and summary.preferences == 8 and summary.instructions == 8
    assert summary.ran == ["instructions", "preferences"]


def test_rerun_skips_current_stages_and_changes_nothing(tmp_path, deterministic_llm_factory):
    config = make_config(num_instructions=3, sources=["seed", "magpie"])
    run = RunDir(tmp_path / "run")
    generate(config, run.path, llm_factory=deterministic_llm_factory)
    before = run.file("preferences.parquet").read_bytes()
    again = generate(config, run.path, llm_factory=deterministic_llm_factory)
    assert again.ran == []
    assert run.file("preferences.parquet").read_bytes() == before
    assert not (run.path / ".work" / "preferences").exists()  # scratch removed on success


def test_every_generator_flags_its_truncated_responses(tmp_path, deterministic_llm_factory):
    config = make_config(
        num_instructions=2,
        sources=["seed"],
        generators=[{"max_new_tokens": 3}, {"max_new_tokens": 200, "temperature": 1.0}],
        evol_quality={"enabled": True, "generator": 1},
    )
    run = RunDir(tmp_path / "run")
    generate(config, run.path, llm_factory=deterministic_llm_factory)
    rows = read(run, "preferences.parquet")
    # the deterministic replies are ~20 words: cut at 3 for the first generator only
    assert [row["generation_truncated"] for row in rows] == [[True, False, False]] * 2
    assert all(len(row["generations"][0].split()) == 3 for row in rows)
    assert run.stage("preferences")["counts"]["candidates_truncated"] == 2


def test_judge_items_that_cannot_be_scored_are_kept_with_a_reason(
    tmp_path, deterministic_llm_factory
):
    seeds = tmp_path / "seeds.jsonl"
    lines = [
        {"instruction": "Explain how a kettle works."},
        {"instruction": f"Describe this {UNSCORABLE} picture."},
        {"instruction": f"Summarise the {FAIL} report."},
    ]
    seeds.write_text("\n".join(json.dumps(line) for line in lines))
    config = make_config(num_instructions=3, sources=["seed"], seeds=seeds, batch_size=1)
    run = RunDir(tmp_path / "run")
    summary = generate(config, run.path, llm_factory=deterministic_llm_factory)
    rows = {row["instruction"]: row for row in read(run, "preferences.parquet")}
    assert len(rows) == 3

    fine = rows["Explain how a kettle works."]
    assert fine["pair_null_reason"] is None and fine["chosen"] is not None

    unscorable = rows[f"Describe this {UNSCORABLE} picture."]
    assert unscorable["ratings"] == [None, None, None]
    assert unscorable["rating_null_reasons"] == [NO_SCORE] * 3
    assert unscorable["chosen"] is None
    assert unscorable["pair_null_reason"] == "fewer than 2 rated candidates (0 of 3)"
    assert unscorable["complexity"] is None and unscorable["complexity_null_reason"] == NO_SCORE

    failed = rows[f"Summarise the {FAIL} report."]
    assert failed["rating_null_reasons"] == ["judge LLM call failed: RuntimeError"] * 3

    judge = run.stage("preferences")["counts"]["judge"]
    assert judge["ultrafeedback"]["null_reasons"] == {
        NO_SCORE: 3,
        "judge LLM call failed: RuntimeError": 3,
    }
    assert judge["ultrafeedback"]["parse_rate"] == pytest.approx(3 / 9, abs=1e-4)
    assert summary.parse_rate < 0.99


def test_one_generator_and_no_evol_quality_is_refused():
    with pytest.raises(ValueError, match="two candidates"):
        GenerationConfig(generators=[{}], evol_quality={"enabled": False})


def test_bad_seed_file_fails_before_the_run_dir_exists(tmp_path, deterministic_llm_factory):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text('{"context": "fine"}\nnot json\n')
    config = make_config(seeds=seeds)
    with pytest.raises(CurationError, match=r"line 2, column 1: invalid JSON"):
        generate(config, tmp_path / "run", llm_factory=deterministic_llm_factory)
    assert not (tmp_path / "run").exists()


def test_evol_instruct_mutates_the_same_instruction_the_same_way(deterministic_llm_factory):
    """Two runs of the same seeds evolve the same instructions, whatever numpy's global
    generator holds (distilabel's EvolInstruct draws from it and never applies its seed)."""
    import numpy as np

    from curation.config import LLMConfig
    from curation.generate.evolve import EvolveInstruction

    evolve = EvolveInstruction(llm=deterministic_llm_factory(LLMConfig()), num_evolutions=1)
    instructions = [f"Write about topic {number}." for number in range(20)]
    prompts = []
    for global_seed in (1, 2):
        np.random.seed(global_seed)  # as in another process
        prompts.append([evolve._apply_random_mutation(text) for text in instructions])
    assert prompts[0] == prompts[1]
    assert len({prompt.split("Write about")[0] for prompt in prompts[0]}) > 1  # still mutated


class UnreachableLLM(DeterministicLLM):
    """Every request fails, as when the server stops answering after the preflight check."""

    async def agenerate(  # type: ignore[override]
        self,
        input,
        num_generations: int = 1,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        top_p: float = 1.0,
        logprobs: bool = False,
        scale: list[int] | None = None,
    ):
        raise ConnectionError("connection refused")


def test_every_llm_call_failing_is_an_error_naming_the_backend(tmp_path, monkeypatch):
    monkeypatch.setenv("CURATION_TEST_KEY", "sk-test-secret")
    config = make_config(num_instructions=2, sources=["self-instruct"])
    config.generation.instruction_llm.api_key_env = "CURATION_TEST_KEY"
    run = RunDir(tmp_path / "run")
    with pytest.raises(CurationError) as error:
        generate(config, run.path, llm_factory=lambda cfg, magpie=None: UnreachableLLM())
    message = str(error.value)
    assert "\n" not in message and "sk-test-secret" not in message
    assert "every LLM call of the instructions pipeline failed (backend local, model " in message
    assert not run.file("instructions.parquet").exists()
