"""Overview: the funnel from generated rows to exported rows, and why rows dropped out."""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from dashboards import charts, data, ui

# Manifest counts that name lost rows (truncated candidates are kept, flagged); selection
# and review losses come from their files.
DROP_WORDS = re.compile(r"drop|dedup|duplicate|fail|invalid|skip|error|filtered|empty")


def funnel_stages(sel: data.Selection) -> tuple[list[tuple[str, int]], list[str]]:
    """(stage, rows) for every stage the run has reached, and the files still missing."""
    stages: list[tuple[str, int]] = []
    absent: list[str] = []

    def add(label: str, name: str, count: int | None) -> None:
        if count is None:
            absent.append(name)
        else:
            stages.append((label, count))

    instructions = data.table(sel.run, "instructions.parquet")
    add(
        "generated",
        "instructions.parquet",
        None if instructions is None else len(sel.rows(instructions)),
    )
    pairs = data.table(sel.run, "preferences.parquet")
    if pairs is not None:
        pairs = sel.rows(pairs)
        judged = pairs["chosen_rating"].notna().sum() if "chosen_rating" in pairs else len(pairs)
        add("judged", "preferences.parquet", int(judged))
    else:
        add("judged", "preferences.parquet", None)
    kept = data.table(sel.run, "selected.parquet")
    add("selected", "selected.parquet", None if kept is None else len(sel.rows(kept)))
    records = sel.review_records()
    if records is not None:
        stages.append(("pushed", len(records)))
        if "n_submitted" in records:
            stages.append(("reviewed", int((records["n_submitted"] > 0).sum())))
        if "decision" in records:
            stages.append(("approved", int((records["decision"] == "approved").sum())))
    else:
        absent.append("review_records.parquet")
    exported = [e for e in data.exports(sel.run) if sel.dataset in (None, e.dataset)]
    if exported:
        stages.append(("exported", sum(e.rows for e in exported)))
    else:
        absent.append("exports")
    return stages, list(dict.fromkeys(absent))


def drop_reasons(sel: data.Selection, manifest: dict | None) -> pd.Series:
    """Rows lost on the way, by stage and reason."""
    reasons: dict[str, int] = {}
    pairs = data.table(sel.run, "preferences.parquet")
    if pairs is not None and "chosen_rating" in pairs:
        unrated = int(sel.rows(pairs)["chosen_rating"].isna().sum())
        if unrated:
            reasons["judge: no rating"] = unrated
    rejected = data.table(sel.run, "selection_rejected.parquet")
    if rejected is not None and "reason" in rejected:
        for reason, count in sel.by_id(rejected)["reason"].fillna("unknown").value_counts().items():
            reasons[f"selection: {reason}"] = int(count)
    records = sel.review_records()
    if records is not None and "decision" in records:
        for decision, count in records["decision"].fillna("pending").value_counts().items():
            if decision not in ("approved", "pending"):  # pending is not lost yet
                reasons[f"review: {decision}"] = int(count)
    for stage, info in ((manifest or {}).get("stages") or {}).items():
        for key, value in flatten(info.get("counts") or {}).items():
            if isinstance(value, int | float) and value and DROP_WORDS.search(key.split(" ")[-1]):
                reasons[f"{stage}: {key.replace('_', ' ')}"] = int(value)
    return pd.Series(reasons, dtype="int64").sort_values(ascending=False)


def flatten(counts: dict, prefix: str = "") -> dict[str, object]:
    """Nested manifest counts ({"seed": {"dropped_duplicate": 3}}) as "seed dropped_duplicate"."""
    flat: dict[str, object] = {}
    for key, value in counts.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name} "))
        else:
            flat[name] = value
    return flat


def stage_table(manifest: dict) -> pd.DataFrame:
    """One row per stage, then one per review push/pull of a dataset (`review` counts)."""
    rows = []
    for name, info in (manifest.get("stages") or {}).items():
        counts = info.get("counts") or {}
        rows.append(
            {
                "stage": name,
                "status": info.get("status"),
                "rows written": ", ".join(f"{k}: {v}" for k, v in (info.get("rows") or {}).items()),
                "counts": ", ".join(f"{k}: {v}" for k, v in flatten(counts).items()),
                "seconds": info.get("duration_s"),
                "finished": info.get("finished_at"),
                "error": info.get("error"),
            }
        )
    for step, per_dataset in (manifest.get("review") or {}).items():
        for dataset, counts in (per_dataset or {}).items():
            if isinstance(counts, dict):
                flat = ", ".join(f"{k}: {v}" for k, v in flatten(counts).items())
                rows.append({"stage": f"{step} {dataset}", "status": "done", "counts": flat})
    return pd.DataFrame(rows)


def render() -> None:
    sel = ui.selection()
    st.title("Overview")
    st.caption(f"Run `{sel.run}`")
    ui.filter_caption(sel)
    manifest = data.manifest(sel.run)
    stages, absent = funnel_stages(sel)
    if not stages:
        st.subheader("Nothing generated yet")
        ui.notice(sel, *absent, what="The funnel")
        return
    columns = st.columns(len(stages))
    for column, (label, count) in zip(columns, stages, strict=True):
        column.metric(label, f"{count:,}")
    left, right = st.columns(2)
    with left:
        ui.chart(charts.funnel(stages, title="From generated to exported"), key="funnel")
        if sel.dataset is None and len(data.datasets(sel.run)) > 1:
            st.caption("Pushed, reviewed and approved count records in every dataset.")
    with right:
        reasons = drop_reasons(sel, manifest)
        ui.chart(
            charts.bars(reasons, title="Why rows dropped out", x_title="stage: reason"),
            key="drop_reasons",
            empty="No drops recorded yet.",
        )
    if absent:
        ui.notice(sel, *absent, what="The later stages of the funnel")
    st.subheader("Stages")
    if manifest is None:
        ui.notice(sel, "manifest.json", what="The stage table")
    elif manifest.get("stages") or manifest.get("review"):
        st.dataframe(stage_table(manifest), hide_index=True)
    else:
        st.caption("No stage has recorded anything in `manifest.json` yet.")


render()
