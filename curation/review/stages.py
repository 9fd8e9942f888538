"""The review stages of a run (`curation.stages`): push, pull and agreement.

- push: the run's selected pairs (`selected.parquet`) as the `preference` dataset and the
  same rows as the `instruction` dataset (the AI's chosen response, rated by the judge);
  both keep the row ids, so their records join back to the run's rows. These datasets
  (`review.preference_dataset`, `review.instruction_dataset`) mirror the run: records of an
  earlier run are removed. `curate push --input FILE` pushes one file to one dataset instead.
- pull: each dataset's responses merged into `feedback.parquet` and
  `review_records.parquet` (other datasets' rows stay as they are).
- agreement: `agreement/<dataset>.json` per dataset; `curate pull --run` writes it too.

All three talk to Argilla, so they are `live`: they run every time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from curation.config import Config
from curation.errors import CurationError, StageSkipped
from curation.feedback import feedback_table
from curation.review.commands import push_rows, record_counts, write_run_files
from curation.review.connection import argilla_errors, connect
from curation.review.datasets import lookup
from curation.review.gold import read_gold
from curation.review.pull import Pulled, pull
from curation.review.push import PushResult
from curation.review.push_input import check_rows, read_rows
from curation.review.templates import Template, check_template
from curation.run_files import FEEDBACK, REVIEW_RECORDS, SELECTED, agreement_file
from curation.runs import RunDir, check_writable, write_error, write_json, write_parquet
from curation.stages import Stage, run_stage, run_stages

if TYPE_CHECKING:
    import argilla as rg
    from rich.console import Console

    from curation.agreement import Agreement
    from curation.runs import StageContext

# Columns the instruction rows carry over from the selected pairs (metadata and routing).
CARRIED = ("source", "complexity", "quality", "deita_score", "selection_rank", "nn_similarity")


def run_datasets(config: Config) -> list[tuple[str, Template]]:
    """The datasets that mirror a run's selection: (name, template)."""
    review = config.review
    return [(review.preference_dataset, "preference"), (review.instruction_dataset, "instruction")]


def selected_pairs(run: RunDir) -> pd.DataFrame:
    """The run's selected rows that have a pair to review (`StageSkipped` when none)."""
    selected = pd.read_parquet(run.file(SELECTED))
    selected = selected[selected["chosen"].notna()].reset_index(drop=True)
    if selected.empty:
        raise StageSkipped(f"{SELECTED} has no pair to review")
    return selected


def run_workspace(config: Config, datasets: list[str] | None, workspace: str | None) -> str | None:
    """The given workspace; for the run's own datasets, the configured one."""
    return workspace or (config.argilla.workspace if datasets is None else None)


def _at(values: Any, index: Any) -> Any:
    try:
        return values[int(index)]
    except (TypeError, ValueError, IndexError):
        return None


def instruction_rows(selected: pd.DataFrame) -> pd.DataFrame:
    """The instruction dataset's rows: each selected pair's chosen response and its rating.

    `rating_score` is the judge's probability of the rounded rating; `judge_uncertainty`
    is the spread of its rating distribution (standard deviation / 2, so 0..1).
    """
    rows = []
    for row in selected.to_dict("records"):
        index = row.get("chosen_index")
        distribution = _at(row.get("rating_distributions"), index)
        rating = row.get("chosen_rating")
        score = None
        if distribution is not None and rating is not None and len(distribution) == 5:
            score = float(distribution[min(max(math.floor(rating + 0.5), 1), 5) - 1])
        spread = _at(row.get("rating_stds"), index)
        rows.append(
            {
                "id": row["id"],
                "instruction": row["instruction"],
                "response": row["chosen"],
                "rating": rating,
                "rating_score": score,
                "judge_model": row.get("judge_model"),
                "model": _at(row.get("generation_models"), index),
                "judge_uncertainty": None if spread is None else min(float(spread) / 2, 1.0),
                **{name: row.get(name) for name in CARRIED},
            }
        )
    return pd.DataFrame(rows)


def drop_other_runs(client: rg.Argilla, name: str, workspace: str, keep: set[str]) -> int:
    """Delete the run dataset's records that are not rows of this run; how many went.

    The run datasets mirror the run: after `rm -rf runs/demo` or in another checkout, the
    records of an earlier run (and the SIMULATED reviews of them) would otherwise stay in
    the review queue, the pull and the counts.
    """
    dataset = lookup(client, name, workspace)
    if dataset is None:
        return 0
    records = dataset.records(with_suggestions=False, with_responses=False, with_vectors=False)
    stale = [record for record in records if record.id not in keep]
    if stale:
        dataset.records.delete(stale)
    return len(stale)


