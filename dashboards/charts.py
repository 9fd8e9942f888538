"""Plotly figures built from tables; no Streamlit here, so each is easy to test alone.

Histograms are binned here (NumPy) and drawn as bars: the browser gets counts per bin,
not every value, which keeps 100,000-row runs fast and makes the spec checkable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

PALETTE = qualitative.Plotly
STATUS_COLOURS = {"kept": "#2ca02c", "rejected": "#d62728", "not selected": "#9a9a9a"}
DECISION_COLOURS = {
    "approved": "#2ca02c",
    "rejected": "#d62728",
    "tie": "#ff7f0e",
    "needs_fix": "#9467bd",
    "pending": "#9a9a9a",
}
SOURCE_COLOURS = {
    "seed": "#7f7f7f",
    "self-instruct": "#636efa",
    "evol-instruct": "#ef553b",
    "magpie": "#00cc96",
}
# One colour per known name on every chart, whichever groups a filter leaves.
KNOWN_COLOURS = {**SOURCE_COLOURS, **STATUS_COLOURS, **DECISION_COLOURS}
MAX_INTEGER_BINS = 30
BINS = 30


def _layout(figure: go.Figure, title: str, x_title: str, y_title: str) -> go.Figure:
    figure.update_layout(
        title=title,
        xaxis_title=x_title,
        yaxis_title=y_title,
        margin={"l": 40, "r": 10, "t": 50, "b": 40},
        legend={"orientation": "h", "y": -0.2},
        height=360,
    )
    return figure


def bin_edges(values: np.ndarray) -> np.ndarray:
    """One bin per integer for small integer scales (ratings), else equal-width bins."""
    low, high = float(values.min()), float(values.max())
    if np.all(np.mod(values, 1) == 0) and high - low < MAX_INTEGER_BINS:
        return np.arange(low - 0.5, high + 1.0, 1.0)
    if low == high:
        return np.array([low - 0.5, high + 0.5])
    return np.linspace(low, high, BINS + 1)


def histogram(
    frame: pd.DataFrame,
    column: str,
    *,
    by: str | None = None,
    title: str = "",
    x_title: str | None = None,
    barmode: str = "stack",
    colours: Mapping[str, str] | None = None,
) -> go.Figure | None:
    """Counts per bin of `column`, one bar trace per value of `by`; None without values."""
    values = pd.to_numeric(frame[column], errors="coerce")
    present = values.notna().to_numpy()
    if not present.any():
        return None
    numbers = values.to_numpy(dtype=float)[present]
    edges = bin_edges(numbers)
    if by is not None and by in frame:
        codes, names = pd.factorize(frame[by].to_numpy()[present], sort=True)
        groups = [str(name) for name in names]
        if (codes < 0).any():  # missing group values
            codes[codes < 0] = len(groups)
            groups.append("(none)")
    else:
        codes, groups = np.zeros(len(numbers), dtype=np.int64), ["all"]
    # np.histogram's bins: [a, b) except the last, [a, b]; all groups in one bincount
    bins = np.clip(np.searchsorted(edges, numbers, side="right") - 1, 0, len(edges) - 2)
    size = len(edges) - 1
    counts = np.bincount(codes * size + bins, minlength=len(groups) * size).reshape(-1, size)
    figure = go.Figure()
    centres, widths = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    bounds = np.column_stack([edges[:-1], edges[1:]])
    for index, group in enumerate(groups):
        colour = {**KNOWN_COLOURS, **(colours or {})}.get(group, PALETTE[index % len(PALETTE)])
        figure.add_bar(
            x=centres.tolist(),
            y=counts[index].tolist(),
            width=widths.tolist(),
            name=group,
            marker_color=colour,
            customdata=bounds.tolist(),
            opacity=0.6 if barmode == "overlay" else 1.0,
            hovertemplate=(
                f"{group}<br>{column} %{{customdata[0]:.3g}} – %{{customdata[1]:.3g}}"
                "<br>%{y} rows<extra></extra>"
            ),
        )
    figure.update_layout(barmode=barmode, bargap=0.02, showlegend=by is not None)
    return _layout(figure, title, x_title or column, "rows")


def funnel(stages: Sequence[tuple[str, int]], title: str = "") -> go.Figure:
    figure = go.Figure(
        go.Funnel(
            y=[name for name, _ in stages],
            x=[count for _, count in stages],
            textinfo="value+percent initial",
            hovertemplate="%{y}: %{x} rows<br>%{percentInitial:.1%} of the first stage"
            "<extra></extra>",
        )
    )
    return _layout(figure, title, "rows", "")


def bars(counts: pd.Series, *, title: str, x_title: str, y_title: str = "rows") -> go.Figure | None:
    """One horizontal bar per label (drop reasons, decisions); None without labels."""
    if not len(counts):
        return None
    figure = go.Figure(
        go.Bar(
            x=counts.to_numpy().tolist(),
            y=[str(label) for label in counts.index],
            orientation="h",
            hovertemplate="%{y}: %{x}<extra></extra>",
        )
    )
    figure.update_yaxes(autorange="reversed")
    return _layout(figure, title, y_title, x_title)


def stacked(
    counts: pd.DataFrame,
    *,
    title: str,
    x_title: str,
    y_title: str = "records",
    colours: Mapping[str, str] | None = None,
) -> go.Figure:
    """Stacked bars: one bar per index value, one trace per column."""
    figure = go.Figure()
    for index, column in enumerate(counts.columns):
        figure.add_bar(
            x=[str(label) for label in counts.index],
            y=counts[column].to_numpy().tolist(),
            name=str(column),
            marker_color=(colours or {}).get(str(column), PALETTE[index % len(PALETTE)]),
            hovertemplate=f"%{{x}}<br>{column}: %{{y}}<extra></extra>",
        )
    figure.update_layout(barmode="stack")
    return _layout(figure, title, x_title, y_title)


def scatter_map(
    points: pd.DataFrame, colour: str, *, title: str, colours: Mapping[str, str] | None = None
) -> go.Figure:
    """The 2-D embedding map, one WebGL trace per colour group."""
    figure = go.Figure()
    groups = points[colour].astype("string").fillna("(none)")
    hover = [c for c in ("id", "source", "status", "deita_score") if c in points]
    for index, group in enumerate(sorted(groups.unique())):
        subset = points[(groups == group).to_numpy()]
        figure.add_scattergl(
            x=subset["x"].to_numpy(),
            y=subset["y"].to_numpy(),
            mode="markers",
            name=str(group),
            marker={
                "size": 5,
                "opacity": 0.7,
                "color": {**KNOWN_COLOURS, **(colours or {})}.get(
                    group, PALETTE[index % len(PALETTE)]
                ),
            },
            customdata=subset[hover].to_numpy(),
            hovertemplate="<br>".join(
                f"{name}: %{{customdata[{i}]}}" for i, name in enumerate(hover)
            )
            + "<extra></extra>",
        )
    figure.update_layout(height=520)
    return _layout(figure, title, "PCA 1", "PCA 2")


def cumulative_lines(
    events: pd.DataFrame, *, time: str, series: str, title: str, y_title: str
) -> go.Figure:
    """One line per `series` value: how many events happened up to each time."""
    figure = go.Figure()
    for name, group in events.sort_values(time).groupby(series, sort=True):
        # ISO strings: Plotly reads them as dates, and they serialise far faster
        times = pd.to_datetime(group[time], utc=True).dt.tz_localize(None).to_numpy()
        figure.add_scatter(
            x=np.datetime_as_string(times, unit="s").tolist(),
            y=np.arange(1, len(group) + 1).tolist(),
            mode="lines",
            line_shape="hv",
            name=str(name),
            hovertemplate=f"{name}<br>%{{x}}<br>%{{y}} so far<extra></extra>",
        )
    return _layout(figure, title, "time", y_title)


def heatmap(labels: Sequence[object], counts: Sequence[Sequence[int]], *, title: str) -> go.Figure:
    """An AI (rows) x human (columns) confusion matrix with the count in each cell."""
    names = [", ".join(map(str, v)) if isinstance(v, list) else str(v) for v in labels]
    figure = go.Figure(
        go.Heatmap(
            z=[list(row) for row in counts],
            x=names,
            y=names,
            colorscale="Blues",
            text=[[str(v) for v in row] for row in counts],
            texttemplate="%{text}",
            hovertemplate="AI %{y}, human %{x}: %{z} responses<extra></extra>",
        )
    )
    figure.update_xaxes(type="category")
    figure.update_yaxes(type="category", autorange="reversed")
    figure.update_layout(height=340)
    return _layout(figure, title, "human", "AI judge")


def figures_with_intervals(rows: pd.DataFrame, *, title: str) -> go.Figure:
    """Points with 95% interval bars: `question` on x, one trace per `figure`.

    `rows` has columns `question`, `figure`, `value`, `low`, `high` (low/high may be NaN).
    """
    figure = go.Figure()
    for index, (name, group) in enumerate(rows.groupby("figure", sort=False)):
        value = group["value"].to_numpy(dtype=float)
        plus = (group["high"].to_numpy(dtype=float) - value).tolist()
        minus = (value - group["low"].to_numpy(dtype=float)).tolist()
        figure.add_scatter(
            x=group["question"].tolist(),
            y=value.tolist(),
            mode="markers",
            name=str(name),
            marker={"size": 11, "color": PALETTE[index % len(PALETTE)]},
            error_y={"type": "data", "array": plus, "arrayminus": minus, "visible": True},
            customdata=group[["low", "high"]].to_numpy(dtype=float).tolist(),
            hovertemplate=f"{name}<br>%{{x}}: %{{y:.3f}}"
            "<br>95% CI %{customdata[0]:.3f} – %{customdata[1]:.3f}<extra></extra>",
        )
    figure.update_layout(scattermode="group")
    figure.update_yaxes(range=[-1.05, 1.05], zeroline=True)
    return _layout(figure, title, "question", "agreement")
