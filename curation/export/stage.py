"""The `export` stage (`curation.stages`): `curate export --run R` and the demo's export.

Without `--dataset`, the run's datasets go to `exports/<dataset>-<format>/` in the run
(preference as dpo, instruction as sft; a dataset with nothing approved yet is said so and
left out); with the options of `curate export`, that one export, recorded in the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from curation.config import Config
from curation.errors import CurationError
from curation.export.command import (
    ExportRequest,
    ExportResult,
    NothingToExport,
    check_request,
    export,
)
from curation.review.stages import run_datasets, selected_pairs
from curation.run_files import SELECTED, export_folder
from curation.runs import RunDir
from curation.stages import Stage, run_stage

if TYPE_CHECKING:
    from curation.runs import StageContext

FORMAT_OF = {"preference": "dpo", "instruction": "sft"}


def run_requests(config: Config, run: RunDir) -> list[ExportRequest]:
    """The run's datasets, each to its folder under `exports/` in the run."""
    return [
        ExportRequest(
            dataset=name,
            format=FORMAT_OF[template],
            workspace=config.argilla.workspace,
            local_dir=run.file(export_folder(name, FORMAT_OF[template])),
            run=str(run.path),
        )
        for name, template in run_datasets(config)
    ]


@dataclass
class ExportStage(Stage):
    """Approved rows out of Argilla as datasets, with the run's facts on each card."""

    name = "export"
    section = "export"
    live = True
    config: Config
    requests: list[ExportRequest] | None = None  # None: the run's datasets into the run
    results: list[ExportResult] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.reads = (SELECTED,) if self.requests is None else ()

    def settings(self) -> Any:
        return self.config.export.model_dump(mode="json")

    def run(self, ctx: StageContext) -> None:
        mirror = self.requests is None
        if mirror:
            selected_pairs(ctx.run)  # nothing pushed: nothing to export
        for request in self.requests or run_requests(self.config, ctx.run):
            counts = ctx.counts[request.dataset] = {"format": request.format, "rows": 0}
            try:
                result = export(self.config, request)
            except NothingToExport:
                if not mirror:
                    raise
                continue
            counts.update(rows=sum(result.rows.values()), target=result.target)
            self.results.append(result)

    def summary(self, counts: dict[str, Any]) -> str:
        return "; ".join(
            f"{name}: {c['rows']} {c['format']} rows"
            if c["rows"]
            else f"{name}: nothing approved yet"
            for name, c in counts.items()
        )


def export_command(config: Config, options: dict[str, Any], run: str | None) -> list[str]:
    """`curate export`: the export its options ask for (recorded in the run when given),
    or, with `--run` alone, the run's stage."""
    where = ("dataset", "format", "repo_id", "local_dir")
    if run is not None and all(options.get(name) is None for name in where):
        stage = ExportStage(config)
        outcome = run_stage(RunDir.open(run, config.runs_dir, create=False), stage)
        return [f"export: {outcome.line}"]
    if options.get("dataset") is None or options.get("format") is None:
        raise CurationError(
            "give --dataset and --format sft|dpo (or --run R alone to export the run)"
        )
    request = ExportRequest(**options, run=run)
    run_dir = check_request(request, config)
    if run_dir is None:
        return [export(config, request).summary()]
    stage = ExportStage(config, [request])
    run_stage(run_dir, stage)
    return [result.summary() for result in stage.results]