@dataclass
class PushBatch:
    """Checked rows for one dataset."""

    dataset: str
    template: Template
    rows: pd.DataFrame
    gold: pd.DataFrame | None = None  # known-answer rows (`review/gold.py`)


@dataclass
class PushStage(Stage):
    """Push rows to Argilla: the run's selection as its datasets, or one checked file."""

    name = "push"
    section = "review"
    live = True
    config: Config
    batches: list[PushBatch] | None = None  # None: the run's selected pairs
    workspace: str | None = None
    min_submitted: int | None = None
    console: Console | None = None
    results: dict[str, PushResult] = field(default_factory=dict)
    skipped_rows: int = 0  # rows of the file without a pair (`pair_null_reason`)

    def __post_init__(self) -> None:
        self.reads = (SELECTED,) if self.batches is None else ()

    @classmethod
    def from_file(
        cls,
        config: Config,
        input: Path,
        template: str,
        dataset: str,
        gold: Path | None = None,
        **options: Any,
    ):
        """`curate push --input [--gold]`: the files read and checked before anything else."""
        checked = check_template(template)
        minimum = options.get("min_submitted")
        if minimum is not None and minimum < 1:
            raise CurationError(f"--min-submitted must be at least 1, not {minimum}")
        rows, skipped = read_rows(input, checked)
        known = read_gold(gold, checked, rows["id"]) if gold is not None else None
        batch = PushBatch(dataset, checked, rows, known)
        return cls(config, [batch], skipped_rows=skipped, **options)

    def settings(self) -> Any:
        return self.config.review.model_dump(mode="json")

    def _run_batches(self, run: RunDir) -> list[PushBatch]:
        selected = selected_pairs(run)
        batches = []
        for name, template in run_datasets(self.config):
            rows = selected if template == "preference" else instruction_rows(selected)
            check_rows(rows, template, str(run.file(SELECTED)))
            batches.append(PushBatch(name, template, rows))
        return batches

    def run(self, ctx: StageContext) -> None:
        mirror = self.batches is None
        batches = self._run_batches(ctx.run) if self.batches is None else self.batches
        ctx.counts.update(self.push(batches, ctx.run, mirror=mirror))

    def push(
        self, batches: list[PushBatch], run: RunDir | None, mirror: bool = False
    ) -> dict[str, Any]:
        """Push each batch (mirror: first remove the dataset's records of other runs)."""
        client = connect(self.config)
        workspace = self.workspace or self.config.argilla.workspace
        counts: dict[str, Any] = {}
        for batch in batches:
            dropped = 0
            if mirror:
                dropped = drop_other_runs(client, batch.dataset, workspace, set(batch.rows["id"]))
            with argilla_errors(f"pushing to {batch.dataset!r} on Argilla", client):
                result = push_rows(
                    client, self.config, batch.rows, batch.template, batch.dataset,
                    workspace, self.min_submitted, run, self.console, gold=batch.gold,
                )  # fmt: skip
            counts[batch.dataset] = {"created": result.created, "updated": result.updated}
            if mirror:
                counts[batch.dataset]["removed_other_run"] = dropped
            if run is not None:
                record_counts(run, "push", batch.dataset, counts[batch.dataset])
            self.results[batch.dataset] = result
        return counts

    def summary(self, counts: dict[str, Any]) -> str:
        lines = []
        for name, c in counts.items():
            line = f"{name}: +{c['created']} new, {c['updated']} updated"
            removed = c.get("removed_other_run")
            lines.append(line + (f", {removed} of an earlier run removed" if removed else ""))
        return "; ".join(lines)


@dataclass
class DatasetsStage(Stage):
    """A review stage over Argilla datasets: named ones, or the run's own (which mirror its
    selection, so it then reads `selected.parquet`). Talks to Argilla: `live`."""

    section = "review"
    live = True
    config: Config
    datasets: list[str] | None = None  # None: the run's datasets
    workspace: str | None = None

    def __post_init__(self) -> None:
        self.reads = (SELECTED,) if self.datasets is None else ()

    def names(self) -> list[str]:
        return self.datasets or [name for name, _ in run_datasets(self.config)]

    def where(self) -> str | None:
        """The workspace of the datasets (the configured one for the run's own)."""
        return run_workspace(self.config, self.datasets, self.workspace)

    def settings(self) -> Any:
        return self.config.review.model_dump(mode="json")


