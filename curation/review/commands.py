"""What the review stages share with `curate route`: pushing checked rows, the run files a
pull writes, and routing.

Push embeds through the run's `embeddings.parquet` cache when there is a run, and a pull
merges its dataset's rows into the run's `feedback.parquet` and `review_records.parquet`
(other datasets' rows stay as they are). The stages themselves are in `review/stages.py`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation.config import Config, ReviewConfig
from curation.errors import CurationError
from curation.feedback import feedback_table
from curation.review import blind
from curation.review.audit import AUDITED, Audit, audit
from curation.review.gold import plan_gold
from curation.review.pull import Pulled, pull
from curation.review.push import PushResult, plan_records, push_records
from curation.review.quality import reviewer_quality
from curation.review.records import REVIEW_RECORD_COLUMNS, decisions, review_records
from curation.review.rest import ArgillaREST
from curation.review.routing import AUTO, RoutePlan, plan
from curation.review.templates import Template
from curation.run_files import EMBEDDINGS, FEEDBACK, REVIEW_RECORDS, REVIEWERS
from curation.runs import RunDir, write_parquet

if TYPE_CHECKING:
    import argilla as rg
    from rich.console import Console


# --- push ------------------------------------------------------------------------------


def embed_instructions(
    config: Config, texts: list[str], run: RunDir | None, console: Console | None
) -> np.ndarray:
    """Instruction embeddings for "find similar", through the run's cache when there is one."""
    from curation.selection.embeddings import embed_cached

    cache = run.file(EMBEDDINGS) if run is not None else None
    return embed_cached(
        texts,
        model=config.selection.embedding_model,
        batch_size=config.selection.batch_size,
        cache=cache,
        console=console,
    ).vectors


def push_rows(
    client: rg.Argilla,
    config: Config,
    rows: pd.DataFrame,
    template: Template,
    dataset: str,
    workspace: str | None = None,
    min_submitted: int | None = None,
    run: RunDir | None = None,
    console: Console | None = None,
    gold: pd.DataFrame | None = None,
) -> PushResult:
    """Push checked rows (with their instruction embeddings) to `dataset`.

    The blind slice (`review.blind_fraction`) goes without suggestions; checked `gold`
    rows (`gold.read_gold`) are mixed in as known-answer records.
    """
    planned = plan_records(rows, template, config.review.routing)
    blind.withhold(planned, config.review.blind_fraction)
    texts = rows["instruction"].tolist()
    if gold is not None:
        priorities = [record.metadata.get("priority", 0.5) for record in planned]
        planned += plan_gold(gold, template, config.review.routing, priorities)
        texts += gold["instruction"].tolist()
    vectors = embed_instructions(config, texts, run, console)
    return push_records(
        client,
        planned,
        template,
        dataset,
        workspace or config.argilla.workspace,
        min_submitted=min_submitted,
        default_min_submitted=config.review.min_submitted,
        vectors=vectors,
        batch_size=config.review.batch_size,
        console=console,
    )


def write_run_files(
    run: RunDir, pulled: Pulled, review: ReviewConfig | None = None
) -> pd.DataFrame:
    """Merge one dataset's feedback, review records and reviewer quality into the run;
    its decisions."""
    review = review or ReviewConfig()
    decided = decisions(pulled, aggregation=review.aggregation)
    records = review_records(pulled, decided)
    _replace_rows(run.file(FEEDBACK), pulled.dataset, feedback_table(pulled.feedback))
    _replace_rows(run.file(REVIEW_RECORDS), pulled.dataset, _records_table(records))
    reviewers = pa.Table.from_pandas(reviewer_quality(pulled, review), preserve_index=False)
    _replace_rows(run.file(REVIEWERS), pulled.dataset, reviewers)
    counts = decided["decision"].value_counts().to_dict() if not decided.empty else {}
    record_counts(
        run,
        "pull",
        pulled.dataset,
        {
            "records": len(pulled.records),
            "submitted_reviews": _reviews(pulled.feedback),
            "submitted_answers": len(pulled.feedback),
            "fetched": pulled.fetched,
            "decisions": {str(k): int(v) for k, v in counts.items()},
        },
    )
    return decided


def _reviews(feedback: pd.DataFrame) -> int:
    """Submitted reviews: one per record and reviewer (a review answers several questions)."""
    return len(feedback[["record_id", "annotator"]].drop_duplicates())


def _records_table(records: pd.DataFrame) -> pa.Table:
    schema = pa.schema(
        [
            ("dataset", pa.string()),
            ("record_id", pa.string()),
            ("template", pa.string()),
            ("argilla_id", pa.string()),
            ("dataset_id", pa.string()),
            ("record_status", pa.string()),
            ("priority", pa.float64()),
            ("n_submitted", pa.int64()),
            ("decision", pa.string()),
            ("approved_by", pa.string()),
            ("source", pa.string()),
            ("deita_score", pa.float64()),
            ("escalation", pa.string()),
            ("adjudicated", pa.string()),
            ("adjudicator", pa.string()),
        ]
    )
    text = ("source", "approved_by", "escalation", "adjudicated", "adjudicator")
    frame = records[list(REVIEW_RECORD_COLUMNS)].astype(dict.fromkeys(text, object))
    frame = frame.where(frame.notna(), None)
    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)


