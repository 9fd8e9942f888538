"""`curate select`: read, embed if asked, select, write; with `--run`, the `select` stage.

Everything that can be wrong with the input or the output paths is found before anything
is written; the kept and rejected rows are then written as one unit (`write_pair`), so a
failed or killed run leaves no half-written file and no kept file without its partner.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curation.errors import CurationError
from curation.progress import progress_bar
from curation.run_files import EMBEDDINGS, HYGIENE_KEPT, PREFERENCES, REJECTED, SELECTED
from curation.runs import check_writable, temp_path, write_error, write_parquet
from curation.selection import embeddings, table
from curation.selection.deita import Selection, check_arguments, select_diverse
from curation.stages import Stage

if TYPE_CHECKING:
    from rich.console import Console

    from curation.config import SelectionConfig
    from curation.runs import RunDir, StageContext

# What the run's select stage orders by and embeds.
SCORE_COLUMN = "deita_score"
TEXT_COLUMN = "instruction"


@dataclass
class SelectRequest:
    """One selection: where the rows, scores and embeddings (or texts) come from."""

    input: Path
    score_column: str
    threshold: float
    budget: int | None
    embedding_column: str | None = None
    text_column: str | None = None
    model: str = embeddings.DEFAULT_MODEL
    batch_size: int = 64
    cache: Path | None = None  # an embeddings.parquet to reuse vectors from
    backend: str = "torch"  # selection.embedding_backend
    engine: str = "local"  # selection.engine: "ray" fills the cache on Ray first
    ray_workers: int | None = None


@dataclass
class SelectResult:
    """The three output tables and the counts for the summary line."""

    selected: pa.Table
    rejected: pa.Table
    embeddings: pa.Table | None
    selection: Selection
    rows: int
    computed: int = 0
    cached: int = 0
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase

    def counts(self) -> dict[str, int | float]:
        return {
            "rows": self.rows,
            "kept": len(self.selection.kept),
            "too_similar": len(self.selection.rejected),
            "budget_filled": len(self.selection.not_reached),
            "null_score": len(self.selection.null_score),
            "embedded": self.computed,
            "embeddings_cached": self.cached,
            **{f"{phase}_s": round(seconds, 3) for phase, seconds in self.timings.items()},
        }

    def summary(self) -> str:
        return summary_line(self.counts(), embedded=self.embeddings is not None)


def summary_line(counts: dict[str, Any], embedded: bool = True) -> str:
    """The selection in one line, from its counts (as the manifest records them)."""
    line = (
        f"kept {counts['kept']:,} of {counts['rows']:,} rows "
        f"({counts['too_similar']:,} too similar, {counts['budget_filled']:,} not reached "
        f"after the budget was filled, {counts['null_score']:,} without a score)"
    )
    if embedded:
        line += (
            f"; embedded {counts['embedded']:,} texts, "
            f"{counts['embeddings_cached']:,} from the cache"
        )
    return line


class _Clock:
    """Seconds spent per phase, for the manifest counts and the benchmark."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, phase: str) -> float:
        now = time.perf_counter()
        self.laps[phase] = now - self._last
        self._last = now
        return self.laps[phase]


def rejected_path(output: Path) -> Path:
    """Where the rejected rows go beside OUT: the run-directory name for `selected.parquet`."""
    if output.name == SELECTED:
        return output.with_name(REJECTED)
    return output.with_name(f"{output.stem}_rejected.parquet")


def check_request(request: SelectRequest) -> None:
    """Option errors, before any file is opened."""
    if (request.embedding_column is None) == (request.text_column is None):
        raise CurationError("give exactly one of --embedding-column and --text-column")
    check_arguments(np.zeros((0, 0)), np.zeros(0), request.threshold, request.budget)


def run_selection(request: SelectRequest, console: Console | None = None) -> SelectResult:
    """Read and check the input, embed texts if needed, select; write nothing."""
    check_request(request)
    clock = _Clock()
    source = table.InputTable(request.input)
    table.check_output_columns(source)
    table.check_text(source)
    table.check_unique_ids(source)
    scores = table.read_scores(source, request.score_column)
    embedded = None
    if request.embedding_column is not None:
        vectors = table.read_embeddings(source, request.embedding_column, scores)
        clock.lap("read")
    else:
        assert request.text_column is not None
        texts = table.read_texts(source, request.text_column, scores)
        clock.lap("read")
        vectors, embedded_rows, embedded = _embed(source, texts, request, console)
        clock.lap("embed")
    selection = _select(vectors, scores, request, source, console)
    clock.lap("select")
    result = SelectResult(
        selected=table.kept_table(source, selection, vectors, request.embedding_column),
        rejected=table.rejected_table(source, selection, scores),
        embeddings=None,
        selection=selection,
        rows=source.num_rows,
        timings=clock.laps,
    )
    clock.lap("tables")
    if embedded is not None:
        ids = source.ids().take(pa.array(embedded_rows))
        result.embeddings = embeddings.embeddings_table(
            ids, request.model, embedded, request.backend
        )
        result.computed, result.cached = embedded.computed, embedded.cached
    return result


