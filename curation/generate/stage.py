"""`curate generate`: two run stages, `instructions` then `preferences`.

Everything that can be wrong with the input (config, seed file, unreachable LLM server) is
found before the run directory is touched. Each stage is skipped when its output is current
and resumes from distilabel's cache (in the stage's work dir) when it was interrupted.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curation.config import Config, GenerationConfig, LLMConfig
from curation.errors import CurationError
from curation.generate import pipelines
from curation.generate.candidates import output_tokens
from curation.generate.evolve import METADATA
from curation.generate.pipelines import InstructionPlan, LLMFactory
from curation.generate.rows import (
    INSTRUCTION_SCHEMA,
    PREFERENCE_SCHEMA,
    SOURCES,
    InstructionCandidate,
    judge_counts,
    preference_row,
    select_instructions,
)
from curation.generate.seeds import Seed, load_seeds
from curation.llm.backends import build_llm
from curation.runs import RunDir, StageContext, sha256_file

INSTRUCTIONS = "instructions.parquet"
PREFERENCES = "preferences.parquet"
# Filters drop some generations; ask for this much more than the quota.
OVERGENERATE = 1.5


@dataclass
class GenerationSummary:
    """What `curate generate` reports: rows written and the judges' parse rate."""

    run: Path
    instructions: int
    preferences: int
    pairs: int
    ties: int
    parse_rate: float | None
    ran: list[str]

    def line(self) -> str:
        rate = "n/a" if self.parse_rate is None else f"{self.parse_rate:.1%}"
        return (
            f"{self.instructions} instructions, {self.preferences} preference rows "
            f"({self.pairs} pairs, {self.ties} ties), judge parse rate {rate}"
        )


def default_llm_factory(config: Config) -> LLMFactory:
    """LLMs from the config's backends; the local one is the server in `config.llm`."""

    def build(cfg: LLMConfig, magpie: str | None = None) -> Any:
        return build_llm(cfg, config.llm, magpie_pre_query_template=magpie)

    return build


def generate(
    config: Config,
    run: str | Path | RunDir | None,
    *,
    num_instructions: int | None = None,
    llm_factory: LLMFactory | None = None,
) -> GenerationSummary:
    """Run the generation stages in a run directory (a new run when `run` is None)."""
    cfg = config.generation
    count = num_instructions if num_instructions is not None else cfg.num_instructions
    if count < 1:
        raise CurationError(f"--num-instructions must be at least 1, got {count}")
    seeds_path, seeds = load_seeds(cfg.seeds)
    llm_for = llm_factory or default_llm_factory(config)
    _preflight(cfg, llm_for)
    run_dir = run if isinstance(run, RunDir) else RunDir.open(run, config.runs_dir)

    quotas = split_quotas(count, cfg.sources)
    plan, seed_rows = plan_instructions(seeds, quotas, cfg)
    instruction_config = {
        "num_instructions": count,
        "seeds_sha256": sha256_file(seeds_path),
        "local_model": _local_model(config),
        **cfg.model_dump(
            mode="json",
            include={
                "sources", "self_instruct", "magpie", "evol_instruct", "instruction_llm",
                "min_instruction_chars",
            },
        ),
    }  # fmt: skip
    preference_config = {
        "local_model": _local_model(config),
        **cfg.model_dump(
            mode="json", include={"generators", "evol_quality", "judge", "aspect", "tie_margin"}
        ),
    }
    ran = []
    if run_dir.run_stage(
        "instructions",
        lambda ctx: _instructions_stage(ctx, cfg, plan, seed_rows, quotas, llm_for),
        outputs=[INSTRUCTIONS],
        config=instruction_config,
    ):
        ran.append("instructions")
    if run_dir.run_stage(
        "preferences",
        lambda ctx: _preferences_stage(ctx, cfg, llm_for),
        inputs=[INSTRUCTIONS],
        outputs=[PREFERENCES],
        config=preference_config,
    ):
        ran.append("preferences")
    return _summary(run_dir, ran)


def split_quotas(count: int, sources: list[str]) -> dict[str, int]:
    """`count` instructions split evenly between the sources (the first get the remainder)."""
    unique = [source for source in SOURCES if source in sources]
    base, extra = divmod(count, len(unique))
    return {source: base + (index < extra) for index, source in enumerate(unique)}


