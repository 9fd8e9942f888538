"""A stage: one declared step of the loop over a run directory, the way a distilabel `Task`
declares its inputs and outputs or a datatrove `PipelineStep` has one `run`.

A stage says its `name` (its key in `manifest.json`), the run files it `reads` and
`writes` (names from `curation.run_files`), the config `section` its settings come from,
and does its work in `run(ctx)`. `run_stage(run, stage)` does the rest the same way for
every stage (`RunDir.run_stage`): it refuses when a file it reads is missing (naming the
command that writes it), skips it when its outputs were made from the same inputs and
settings, keeps its scratch folder (`ctx.work_dir`) across an interruption so a rerun
resumes, and records status, counts, rows written, timings and tool versions in the
manifest. A stage that talks to Argilla is `live`: what it reads is not all in files, so it
runs every time.

The `curate` commands that take `--run` build their stage and call `run_stage`; `curate
demo` runs the same stages in order (`curation.demo.STEPS`), plus its SIMULATED review.

How to add a stage
------------------
1. Name its output files in `curation/run_files.py` (`RUN_FILES`: what each holds, the
   stage and the command that write it); the dashboard's notices and the README use that.
2. Write a `Stage` subclass (a dataclass holding the config and options) beside the code
   it calls; `HygieneStage` in `curation/hygiene/stage.py` is a small one to copy. It
   declares `name`, `section`, `reads` and `writes` (names from `run_files`), and has
   `settings()` (what else makes its outputs), `run(ctx)` (read `ctx.path(NAME)`, write
   `ctx.write_parquet(NAME, table)`, count into `ctx.counts`) and `summary(counts)` (one
   line). `check(run)` may read and check its input before anything is written. `run`
   raises `StageSkipped("why")` when there is nothing to do, `CurationError` for bad
   input (one line, before anything is written).
3. A `curate` command with `--run` that builds it and calls `run_stage` (see `cli.py`),
   and a step in `curation.demo.STEPS` in the order of the loop.
4. Tests: the stage through its command on a run directory; `tests/test_stages.py`
   compares the hand-run commands with the demo's stages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from curation.errors import CurationError, StageSkipped
from curation.run_files import RUN_FILES, command_for

if TYPE_CHECKING:
    from curation.runs import RunDir, StageContext

__all__ = ["MissingInput", "Stage", "StageOutcome", "StageSkipped", "run_stage", "run_stages"]


class MissingInput(CurationError):
    """A file the stage reads is not in the run yet; says which command writes it."""


class Stage:
    """One declared step over a run directory; subclasses are dataclasses (see module doc)."""

    name: ClassVar[str]
    section: ClassVar[str | None] = None  # the config section its settings come from
    live: ClassVar[bool] = False  # reads Argilla: never skipped as current
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()

    def check(self, run: RunDir) -> None:
        """Read and check the input before anything is written (a one-line `CurationError`)."""

    def settings(self) -> Any:
        """What, besides the files it reads, makes its outputs: part of the fingerprint."""
        return None

    def run(self, ctx: StageContext) -> None:
        raise NotImplementedError

    def summary(self, counts: dict[str, Any]) -> str:
        """One line about what the stage did, from the counts it recorded."""
        return ", ".join(f"{key} {value}" for key, value in counts.items()) or "done"


@dataclass
class StageOutcome:
    """What running (or skipping) a stage came to."""

    name: str
    ran: bool
    line: str
    counts: dict[str, Any] = field(default_factory=dict)


def check_inputs(run: RunDir, stage: Stage) -> None:
    """Refuse, naming the command that writes it, when a file the stage reads is missing."""
    for name in stage.reads:
        if not run.file(name).exists():
            how = command_for(name, run.path) if name in RUN_FILES else "the stage that makes it"
            raise MissingInput(f"no {name} in {run.path}: run `{how}` first")


def run_stage(run: RunDir, stage: Stage, *, force: bool = False) -> StageOutcome:
    """Run `stage` in `run` unless its outputs are current; what it did, in one line."""
    check_inputs(run, stage)
    stage.check(run)
    counted: dict[str, Any] = {}  # in the order the stage counted (the manifest sorts keys)

    def work(ctx: StageContext) -> None:
        stage.run(ctx)
        counted.update(ctx.counts)

    try:
        ran = run.run_stage(
            stage.name,
            work,
            inputs=stage.reads,
            outputs=stage.writes,
            config=stage.settings(),
            force=force or stage.live,
        )
    except StageSkipped as skipped:
        return StageOutcome(stage.name, False, f"skipped: {skipped}")
    counts = counted if ran else (run.stage(stage.name) or {}).get("counts", {})
    line = stage.summary(counts)
    return StageOutcome(stage.name, ran, line if ran else f"up to date: {line}", counts)


def run_stages(run: RunDir, stages: list[Stage], *, force: bool = False) -> list[StageOutcome]:
    """Each stage in order (a later one reads what an earlier one wrote)."""
    return [run_stage(run, stage, force=force) for stage in stages]
