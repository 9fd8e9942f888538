"""The curation dashboard: `curate dashboard` serves this file with Streamlit.

It builds the sidebar (run, dataset, source and score filters, Refresh), stores the
selection in the session for the pages in `views/`, and runs the page picked in the
navigation. Each page reads the run directory through `dashboards.data`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # `streamlit run dashboards/app.py` runs this as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st

from curation.errors import CurationError
from dashboards import data, ui

PAGES = [
    st.Page("views/overview.py", title="Overview", icon=":material/filter_alt:", default=True),
    st.Page("views/scores.py", title="Scores", icon=":material/bar_chart:"),
    st.Page("views/diversity.py", title="Diversity", icon=":material/scatter_plot:"),
    st.Page("views/review.py", title="Review", icon=":material/rate_review:"),
    st.Page("views/agreement.py", title="Agreement", icon=":material/handshake:"),
    st.Page("views/export.py", title="Export readiness", icon=":material/upload:"),
]
ALL = "All datasets"


def pick_run(root: Path, configured: str | None) -> Path | None:
    """The run to show: `?run=` in the URL, else the configured run, else the newest."""
    runs = data.list_runs(root)
    wanted = st.query_params.get("run") or configured
    first = data.resolve_run(wanted, root) if wanted else None
    options = [str(p.resolve()) for p in runs]
    if first is not None and str(first) not in options:
        options.insert(0, str(first))
    if not options:
        return None
    index = options.index(str(first)) if first is not None else 0
    chosen = st.sidebar.selectbox(
        "Run", options, index=index, format_func=lambda p: Path(p).name, key="run"
    )
    if chosen != st.query_params.get("run"):
        st.query_params["run"] = chosen
    return Path(chosen)


def filters(run: Path) -> data.Selection:
    """The dataset, source and score widgets for this run (keys carry the run)."""
    names = data.datasets(run)
    dataset = st.sidebar.selectbox("Dataset", [ALL, *names], key=f"dataset:{run}")
    found = data.sources(run)
    chosen = st.sidebar.multiselect(
        "Source", found, key=f"sources:{run}", placeholder="All sources"
    )
    score_range = None
    bounds = data.score_bounds(run)
    if bounds is not None and bounds[0] < bounds[1]:
        low, high = st.sidebar.slider(
            "Deita score", bounds[0], bounds[1], bounds, key=f"score:{run}"
        )
        if (low, high) != bounds:
            score_range = (low, high)
    return data.Selection(
        run=run,
        dataset=None if dataset == ALL else dataset,
        sources=tuple(chosen),
        score_range=score_range,
    )


def main() -> None:
    st.set_page_config(page_title="curation dashboard", page_icon="🧪", layout="wide")
    navigation = st.navigation(PAGES)
    if st.sidebar.button("Refresh data", help="Read the run files again now"):
        st.cache_data.clear()
        st.cache_resource.clear()
    try:
        config = data.settings()
        run = pick_run(Path(config.runs_dir).resolve(), config.dashboard.run)
    except CurationError as error:
        st.error(str(error))
        st.stop()
    if run is None:
        st.title("curation dashboard")
        st.info(
            f"No runs yet under `{config.runs_dir}`. Start one with `curate demo` "
            "(the whole loop) or `curate generate --run RUN`."
        )
        st.stop()
    if not run.is_dir():
        st.sidebar.warning(f"Run directory not found: {run}")
    try:
        st.session_state[ui.SELECTION_KEY] = filters(run)
        st.sidebar.caption(
            f"Shown at {time.strftime('%H:%M:%S')}. Run files are re-read as soon as a stage "
            f"rewrites them; live Argilla figures after {data.TTL_S} s."
        )
        navigation.run()
    except data.UnreadableFile as error:
        ui.unreadable(error)


main()
