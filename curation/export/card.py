"""The dataset card (README.md with YAML metadata) of an export, from the run that made it.

Everything on the card is read from where it is recorded: the exported rows themselves
(sources, models, who approved them), the review decisions at export time, and, with a
run directory, its manifest (stage row counts, config fingerprints, tool versions), its
Parquet files and `agreement/<dataset>.json`. A figure that is not recorded is said to be
missing, never guessed: the selection threshold and budget are shown only when the config
given to the export is the one the run's select stage ran with (same fingerprint).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from datasets import DatasetDict
from huggingface_hub import DatasetCard, DatasetCardData

from curation.agreement.results import Agreement, QuestionAgreement
from curation.config import Config
from curation.errors import CurationError
from curation.export.card_template import TEMPLATE
from curation.export.formats import DESCRIPTIONS, FEATURES
from curation.export.gate import Flagged
from curation.review.consensus import DECISIONS
from curation.run_files import INSTRUCTIONS, PREFERENCES, SELECTED, agreement_file
from curation.runs import RunDir

# Hub size categories: upper bound (exclusive) -> label.
SIZES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
)
TRAINER = {"sft": "SFTTrainer", "dpo": "DPOTrainer"}
WHAT = {
    "sft": "instruction-response pairs for supervised fine-tuning",
    "dpo": "preference pairs (chosen, rejected) for preference tuning",
}


@dataclass
class ExportFacts:
    """What the export knows without a run directory."""

    dataset: str
    workspace: str
    template: str
    format: str
    load_path: str  # the repo id, or the local folder
    license: str
    min_submitted: int
    splits: dict[str, int]
    decisions: dict[str, int]  # every record of the Argilla dataset
    approved_by: dict[str, int]  # exported rows
    sources: dict[str, int]  # exported rows
    generator_models: list[str]
    judge_models: list[str]
    corrected: int
    ai_agreed: int  # exported rows people approved as the AI suggested
    ai_decided: int  # exported rows people approved where the AI suggested something
    flagged: Flagged = field(default_factory=Flagged)  # let through by --allow-*


@dataclass
class RunFacts:
    """What the run directory recorded."""

    run_id: str
    funnel: list[tuple[str, int]] = field(default_factory=list)
    sources: dict[str, int] = field(default_factory=dict)
    judge_aspect: str | None = None
    selection: dict[str, Any] | None = None
    fingerprints: dict[str, str] = field(default_factory=dict)
    tool_versions: dict[str, str] = field(default_factory=dict)
    agreement: Agreement | None = None  # agreement/<dataset>.json
    simulated: str | None = None
    hygiene: dict[str, Any] | None = None  # the hygiene stage's counts


def size_category(rows: int) -> str:
    return next((label for limit, label in SIZES if rows < limit), "100M<n<1B")


def export_facts(
    *,
    dataset: str,
    workspace: str,
    template: str,
    format: str,
    load_path: str,
    license: str,
    min_submitted: int,
    splits: DatasetDict,
    decisions: dict[str, int],
    flagged: Flagged | None = None,
) -> ExportFacts:
    """The card's facts from the exported splits and the decisions of every record."""
    rows = [row for part in splits.values() for row in part.to_list()]
    if format == "sft":
        generators = {row["generator_model"] for row in rows}
    else:
        generators = {row["chosen_model"] for row in rows} | {row["rejected_model"] for row in rows}
    by_humans = [row for row in rows if row["approved_by"] in ("humans", "adjudicator")]
    return ExportFacts(
        dataset=dataset,
        workspace=workspace,
        template=template,
        format=format,
        load_path=load_path,
        license=license,
        min_submitted=min_submitted,
        splits={name: len(part) for name, part in splits.items()},
        decisions=decisions,
        approved_by=dict(Counter(row["approved_by"] for row in rows)),
        sources=dict(Counter(row["source"] or "unknown" for row in rows)),
        generator_models=sorted(g for g in generators if g),
        judge_models=sorted({row["judge_model"] for row in rows if row["judge_model"]}),
        corrected=sum(1 for row in rows if row.get("corrected")),
        ai_agreed=sum(1 for row in by_humans if row["ai_agrees"] is True),
        ai_decided=sum(1 for row in by_humans if row["ai_agrees"] is not None),
        flagged=flagged or Flagged(),
    )


