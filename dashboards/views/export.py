"""Export readiness: what is approved per dataset, what an export would hold, what exists."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import charts, data, ui

FORMATS = {"instruction": "sft", "preference": "dpo"}
PREVIEW_ROWS = 100


def readiness(records: pd.DataFrame) -> pd.DataFrame:
    """Per dataset: decisions, approvals by humans or automatically, and the export format."""
    decisions = records.get("decision", pd.Series("pending", index=records.index)).fillna("pending")
    table = pd.crosstab(records["dataset"], decisions)
    for column in ("approved", "pending"):
        if column not in table:
            table[column] = 0
    table.insert(0, "records", table.sum(axis=1))
    if "approved_by" in records:
        approved = records[decisions == "approved"]
        by = pd.crosstab(approved["dataset"], approved["approved_by"].fillna("humans"))
        for column in by.columns:
            table[f"approved by {column}"] = by[column].reindex(table.index).fillna(0).astype(int)
    table["approved share"] = (table["approved"] / table["records"]).round(3)
    if "template" in records:
        templates = records.groupby("dataset")["template"].first()
        table["format"] = templates.map(FORMATS).reindex(table.index)
    return table


def render() -> None:
    sel = ui.selection()
    st.title("Export readiness")
    ui.filter_caption(sel)
    records = sel.review_records()
    if records is None:
        ui.notice(sel, "review_records.parquet", what="Approval counts")
    elif records.empty:
        st.warning("No pushed records pass the sidebar filters.")
    else:
        readiness_section(records)
        preview_section(sel, records)
    exports_section(sel)


def readiness_section(records: pd.DataFrame) -> None:
    """Decisions per dataset (chart and table) and the command that would export each."""
    table = readiness(records)
    decisions = [c for c in charts.DECISION_COLOURS if c in table]
    decisions += [
        c
        for c in table.columns
        if c not in decisions
        and c not in {"records", "approved share", "format"}
        and not c.startswith("approved by")
    ]
    ui.chart(
        charts.stacked(
            table[decisions],
            title="Decisions per dataset (only approved rows are exported)",
            x_title="dataset",
            colours=charts.DECISION_COLOURS,
        ),
        key="decisions",
    )
    st.dataframe(table.reset_index(), hide_index=True)
    for dataset, row in table.iterrows():
        fmt = row.get("format") or "sft|dpo"
        st.markdown(
            f"- **{dataset}**: {int(row['approved']):,} approved rows would be exported "
            f"(`curate export --dataset {dataset} --format {fmt} --local-dir DIR`)"
        )


def preview_section(sel: data.Selection, records: pd.DataFrame) -> None:
    """The first approved rows, with their instruction: what an export would hold."""
    st.subheader("What would be exported")
    approved = (
        records[records.get("decision") == "approved"] if "decision" in records else records[:0]
    )
    if approved.empty:
        st.caption("Nothing approved yet.")
        return
    shown = [
        c for c in ("dataset", "record_id", "approved_by", "source", "deita_score") if c in approved
    ]
    preview = approved[shown].head(PREVIEW_ROWS).copy()
    preview["instruction"] = preview["record_id"].map(data.texts(sel.run)).to_numpy()
    st.dataframe(preview, hide_index=True)
    if len(approved) > PREVIEW_ROWS:
        st.caption(f"The first {PREVIEW_ROWS} of {len(approved):,} approved rows.")


def exports_section(sel: data.Selection) -> None:
    """The export folders the run already holds."""
    st.subheader("Exports in this run")
    existing = [e for e in data.exports(sel.run) if sel.dataset in (None, e.dataset)]
    if not existing:
        ui.notice(sel, "exports", what="The export list")
        return
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "dataset": e.dataset,
                    "format": e.format,
                    "rows": e.rows,
                    "parquet files": e.files,
                    "dataset card": "yes" if e.has_card else "missing",
                    "folder": str(e.path),
                }
                for e in existing
            ]
        ),
        hide_index=True,
    )


render()
