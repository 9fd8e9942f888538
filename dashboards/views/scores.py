"""Scores: UltraFeedback ratings per aspect, Deita scores and margins, by source method."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import charts, data, ui

ROWS = {"all judged pairs": "preferences.parquet", "kept by selection": "selected.parquet"}
DEITA = {
    "complexity": "Deita complexity",
    "quality": "Deita quality",
    "deita_score": "Deita score (complexity × quality)",
    "evol_score": "Evol score",
}


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per source: rows and mean scores, plus the share of judge ties."""
    by = frame["source"].fillna("(none)") if "source" in frame else pd.Series("all", frame.index)
    numeric = [c for c in data.PREFERENCE_SCORES if c in frame]
    table = frame[numeric].groupby(by).mean().round(3)
    table.insert(0, "rows", by.value_counts())
    if "tie" in frame:
        table["tie share"] = frame["tie"].astype(float).groupby(by).mean().round(3)
    table.index.name = "source"
    return table.reset_index()


def ratings_section(sel: data.Selection, name: str, frame: pd.DataFrame) -> None:
    st.subheader("UltraFeedback ratings")
    columns = data.rating_columns(sel.run, name)
    if not columns:
        st.caption(f"`{name}` has no `ratings` list column.")
    charts_row = st.columns(2)
    for index, column in enumerate(columns):
        aspect = data.aspect_name(sel.run, name, column)

        def build(column: str = column, aspect: str = aspect):
            ratings = sel.rows(data.ratings_long(sel.run, name, column))
            return charts.histogram(
                ratings,
                "rating",
                by="source",
                title=f"{aspect}: rating of each response",
                x_title=f"{aspect} rating",
            )

        with charts_row[index % 2]:
            figure = data.memo(sel.run, "scores", sel, name, column, build=build)
            ui.chart(figure, key=f"ratings:{column}")
    sides = [c for c in ("chosen_rating", "rejected_rating") if c in frame]
    if sides:

        def build():
            pairs = frame[sides].melt(var_name="side", value_name="rating")
            pairs["side"] = pairs["side"].str.removesuffix("_rating")
            return charts.histogram(
                pairs,
                "rating",
                by="side",
                barmode="overlay",
                title="Chosen vs rejected rating",
                x_title="rating",
            )

        with charts_row[len(columns) % 2]:
            figure = data.memo(sel.run, "scores", sel, name, "sides", build=build)
            ui.chart(figure, key="ratings:sides")


def render() -> None:
    sel = ui.selection()
    st.title("Scores")
    ui.filter_caption(sel)
    label = st.radio("Rows", list(ROWS), horizontal=True, key="scores:rows")
    name = ROWS[label]
    if not ui.require(sel, name, what="The score histograms"):
        return
    frame = sel.rows(data.table(sel.run, name))
    if frame.empty:
        st.warning("No rows pass the sidebar filters.")
        return
    headline_metrics(frame)
    ratings_section(sel, name, frame)
    deita_section(sel, name, frame)
    margin_section(sel, name, frame)
    st.subheader("By source method")
    st.dataframe(
        data.memo(sel.run, "scores", sel, name, "summary", build=lambda: summary(frame)),
        hide_index=True,
    )


def headline_metrics(frame: pd.DataFrame) -> None:
    """Pairs, mean Deita score, median margin and the judge's tie share."""
    metrics = st.columns(4)
    metrics[0].metric("pairs", f"{len(frame):,}")
    for column, (key, title) in zip(
        metrics[1:],
        (("deita_score", "mean Deita score"), ("margin", "median margin")),
        strict=False,
    ):
        if key in frame:
            value = frame[key].mean() if key == "deita_score" else frame[key].median()
            column.metric(title, "—" if pd.isna(value) else f"{value:.2f}")
    if "tie" in frame:
        metrics[3].metric("judge ties", f"{frame['tie'].astype(float).mean():.1%}")


def deita_section(sel: data.Selection, name: str, frame: pd.DataFrame) -> None:
    """One histogram per Deita score column, by source method."""
    st.subheader("Deita scores")
    present = [c for c in DEITA if c in frame]
    if not present:
        st.caption(f"`{name}` has no Deita score columns ({', '.join(DEITA)}).")
    columns = st.columns(2)
    for index, column in enumerate(present):
        figure = data.memo(
            sel.run,
            "scores",
            sel,
            name,
            column,
            build=lambda column=column: charts.histogram(
                frame, column, by="source", title=DEITA[column]
            ),
        )
        with columns[index % 2]:
            ui.chart(figure, key=f"deita:{column}")


def margin_section(sel: data.Selection, name: str, frame: pd.DataFrame) -> None:
    """The chosen - rejected rating margin of each pair, by source method."""
    st.subheader("Chosen − rejected margin")
    if "margin" not in frame:
        st.caption(f"`{name}` has no `margin` column.")
        return
    figure = data.memo(
        sel.run,
        "scores",
        sel,
        name,
        "margin",
        build=lambda: charts.histogram(
            frame, "margin", by="source", title="Rating margin of each pair", x_title="margin"
        ),
    )
    ui.chart(figure, key="margin")


render()