@dataclass
class PullStage(DatasetsStage):
    """Pull datasets' reviews into the run's feedback and review-record tables."""

    name = "pull"
    writes = (FEEDBACK, REVIEW_RECORDS)
    output: Path | None = None  # `curate pull --output`: this dataset's feedback there too
    pulled: dict[str, Pulled] = field(default_factory=dict)

    def run(self, ctx: StageContext) -> None:
        if self.datasets is None:
            selected_pairs(ctx.run)  # nothing pushed: nothing to pull
        client = connect(self.config)
        for name in self.names():
            pulled = pull(client, name, self.where())
            if self.output is not None:
                write_feedback(pulled, self.output)
            decided = write_run_files(ctx.run, pulled, self.config.review)
            approved = int((decided["decision"] == "approved").sum()) if len(decided) else 0
            reviews = len(pulled.feedback[["record_id", "annotator"]].drop_duplicates())
            ctx.counts[name] = {"reviews": reviews, "approved": approved, "records": len(decided)}
            self.pulled[name] = pulled

    def summary(self, counts: dict[str, Any]) -> str:
        return "; ".join(
            f"{name}: {c['reviews']} submitted reviews, {c['approved']} of {c['records']} "
            "records approved"
            for name, c in counts.items()
        )


@dataclass
class AgreementStage(DatasetsStage):
    """`agreement/<dataset>.json`: how far the AI judge agrees with people, per dataset."""

    name = "agreement"
    alpha_level: str | None = None
    pulled: dict[str, Pulled] = field(default_factory=dict)  # from the pull just before
    results: dict[str, Agreement] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.writes = tuple(agreement_file(name) for name in self.names())

    def settings(self) -> Any:
        return {"alpha_level": self.alpha_level}

    def run(self, ctx: StageContext) -> None:
        from curation.agreement import check_level, compute_agreement

        check_level(self.alpha_level)
        client = None
        for name in self.names():
            pulled = self.pulled.get(name)
            if pulled is None:
                client = client or connect(self.config)
                pulled = pull(client, name, self.where())
            result = compute_agreement(
                pulled.responses,
                name,
                alpha_level=self.alpha_level,
                question_values=pulled.question_values,
                question_types=pulled.question_types,
            )
            write_json(result.to_json(), ctx.path(agreement_file(name)))
            ctx.counts[name] = {"questions": len(result.questions)}
            self.results[name] = result

    def summary(self, counts: dict[str, Any]) -> str:
        return "; ".join(f"{name}: {c['questions']} questions" for name, c in counts.items())


# --- the commands ------------------------------------------------------------------------


def push_command(
    config: Config,
    input: Path,
    template: str,
    dataset: str,
    *,
    workspace: str | None = None,
    min_submitted: int | None = None,
    run: str | None = None,
    console: Console | None = None,
    gold: Path | None = None,
) -> PushStage:
    """`curate push --input`: with `--run`, the push stage of that run (embeddings cached)."""
    run_dir = RunDir.open(run, config.runs_dir, create=False) if run else None
    stage = PushStage.from_file(
        config, input, template, dataset, gold,
        workspace=workspace, min_submitted=min_submitted, console=console,
    )  # fmt: skip
    if run_dir is None:
        stage.push(stage.batches or [], None)
    else:
        run_stage(run_dir, stage)
    return stage


def pull_command(
    config: Config, dataset: str, output: Path, workspace: str | None, run: str | None
) -> Pulled:
    """`curate pull --output`: with `--run`, the pull and agreement stages of that run."""
    run_dir = RunDir.open(run, config.runs_dir, create=False) if run else None
    check_writable(output, "--output")
    if run_dir is None:
        pulled = pull(connect(config), dataset, workspace)
        write_feedback(pulled, output)
        return pulled
    stages = pull_stages(config, [dataset], workspace, output)
    run_stages(run_dir, stages)
    return stages[0].pulled[dataset]  # type: ignore[attr-defined]


def write_feedback(pulled: Pulled, output: Path) -> None:
    """`curate pull --output`: one dataset's feedback table; a failed write is one line."""
    try:
        write_parquet(feedback_table(pulled.feedback), output)
    except OSError as error:
        raise write_error(output, error) from None


def pull_stages(
    config: Config,
    datasets: list[str] | None = None,
    workspace: str | None = None,
    output: Path | None = None,
) -> list[Stage]:
    """`curate pull --run`: the pull, then the agreement figures of what it pulled.

    Without `datasets`, the run's datasets in the configured workspace.
    """
    pull_stage = PullStage(config, datasets, workspace, output)
    return [pull_stage, AgreementStage(config, datasets, workspace, pulled=pull_stage.pulled)]