def _embed(
    source: table.InputTable,
    texts: list[str | None],
    request: SelectRequest,
    console: Console | None,
) -> tuple[np.ndarray, np.ndarray, embeddings.CachedEmbeddings]:
    """(matrix for all rows, rows with a text, their embeddings); rows without text get zeros."""
    rows = np.array([i for i, text in enumerate(texts) if text is not None], dtype=np.int64)
    if request.engine == "ray":
        _embed_on_ray(request, console)
    embedded = embeddings.embed_cached(
        [texts[i] for i in rows],
        request.model,
        request.batch_size,
        request.cache,
        console,
        request.backend,
    )
    dim = embedded.vectors.shape[1] if len(rows) else 0
    vectors = np.zeros((source.num_rows, dim), dtype=np.float32)
    vectors[rows] = embedded.vectors
    return vectors, rows, embedded


def _embed_on_ray(request: SelectRequest, console: Console | None) -> None:
    """Fill the embeddings cache with Ray Data; the selection then finds every text cached."""
    from curation.selection.ray_embed import embed_with_ray

    if request.cache is None or request.text_column is None:
        raise CurationError("selection.engine ray embeds into a run's cache: give --run")
    done = embed_with_ray(
        request.input,
        request.text_column,
        request.cache,
        request.model,
        request.backend,
        request.batch_size,
        request.ray_workers,
        console,
    )
    if console is not None:
        console.print(done.line())


def _select(
    vectors: np.ndarray,
    scores: np.ndarray,
    request: SelectRequest,
    source: table.InputTable,
    console: Console | None,
) -> Selection:
    walked = int((~np.isnan(scores)).sum())
    with progress_bar(console, elapsed=True, quiet=walked < 100_000) as progress:
        task = progress.add_task("selecting", total=walked)
        return select_diverse(
            vectors,
            scores,
            request.threshold,
            request.budget,
            progress=lambda rows: progress.advance(task, rows),
            row_name=lambda row: f"{source.path}: {source.row_name(row)}",
        )


def select_file(
    request: SelectRequest,
    output: Path,
    embeddings_output: Path | None = None,
    console: Console | None = None,
) -> SelectResult:
    """`curate select`: OUT, its rejected rows beside it, and the embeddings if computed."""
    check_outputs(request.input, output)
    result = run_selection(request, console)
    clock = _Clock()
    write_pair(result.selected, result.rejected, output)
    if embeddings_output is not None and result.embeddings is not None:
        write_parquet(result.embeddings, embeddings_output)
    result.timings["write"] = clock.lap("write")
    return result


def check_outputs(input: Path, output: Path) -> None:
    """Refuse, before any work, outputs that would replace the input or cannot be written."""
    check_writable(output, "--output")
    for path in (output, rejected_path(output)):
        if path.resolve() == input.resolve():
            raise CurationError(
                f"--output {output} would overwrite the input file {input}; "
                "write the selection to another file"
            )


def write_pair(kept: pa.Table, rejected: pa.Table, output: Path) -> None:
    """The kept rows at `output` and the rejected ones beside it: both files or neither.

    The kept-rows file is the commit point. Both tables go to hidden temps beside their
    targets first; then the old kept file is removed, the rejected file renamed into
    place, and the kept file renamed last. Killed at any moment, this leaves the old pair,
    no kept file (rerun), or the new pair: a kept file always sits beside its own rejected
    rows. Temps of a killed run are removed by the next write (`runs.temp_path`).
    """
    rejected_out = rejected_path(output)
    kept_tmp, rejected_tmp = temp_path(output), temp_path(rejected_out)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(rejected, rejected_tmp)
        pq.write_table(kept, kept_tmp)
        output.unlink(missing_ok=True)
        os.replace(rejected_tmp, rejected_out)
        os.replace(kept_tmp, output)
    except OSError as error:
        raise write_error(output, error) from None
    finally:
        kept_tmp.unlink(missing_ok=True)
        rejected_tmp.unlink(missing_ok=True)


@dataclass
class SelectStage(Stage):
    """`curate select --run R` and the demo's select step, on the run's preferences.

    Embeds the `instruction` texts (through the run's `embeddings.parquet`), orders by
    `deita_score`, and takes threshold, budget and model from the `selection` config.
    """

    name = "select"
    section = "selection"
    reads = (PREFERENCES,)
    writes = (EMBEDDINGS, SELECTED, REJECTED)
    config: SelectionConfig
    console: Console | None = None

    def settings(self) -> Any:
        return self.config.model_dump(mode="json")

    def check(self, run: RunDir) -> None:
        """Reads the rows `curate hygiene` kept when it ran (a changed hygiene result then
        reruns select), else the preferences."""
        self.reads = (HYGIENE_KEPT,) if run.file(HYGIENE_KEPT).exists() else (PREFERENCES,)

    def request(self, run: RunDir) -> SelectRequest:
        return SelectRequest(
            input=run.file(self.reads[0]),
            score_column=SCORE_COLUMN,
            text_column=TEXT_COLUMN,
            threshold=self.config.threshold,
            budget=self.config.budget,
            model=self.config.embedding_model,
            batch_size=self.config.batch_size,
            cache=run.file(EMBEDDINGS),
            backend=self.config.embedding_backend,
            engine=self.config.engine,
            ray_workers=self.config.ray_workers,
        )

    def run(self, ctx: StageContext) -> None:
        result = run_selection(self.request(ctx.run), self.console)
        assert result.embeddings is not None
        ctx.write_parquet(EMBEDDINGS, result.embeddings)
        ctx.write_parquet(SELECTED, result.selected)
        ctx.write_parquet(REJECTED, result.rejected)
        ctx.counts.update(result.counts())

    def summary(self, counts: dict[str, Any]) -> str:
        return summary_line(counts)
