"""The review part of `curate demo`: push both datasets, a SIMULATED review, pull, agreement.

- push: the selected pairs (`selected.parquet`) as the `preference` dataset, and the same
  rows as the `instruction` dataset (the AI's chosen response, rated by the judge); both
  keep the row ids, so their records join back to the run's rows.
- simulated review (demo only, labelled as such in the output and the manifest): scripted
  reviewers answer part of the records and leave the rest for a person to try in the UI.
- pull: `feedback.parquet` and `review_records.parquet` in the run directory.
- agreement: `agreement/<dataset>.json` per dataset.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from curation.review.datasets import lookup
from curation.runs import write_json

if TYPE_CHECKING:
    import argilla as rg

    from curation.demo import DemoContext

SELECTED = "selected.parquet"
# Columns the instruction rows carry over from the selected pairs (metadata and routing).
CARRIED = ("source", "complexity", "quality", "deita_score", "selection_rank", "nn_similarity")


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


SKIPPED = f"skipped: no {SELECTED} in the run (the generate and select steps make it)"
NOTHING = f"skipped: {SELECTED} has no pair to review"


def _selected(ctx: DemoContext) -> pd.DataFrame | None:
    """The selected pairs to review (None: the run has no selection yet)."""
    path = ctx.run.file(SELECTED)
    if not path.exists():
        return None
    selected = pd.read_parquet(path)
    return selected[selected["chosen"].notna()].reset_index(drop=True)


def _skip(ctx: DemoContext) -> str | None:
    """Why the review steps have nothing to do, or None."""
    selected = _selected(ctx)
    return SKIPPED if selected is None else NOTHING if selected.empty else None


def _datasets(ctx: DemoContext) -> list[tuple[str, str]]:
    review = ctx.config.review
    return [(review.preference_dataset, "preference"), (review.instruction_dataset, "instruction")]


def drop_other_runs(client: rg.Argilla, name: str, workspace: str, keep: set[str]) -> int:
    """Delete the demo dataset's records that are not rows of this run; how many went.

    The demo datasets mirror the demo run: after `rm -rf runs/demo` or in another
    checkout, the records of an earlier demo run (and the SIMULATED reviews of them) would
    otherwise stay in the review queue, the pull and the counts.
    """
    dataset = lookup(client, name, workspace)
    if dataset is None:
        return 0
    records = dataset.records(with_suggestions=False, with_responses=False, with_vectors=False)
    stale = [record for record in records if record.id not in keep]
    if stale:
        dataset.records.delete(stale)
    return len(stale)


def push_step(ctx: DemoContext) -> str:
    """Push the selected pairs as both datasets; their review URLs go into the links."""
    from curation.review.commands import push_rows, record_counts
    from curation.review.connection import connect
    from curation.review.push import check_rows

    selected = _selected(ctx)
    if selected is None or selected.empty:
        return SKIPPED if selected is None else NOTHING
    path = ctx.run.file(SELECTED)
    client = connect(ctx.config)
    results = []
    for name, template in _datasets(ctx):
        rows = selected if template == "preference" else instruction_rows(selected)
        check_rows(rows, template, str(path))
        dropped = drop_other_runs(client, name, ctx.config.argilla.workspace, set(rows["id"]))
        result = push_rows(client, ctx.config, rows, template, name, run=ctx.run)
        ctx.links[f"Review {name} ({template}), highest priority first"] = result.queue_url
        counts = {
            "created": result.created,
            "updated": result.updated,
            "removed_other_run": dropped,
        }
        record_counts(ctx.run, "push", name, counts)
        line = f"{name}: +{result.created} new, {result.updated} updated"
        results.append(line + (f", {dropped} of an earlier demo run removed" if dropped else ""))
    return "; ".join(results)


def simulate_step(ctx: DemoContext) -> str:
    """SIMULATED review (demo only): scripted reviewers answer part of the records."""
    from curation.review.connection import connect
    from curation.review.pull import pull
    from curation.review.simulate import LABEL, simulate

    count = ctx.config.review.simulated_reviewers
    skip = _skip(ctx)
    if skip:
        return skip
    if count == 0:
        return "skipped (review.simulated_reviewers is 0)"
    client = connect(ctx.config)
    done = {}
    for name, _ in _datasets(ctx):
        done[name] = simulate(client, pull(client, name, ctx.config.argilla.workspace), count)
    ctx.run.update(simulated_review={"note": LABEL, "datasets": done})
    answered = ", ".join(
        f"{name}: {d['responses']} reviews of {d['records']} records" for name, d in done.items()
    )
    return f"{LABEL}: {count} reviewers; {answered}; the other records wait for you"


def pull_step(ctx: DemoContext) -> str:
    """Pull both datasets into the run and write their agreement figures."""
    from curation.agreement import compute_agreement
    from curation.review.commands import write_run_files
    from curation.review.connection import connect
    from curation.review.pull import pull

    skip = _skip(ctx)
    if skip:
        return skip
    client = connect(ctx.config)
    lines = []
    for name, _ in _datasets(ctx):
        pulled = pull(client, name, ctx.config.argilla.workspace)
        decided = write_run_files(ctx.run, pulled)
        agreement = compute_agreement(
            pulled.responses,
            name,
            question_values=pulled.question_values,
            question_types=pulled.question_types,
        )
        write_json(agreement, ctx.run.path / "agreement" / f"{name}.json")
        approved = int((decided["decision"] == "approved").sum()) if len(decided) else 0
        reviews = len(pulled.feedback[["record_id", "annotator"]].drop_duplicates())
        lines.append(
            f"{name}: {reviews} submitted reviews, {approved} of {len(decided)} records approved"
        )
    return "; ".join(lines)
