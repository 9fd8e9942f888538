"""Pieces every page uses: the current selection, missing-data notices, charts."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from curation import run_files
from curation.run_files import RUN_FILES
from dashboards.data import Selection, UnreadableFile, stamp

SELECTION_KEY = "selection"


def selection() -> Selection:
    """What the sidebar (app.py) selected for this rerun."""
    return st.session_state[SELECTION_KEY]


def command_for(name: str, selection: Selection) -> str:
    return run_files.command_for(name, selection.run)


def missing(selection: Selection, *names: str) -> list[str]:
    """The names among run files (or folders) that the run lacks."""
    return [name for name in names if stamp(selection.run / name) is None]


def notice(selection: Selection, *names: str, what: str = "") -> None:
    """Say which files are missing and which `curate` command writes each of them."""
    lines = [
        f"- `{name}` ({RUN_FILES[name].what}): `{command_for(name, selection)}`" for name in names
    ]
    intro = f"**{what or 'This section'}: not in this run yet.** Missing, and what writes it:"
    st.info("\n".join([intro, *lines]))


def require(selection: Selection, *names: str, what: str = "") -> bool:
    """True if every named file exists; otherwise show the notice and return False."""
    absent = missing(selection, *names)
    if absent:
        notice(selection, *absent, what=what)
    return not absent


def unreadable(error: UnreadableFile) -> None:
    st.error(f"{error} — rerun the stage that writes it.")


def chart(figure: go.Figure | None, key: str, empty: str = "No values to plot.") -> None:
    """A Plotly chart with hover, or a caption when the figure has nothing to show."""
    if figure is None:
        st.caption(empty)
        return
    st.plotly_chart(figure, key=key, width="stretch", config={"displaylogo": False})


def filter_caption(selection: Selection) -> None:
    parts = []
    if selection.dataset:
        parts.append(f"dataset **{selection.dataset}**")
    if selection.sources:
        parts.append("source " + ", ".join(f"**{s}**" for s in selection.sources))
    if selection.score_range is not None:
        low, high = selection.score_range
        parts.append(f"Deita score **{low:.2f} – {high:.2f}**")
    if parts:
        st.caption("Filtered to " + "; ".join(parts) + " (sidebar).")
