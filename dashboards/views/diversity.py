"""Diversity: how similar kept rows are to each other, what was dropped, the topics, the map."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from statsmodels.stats.proportion import proportion_confint

from curation.review.templates import DECIDING_QUESTION
from dashboards import charts, data, diversity_data, ui


def similarities(sel: data.Selection) -> pd.DataFrame:
    """Nearest-kept similarity of kept rows and of rejected rows, with `status`."""
    parts = []
    kept = data.table(sel.run, "selected.parquet")
    if kept is not None and "nn_similarity" in kept:
        kept = sel.rows(kept)
        parts.append(pd.DataFrame({"similarity": kept["nn_similarity"], "status": "kept"}))
    rejected = data.table(sel.run, "selection_rejected.parquet")
    if rejected is not None and "similarity" in rejected:
        rejected = sel.by_id(rejected)
        parts.append(pd.DataFrame({"similarity": rejected["similarity"], "status": "rejected"}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def selection_section(sel: data.Selection) -> None:
    kept = data.table(sel.run, "selected.parquet")
    rejected = data.table(sel.run, "selection_rejected.parquet")
    kept = sel.rows(kept)
    metrics = st.columns(4)
    metrics[0].metric("kept", f"{len(kept):,}")
    if rejected is not None:
        rejected = sel.by_id(rejected)
        metrics[1].metric("rejected", f"{len(rejected):,}")
        total = len(kept) + len(rejected)
        metrics[2].metric("kept share", f"{len(kept) / total:.1%}" if total else "—")
    if "nn_similarity" in kept and kept["nn_similarity"].notna().any():
        metrics[3].metric("largest kept similarity", f"{kept['nn_similarity'].max():.3f}")
    sims = similarities(sel)
    left, right = st.columns(2)
    with left:
        ui.chart(
            charts.histogram(
                sims,
                "similarity",
                by="status",
                barmode="overlay",
                colours=charts.STATUS_COLOURS,
                title="Cosine similarity to the nearest kept row",
                x_title="similarity",
            )
            if not sims.empty
            else None,
            key="similarity",
            empty="No similarities recorded (`nn_similarity`, `similarity`).",
        )
    with right:
        if rejected is None:
            ui.notice(sel, "selection_rejected.parquet", what="Rejection reasons")
        elif "reason" in rejected:
            counts = rejected["reason"].fillna("unknown").value_counts()
            ui.chart(
                charts.bars(counts, title="Why rows were rejected", x_title="reason"),
                key="reasons",
                empty="Nothing was rejected.",
            )


def topic_table(sel: data.Selection, topics: pd.DataFrame) -> pd.DataFrame:
    """Per topic: rows, kept by selection, approved, and how often the AI judge's suggestion
    on the deciding question equals a reviewer's submitted answer (Wilson 95% interval),
    next to the majority-label baseline (always answering the topic's commonest answer)."""
    rows = sel.by_id(topics)
    kept = data.table(sel.run, "selected.parquet")
    records = sel.review_records()
    approved = set()
    if records is not None and {"decision", "record_id"} <= set(records.columns):
        approved = set(records.loc[records["decision"] == "approved", "record_id"])
    frame = rows.assign(
        kept=rows["id"].isin(kept["id"]) if kept is not None else False,
        approved=rows["id"].isin(approved),
    )
    out = frame.groupby("topic").agg(
        rows=("id", "size"), kept=("kept", "sum"), approved=("approved", "sum")
    )
    agreement = _topic_agreement(sel, rows)
    out = out.join(agreement) if agreement is not None else out
    return out.sort_values("rows", ascending=False).reset_index()


def _topic_agreement(sel: data.Selection, rows: pd.DataFrame) -> pd.DataFrame | None:
    feedback = sel.feedback()
    if feedback is None or feedback.empty or "suggestion" not in feedback:
        return None
    decided = feedback[
        (feedback["status"] == "submitted")
        & feedback["question"].isin(list(DECIDING_QUESTION.values()))
        & feedback["suggestion"].notna()
    ].merge(rows.rename(columns={"id": "record_id"}), on="record_id")
    if decided.empty:
        return None
    decided = decided.assign(
        agree=decided["value"].astype(str) == decided["suggestion"].astype(str)
    )
    grouped = decided.groupby("topic")
    n = grouped.size()
    agree = grouped["agree"].sum()
    low, high = proportion_confint(agree, n, alpha=0.05, method="wilson")
    majority = grouped["value"].agg(lambda v: v.value_counts().iloc[0]) / n
    return pd.DataFrame(
        {
            "AI = human": agree / n,
            "95% interval": [f"{lo:.2f}-{hi:.2f}" for lo, hi in zip(low, high, strict=True)],
            "majority-label baseline": majority,
            "answers": n,
        }
    )


def topic_section(sel: data.Selection) -> pd.DataFrame | None:
    st.subheader("Topics")
    if not ui.require(sel, "embeddings.parquet", what="Topic clusters"):
        return None
    topics = diversity_data.topics(sel.run, data.settings().hygiene.topics)
    if topics is None or topics.empty:
        st.caption("No embeddings to cluster.")
        return None
    table = topic_table(sel, topics)
    st.caption(
        f"{table['topic'].nunique()} k-means clusters of all {len(topics):,} instruction "
        "embeddings (scikit-learn), named by their most characteristic words. AI = human: "
        "share of submitted answers to the deciding question (preferred / verdict) equal to "
        "the AI judge's suggestion, with a Wilson 95% interval; the majority-label baseline "
        "is the share a reviewer-agnostic constant answer would match."
    )
    st.dataframe(
        table,
        hide_index=True,
        key="diversity:topics",
        column_config={
            "AI = human": st.column_config.NumberColumn(format="%.2f"),
            "majority-label baseline": st.column_config.NumberColumn(format="%.2f"),
        },
    )
    return topics


def map_section(sel: data.Selection, topics: pd.DataFrame | None = None) -> None:
    st.subheader("Embedding map")
    if not ui.require(sel, "embeddings.parquet", what="The embedding map"):
        return
    limit = data.settings().dashboard.max_scatter_points
    points, total = diversity_data.embedding_map(sel.run, limit)
    points = sel.rows(points)
    if topics is not None:
        points = points.merge(topics, on="id", how="left")
    colour = st.radio(
        "Colour by", ["status", "source", "topic"], horizontal=True, key="diversity:colour"
    )
    if colour not in points:
        st.caption(f"No `{colour}` for these rows.")
        colour = "status"
    sampled = f"a random sample of {limit:,} of {total:,} embeddings" if total > limit else None
    st.caption(
        f"{len(points):,} points, "
        + (sampled or f"all {total:,} embeddings")
        + "; PCA fitted on the points shown (scikit-learn)."
    )
    ui.chart(
        charts.scatter_map(
            points,
            colour,
            title="Instructions on the first two principal components",
            colours=charts.STATUS_COLOURS if colour == "status" else None,
        )
        if len(points)
        else None,
        key="map",
        empty="No points pass the sidebar filters.",
    )


def render() -> None:
    sel = ui.selection()
    st.title("Diversity")
    ui.filter_caption(sel)
    if ui.require(sel, "selected.parquet", what="The selection view"):
        selection_section(sel)
    map_section(sel, topic_section(sel))


render()