def _replace_rows(path: Path, dataset: str, rows: pa.Table) -> None:
    """Write `rows` as the dataset's rows of a run file, keeping other datasets' rows."""
    if path.exists():
        existing = pq.read_table(path)
        for name in rows.schema.names:  # columns a newer pull writes: null in older rows
            if name not in existing.schema.names:
                existing = existing.append_column(
                    name, pa.nulls(len(existing), rows.schema.field(name).type)
                )
        try:
            existing = existing.select(rows.schema.names).cast(rows.schema)
        except (KeyError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise CurationError(
                f"{path} has other columns than a pull writes ({error}); move it away and pull "
                "every dataset again"
            ) from None
        keep = existing.filter(pc.not_equal(existing["dataset"], dataset))
        rows = pa.concat_tables([keep, rows])
    write_parquet(rows, path)


def record_counts(run: RunDir, stage: str, dataset: str, counts: dict[str, Any]) -> None:
    """Per-dataset counts of a push or pull under `review` in the run manifest."""
    manifest = run.manifest().get("review", {})
    manifest.setdefault(stage, {})[dataset] = counts
    run.update(review=manifest)


# --- route -----------------------------------------------------------------------------


@dataclass
class RouteResult:
    dataset: str
    records: int
    changed: int
    auto_approved: int
    plan: RoutePlan
    audit: Audit | None = None

    def summary(self) -> str:
        line = (
            f"{self.dataset}: re-prioritised {self.records} records, {self.changed} updated in "
            f"Argilla, {self.auto_approved} approved without review (auto)"
        )
        if self.audit is not None and self.audit.off:
            line += f"; auto-approval OFF in score band(s) {', '.join(self.audit.off)} (audit)"
        return line

    def agreement_lines(self) -> list[str]:
        """Measured AI-human agreement per score band and source, as routing used it."""
        lines = []
        for by, groups in self.plan.agreement.items():
            for key, figures in sorted(groups.items()):
                slice_ = " (blind slice)" if figures.get("estimate") == "blind" else ""
                lines.append(
                    f"  {by} {key}: people agreed with the AI on "
                    f"{figures['agreement']:.0%} of {figures['decided']} decided records{slice_}"
                )
        lines = lines or ["  no record decided by people yet: routing uses the judges only"]
        return lines + (self.audit.lines() if self.audit is not None else [])


def route_command(
    config: Config, dataset: str, workspace: str | None, run: str | None = None
) -> RouteResult:
    """`curate route`; with `run`, its figures and the audit go into the run manifest."""
    from curation.review.connection import argilla_errors, connect

    run_dir = RunDir.open(run, config.runs_dir, create=False) if run else None
    client = connect(config)
    with argilla_errors(f"routing {dataset!r} on Argilla", client):
        result = route(client, config, dataset, workspace)
    if run_dir is not None:
        counts: dict[str, Any] = {
            "records": result.records,
            "changed": result.changed,
            "auto_approved": result.auto_approved,
        }
        if result.audit is not None:
            counts["audit"] = result.audit.as_dict()
        record_counts(run_dir, "route", result.dataset, counts)
    return result


def route(client: rg.Argilla, config: Config, dataset: str, workspace: str | None) -> RouteResult:
    """Recompute priorities (and auto-approvals) from the reviews so far; write the changes."""
    pulled = pull(client, dataset, workspace)
    if pulled.template is None:
        raise CurationError(f"dataset {dataset!r} was not made by `curate push`: cannot route it")
    decided = decisions(pulled, aggregation=config.review.aggregation)
    if not decided.empty:  # gold records keep the priority push gave them
        decided = decided[~decided["gold"]]
    if decided.empty:
        return RouteResult(dataset, 0, 0, 0, RoutePlan(pd.Series(), pd.Series(), pd.Series()))
    decided = decided.set_index("record_id", drop=False)
    routed = plan(
        decided,
        pulled.template,
        config.review.routing,
        config.review.auto_approval,
        config.review.score_bands,
    )
    checked = audit(decided, routed.auto, routed.score_band, config.review)
    routed.auto = checked.auto
    items = []
    for record in pulled.records.itertuples(index=False):
        if record.record_id not in routed.priority.index:
            continue
        metadata = json.loads(record.metadata)
        new = dict(metadata)
        new["priority"] = float(routed.priority[record.record_id])
        new["score_band"] = str(routed.score_band[record.record_id])
        new.pop("approved_by", None)
        if routed.auto[record.record_id]:
            new["approved_by"] = AUTO
        if checked.audit[record.record_id]:
            new["audit"] = AUDITED
            if not decided.loc[record.record_id, "human_decided"]:
                new["priority"] = 1.0  # people see the audit records first
        if new != metadata:
            items.append({"id": record.argilla_id, "metadata": new})
    if checked.new:
        ensure_metadata(client, pulled, "audit")
    rest = ArgillaREST(client)
    for start in range(0, len(items), config.review.batch_size):
        rest.put(
            f"/api/v1/datasets/{pulled.dataset_id}/records/bulk",
            json={"items": items[start : start + config.review.batch_size]},
        )
    return RouteResult(
        dataset=pulled.dataset,
        records=len(decided),
        changed=len(items),
        auto_approved=int(routed.auto.sum()),
        plan=routed,
        audit=checked,
    )


def ensure_metadata(client: rg.Argilla, pulled: Pulled, name: str) -> None:
    """Add a template metadata property a dataset pushed by an older version lacks."""
    from curation.review.datasets import find_dataset
    from curation.review.templates import METADATA, metadata_property

    found = find_dataset(client, pulled.dataset, pulled.workspace)
    if name not in {prop.name for prop in found.settings.metadata}:
        assert pulled.template is not None
        found.settings.metadata.add(
            metadata_property(client, name, METADATA[pulled.template][name])
        )
        found.update()
