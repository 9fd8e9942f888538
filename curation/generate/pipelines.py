"""The two distilabel pipelines of `curate generate`, and running them offline and resumably.

instructions: seed contexts -> SelfInstruct | Magpie | seed instructions -> EvolInstruct
preferences:  instructions -> respond_0 -> respond_1 ... -> EvolQuality -> candidates
              -> UltraFeedback judge -> Deita complexity -> Deita quality

Each pipeline gets one chunk of work, one batch per step (the caller chunks by
`batch_size`), so its steps run one after another: the LLM server answers one request at
a time anyway, and a step's requests reach it back to back, so consecutive judge prompts
share their long common prefix in llama.cpp's prompt cache. (distilabel's load stages are
not used: with several generators it never starts the later ones, and it cannot resume
inside them.)

Resuming: distilabel caches every finished batch under `cache_dir` and continues from it,
but only after a clean stop (Ctrl-C): a hard kill (SIGKILL, power loss) loses the batches
that were in flight, and its cache would then wait for them for ever. So a cache is reused
only when the run that wrote it ended cleanly (`CLEAN` marker); otherwise it is dropped
and the pipeline starts over. The caller keeps pipelines small (chunks) so that costs
little. The `Distiset` that `Pipeline.run` builds at the end is never built: it would load
the outputs again through `datasets` and fetch citations over the network; the leaf steps'
Parquet files are read directly instead.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from distilabel.pipeline import Pipeline
from distilabel.steps import LoadDataFromDicts
from distilabel.steps.tasks import MagpieGenerator, SelfInstruct

from curation.config import GenerationConfig, LLMConfig
from curation.errors import CurationError
from curation.generate.candidates import CollectCandidates, Respond
from curation.generate.evolve import EvolveInstruction, RewriteResponse
from curation.generate.judges import ComplexityJudge, QualityJudge, UltraFeedbackJudge

# Builds the distilabel LLM for a config; `magpie` is the pre-query template to turn on Magpie.
LLMFactory = Callable[..., Any]

# The steps whose output is read back (pipeline leaves).
SELF_INSTRUCT, MAGPIE, EVOL_INSTRUCT = "self_instruct", "magpie", "evol_instruct"
JUDGED = "quality"
# The column each instruction step generates.
GENERATED = {
    SELF_INSTRUCT: "instructions",
    MAGPIE: "instruction",
    EVOL_INSTRUCT: "evolved_instruction",
}
# In a cache dir: the run that wrote it ended cleanly, so distilabel can resume from it.
CLEAN = "CLEAN"


@dataclass(frozen=True)
class InstructionPlan:
    """What the instructions pipeline is asked for."""

    contexts: list[str]  # one SelfInstruct call each
    magpie_rows: int
    evol_seeds: list[str]  # one EvolInstruct chain each

    @property
    def empty(self) -> bool:
        return not (self.contexts or self.magpie_rows or self.evol_seeds)


@dataclass
class Built:
    """A pipeline, its cache, and the rows each leaf step yields when it completes."""

    pipeline: Pipeline
    cache_dir: Path
    expected: dict[str, int]


def instructions_pipeline(
    plan: InstructionPlan, cfg: GenerationConfig, llm_for: LLMFactory, cache_dir: Path
) -> Built:
    batch = cfg.batch_size
    expected = {}
    with Pipeline(name="curation-instructions", cache_dir=cache_dir) as pipeline:
        if plan.contexts:
            expected[SELF_INSTRUCT] = len(plan.contexts)
            contexts = LoadDataFromDicts(
                name="seed_contexts", data=[{"input": c} for c in plan.contexts], batch_size=batch
            )
            contexts >> SelfInstruct(
                name=SELF_INSTRUCT,
                llm=llm_for(cfg.instruction_llm),
                num_instructions=cfg.self_instruct.instructions_per_seed,
                application_description=cfg.self_instruct.application_description,
                input_batch_size=batch,
            )
        if plan.magpie_rows:
            # MagpieGenerator only ends cleanly when num_rows is a multiple of its batch size.
            magpie_batch = min(batch, plan.magpie_rows)
            expected[MAGPIE] = magpie_batch * math.ceil(plan.magpie_rows / magpie_batch)
            MagpieGenerator(
                name=MAGPIE,
                llm=llm_for(cfg.instruction_llm, magpie=cfg.magpie.pre_query_template),
                num_rows=expected[MAGPIE],
                batch_size=magpie_batch,
                only_instruction=True,
                system_prompt=cfg.magpie.system_prompt,
            )
        if plan.evol_seeds:
            expected[EVOL_INSTRUCT] = len(plan.evol_seeds)
            seeds = LoadDataFromDicts(
                name="seed_instructions",
                data=[{"instruction": s} for s in plan.evol_seeds],
                batch_size=batch,
            )
            seeds >> EvolveInstruction(
                name=EVOL_INSTRUCT,
                llm=llm_for(cfg.instruction_llm),
                num_evolutions=cfg.evol_instruct.num_evolutions,
                input_batch_size=batch,
            )
    return Built(pipeline, cache_dir, expected)


def candidate_plan(cfg: GenerationConfig) -> list[dict[str, Any]]:
    """The candidates per instruction, in order, with their generation parameters."""
    plan = []
    for index, generator in enumerate(cfg.generators):
        plan.append(
            {
                "label": f"respond_{index}",
                "column": f"generation_{index}",
                "model_column": f"model_name_{index}",
                "step": f"respond_{index}",
                "max_new_tokens": generator.max_new_tokens,
                "params": {
                    "kind": "response",
                    "task": "distilabel TextGeneration (instruction as the user turn)",
                    **_llm_params(generator),
                },
            }
        )
    if cfg.evol_quality.enabled:
        source = cfg.evol_quality.generator
        generator = cfg.generators[source]
        plan.append(
            {
                "label": "evol_quality",
                "column": "generation_evol_quality",
                "model_column": "model_name_evol_quality",
                "step": "evol_quality",
                "max_new_tokens": generator.max_new_tokens,
                "params": {
                    "kind": "evol-quality",
                    "task": "distilabel EvolQuality (random MUTATION_TEMPLATES rewrite)",
                    "rewrites": f"respond_{source}",
                    "num_evolutions": cfg.evol_quality.num_evolutions,
                    **_llm_params(generator),
                },
            }
        )
    return plan


def judge_params(cfg: GenerationConfig, judge_model: str) -> dict[str, Any]:
    """Provenance of the judges: model, templates, method and scales."""
    return {
        **_llm_params(cfg.judge),
        "model": judge_model,
        "aspect": cfg.aspect,
        "ultrafeedback": f"distilabel ultrafeedback/{cfg.aspect}.jinja2, one text per prompt, "
        "scale 1-5",
        "complexity": "distilabel complexity-scorer wording for one question, scale 1-6",
        "quality": "distilabel quality-scorer wording for one response, scale 1-6",
        "method": "expected value of the score tokens under the judge's top logprobs where "
        "the backend gives them, else the written score",
        "prefill": UltraFeedbackJudge.prefill,
        "tie_margin": cfg.tie_margin,
    }


def preferences_pipeline(
    instructions: list[dict[str, Any]], cfg: GenerationConfig, llm_for: LLMFactory, cache_dir: Path
) -> Built:
    batch = cfg.batch_size
    candidates = candidate_plan(cfg)
    with Pipeline(name="curation-preferences", cache_dir=cache_dir) as pipeline:
        previous = LoadDataFromDicts(
            name="instructions",
            data=[
                {"instruction": r["instruction"], "instruction_id": r["id"], "source": r["source"]}
                for r in instructions
            ],
            batch_size=batch,
        )
        for index, generator in enumerate(cfg.generators):
            step = Respond(
                name=f"respond_{index}",
                llm=llm_for(generator),
                system_prompt=generator.system_prompt,
                input_batch_size=batch,
                output_mappings={
                    "generation": f"generation_{index}",
                    "model_name": f"model_name_{index}",
                },
            )
            previous = previous >> step
        if cfg.evol_quality.enabled:
            source = cfg.evol_quality.generator
            step = RewriteResponse(
                name="evol_quality",
                llm=llm_for(cfg.generators[source]),
                num_evolutions=cfg.evol_quality.num_evolutions,
                input_batch_size=batch,
                input_mappings={"response": f"generation_{source}"},
                output_mappings={
                    "evolved_response": "generation_evol_quality",
                    "model_name": "model_name_evol_quality",
                },
            )
            previous = previous >> step
        collect = CollectCandidates(
            name="candidates",
            candidates=[{k: v for k, v in c.items() if k != "params"} for c in candidates],
            input_batch_size=batch,
        )
        judges = [
            UltraFeedbackJudge(
                name="ultrafeedback",
                llm=llm_for(cfg.judge),
                aspect=cfg.aspect,
                rationale_tokens=cfg.judge.max_new_tokens,
                input_batch_size=batch,
            ),
            ComplexityJudge(name="complexity", llm=llm_for(cfg.judge), input_batch_size=batch),
            QualityJudge(name=JUDGED, llm=llm_for(cfg.judge), input_batch_size=batch),
        ]
        previous = previous >> collect
        for judge in judges:
            previous = previous >> judge
    return Built(pipeline, cache_dir, {JUDGED: len(instructions)})


def run_pipeline(built: Built, *, engine: str) -> dict[str, list[dict[str, Any]]]:
    """Run (or resume) a pipeline; the rows of each leaf step by step name.

    Raises KeyboardInterrupt when it stopped before the end (Ctrl-C): its cache is kept
    and the next run continues from it. With `engine="ray"`, run it inside
    `engine_session`.
    """
    clean = built.cache_dir / CLEAN
    if built.cache_dir.exists() and not clean.exists():
        shutil.rmtree(built.cache_dir)  # left by a hard kill: in-flight batches are lost
    built.cache_dir.mkdir(parents=True, exist_ok=True)
    clean.unlink(missing_ok=True)  # until this run ends cleanly
    pipeline = built.pipeline
    target: Any = pipeline.ray() if engine == "ray" else pipeline
    stopped = _watch_stop(target)
    with _no_distiset(), _restored_process_state():
        target.run(use_cache=True)
    clean.touch()
    outputs = read_leaf_outputs(target._cache_location["data"])
    short = {
        step: f"{len(outputs.get(step, []))} of {count}"
        for step, count in built.expected.items()
        if len(outputs.get(step, [])) < count
    }
    if short and stopped():
        raise KeyboardInterrupt
    if short:
        raise CurationError(
            f"distilabel pipeline {pipeline.name} ended without all its rows ({short}); "
            f"its log: {target._cache_location['log_file']}"
        )
    return outputs


def answered(outputs: dict[str, list[dict[str, Any]]]) -> bool:
    """Whether the LLM answered any request: distilabel turns a failed call (refused,
    unreachable, a server error) into a row whose generated columns are all None."""
    return any(
        row.get(column) not in (None, "", [])
        for step, column in GENERATED.items()
        for row in outputs.get(step, [])
    )


def _watch_stop(pipeline: Any) -> Callable[[], bool]:
    """Whether distilabel was asked to stop (Ctrl-C) during the run.

    Its SIGINT handler calls `_stop` and finishes the batches in flight, then `run` returns
    as if done; the flag it sets is cleared before `run` returns, so note the call here.
    """
    calls: list[bool] = []
    original = pipeline._stop

    def stop(*args: Any, **kwargs: Any) -> Any:
        calls.append(True)
        return original(*args, **kwargs)

    pipeline._stop = stop
    return lambda: bool(calls)


@contextlib.contextmanager
def engine_session(engine: str) -> Iterator[None]:
    """Around all the pipelines of a stage: one Ray session (local, or the cluster named by
    RAY_ADDRESS) for all of them, and none left behind."""
    if engine != "ray":
        yield
        return
    import ray

    if not ray.is_initialized():
        ray.init(**_ray_init_kwargs())
    try:
        yield
    finally:
        ray.shutdown()


def read_leaf_outputs(data_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """The rows distilabel's write buffer stored for each leaf step."""
    outputs: dict[str, list[dict[str, Any]]] = {}
    steps_dir = Path(data_dir) / "steps_outputs"
    if not steps_dir.is_dir():
        return outputs
    for step_dir in sorted(path for path in steps_dir.iterdir() if path.is_dir()):
        rows: list[dict[str, Any]] = []
        for file in sorted(step_dir.glob("*.parquet"), key=_file_order):
            rows.extend(pq.read_table(file).to_pylist())
        outputs[step_dir.name] = rows
    return outputs


