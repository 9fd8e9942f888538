"""`curate generate`: two run stages, `instructions` then `preferences` (`curation.stages`).

Everything that can be wrong with the input (config, seed file, unreachable LLM server) is
found before the run directory is touched. Each stage is skipped when its output is current.

Resuming: a stage works in chunks of `batch_size` work items, one distilabel pipeline (and
one batch per step) each; a finished chunk is checkpointed (Parquet, atomic) in the stage's
work dir, keyed by its inputs and config. A rerun reuses finished chunks, resumes a chunk
stopped with Ctrl-C from distilabel's cache, and redoes a chunk that was killed hard; so no
row is lost, and none is made twice.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
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
    CANDIDATE_SCHEMA,
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
from curation.run_files import INSTRUCTIONS, PREFERENCES
from curation.runs import RunDir, StageContext, sha256_file, write_parquet
from curation.stages import Stage, run_stages

# Filters drop some generations, so ask for more than the quota; small models also write
# fewer SelfInstruct lines than asked for.
OVERGENERATE = {"self-instruct": 2.0, "magpie": 1.5, "evol-instruct": 1.5}


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


@dataclass
class Prepared:
    """What both generation stages share, checked before the run directory is touched."""

    config: Config
    count: int
    quotas: dict[str, int]
    plan: InstructionPlan
    seed_rows: list[InstructionCandidate]
    seeds_sha256: str
    llm_for: LLMFactory

    @property
    def local_model(self) -> dict[str, str]:
        llm = self.config.llm
        return {"alias": llm.alias, "model_path": str(llm.model_path or "")}


def prepare(
    config: Config, num_instructions: int | None = None, llm_factory: LLMFactory | None = None
) -> Prepared:
    """Check the count, the seeds and every LLM (a bad backend or server fails here)."""
    cfg = config.generation
    count = num_instructions if num_instructions is not None else cfg.num_instructions
    if count < 1:
        raise CurationError(f"--num-instructions must be at least 1, got {count}")
    seeds_path, seeds = load_seeds(cfg.seeds)
    quotas = split_quotas(count, cfg.sources)
    plan, seed_rows = plan_instructions(seeds, quotas, cfg)
    llm_for = llm_factory or default_llm_factory(config)
    _preflight(cfg, llm_for)
    return Prepared(config, count, quotas, plan, seed_rows, sha256_file(seeds_path), llm_for)


@dataclass
class InstructionsStage(Stage):
    """Instructions from the seeds: SelfInstruct, Magpie, EvolInstruct (distilabel)."""

    name = "instructions"
    section = "generation"
    writes = (INSTRUCTIONS,)
    prepared: Prepared

    def settings(self) -> Any:
        cfg = self.prepared.config.generation
        return {
            "num_instructions": self.prepared.count,
            "seeds_sha256": self.prepared.seeds_sha256,
            "local_model": self.prepared.local_model,
            **cfg.model_dump(
                mode="json",
                include={
                    "sources", "self_instruct", "magpie", "evol_instruct", "instruction_llm",
                    "min_instruction_chars",
                },
            ),
        }  # fmt: skip

    def run(self, ctx: StageContext) -> None:
        p, cfg = self.prepared, self.prepared.config.generation
        with pipelines.engine_session(cfg.engine):
            _instructions_stage(ctx, cfg, p.plan, p.seed_rows, p.quotas, p.llm_for)

    def summary(self, counts: dict[str, Any]) -> str:
        return f"{counts.get('instructions', 0)} instructions"


@dataclass
class PreferencesStage(Stage):
    """Responses, EvolQuality rewrites and UltraFeedback ratings per instruction."""

    name = "preferences"
    section = "generation"
    reads = (INSTRUCTIONS,)
    writes = (PREFERENCES,)
    prepared: Prepared

    def settings(self) -> Any:
        cfg = self.prepared.config.generation
        return {
            "local_model": self.prepared.local_model,
            **cfg.model_dump(
                mode="json", include={"generators", "evol_quality", "judge", "aspect", "tie_margin"}
            ),
            "judge_calibration_sha256": sha256_file(cfg.judge.calibration)
            if cfg.judge.calibration
            else None,
        }

    def run(self, ctx: StageContext) -> None:
        cfg = self.prepared.config.generation
        with pipelines.engine_session(cfg.engine):
            _preferences_stage(ctx, cfg, self.prepared.llm_for)

    def summary(self, counts: dict[str, Any]) -> str:
        return f"{counts.get('rows', 0)} preference rows ({counts.get('pairs', 0)} pairs)"


def generation_stages(
    config: Config, num_instructions: int | None = None, llm_factory: LLMFactory | None = None
) -> list[Stage]:
    """The two stages of `curate generate`, their input checked."""
    prepared = prepare(config, num_instructions, llm_factory)
    return [InstructionsStage(prepared), PreferencesStage(prepared)]


def generate(
    config: Config,
    run: str | Path | RunDir | None,
    *,
    num_instructions: int | None = None,
    llm_factory: LLMFactory | None = None,
) -> GenerationSummary:
    """`curate generate`: both stages in a run directory (a new run when `run` is None)."""
    stages = generation_stages(config, num_instructions, llm_factory)
    run_dir = run if isinstance(run, RunDir) else RunDir.open(run, config.runs_dir)
    outcomes = run_stages(run_dir, stages)
    return _summary(run_dir, [outcome.name for outcome in outcomes if outcome.ran])


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

    def wanted(source: str, per_item: int = 1) -> int:
        return math.ceil(quotas.get(source, 0) * OVERGENERATE[source] / per_item)

    plan = InstructionPlan(
        contexts=_spread(
            contexts, wanted("self-instruct", cfg.self_instruct.instructions_per_seed)
        ),
        magpie_rows=wanted("magpie"),
        evol_seeds=_spread(instructions, wanted("evol-instruct")),
    )
    seed_file = str(cfg.seeds or "bundled seeds.jsonl")
    seed_rows = [
        InstructionCandidate(text, "seed", None, params={"seed_file": seed_file})  # type: ignore[arg-type]
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
    if cfg.judge.calibration:
        from curation.judge.calibration import Calibration

        Calibration.load(cfg.judge.calibration)  # a missing or bad file fails here
    configs = [cfg.instruction_llm, *cfg.generators, cfg.judge, *cfg.judge.panel]
    for llm_cfg in {c.model_dump_json(): c for c in configs}.values():
        llm_for(llm_cfg)
    if "magpie" in cfg.sources:
        llm_for(cfg.instruction_llm, magpie=cfg.magpie.pre_query_template)


def _checkpointed(
    ctx: StageContext,
    key_data: Any,
    schema: pa.Schema,
    compute: Callable[[Path], list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    """The rows of one chunk: from its checkpoint, or computed (given a cache dir) and saved."""
    key = hashlib.sha256(json.dumps(key_data, sort_keys=True, default=str).encode()).hexdigest()
    path = ctx.work_dir / "chunks" / f"{key[:24]}.parquet"
    counts = ctx.counts.setdefault("chunks", {"total": 0, "reused": 0})
    counts["total"] += 1
    if path.exists():
        counts["reused"] += 1
        return pq.read_table(path).to_pylist()
    rows = compute(ctx.work_dir / "distilabel" / key[:24])
    write_parquet(pa.Table.from_pylist(rows, schema=schema), path)
    return rows


def _instructions_stage(
    ctx: StageContext,
    cfg: GenerationConfig,
    plan: InstructionPlan,
    seed_rows: list[InstructionCandidate],
    quotas: dict[str, int],
    llm_for: LLMFactory,
) -> None:
    settings = cfg.model_dump(mode="json", exclude={"engine", "batch_size"})
    candidates = list(seed_rows)
    for index, chunk in enumerate(_plan_chunks(plan, cfg.batch_size)):

        def compute(cache: Path, chunk: InstructionPlan = chunk) -> list[dict[str, Any]]:
            built = pipelines.instructions_pipeline(chunk, cfg, llm_for, cache)
            outputs = pipelines.run_pipeline(built, engine=cfg.engine)
            if not pipelines.answered(outputs):
                raise CurationError(no_answer(cfg.instruction_llm, built))
            return [candidate.record() for candidate in instruction_candidates(outputs, cfg)]

        key = {"instructions": chunk.__dict__, "index": index, "settings": settings}
        records = _checkpointed(ctx, key, CANDIDATE_SCHEMA, compute)
        candidates += [InstructionCandidate.from_record(record) for record in records]
    rows, counts = select_instructions(candidates, quotas, min_chars=cfg.min_instruction_chars)
    ctx.counts.update(sources=counts, instructions=len(rows))
    ctx.write_parquet(INSTRUCTIONS, pa.Table.from_pylist(rows, schema=INSTRUCTION_SCHEMA))


def no_answer(llm: LLMConfig, built: pipelines.Built) -> str:
    """One line for a pipeline whose every LLM call failed: which backend, never a key."""
    where = f" at {llm.base_url}" if llm.base_url else ""
    return (
        f"every LLM call of the instructions pipeline failed (backend {llm.backend}, model "
        f"{llm.model}{where}); the distilabel log is under {built.cache_dir}"
    )


def _plan_chunks(plan: InstructionPlan, size: int) -> list[InstructionPlan]:
    """The plan in chunks of `size` work items (SelfInstruct calls, Magpie rows, evolutions)."""
    items = (
        [("context", context) for context in plan.contexts]
        + [("magpie", "")] * plan.magpie_rows
        + [("evol", seed) for seed in plan.evol_seeds]
    )
    chunks = []
    for start in range(0, len(items), size):
        part = items[start : start + size]
        chunks.append(
            InstructionPlan(
                contexts=[text for kind, text in part if kind == "context"],
                magpie_rows=sum(1 for kind, _ in part if kind == "magpie"),
                evol_seeds=[text for kind, text in part if kind == "evol"],
            )
        )
    return chunks


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
                row.get("evolved_instruction"), "evol-instruct",
                row.get("model_name") or llm.model, row.get("instruction"),
                {**params, "task": "distilabel EvolInstruct (random MUTATION_TEMPLATES)",
                 "num_evolutions": cfg.evol_instruct.num_evolutions},
                truncated=(output_tokens(row.get(METADATA), pipelines.EVOL_INSTRUCT) or 0) >= limit,
                prompt=row.get("instruction"),
            )
        )  # fmt: skip
    return found


def _preferences_stage(ctx: StageContext, cfg: GenerationConfig, llm_for: LLMFactory) -> None:
    instructions = pq.read_table(ctx.path(INSTRUCTIONS)).to_pylist()
    settings = cfg.model_dump(mode="json", exclude={"engine", "batch_size"})
    rows: list[dict[str, Any]] = []
    for start in range(0, len(instructions), cfg.batch_size):
        chunk = instructions[start : start + cfg.batch_size]

        def compute(cache: Path, chunk: list[dict[str, Any]] = chunk) -> list[dict[str, Any]]:
            built = pipelines.preferences_pipeline(chunk, cfg, llm_for, cache)
            judged = pipelines.run_pipeline(built, engine=cfg.engine).get(pipelines.JUDGED, [])
            rows = preference_rows(chunk, judged, cfg)
            decide_pairs(rows, cfg, llm_for)
            return rows

        key = {"preferences": [r["id"] for r in chunk], "settings": settings}
        rows += _checkpointed(ctx, key, PREFERENCE_SCHEMA, compute)
    ctx.counts.update(
        rows=len(rows),
        candidates=sum(len(row["generations"]) for row in rows),
        candidates_dropped_empty=sum(len(row["dropped_candidates"]) for row in rows),
        candidates_truncated=sum(sum(row["generation_truncated"]) for row in rows),
        pairs=sum(1 for row in rows if row["chosen"] is not None and not row["tie"]),
        ties=sum(1 for row in rows if row["tie"]),
        pair_nulls=sum(1 for row in rows if row["pair_null_reason"]),
        judge=judge_counts(rows),
    )
    ctx.write_parquet(PREFERENCES, pa.Table.from_pylist(rows, schema=PREFERENCE_SCHEMA))


def decide_pairs(rows: list[dict[str, Any]], cfg: GenerationConfig, llm_for: LLMFactory) -> None:
    """The pair judge decides each row's chosen/rejected, tie and uncertainty (in place)."""
    from curation.judge.preferences import decide

    llms = [llm_for(member) for member in [cfg.judge, *cfg.judge.panel]]
    for llm in llms:
        llm.load()
    decide(rows, cfg.judge, llms[0], llms[1:])


