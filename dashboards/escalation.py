"""The Review page's escalation section: what reviewers could not settle, the adjudicators'
final calls, who approved what, and the audit of auto-approval (from the run manifest)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st


def escalations(records: pd.DataFrame) -> pd.DataFrame:
    """Per dataset: records escalated (by reason), adjudicated, still waiting, and
    approved records by who approved them (`humans`, `adjudicator`, `auto`)."""
    if "escalation" not in records:
        return pd.DataFrame()
    escalated = records[records["escalation"].notna()]
    table = pd.crosstab(escalated["dataset"], escalated["escalation"])
    table = table.reindex(sorted(records["dataset"].unique()), fill_value=0)
    table.insert(0, "escalated", table.sum(axis=1))
    done = escalated["adjudicated"].notna()
    table["adjudicated"] = done.groupby(escalated["dataset"]).sum()
    table["waiting"] = (~done).groupby(escalated["dataset"]).sum()
    approved = records[records["decision"] == "approved"]
    by = pd.crosstab(approved["dataset"], approved["approved_by"].fillna("humans"))
    for who in ("humans", "adjudicator", "auto"):
        table[f"approved by {who}"] = by.get(who, 0)
    return table.fillna(0).astype(int)


def audit_lines(manifest: dict[str, Any] | None) -> list[tuple[str, str, bool]]:
    """(dataset, sentence, off) per score band audited by `curate route --run`."""
    routes = ((manifest or {}).get("review") or {}).get("route") or {}
    lines = []
    for dataset, figures in sorted(routes.items()):
        audit = figures.get("audit") or {}
        for band, item in (audit.get("bands") or {}).items():
            if not item["decided"]:
                text = f"score band {band}: {item['drawn']} audit records, none decided yet"
            else:
                low, high = item["ci95"]
                text = (
                    f"score band {band}: people agreed with the AI on {item['agreement']:.0%} "
                    f"(95% CI {low:.0%}-{high:.0%}) of {item['decided']} audited records "
                    f"(threshold {audit['threshold']:.0%})"
                )
                if item["off"]:
                    text = f"auto-approval OFF in {text}"
            lines.append((dataset, text, bool(item["off"])))
    return lines


def render(records: pd.DataFrame, manifest: dict[str, Any] | None) -> None:
    """Escalation and adjudication figures, then the audit lines."""
    st.subheader("Escalation and adjudication")
    table = escalations(records)
    if table.empty or not table["escalated"].any():
        st.caption(
            "No record escalated yet: `curate adjudicate --dataset NAME` sends ties and "
            "fixes without a correction to the adjudicators, then `curate pull --run`."
        )
    else:
        st.dataframe(table.reset_index(), hide_index=True)
        st.caption(
            "An adjudicator's final call replaces the reviewers' outcome "
            "(`approved_by: adjudicator`); waiting records are in NAME-adjudication."
        )
    lines = audit_lines(manifest)
    if lines:
        st.subheader("Audit of auto-approval")
        for dataset, text, off in lines:
            (st.warning if off else st.caption)(f"{dataset}: {text}")