def _file_order(path: Path) -> tuple[int, str]:
    stem = path.stem.rsplit("_", 1)[-1]
    return (int(stem) if stem.isdigit() else -1, path.name)


def _llm_params(cfg: LLMConfig) -> dict[str, Any]:
    return {
        "backend": cfg.backend,
        "model": cfg.model,
        "base_url": cfg.base_url,
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
        "max_new_tokens": cfg.max_new_tokens,
        "system_prompt": cfg.system_prompt,
    }


def _ray_init_kwargs() -> dict[str, Any]:
    """A local single-node Ray unless RAY_ADDRESS names a cluster (ray.init reads it)."""
    if os.environ.get("RAY_ADDRESS"):
        return {"log_to_driver": False}
    return {"include_dashboard": False, "log_to_driver": False, "num_cpus": os.cpu_count() or 1}


@contextlib.contextmanager
def _no_distiset() -> Iterator[None]:
    """Make `Pipeline.run` skip building its Distiset (network, `datasets` cache)."""
    from distilabel.distiset import Distiset
    from distilabel.pipeline import base, local, ray

    modules = (base, local, ray)
    saved = [module.create_distiset for module in modules]
    for module in modules:
        module.create_distiset = lambda *args, **kwargs: Distiset()
    try:
        yield
    finally:
        for module, original in zip(modules, saved, strict=True):
            module.create_distiset = original


@contextlib.contextmanager
def _restored_process_state() -> Iterator[None]:
    """distilabel takes over SIGINT and the root logger for good; give them back after.

    Its log level follows ours: quiet unless `curate -v`.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    sigint = signal.getsignal(signal.SIGINT)
    saved_level = os.environ.get("DISTILABEL_LOG_LEVEL")
    if saved_level is None:
        os.environ["DISTILABEL_LOG_LEVEL"] = "INFO" if 0 < level <= logging.INFO else "WARNING"
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, sigint)
        root.handlers[:] = handlers
        root.setLevel(level)
        if saved_level is None:
            os.environ.pop("DISTILABEL_LOG_LEVEL", None)
