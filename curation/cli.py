"""The `curate` command: one sub-command per stage of the loop.

Each command parses its options and hands over to the module that does the work;
heavy libraries are imported inside the commands so `curate --help` stays fast.
User errors (`CurationError`) print one line and exit 1, never a traceback.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from curation.cli_errors import run_app
from curation.cli_services import config_app, llm_app, server_app
from curation.cli_shared import (
    ConfigOption,
    PortOption,
    RunOption,
    WorkspaceOption,
    console,
    err_console,
)
from curation.errors import CurationError
from curation.judge.cli import judge_app

if TYPE_CHECKING:
    from curation.config import Config
    from curation.stages import Stage, StageOutcome

app = typer.Typer(
    name="curate",
    help="Annotation-in-the-loop curation of synthetic LLM training data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(server_app, name="server")
app.add_typer(llm_app, name="llm")
app.add_typer(config_app, name="config")
app.add_typer(judge_app, name="judge")


@app.callback()
def main_options(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", envvar="CURATION_DEBUG", help="On a failure, show the traceback too."
        ),
    ] = False,
) -> None:
    """Annotation-in-the-loop curation of synthetic LLM training data."""
    if debug:
        os.environ["CURATION_DEBUG"] = "1"  # read by curation.redact when a command fails
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )


# --- pipeline stages ---------------------------------------------------------------


@app.command()
def generate(
    run: RunOption = None,
    config: ConfigOption = None,
    num_instructions: Annotated[
        Optional[int], typer.Option("--num-instructions", "-n", help="Instructions to generate.")
    ] = None,
) -> None:
    """Generate instructions and scored preference pairs (distilabel).

    Writes instructions.parquet and preferences.parquet in the run directory; a stage whose
    output is current is skipped, an interrupted one resumes when rerun.
    """
    from curation.config import load_config
    from curation.generate.stage import generate as run_generation

    summary = run_generation(load_config(config), run, num_instructions=num_instructions)
    console.print(f"{summary.run}: {summary.line()}", highlight=False, soft_wrap=True)
    if not summary.ran:
        console.print("(both stages were current: nothing to do)")


@app.command()
def hygiene(
    run: Annotated[str, typer.Option("--run", help="Run directory (path or run id).")],
    config: ConfigOption = None,
    force: Annotated[bool, typer.Option("--force", help="Rerun even if current.")] = False,
) -> None:
    """Near-duplicates, benchmark overlap and PII in a run's rows, before selection.

    Writes hygiene.parquet (per row: dup_of, dup_jaccard, contamination, pii_kinds) and
    hygiene_kept.parquet (the rows selection reads); the `hygiene` config section names
    the benchmarks and what to do with PII (flag, redact or drop).
    """
    from curation.config import load_config
    from curation.hygiene.stage import HygieneStage

    cfg = load_config(config)
    _run_stage(cfg, run, HygieneStage(cfg.hygiene), force=force)


@app.command()
def select(
    input: Annotated[Optional[Path], typer.Option("--input", help="Input Parquet file.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", help="Output Parquet file.")] = None,
    score_column: Annotated[
        Optional[str], typer.Option("--score-column", help="Score to order by.")
    ] = None,
    threshold: Annotated[
        Optional[float], typer.Option("--threshold", help="Max cosine similarity to kept rows.")
    ] = None,
    budget: Annotated[Optional[int], typer.Option("--budget", help="Rows to keep.")] = None,
    embedding_column: Annotated[
        Optional[str], typer.Option("--embedding-column", help="Column of embeddings.")
    ] = None,
    text_column: Annotated[
        Optional[str], typer.Option("--text-column", help="Column of text to embed.")
    ] = None,
    model: Annotated[
        Optional[str], typer.Option("--model", help="sentence-transformers model name or path.")
    ] = None,
    run: RunOption = None,
    config: ConfigOption = None,
) -> None:
    """Keep a diverse, high-scoring subset (Deita score-first filter).

    Rejected rows (with the kept row that blocked each) go beside OUT, as
    OUT_rejected.parquet (selection_rejected.parquet for selected.parquet). With --run (an
    existing run directory), texts are embedded through its embeddings.parquet cache.
    --run alone is the run's select stage: its preferences.parquet by deita_score,
    instructions embedded, threshold, budget and model from the config (or the options).
    """
    from curation.config import load_config
    from curation.selection.command import select_command

    for line in select_command(
        load_config(config), run, input, output, score_column, threshold, budget,
        embedding_column, text_column, model, err_console,
    ):  # fmt: skip
        console.print(line, highlight=False, soft_wrap=True)


@app.command()
def push(
    input: Annotated[
        Optional[Path], typer.Option("--input", help="Parquet file of rows to review.")
    ] = None,
    template: Annotated[
        Optional[str], typer.Option("--template", help="instruction | preference")
    ] = None,
    dataset: Annotated[
        Optional[str], typer.Option("--dataset", help="Argilla dataset name.")
    ] = None,
    workspace: WorkspaceOption = None,
    min_submitted: Annotated[
        Optional[int], typer.Option("--min-submitted", help="Reviews needed per record.")
    ] = None,
    gold: Annotated[
        Optional[Path],
        typer.Option("--gold", help="Known-answer rows (Parquet/JSONL) to mix into the queue."),
    ] = None,
    run: RunOption = None,
    config: ConfigOption = None,
) -> None:
    """Create or update an Argilla dataset from rows (idempotent).

    Re-pushing rows updates their suggestions and metadata and never touches reviewers'
    responses; new rows are added. A blind slice (review.blind_fraction) goes without AI
    suggestions; --gold mixes in known-answer records to measure reviewers. With --run,
    instruction embeddings come through the run's embeddings.parquet cache. --run alone is
    the run's push stage: its selected.parquet as the review.preference_dataset and
    review.instruction_dataset datasets, which mirror the run (records of an earlier run
    are removed).
    """
    from curation.config import load_config
    from curation.review.stages import PushStage, push_command

    cfg = load_config(config)
    options = {"workspace": workspace, "min_submitted": min_submitted, "console": err_console}
    if (input, template, dataset) == (None, None, None) and run is not None:
        stage = PushStage(cfg, **options)  # type: ignore[arg-type]
        _run_stage(cfg, run, stage)
    elif input is None or template is None or dataset is None:
        raise CurationError(
            "give --input FILE, --template and --dataset (or --run R alone to push the run)"
        )
    else:
        stage = push_command(cfg, input, template, dataset, run=run, gold=gold, **options)  # type: ignore[arg-type]
        if stage.skipped_rows:
            err_console.print(
                f"skipped {stage.skipped_rows} rows without a pair (pair_null_reason)"
            )
    for result in stage.results.values():
        console.print(result.summary(), highlight=False, soft_wrap=True)
        console.print(f"review it: {result.url}", highlight=False, soft_wrap=True)
        console.print(
            f"highest priority first: {result.queue_url}", highlight=False, soft_wrap=True
        )


@app.command()
def pull(
    dataset: Annotated[
        Optional[str], typer.Option("--dataset", help="Argilla dataset name.")
    ] = None,
    output: Annotated[
        Optional[Path], typer.Option("--output", help="Parquet file to write.")
    ] = None,
    workspace: WorkspaceOption = None,
    run: RunOption = None,
    config: ConfigOption = None,
) -> None:
    """Pull submitted reviews: one row per (record, annotator, question).

    Incremental: only records that can have changed since the last pull are fetched. With
    --run, the run's feedback.parquet and review_records.parquet get this dataset's rows and
    agreement/<dataset>.json its agreement figures; --run alone pulls the run's datasets.
    """
    from curation.config import load_config
    from curation.review.stages import pull_command, pull_stages

    cfg = load_config(config)
    if run is not None and output is None:
        for outcome in _run_stages(cfg, run, pull_stages(cfg, dataset and [dataset], workspace)):
            console.print(f"{outcome.name}: {outcome.line}", highlight=False, soft_wrap=True)
        return
    if dataset is None or output is None:
        raise CurationError("give --dataset and --output FILE (or --run R alone to pull the run)")
    pulled = pull_command(cfg, dataset, output, workspace, run)
    console.print(pulled.summary(), highlight=False, soft_wrap=True)
    console.print(f"wrote {output}", highlight=False, soft_wrap=True)


@app.command()
def route(
    dataset: Annotated[str, typer.Option("--dataset", help="Argilla dataset name.")],
    workspace: WorkspaceOption = None,
    run: RunOption = None,
    config: ConfigOption = None,
) -> None:
    """Recompute review priorities from the reviews so far (and auto-approve, if enabled).

    Priority rises with judge uncertainty, judge disagreement, small margins, and with how
    often people overruled the AI in the record's source and Deita score band. The
    optional auto-approval policy (config review.auto_approval) marks records approved_by
    auto in Argilla; a human decision always wins. A share of them (review.audit_fraction)
    goes back to people as an audit; where the audit finds too little agreement,
    auto-approval turns itself off in that score band. With --run, the figures go into
    the run manifest.
    """
    from curation.config import load_config
    from curation.review.commands import route_command

    result = route_command(load_config(config), dataset, workspace, run)
    console.print(result.summary(), highlight=False, soft_wrap=True)
    for line in result.agreement_lines():
        console.print(line, highlight=False, soft_wrap=True)


@app.command()
def adjudicate(
    dataset: Annotated[
        Optional[str], typer.Option("--dataset", help="Argilla dataset name.")
    ] = None,
    workspace: WorkspaceOption = None,
    run: RunOption = None,
    config: ConfigOption = None,
) -> None:
    """Escalate records reviewers could not settle to the dataset's adjudication dataset.

    Ties and fixes without a correction (config review.escalate_on adds split votes and
    overruled confident AI answers) go to NAME-adjudication, in a workspace only the
    adjudicators (review.adjudicators; default owners and admins) can see. `curate pull`
    brings their final calls back. Idempotent; review.escalation extra_review asks for
    one more ordinary review instead. --run records the stage in the run; --run alone
    escalates the run's datasets.
    """
    from curation.config import load_config
    from curation.review.adjudicate import AdjudicateStage

    cfg = load_config(config)
    if dataset is None and run is None:
        raise CurationError("give --dataset (or --run R alone for the run's datasets)")
    stage = AdjudicateStage(cfg, dataset and [dataset], workspace)
    if run is None:
        stage.escalate()
    else:
        _run_stage(cfg, run, stage)
    for result in stage.results.values():
        console.print(result.summary(), highlight=False, soft_wrap=True)
        if result.url:
            console.print(f"adjudicate it: {result.url}", highlight=False, soft_wrap=True)


@app.command()
def agreement(
    dataset: Annotated[
        Optional[str], typer.Option("--dataset", help="Argilla dataset name.")
    ] = None,
    workspace: WorkspaceOption = None,
    question: Annotated[
        Optional[str], typer.Option("--question", help="Only this question.")
    ] = None,
    alpha_level: Annotated[
        Optional[str],
        typer.Option("--alpha-level", help="nominal | ordinal | interval | ratio"),
    ] = None,
    format: Annotated[str, typer.Option("--format", help="json | table")] = "table",
    run: RunOption = None,
    config: ConfigOption = None,
) -> None:
    """How far the AI judge agrees with people, and people with each other.

    With --run, the figures also go to the run's agreement/<dataset>.json (what the
    dashboard and the dataset card read); --run alone: the run's datasets, and --format
    json then prints a list, one object per dataset.
    """
    import json

    from curation.agreement import agreement_from_argilla, check_level, render_agreement
    from curation.config import load_config
    from curation.review.stages import AgreementStage

    if format not in ("json", "table"):
        raise CurationError(f"--format must be json or table, not {format!r}")
    cfg = load_config(config)
    if run is not None:
        if question is not None:
            raise CurationError(
                "--question shows one question, but the run's agreement file holds them all: "
                "drop --question or --run"
            )
        check_level(alpha_level)
        stage = AgreementStage(cfg, dataset and [dataset], workspace, alpha_level)
        _run_stage(cfg, run, stage)
        results = list(stage.results.values())
    elif dataset is None:
        raise CurationError("give --dataset (or --run R for the run's datasets)")
    else:
        results = [agreement_from_argilla(cfg, dataset, workspace, question, alpha_level)]
    if format == "json":
        shown = [result.to_json() for result in results]
        print(json.dumps(shown[0] if dataset is not None else shown, indent=2, allow_nan=False))
    else:
        for result in results:
            console.print(render_agreement(result))


@app.command()
def export(
    dataset: Annotated[
        Optional[str], typer.Option("--dataset", help="Argilla dataset name.")
    ] = None,
    format: Annotated[Optional[str], typer.Option("--format", help="sft | dpo")] = None,
    workspace: WorkspaceOption = None,
    repo_id: Annotated[Optional[str], typer.Option("--repo-id", help="Hub repo ORG/NAME.")] = None,
    private: Annotated[bool, typer.Option("--private", help="Private Hub repo.")] = False,
    local_dir: Annotated[
        Optional[Path], typer.Option("--local-dir", help="Write here instead.")
    ] = None,
    test_size: Annotated[
        Optional[float],
        typer.Option("--test-size", help="Held-out test split: a share (< 1) or a row count."),
    ] = None,
    license: Annotated[
        Optional[str], typer.Option("--license", help="Licence id on the dataset card.")
    ] = None,
    allow_pii: Annotated[
        bool, typer.Option("--allow-pii", help="Export rows that hold PII as they are.")
    ] = False,
    allow_contaminated: Annotated[
        bool,
        typer.Option("--allow-contaminated", help="Export rows that overlap a benchmark."),
    ] = False,
    run: RunOption = None,
    config: ConfigOption = None,
) -> None:
    """Export the approved rows as a datasets dataset (Hub or local folder).

    sft: a `messages` column (the corrected response where reviewers fixed it); dpo:
    `prompt`, `chosen` (the side reviewers preferred), `rejected`, `score_chosen`,
    `score_rejected`; both with provenance columns. Only approved records; none is an
    error. Rows with unredacted PII or benchmark overlap (curate hygiene) are refused
    unless --allow-pii / --allow-contaminated. --run puts the run's funnel, settings and
    agreement on the dataset card; --run alone exports the run's datasets to
    exports/<dataset>-<format>/ in the run. The Hub token comes from HF_TOKEN or the
    stored login and is never printed or written.
    """
    from curation.config import load_config
    from curation.export.stage import export_command

    options = {
        "dataset": dataset, "format": format, "workspace": workspace, "repo_id": repo_id,
        "private": private, "local_dir": local_dir, "test_size": test_size,
        "license": license, "allow_pii": allow_pii, "allow_contaminated": allow_contaminated,
    }  # fmt: skip
    for line in export_command(load_config(config), options, run):
        console.print(line, highlight=False, soft_wrap=True)


def _run_stage(cfg: Config, run: str, stage: Stage, force: bool = False) -> StageOutcome:
    """Run one stage in an existing run directory and print its one-line outcome."""
    (outcome,) = _run_stages(cfg, run, [stage], force=force)
    console.print(f"{outcome.name}: {outcome.line}", highlight=False, soft_wrap=True)
    return outcome


def _run_stages(
    cfg: Config, run: str, stages: list[Stage], force: bool = False
) -> list[StageOutcome]:
    from curation.runs import RunDir
    from curation.stages import run_stages

    return run_stages(RunDir.open(run, cfg.runs_dir, create=False), stages, force=force)


@app.command()
def dashboard(run: RunOption = None, port: PortOption = None, config: ConfigOption = None) -> None:
    """Serve the Streamlit dashboard on 127.0.0.1; returns once it answers."""
    from curation import dashboard as dashboard_service
    from curation.config import config_path, load_config

    cfg = load_config(config)
    started, address = dashboard_service.start(
        cfg, run=run, port=port, config_file=config_path(config)
    )
    state = "started" if started else "already running"
    console.print(f"dashboard {state}: {address}", soft_wrap=True, highlight=False)


@app.command()
def demo(
    num_instructions: Annotated[
        int, typer.Option("--num-instructions", "-n", help="Instructions to generate.")
    ] = 20,
    run: RunOption = None,
    config: ConfigOption = None,
) -> None:
    """Run the whole loop on the embedded default, leaving the services running."""
    from curation.demo import run_demo

    run_demo(num_instructions=num_instructions, run=run, config_file=config, console=console)


@app.command()
def stop() -> None:
    """Stop every background service started under the current home."""
    from curation.demo import stop_all

    for name, was_running in stop_all():
        console.print(f"{name}: {'stopped' if was_running else 'not running'}")


def main() -> None:
    """Console-script entry point: every failure becomes one line on stderr (`cli_errors`)."""
    run_app(app)
