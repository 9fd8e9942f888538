"""`curate export`: approved records out of Argilla, as a dataset (the run's stage: stage.py).

Order matters for "bad input changes nothing": every option is checked before Argilla is
asked anything, and nothing is written until the rows, splits and card are all built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curation.config import Config
from curation.errors import CurationError
from curation.export import card as cards
from curation.export import formats, gate, publish
from curation.runs import RunDir, now

if TYPE_CHECKING:
    from datasets import DatasetDict


class NothingToExport(CurationError):
    """No approved record: an export would be an empty dataset, which is refused."""


@dataclass
class ExportRequest:
    dataset: str
    format: str
    workspace: str | None = None
    repo_id: str | None = None
    private: bool = False
    local_dir: Path | None = None
    test_size: float | None = None
    run: str | None = None
    license: str | None = None
    allow_pii: bool = False
    allow_contaminated: bool = False


@dataclass
class ExportResult:
    dataset: str
    workspace: str
    format: str
    target: str  # the local folder, or the Hub repo's URL
    rows: dict[str, int]  # split -> rows
    decisions: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        splits = ", ".join(f"{name} {rows:,}" for name, rows in self.rows.items())
        others = sum(n for name, n in self.decisions.items() if name != "approved")
        return (
            f"exported {sum(self.rows.values()):,} approved records of {self.dataset!r} "
            f"as {self.format} ({splits}; {others:,} not approved left out) to {self.target}"
        )


def check_request(request: ExportRequest, config: Config) -> RunDir | None:
    """Every option, before any server is asked; the run directory when one is given."""
    if request.format not in formats.FORMATS:
        raise CurationError(f"--format must be sft or dpo, not {request.format!r}")
    if (request.repo_id is None) == (request.local_dir is None):
        raise CurationError("give exactly one of --repo-id ORG/NAME and --local-dir DIR")
    if request.private and request.repo_id is None:
        raise CurationError("--private applies to --repo-id only")
    test_size = _test_size(request, config)
    if test_size is not None and test_size <= 0:
        raise CurationError(f"--test-size must be positive, not {test_size}")
    if request.repo_id is not None:
        publish.check_repo_id(request.repo_id)
        publish.check_hub_access()
    else:
        assert request.local_dir is not None
        publish.check_local_dir(request.local_dir)
    return RunDir.open(request.run, config.runs_dir, create=False) if request.run else None


def export(config: Config, request: ExportRequest) -> ExportResult:
    """`curate export`: the approved rows of one dataset, with a card, to a folder or the Hub."""
    from curation.review.connection import argilla_errors, connect

    run = check_request(request, config)
    client = connect(config)
    with argilla_errors(f"reading {request.dataset!r} from Argilla", client):
        return _export(client, config, request, run)


def _export(client, config: Config, request: ExportRequest, run: RunDir | None) -> ExportResult:
    import datasets

    from curation.review.datasets import find_dataset
    from curation.review.records import reviewed_rows

    datasets.disable_progress_bars()
    found = find_dataset(client, request.dataset, request.workspace)
    template = _check_template(found, request.format)
    _, rows = reviewed_rows(
        client, found.name, found.workspace.name, aggregation=config.review.aggregation
    )
    counted = rows["decision"].value_counts() if len(rows) else {}
    decisions = {str(name): int(n) for name, n in dict(counted).items()}
    picked = formats.approved(rows)
    if picked.empty:
        counts = ", ".join(f"{n} {name}" for name, n in decisions.items()) or "no records"
        raise NothingToExport(
            f"nothing to export: {_where(found)} has no approved record ({counts}); "
            "an empty dataset is not exported"
        )
    flags = gate.flagged(picked, request.format, config.hygiene)
    gate.refuse(flags, request.allow_pii, request.allow_contaminated)
    splits = formats.split(
        formats.to_dataset(picked, request.format),
        _test_size(request, config),
        config.export.split_seed,
    )
    facts = cards.export_facts(
        dataset=found.name,
        workspace=found.workspace.name,
        template=template,
        format=request.format,
        load_path=request.repo_id or str(request.local_dir),
        license=request.license or config.export.license,
        min_submitted=int(found.settings.distribution.min_submitted),
        splits=splits,
        decisions=decisions,
        flagged=flags,
    )
    run_facts = cards.run_facts(run, found.name, config) if run is not None else None
    card = cards.build_card(facts, run_facts, config)
    message = f"curate export: {sum(facts.splits.values())} approved records of {found.name}"
    target = _publish(request, splits, card, message)
    result = ExportResult(
        found.name, found.workspace.name, request.format, target, facts.splits, decisions
    )
    if run is not None:
        _record(run, result, request)
    return result


def _where(found: Any) -> str:
    return f"dataset {found.name!r} (workspace {found.workspace.name!r})"


def _check_template(found: Any, format: str) -> str:
    """The dataset's template, when `format` exports it; a one-line error otherwise."""
    from curation.review.templates import template_of

    template, wanted = template_of(found), formats.FORMATS[format]
    if template is None:
        raise CurationError(f"{_where(found)} was not made by `curate push`: cannot export it")
    if template != wanted:
        other = next(fmt for fmt, t in formats.FORMATS.items() if t == template)
        raise CurationError(
            f"{_where(found)} is an {template} dataset: export it with --format {other}, "
            f"not {format}"
        )
    return template


def _publish(request: ExportRequest, splits: DatasetDict, card: Any, message: str) -> str:
    """The splits and the card to the Hub repo (commit `message`) or the local folder;
    where they went."""
    if request.repo_id is not None:
        return publish.push(request.repo_id, request.private, splits, card, message)
    assert request.local_dir is not None
    publish.write_local(request.local_dir, splits, card)
    return str(request.local_dir)


def _test_size(request: ExportRequest, config: Config) -> float | None:
    return request.test_size if request.test_size is not None else config.export.test_size


def _record(run: RunDir, result: ExportResult, request: ExportRequest) -> None:
    """The export under `exports` in the run manifest (where it went, rows, when)."""
    exports = run.manifest().get("exports", {})
    exports[f"{result.dataset}-{result.format}"] = {
        "dataset": result.dataset,
        "workspace": result.workspace,
        "format": result.format,
        "repo_id": request.repo_id,
        "private": request.private if request.repo_id else None,
        "local_dir": str(request.local_dir) if request.local_dir else None,
        "rows": result.rows,
        "decisions": result.decisions,
        "exported_at": now(),
    }
    run.update(exports=exports)
