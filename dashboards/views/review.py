"""Review: progress per dataset and per annotator over time, and the queue by priority."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import charts, data, escalation, live, ui

QUEUE_ROWS = 200
QUALITY_COLUMNS = {  # reviewers.parquet column -> what the table calls it
    "dataset": "dataset",
    "annotator": "reviewer",
    "flags": "flags",
    "reviews": "reviews",
    "competence": "competence",
    "gold_accuracy": "gold accuracy",
    "gold_interval": "gold 95% CI (Wilson)",
    "gold_n": "gold items",
    "seconds_per_record": "median s / record",
    "agreement_with_others": "agrees with others' majority",
    "n_with_others": "records with a majority of others",
}


def dataset_progress(records: pd.DataFrame) -> pd.DataFrame:
    """Per dataset: records, completed, pending, responses and decisions."""
    status = records.get("record_status", pd.Series("pending", index=records.index))
    table = pd.crosstab(records["dataset"], status.fillna("pending"))
    for column in ("completed", "pending"):
        if column not in table:
            table[column] = 0
    table.insert(0, "records", table.sum(axis=1))
    if "n_submitted" in records:
        table["reviews submitted"] = records.groupby("dataset")["n_submitted"].sum()
    table["completed share"] = (table["completed"] / table["records"]).round(3)
    return table


def submissions(feedback: pd.DataFrame) -> pd.DataFrame:
    """One row per submitted (dataset, record, annotator): when it was last updated."""
    submitted = feedback[feedback["status"] == "submitted"]
    keys = ["dataset", "record_id", "annotator"]
    if "updated_at" not in submitted:
        return submitted[keys].drop_duplicates().assign(updated_at=pd.NaT)
    return submitted.groupby(keys, as_index=False)["updated_at"].max()


def queue(sel: data.Selection, records: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The first pending records, highest priority first, with a link into Argilla; and
    how many are pending in all."""
    pending = records
    if "record_status" in records:
        pending = records[records["record_status"] != "completed"]
    total = len(pending)
    if "priority" in pending:
        pending = pending.sort_values("priority", ascending=False, kind="stable")
    pending = pending.head(QUEUE_ROWS)
    shown = [
        c
        for c in ("dataset", "record_id", "priority", "n_submitted", "source", "deita_score")
        if c in pending
    ]
    table = pending[shown].copy()
    texts = data.texts(sel.run)
    table["instruction"] = pending["record_id"].map(texts).to_numpy()
    if "dataset_id" in pending:
        base = live.argilla_url(data.settings())
        table["open in Argilla"] = [
            live.record_link(base, dataset_id, text)
            for dataset_id, text in zip(pending["dataset_id"], table["instruction"], strict=True)
        ]
    return table, total


def quality_table(reviewers: pd.DataFrame) -> pd.DataFrame:
    """Reviewers, flagged ones first, with gold accuracy and its interval as text."""
    table = reviewers.copy()
    table["gold_interval"] = [
        f"{low:.2f} – {high:.2f}" if pd.notna(low) else ""
        for low, high in zip(table["gold_low"], table["gold_high"], strict=True)
    ]
    table = table.sort_values(["flags", "dataset", "annotator"], ascending=[False, True, True])
    return table[list(QUALITY_COLUMNS)].rename(columns=QUALITY_COLUMNS)


def quality_section(sel: data.Selection) -> None:
    """Per reviewer: gold accuracy, estimated competence, speed, agreement, and flags."""
    st.subheader("Reviewer quality")
    reviewers = data.table(sel.run, "reviewers.parquet")
    if reviewers is None:
        ui.notice(sel, "reviewers.parquet", what="Reviewer quality")
        return
    reviewers = sel.in_dataset(reviewers)
    if reviewers.empty:
        st.caption("No submitted reviews yet.")
        return
    flagged = reviewers[reviewers["flags"].fillna("") != ""]
    for row in flagged.itertuples():
        st.warning(f"{row.annotator} ({row.dataset}): {row.flags}")
    methods = ", ".join(sorted(reviewers["competence_method"].dropna().unique()))
    st.dataframe(
        quality_table(reviewers),
        hide_index=True,
        column_config={
            "competence": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0),
            "gold accuracy": st.column_config.NumberColumn(format="%.2f"),
            "median s / record": st.column_config.NumberColumn(format="%.1f"),
            "agrees with others' majority": st.column_config.NumberColumn(format="%.2f"),
        },
    )
    settings = data.settings().review
    st.caption(
        f"Competence: estimated from how reviewers agree ({methods}; crowd-kit), no known "
        "answers needed. Gold accuracy: answers on known-answer records (`curate push "
        "--gold`), with a Wilson 95% interval. Speed: median time between a reviewer's "
        f"submissions. Flags: faster than {settings.min_seconds_per_record:g} s per record, "
        f"or agreeing with the others' majority on fewer than "
        f"{settings.min_agreement_with_others:.0%} of records."
    )


