"""The one list of run-directory files: each name, what it holds, and the stage that writes it.

Stages read and write these names (never a spelled-out string of their own), the export's
dataset card and the dashboard read them, and the dashboard's "missing, and what writes it"
notices quote `command` with `{run}` filled in.
"""

from __future__ import annotations

from dataclasses import dataclass

MANIFEST = "manifest.json"
INSTRUCTIONS = "instructions.parquet"
PREFERENCES = "preferences.parquet"
HYGIENE = "hygiene.parquet"
HYGIENE_KEPT = "hygiene_kept.parquet"
EMBEDDINGS = "embeddings.parquet"
SELECTED = "selected.parquet"
REJECTED = "selection_rejected.parquet"
REVIEW_RECORDS = "review_records.parquet"
FEEDBACK = "feedback.parquet"
REVIEWERS = "reviewers.parquet"
AGREEMENT = "agreement"  # folder: agreement/<dataset>.json
EXPORTS = "exports"  # folder: exports/<dataset>-<format>/


def agreement_file(dataset: str) -> str:
    """The agreement figures of one dataset, relative to the run directory."""
    return f"{AGREEMENT}/{dataset}.json"


def export_folder(dataset: str, format: str) -> str:
    """Where `curate export --run` puts one dataset, relative to the run directory."""
    return f"{EXPORTS}/{dataset}-{format}"


@dataclass(frozen=True)
class RunFile:
    """A file (or folder) in the run directory, the stage that writes it, and its command."""

    name: str
    what: str
    stage: str
    command: str


GENERATE = "curate generate --run {run}"
HYGIENE_CMD = "curate hygiene --run {run}"
SELECT = "curate select --run {run}"
PULL = "curate pull --run {run}"

RUN_FILES: dict[str, RunFile] = {
    file.name: file
    for file in (
        RunFile(MANIFEST, "the run manifest (stages, counts, timings)", "every stage", GENERATE),
        RunFile(INSTRUCTIONS, "generated instructions", "instructions", GENERATE),
        RunFile(PREFERENCES, "judged preference pairs", "preferences", GENERATE),
        RunFile(HYGIENE, "per row: duplicate, overlap, PII, why dropped", "hygiene", HYGIENE_CMD),
        RunFile(HYGIENE_KEPT, "rows hygiene kept (selection reads them)", "hygiene", HYGIENE_CMD),
        RunFile(EMBEDDINGS, "instruction embeddings", "select", SELECT),
        RunFile(SELECTED, "rows kept by the diversity filter", "select", SELECT),
        RunFile(REJECTED, "rows the diversity filter dropped", "select", SELECT),
        RunFile(
            REVIEW_RECORDS,
            "records pushed to Argilla and their review status",
            "pull",
            "curate push --run {run}, then curate pull --run {run}",
        ),
        RunFile(FEEDBACK, "reviewers' responses", "pull", PULL),
        RunFile(
            REVIEWERS,
            "reviewer quality (gold accuracy, competence, speed, flags)",
            "pull",
            PULL,
        ),
        RunFile(
            AGREEMENT,
            "agreement figures per dataset (agreement/<dataset>.json)",
            "agreement",
            f"{PULL} (or curate agreement --run {{run}})",
        ),
        RunFile(
            EXPORTS,
            "exported datasets (exports/<dataset>-<format>/)",
            "export",
            "curate export --run {run}",
        ),
    )
}


def command_for(name: str, run: object) -> str:
    """The command that writes run file `name` into `run`."""
    return RUN_FILES[name].command.format(run=run)


def markdown_table(run: str = "R") -> str:
    """The list as a Markdown table (the README shows it; a test keeps the two the same)."""
    rows = ["| file | what it holds | stage | written by |", "| --- | --- | --- | --- |"]
    for file in RUN_FILES.values():
        rows.append(
            f"| `{file.name}` | {file.what} | {file.stage} | `{command_for(file.name, run)}` |"
        )
    return "\n".join(rows)


def written_by(stage: str) -> list[str]:
    """The run files (and folders) that `stage` writes."""
    return [file.name for file in RUN_FILES.values() if file.stage == stage]