def run_facts(run: RunDir, dataset: str, config: Config) -> RunFacts:
    """The run's stages, funnel, settings and agreement figures for `dataset`."""
    manifest = run.manifest()
    stages = manifest.get("stages", {})
    facts = RunFacts(run_id=run.id, tool_versions=manifest.get("tool_versions", {}))
    facts.fingerprints = {
        name: record["fingerprint"]
        for name, record in stages.items()
        if record.get("status") == "done" and record.get("fingerprint")
    }
    preferences = stages.get("preferences", {}).get("counts", {})
    hygiene = stages.get("hygiene", {})
    facts.hygiene = hygiene.get("counts") if hygiene.get("status") == "done" else None
    for label, rows in (
        ("instructions generated", _rows(run, INSTRUCTIONS)),
        ("instructions with judged responses", _rows(run, PREFERENCES)),
        (
            "left by hygiene (near-duplicates, benchmark overlap, PII)",
            (facts.hygiene or {}).get("kept"),
        ),
        ("pairs with a clear AI preference", preferences.get("pairs")),
        ("kept by the diversity filter", _rows(run, SELECTED)),
    ):
        if isinstance(rows, int):
            facts.funnel.append((label, rows))
    generated = _column(run, INSTRUCTIONS, "source")
    facts.sources = dict(Counter(str(s) for s in generated if s is not None))
    for params in _column(run, PREFERENCES, "judge_params"):
        aspect = _json(params).get("aspect")
        if aspect:
            facts.judge_aspect = str(aspect)
            break
    facts.selection = _selection_settings(run, stages.get("select"), config)
    facts.agreement = _agreement(run, dataset)
    simulated = manifest.get("simulated_review") or {}
    if dataset in (simulated.get("datasets") or {}):
        facts.simulated = str(simulated.get("note") or "SIMULATED review")
    return facts


def build_card(facts: ExportFacts, run: RunFacts | None, config: Config) -> DatasetCard:
    """The card: YAML metadata (licence, task, size, configs, tags) and the body."""
    total = sum(facts.splits.values())
    tags = ["synthetic", "distilabel", "argilla", "human-feedback", "curation", "trl"]
    tags.append("sft" if facts.format == "sft" else "dpo")
    if run is not None and run.simulated:
        tags.append("simulated-review")
    data = DatasetCardData(
        license=facts.license,
        task_categories=["text-generation"],
        size_categories=[size_category(total)],
        language_creators=["machine-generated"],
        pretty_name=facts.dataset,
        tags=tags,
        configs=[
            {
                "config_name": "default",
                "data_files": [{"split": name, "path": f"data/{name}-*"} for name in facts.splits],
            }
        ],
    )
    auto = config.review.auto_approval if facts.approved_by.get("auto") else None
    return DatasetCard.from_template(
        data,
        template_str=TEMPLATE,
        f=facts,
        run=run,
        total=f"{total:,}",
        what=WHAT[facts.format],
        trainer=TRAINER[facts.format],
        splits=_listing(facts.splits, "`{}` {:,} rows"),
        columns=[(name, DESCRIPTIONS[name]) for name in FEATURES[facts.format]],
        how=_how_it_was_made(facts, run, auto),
        funnel=_funnel(facts, run),
        decisions=_listing(
            {name: facts.decisions[name] for name in DECISIONS if facts.decisions.get(name)},
            "{} {:,}",
        ),
        approved_by=_listing(facts.approved_by, "{} {:,}"),
        agreement=[_agreement_row(name, q) for name, q in run.agreement.questions.items()]
        if run and run.agreement
        else [],
        fingerprints=_listing(run.fingerprints, "{} `{}`") if run else "",
        tools=_listing(run.tool_versions, "{} {}") if run else "",
    )


# --- reading the run --------------------------------------------------------------------


def _rows(run: RunDir, name: str) -> int | None:
    try:
        return pq.ParquetFile(run.file(name)).metadata.num_rows
    except (OSError, pa.ArrowException):
        return None