def plan_instructions(
    seeds: list[Seed], quotas: dict[str, int], cfg: GenerationConfig
) -> tuple[InstructionPlan, list[InstructionCandidate]]:
    """What to ask each source for, spread over the seed file, and the seed rows themselves."""
    contexts = [seed.context for seed in seeds if seed.context]
    instructions = [seed.instruction for seed in seeds if seed.instruction]
    if quotas.get("self-instruct") and not contexts:
        raise CurationError("source self-instruct needs seeds with a `context` (or `input`)")
    if (quotas.get("evol-instruct") or quotas.get("seed")) and not instructions:
        raise CurationError("sources seed and evol-instruct need seeds with an `instruction`")
    calls = math.ceil(
        quotas.get("self-instruct", 0) * OVERGENERATE / cfg.self_instruct.instructions_per_seed
    )
    plan = InstructionPlan(
        contexts=_spread(contexts, calls),
        magpie_rows=math.ceil(quotas.get("magpie", 0) * OVERGENERATE),
        evol_seeds=_spread(instructions, math.ceil(quotas.get("evol-instruct", 0) * OVERGENERATE)),
    )
    seed_rows = [
        InstructionCandidate(text, "seed", None, params={"seed_file": str(cfg.seeds or "bundled")})  # type: ignore[arg-type]
        for text in instructions[: quotas.get("seed", 0) * 2]
    ]
    return plan, seed_rows