def live_section(records: pd.DataFrame) -> None:
    """Progress straight from Argilla, for what happened since the last `curate pull`."""
    if "dataset_id" not in records:
        return
    ids = tuple(sorted(records["dataset_id"].dropna().astype(str).unique()))
    progress = live.live_progress(ids)
    st.subheader("Live from Argilla")
    if progress.problem is not None:
        st.caption(
            f"Argilla cannot be read right now ({progress.problem}); the figures above are from "
            "the last `curate pull`."
        )
        return
    if progress.datasets.empty:
        st.caption("None of this run's datasets is on the Argilla server now.")
        return
    st.caption(
        f"Read from {live.argilla_url(data.settings())} at {progress.read_at}; read again after "
        f"{data.TTL_S} s or on Refresh."
    )
    left, right = st.columns(2)
    left.dataframe(progress.datasets, hide_index=True)
    if not progress.annotators.empty:
        right.dataframe(progress.annotators, hide_index=True)


def render() -> None:
    sel = ui.selection()
    st.title("Review")
    ui.filter_caption(sel)
    if not ui.require(sel, "review_records.parquet", what="Review progress"):
        return
    records = sel.review_records()
    if records.empty:
        st.warning("No pushed records pass the sidebar filters.")
        return
    progress_section(records)
    escalation.render(records, data.manifest(sel.run))
    annotators_section(sel)
    queue_section(sel, records)
    quality_section(sel)
    live_section(records)  # last: it waits for Argilla, everything above is on screen


def progress_section(records: pd.DataFrame) -> None:
    """Completed and pending records per dataset, as of the last pull."""
    st.subheader("Progress per dataset")
    progress = dataset_progress(records)
    left, right = st.columns(2)
    with left:
        ui.chart(
            charts.stacked(
                progress[["completed", "pending"]],
                title="Records completed in Argilla",
                x_title="dataset",
                colours={"completed": "#2ca02c", "pending": "#9a9a9a"},
            ),
            key="progress",
        )
    with right:
        st.dataframe(progress.reset_index(), hide_index=True)


def annotators_section(sel: data.Selection) -> None:
    """Submitted reviews per annotator: cumulative over time, and per dataset."""
    st.subheader("Reviews per annotator over time")
    feedback = sel.feedback()
    if feedback is None:
        ui.notice(sel, "feedback.parquet", what="Reviews per annotator")
        return
    done = data.memo(sel.run, "submissions", sel, build=lambda: submissions(feedback))
    if done.empty:
        st.caption("No submitted reviews yet.")
        return
    if done["updated_at"].notna().any():
        figure = data.memo(
            sel.run,
            "annotator-lines",
            sel,
            build=lambda: charts.cumulative_lines(
                done.dropna(subset=["updated_at"]),
                time="updated_at",
                series="annotator",
                title="Records reviewed (submitted), cumulative",
                y_title="records reviewed",
            ),
        )
        ui.chart(figure, key="annotators")
    per = pd.crosstab(done["annotator"], done["dataset"], margins=True, margins_name="all")
    st.dataframe(per.reset_index(), hide_index=True)


def queue_section(sel: data.Selection, records: pd.DataFrame) -> None:
    """The pending records, highest routing priority first, linked to Argilla."""
    st.subheader("Pending queue, highest priority first")
    table, total = queue(sel, records)
    if table.empty:
        st.success("Nothing pending: every record is completed.")
        return
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "open in Argilla": st.column_config.LinkColumn(display_text="open"),
            "priority": st.column_config.NumberColumn(format="%.3f"),
        },
    )
    if total > len(table):
        st.caption(f"The first {len(table):,} of {total:,} pending records.")


render()