def _column(run: RunDir, name: str, column: str) -> list[Any]:
    """One column of a run file; empty when the file or the column is not there."""
    try:
        if column not in pq.read_schema(run.file(name)).names:
            return []
        return pq.read_table(run.file(name), columns=[column]).column(column).to_pylist()
    except (OSError, pa.ArrowException):
        return []


def _json(text: Any) -> dict[str, Any]:
    try:
        data = json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _selection_settings(
    run: RunDir, record: dict[str, Any] | None, config: Config
) -> dict[str, Any] | None:
    """Threshold, budget and model, if `config` is the one the select stage ran with."""
    if not record or record.get("status") != "done" or not record.get("fingerprint"):
        return None
    inputs = record.get("inputs", [])
    if not all(run.file(name).exists() for name in inputs):
        return None
    selection = config.selection
    if run.fingerprint(inputs, selection.model_dump(mode="json")) != record["fingerprint"]:
        return None
    return {
        "threshold": selection.threshold,
        "budget": selection.budget,
        "embedding_model": selection.embedding_model,
    }


def _agreement(run: RunDir, dataset: str) -> Agreement | None:
    """`agreement/<dataset>.json`, or None where it is missing or unreadable."""
    path = run.file(agreement_file(dataset))
    try:
        return Agreement.from_json(json.loads(path.read_text()), where=str(path))
    except (OSError, ValueError, CurationError):
        return None


# --- rendering ---------------------------------------------------------------------------


def _listing(items: dict[str, Any], pattern: str) -> str:
    return ", ".join(pattern.format(key, value) for key, value in items.items())


def _how_it_was_made(facts: ExportFacts, run: RunFacts | None, auto: Any) -> list[str]:
    """The bullet points of "How it was made", each one sentence or two."""
    judge = ", ".join(facts.judge_models) or "unrecorded"
    if run and run.judge_aspect:
        judge += f" (UltraFeedback aspect `{run.judge_aspect}`)"
    rule, left_out = _approval_rule(facts)
    lines = [
        f"**Instructions:** {_instructions(facts, run)}",
        f"**Responses:** written by {', '.join(facts.generator_models) or 'unrecorded models'}.",
        f"**AI judge:** {judge}; its ratings and choices were shown to reviewers as "
        "suggestions. Deita score = complexity x quality.",
        f"**Selection:** {_selection(run)}",
        f"**Review:** Argilla `{facts.template}` template. A record is approved when at least "
        f"{facts.min_submitted} reviewers submitted and a strict majority {rule}; "
        f"{left_out} records are not exported.",
    ]
    if facts.approved_by.get("adjudicator"):
        lines.append(_adjudication_line(facts))
    if auto is not None:
        lines.append(_auto_approval_line(facts, auto))
    if run and run.hygiene:
        lines.append(_hygiene_line(run.hygiene))
    if facts.flagged.pii_rows or facts.flagged.contaminated_rows:
        lines.append(_flagged_line(facts.flagged))
    if facts.ai_decided:
        lines.append(
            f"**AI vs people:** reviewers decided as the AI judge suggested on "
            f"{facts.ai_agreed:,} of {facts.ai_decided:,} human-approved rows "
            f"({facts.ai_agreed / facts.ai_decided:.0%})."
        )
    return lines


def _instructions(facts: ExportFacts, run: RunFacts | None) -> str:
    """Where the instructions came from: per generator, in the run and in this export."""
    exported = _listing(facts.sources, "{} ({:,})")
    if run and run.sources:
        generated = _listing(run.sources, "{} ({:,})")
        return f"generated with distilabel: {generated}; in this export: {exported}."
    return f"in this export: {exported}."


def _selection(run: RunFacts | None) -> str:
    """The diversity filter's settings, where the run recorded them for this config."""
    if not (run and run.selection):
        return (
            "Deita-style diversity filter; its threshold and budget are not recorded for this "
            "export (no run directory, or the config given differs from the one the run used)."
        )
    budget = run.selection["budget"]
    return (
        "Deita-style diversity filter: highest `deita_score` first, a row kept only if "
        f"its cosine similarity to every kept row is at most {run.selection['threshold']} "
        f"({run.selection['embedding_model']} embeddings), budget "
        f"{'unlimited' if budget is None else budget}."
    )


