"""Agreement page, per preference dataset: the AI judge against your reviewers, as
suggested (calibrated where a calibration was set) and raw, next to the length rule, with
95% intervals (`curation.judge.people`). Simulated reviewers are said to be simulated."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import charts, data, ui


def simulated(sel: data.Selection, dataset: str) -> bool:
    """Whether the demo's scripted reviewers answered this dataset."""
    note = (data.manifest(sel.run) or {}).get("simulated_review") or {}
    return dataset in (note.get("datasets") or {})


def section(sel: data.Selection, dataset: str) -> None:
    from curation.judge.people import judge_vs_people

    feedback = sel.feedback()
    preferences = data.table(sel.run, "preferences.parquet")
    if feedback is None or preferences is None or "preferred" not in set(feedback["question"]):
        return
    table = judge_vs_people(
        feedback, preferences, dataset, data.settings().generation.judge.tie_band
    )
    if table.empty:
        return
    who = (
        "SIMULATED reviewers (demo only: scripted, not people)"
        if simulated(sel, dataset)
        else "your reviewers"
    )
    st.subheader(f"AI judge vs {who}")
    rows = pd.DataFrame({"question": "preferred", "figure": table["judge"],
                         "value": table["agrees with people"], "low": table["low"],
                         "high": table["high"]})  # fmt: skip
    ui.chart(
        charts.figures_with_intervals(rows, title=f"Right against {who} (ties count as misses)"),
        key=f"judge:{dataset}",
    )
    st.dataframe(table, hide_index=True)
    st.caption(
        "Per record, people's strict majority of `preferred` (a tie without one). The length "
        "rule is the trivial baseline: a judge below it adds nothing. `curate judge calibrate "
        f"--dataset {dataset}` fits the judge to these reviews; `curate judge eval` reports "
        "its length bias and position consistency."
    )