def _spread(items: list[str], count: int) -> list[str]:
    """`count` items taken evenly across the list, cycling through it when it is short."""
    if not items or count <= 0:
        return []
    if count >= len(items):
        return [items[index % len(items)] for index in range(count)]
    return [items[index * len(items) // count] for index in range(count)]


def _preflight(cfg: GenerationConfig, llm_for: LLMFactory) -> None:
    """Build every LLM once, so a bad backend or an unreachable server fails first."""
    configs = [cfg.instruction_llm, *cfg.generators, cfg.judge]
    for llm_cfg in {c.model_dump_json(): c for c in configs}.values():
        llm_for(llm_cfg)
    if "magpie" in cfg.sources:
        llm_for(cfg.instruction_llm, magpie=cfg.magpie.pre_query_template)


def _instructions_stage(
    ctx: StageContext,
    cfg: GenerationConfig,
    plan: InstructionPlan,
    seed_rows: list[InstructionCandidate],
    quotas: dict[str, int],
    llm_for: LLMFactory,
) -> None:
    candidates = list(seed_rows)
    if not plan.empty:
        pipeline = pipelines.instructions_pipeline(
            plan,
            cfg,
            llm_for,
            _cache_dir(ctx, {"plan": plan.__dict__, "cfg": cfg.model_dump(mode="json")}),
        )
        outputs = pipelines.run_pipeline(pipeline, engine=cfg.engine)
        candidates += instruction_candidates(outputs, cfg)
    rows, counts = select_instructions(candidates, quotas, min_chars=cfg.min_instruction_chars)
    ctx.counts.update(sources=counts, instructions=len(rows))
    ctx.write_parquet(INSTRUCTIONS, pa.Table.from_pylist(rows, schema=INSTRUCTION_SCHEMA))


def instruction_candidates(
    outputs: dict[str, list[dict[str, Any]]], cfg: GenerationConfig
) -> list[InstructionCandidate]:
    """Instructions from the pipeline's leaf steps, with truncation and provenance."""
    llm = cfg.instruction_llm
    limit = llm.max_new_tokens
    params = {
        "backend": llm.backend, "model": llm.model, "temperature": llm.temperature,
        "top_p": llm.top_p, "max_new_tokens": limit,
    }  # fmt: skip
    found: list[InstructionCandidate] = []
    for row in outputs.get(pipelines.SELF_INSTRUCT, []):
        lines = [line for line in (row.get("instructions") or []) if line.strip()]
        truncated = (output_tokens(row.get(METADATA), pipelines.SELF_INSTRUCT) or 0) >= limit
        shown = (row.get(METADATA) or {}).get(f"raw_input_{pipelines.SELF_INSTRUCT}") or []
        prompt = "\n".join(message.get("content", "") for message in shown)
        for index, line in enumerate(lines):
            found.append(
                InstructionCandidate(
                    line, "self-instruct", row.get("model_name") or llm.model, row.get("input"),
                    {**params, "task": "distilabel SelfInstruct (self-instruct.jinja2)",
                     "instructions_per_seed": cfg.self_instruct.instructions_per_seed},
                    truncated=truncated and index == len(lines) - 1,
                    prompt=prompt or row.get("input"),
                )
            )  # fmt: skip
    for row in outputs.get(pipelines.MAGPIE, []):
        found.append(
            InstructionCandidate(
                row.get("instruction"), "magpie", row.get("model_name") or llm.model, None,
                {**params, "task": "distilabel MagpieGenerator (only_instruction)",
                 "system_prompt": cfg.magpie.system_prompt,
                 "pre_query_template": cfg.magpie.pre_query_template},
                truncated=(output_tokens(row.get(METADATA), pipelines.MAGPIE) or 0) >= limit,
                prompt=cfg.magpie.system_prompt,
            )
        )  # fmt: skip
    for row in outputs.get(pipelines.EVOL_INSTRUCT, []):
        found.append(
            InstructionCandidate(
                row.get("evolved_instruction"), "evol-instruct", row.get("model_name") or llm.model,
                row.get("instruction"),
                {**params, "task": "distilabel EvolInstruct (random MUTATION_TEMPLATES)",
                 "num_evolutions": cfg.evol_instruct.num_evolutions},
                truncated=(output_tokens(row.get(METADATA), pipelines.EVOL_INSTRUCT) or 0) >= limit,
                prompt=row.get("instruction"),
            )
        )  # fmt: skip
    return found


def _preferences_stage(ctx: StageContext, cfg: GenerationConfig, llm_for: LLMFactory) -> None:
    instructions = pq.read_table(ctx.path(INSTRUCTIONS)).to_pylist()
    judged: list[dict[str, Any]] = []
    if instructions:
        pipeline = pipelines.preferences_pipeline(
            instructions,
            cfg,
            llm_for,
            _cache_dir(ctx, {"rows": instructions, "cfg": cfg.model_dump(mode="json")}),
        )
        judged = pipelines.run_pipeline(pipeline, engine=cfg.engine).get(pipelines.JUDGED, [])
    # A batch redone after an interruption may have been stored twice: first one wins.
    by_instruction: dict[str, dict[str, Any]] = {}
    for row in judged:
        by_instruction.setdefault(row["instruction_id"], row)
    missing = [r["id"] for r in instructions if r["id"] not in by_instruction]
    if missing:
        raise CurationError(
            f"the preferences pipeline returned no row for {len(missing)} of "
            f"{len(instructions)} instructions (first: {missing[0]}); rerun to resume"
        )
    plan = pipelines.candidate_plan(cfg)
    params = {candidate["label"]: candidate["params"] for candidate in plan}
    judge_model = next(
        (r.get("judge_model") for r in judged if r.get("judge_model")), cfg.judge.model
    )
    judge = pipelines.judge_params(cfg, judge_model)
    rows = [
        preference_row(
            by_instruction[r["id"]], candidate_params=params, judge_params=judge,
            tie_margin=cfg.tie_margin,
        )
        for r in instructions
    ]  # fmt: skip
    dropped = sum(
        len(by_instruction[r["id"]].get("dropped_candidates") or []) for r in instructions
    )
    ctx.counts.update(
        rows=len(rows),
        candidates=sum(len(row["generations"]) for row in rows),
        candidates_dropped_empty=dropped,
        candidates_truncated=sum(sum(row["generation_truncated"]) for row in rows),
        pairs=sum(1 for row in rows if row["chosen"] is not None and not row["tie"]),
        ties=sum(1 for row in rows if row["tie"]),
        pair_nulls=sum(1 for row in rows if row["pair_null_reason"]),
        judge=judge_counts(rows),
    )
    ctx.write_parquet(PREFERENCES, pa.Table.from_pylist(rows, schema=PREFERENCE_SCHEMA))


def _cache_dir(ctx: StageContext, inputs: dict[str, Any]) -> Path:
    """distilabel's cache for exactly these inputs (its own key ignores the input data)."""
    key = hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()
    return ctx.work_dir / "distilabel" / key[:16]


def _local_model(config: Config) -> dict[str, Any]:
    return {"alias": config.llm.alias, "model_path": str(config.llm.model_path or "bundled")}


def _summary(run: RunDir, ran: list[str]) -> GenerationSummary:
    stages = run.manifest()["stages"]
    instructions = stages.get("instructions", {})
    preferences = stages.get("preferences", {}).get("counts", {})
    return GenerationSummary(
        run=run.path,
        instructions=instructions.get("counts", {}).get("instructions", 0),
        preferences=preferences.get("rows", 0),
        pairs=preferences.get("pairs", 0),
        ties=preferences.get("ties", 0),
        parse_rate=preferences.get("judge", {}).get("parse_rate"),
        ran=ran,
    )
