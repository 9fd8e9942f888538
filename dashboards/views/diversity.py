"""Diversity: how similar kept rows are to each other, what was dropped, the embedding map."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import charts, data, ui


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


def map_section(sel: data.Selection) -> None:
    st.subheader("Embedding map")
    if not ui.require(sel, "embeddings.parquet", what="The embedding map"):
        return
    limit = data.settings().dashboard.max_scatter_points
    points, total = data.embedding_map(sel.run, limit)
    points = sel.rows(points)
    colour = st.radio("Colour by", ["status", "source"], horizontal=True, key="diversity:colour")
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
    map_section(sel)


render()