def preference_rows(
    instructions: list[dict[str, Any]], judged: list[dict[str, Any]], cfg: GenerationConfig
) -> list[dict[str, Any]]:
    """One preference row per instruction, in order, from the pipeline's judged rows."""
    by_instruction: dict[str, dict[str, Any]] = {}
    for row in judged:
        by_instruction.setdefault(row["instruction_id"], row)
    missing = [r["id"] for r in instructions if r["id"] not in by_instruction]
    if missing:
        raise CurationError(
            f"the preferences pipeline returned no row for {len(missing)} of "
            f"{len(instructions)} instructions (first: {missing[0]}); rerun to resume"
        )
    params = {c["label"]: c["params"] for c in pipelines.candidate_plan(cfg)}
    judge_model = next((r["judge_model"] for r in judged if r.get("judge_model")), cfg.judge.model)
    judge = pipelines.judge_params(cfg, judge_model)
    return [
        preference_row(
            by_instruction[r["id"]], candidate_params=params, judge_params=judge,
            tie_margin=cfg.tie_margin,
        )
        for r in instructions
    ]  # fmt: skip


def _summary(run: RunDir, ran: list[str]) -> GenerationSummary:
    stages = run.manifest()["stages"]
    instructions = stages.get("instructions", {}).get("counts", {})
    preferences = stages.get("preferences", {}).get("counts", {})
    return GenerationSummary(
        run=run.path,
        instructions=instructions.get("instructions", 0),
        preferences=preferences.get("rows", 0),
        pairs=preferences.get("pairs", 0),
        ties=preferences.get("ties", 0),
        parse_rate=preferences.get("judge", {}).get("parse_rate"),
        ran=ran,
    )