def _approval_rule(facts: ExportFacts) -> tuple[str, str]:
    """What a strict majority must say for a record to be approved, and what is left out."""
    if facts.format == "sft":
        rule = (
            "said `keep`, or `fix` with a corrected response (exported instead of the "
            f"original: {facts.corrected:,} rows here)"
        )
        return rule, "pending, draft, discarded, tied, dropped and fix-without-correction"
    rule = (
        "preferred the same response, exported as `chosen` even where the AI judge "
        "preferred the other"
    )
    return rule, "pending, draft, discarded and tied"


def _adjudication_line(facts: ExportFacts) -> str:
    return (
        f"**Adjudication:** {facts.approved_by['adjudicator']:,} rows are records the "
        "reviewers could not settle (a tie, a fix without a correction, or a disagreement "
        "the curator escalated); an adjudicator saw every answer and made the final call "
        "(`approved_by: adjudicator`), which these rows follow."
    )


def _auto_approval_line(facts: ExportFacts, auto: Any) -> str:
    return (
        f"**Auto-approval:** {facts.approved_by.get('auto', 0):,} rows were approved "
        "without review by the curator's policy and are marked `approved_by: auto` (the "
        f"policy in the export's config: judge confidence at least {auto.min_confidence} "
        f"where reviewers agreed with the AI on at least {auto.min_agreement:.0%} of "
        f"{auto.min_decided} or more decided records)."
    )


def _hygiene_line(counts: dict[str, Any]) -> str:
    """What `curate hygiene` removed, and why, from the counts it recorded."""
    settings = counts.get("settings", {})
    benchmarks = ", ".join(settings.get("benchmarks", [])) or "none named"
    kinds = {kind: n for kind, n in counts.get("pii_kinds", {}).items() if n}
    return (
        f"**Hygiene (before selection):** of {counts.get('rows', 0):,} rows, "
        f"{counts.get('dropped_duplicate', 0):,} near-duplicates were removed "
        f"({settings.get('dedup', 'MinHash LSH')}; each cluster kept its best-scored row), "
        f"{counts.get('dropped_contaminated', 0):,} overlapping an evaluation benchmark "
        f"({benchmarks}; {settings.get('decontamination', 'word n-grams')}) and "
        f"{counts.get('dropped_pii', 0):,} holding personal data or secrets. "
        f"{counts.get('pii_rows', 0):,} rows held PII ({_listing(kinds, '{} {:,}') or 'none'}), "
        f"which was {settings.get('pii_action', 'flagged')}."
    )


def _flagged_line(flagged: Flagged) -> str:
    parts = []
    if flagged.pii_rows:
        kinds = _listing(flagged.pii_kinds, "{} {:,}")
        parts.append(f"{flagged.pii_rows:,} rows hold PII ({kinds}; exported with --allow-pii)")
    if flagged.contaminated_rows:
        names = _listing(flagged.benchmarks, "{} {:,}")
        parts.append(
            f"{flagged.contaminated_rows:,} rows overlap a benchmark ({names}; exported with "
            "--allow-contaminated)"
        )
    return "**Warning:** " + "; ".join(parts) + "."


def _funnel(facts: ExportFacts, run: RunFacts | None) -> list[tuple[str, str]]:
    stages = list(run.funnel) if run else []
    stages += [
        ("records in the Argilla dataset", sum(facts.decisions.values())),
        ("approved", facts.decisions.get("approved", 0)),
        ("exported", sum(facts.splits.values())),
    ]
    return [(label, f"{rows:,}") for label, rows in stages]


def _agreement_row(question: str, q: QuestionAgreement) -> list[str]:
    """One question's headline figures, as the card's agreement table shows them."""

    def number(value: Any) -> str:
        return (
            "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)
        )

    hh, ah = q.human_human, q.ai_human
    figures = (q.n_records, q.n_annotators, hh.krippendorff_alpha, hh.alpha_level)
    figures += (hh.percent_agreement, ah.exact_agreement, ah.cohen_kappa)
    return [f"`{question}`", *map(number, figures)]
