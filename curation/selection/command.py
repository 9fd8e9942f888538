"""`curate select`: a file in, a file out; or, with `--run` alone, the run's select stage."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from curation.config import Config
from curation.errors import CurationError
from curation.run_files import EMBEDDINGS, REJECTED, SELECTED
from curation.runs import RunDir
from curation.selection.stage import SelectRequest, SelectStage, rejected_path, select_file
from curation.stages import run_stage

if TYPE_CHECKING:
    from rich.console import Console


def select_command(
    config: Config,
    run: str | None,
    input: Path | None,
    output: Path | None,
    score_column: str | None,
    threshold: float | None,
    budget: int | None,
    embedding_column: str | None,
    text_column: str | None,
    model: str | None,
    console: Console,
) -> list[str]:
    """Check the options, select, and say what was written (lines to print)."""
    if model is not None and text_column is None and input is not None:
        raise CurationError("--model only applies with --text-column")
    if input is None and output is None and run is not None:
        if (score_column, embedding_column, text_column) != (None, None, None):
            raise CurationError(
                "--run alone selects the run's preferences.parquet by deita_score from its "
                "instruction texts: drop --score-column/--embedding-column/--text-column or "
                "give --input and --output"
            )
        return _select_run(config, run, threshold, budget, model, console)
    missing = [
        option
        for option, value in (
            ("--input", input), ("--output", output), ("--score-column", score_column),
            ("--threshold", threshold), ("--budget", budget),
        )
        if value is None
    ]  # fmt: skip
    if missing:
        raise CurationError(
            f"missing option {', '.join(missing)} (or give --run R alone to select the run)"
        )
    assert input is not None and output is not None and score_column is not None
    assert threshold is not None
    cache = RunDir.open(run, config.runs_dir, create=False).file(EMBEDDINGS) if run else None
    request = SelectRequest(
        input=input,
        score_column=score_column,
        threshold=threshold,
        budget=budget,
        embedding_column=embedding_column,
        text_column=text_column,
        model=model or config.selection.embedding_model,
        batch_size=config.selection.batch_size,
        cache=cache,
        backend=config.selection.embedding_backend,
        engine=config.selection.engine,
        ray_workers=config.selection.ray_workers,
    )
    result = select_file(request, output, embeddings_output=cache, console=console)
    return [result.summary(), f"kept rows: {output}; rejected rows: {rejected_path(output)}"]


def _select_run(
    config: Config,
    run: str,
    threshold: float | None,
    budget: int | None,
    model: str | None,
    console: Console,
) -> list[str]:
    """`curate select --run R`: the run's select stage, the options over the config."""
    given = {"threshold": threshold, "budget": budget, "embedding_model": model}
    selection = config.selection.model_validate(
        {**config.selection.model_dump(), **{k: v for k, v in given.items() if v is not None}}
    )
    run_dir = RunDir.open(run, config.runs_dir, create=False)
    outcome = run_stage(run_dir, SelectStage(selection, console))
    return [
        f"select: {outcome.line}",
        f"kept rows: {run_dir.file(SELECTED)}; rejected rows: {run_dir.file(REJECTED)}",
    ]
