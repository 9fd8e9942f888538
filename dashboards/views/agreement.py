"""Agreement: AI judge vs people and people among themselves, per question.

Figures come from `agreement/<dataset>.json` (`curate agreement`, with 95% bootstrap
intervals). With a source or score filter they are recomputed on the filtered responses
with `curation.agreement`, without intervals on large datasets to stay interactive.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import streamlit as st

from curation.errors import CurationError
from dashboards import charts, data, judge, ui

FIGURES = (  # (block, key, label) drawn with their intervals
    ("human_human", "krippendorff_alpha", "human–human Krippendorff α"),
    ("human_human", "percent_agreement", "human–human pairwise agreement"),
    ("ai_human", "cohen_kappa", "AI–human Cohen κ"),
    ("ai_human", "exact_agreement", "AI–human exact agreement"),
)
TABLE_FIGURES = (
    *FIGURES,
    ("human_human", "fleiss_kappa", "human–human Fleiss κ"),
    ("ai_human", "cohen_kappa_quadratic", "AI–human κ, quadratic"),
    ("ai_human", "spearman", "AI–human Spearman"),
)
LIVE_INTERVALS_MAX = 5000  # submitted responses up to which a recompute resamples
DISAGREEMENTS = 50


def figure_rows(result: dict) -> pd.DataFrame:
    """Long table (question, figure, value, low, high) of the charted figures."""
    rows = []
    for question, q in result["questions"].items():
        for block, key, label in FIGURES:
            value = (q.get(block) or {}).get(key)
            if value is None:
                continue
            interval = ((q.get(block) or {}).get("ci95") or {}).get(key) or (np.nan, np.nan)
            rows.append((question, label, value, interval[0], interval[1]))
    return pd.DataFrame(rows, columns=["question", "figure", "value", "low", "high"])


def figure_table(result: dict) -> pd.DataFrame:
    rows = []
    for question, q in result["questions"].items():
        row = {
            "question": question,
            "type": q.get("type"),
            "records": q.get("n_records"),
            "annotators": q.get("n_annotators"),
            "responses": q.get("n_responses"),
            "AI pairs": (q.get("ai_human") or {}).get("n_pairs"),
        }
        for block, key, label in TABLE_FIGURES:
            value = (q.get(block) or {}).get(key)
            interval = ((q.get(block) or {}).get("ci95") or {}).get(key)
            row[label] = None if value is None else round(value, 3)
            if interval:
                row[f"{label} 95% CI"] = f"{interval[0]:.3f} – {interval[1]:.3f}"
        rows.append(row)
    return pd.DataFrame(rows)


def annotator_table(q: dict) -> pd.DataFrame:
    rows = []
    for who, stats in (q.get("annotators") or {}).items():
        consensus, ai = stats.get("vs_consensus") or {}, stats.get("vs_ai") or {}
        rows.append(
            {
                "annotator": who,
                "responses": stats.get("n_responses"),
                "records with a majority of others": consensus.get("n_records"),
                "agrees with majority": consensus.get("exact_agreement"),
                "AI pairs": ai.get("n_pairs"),
                "agrees with AI": ai.get("exact_agreement"),
                "kappa vs AI": ai.get("cohen_kappa"),
            }
        )
    return pd.DataFrame(rows)


def disagreements(feedback: pd.DataFrame, types: dict[str, str]) -> pd.DataFrame:
    """Records where people disagree most with the AI suggestion, per question.

    Ratings: mean |human - AI| over the scale's span; labels: the share of people who
    chose another label than the AI.
    """
    rows = feedback[
        (feedback["status"] == "submitted")
        & feedback["suggestion"].notna()
        & feedback["question"].map(lambda q: types.get(q) in ("rating", "label_selection"))
    ]
    parts = []
    for question, group in rows.groupby("question"):
        if types[question] == "rating":
            human = pd.to_numeric(group["value"], errors="coerce")
            ai = pd.to_numeric(group["suggestion"], errors="coerce")
            span = max(
                float(np.nanmax([human.max(), ai.max()]) - np.nanmin([human.min(), ai.min()])), 1.0
            )
            gap = (human - ai).abs() / span
        else:
            gap = (group["value"].astype(str) != group["suggestion"].astype(str)).astype(float)
        frame = group.assign(gap=gap.to_numpy(), human=group["value"].astype(str))
        parts.append(
            frame.groupby(["dataset", "record_id", "question"], as_index=False).agg(
                disagreement=("gap", "mean"),
                AI=("suggestion", "first"),
                people=("human", lambda v: ", ".join(v)),
                reviewers=("annotator", "nunique"),
            )
        )
    if not parts:
        return pd.DataFrame()
    table = pd.concat(parts, ignore_index=True)
    table = table[table["disagreement"] > 0]
    return table.sort_values(["disagreement", "reviewers"], ascending=False, kind="stable")


def result_for(sel: data.Selection, dataset: str, saved: dict | None) -> tuple[dict | None, str]:
    """The agreement to show and where it came from."""
    feedback = sel.feedback()
    if saved is not None and not (sel.filtered and feedback is not None):
        path = sel.run / "agreement" / f"{dataset}.json"
        when = (
            datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
            if path.exists()
            else "?"
        )
        return saved, f"From `agreement/{dataset}.json` (written {when}), 95% bootstrap intervals."
    if feedback is None:
        return None, ""
    submitted = feedback[(feedback["dataset"] == dataset) & (feedback["status"] == "submitted")]
    from curation.agreement import DEFAULT_RESAMPLES  # heavy (scipy, statsmodels): on demand

    resamples = DEFAULT_RESAMPLES if len(submitted) <= LIVE_INTERVALS_MAX else 0
    note = "Computed here from the filtered reviews in `feedback.parquet`"
    note += (
        " with 95% bootstrap intervals."
        if resamples
        else (f" without intervals ({len(submitted):,} responses; `curate agreement` gives them).")
    )
    return data.agreement(sel, dataset, resamples), note


def dataset_section(sel: data.Selection, dataset: str, saved: dict | None) -> None:
    st.header(dataset)
    try:
        result, note = result_for(sel, dataset, saved)
    except CurationError as error:
        st.error(f"Agreement for {dataset}: {error}")
        return
    if result is None:
        ui.notice(sel, "agreement", "feedback.parquet", what=f"Agreement for {dataset}")
        return
    st.caption(note)
    rows = figure_rows(result)
    ui.chart(
        charts.figures_with_intervals(rows, title="Agreement per question (95% intervals)")
        if len(rows)
        else None,
        key=f"figures:{dataset}",
        empty="No figure is defined yet: too few submitted reviews.",
    )
    st.dataframe(figure_table(result), hide_index=True)
    judge.section(sel, dataset)

    questions = {
        name: q
        for name, q in result["questions"].items()
        if ((q.get("ai_human") or {}).get("confusion_matrix") or {}).get("labels")
    }
    if questions:
        st.subheader("AI judge vs people: confusion matrices")
        columns = st.columns(min(len(questions), 3))
        for index, (name, q) in enumerate(questions.items()):
            matrix = q["ai_human"]["confusion_matrix"]
            with columns[index % len(columns)]:
                ui.chart(
                    charts.heatmap(matrix["labels"], matrix["counts"], title=name),
                    key=f"confusion:{dataset}:{name}",
                )

    with_annotators = [n for n, q in result["questions"].items() if q.get("annotators")]
    if with_annotators:
        st.subheader("Per annotator")
        question = st.selectbox("Question", with_annotators, key=f"annotator-question:{dataset}")
        st.dataframe(
            annotator_table(result["questions"][question]),
            hide_index=True,
        )

    st.subheader("Strongest disagreements with the AI judge")
    feedback = sel.feedback()
    if feedback is None:
        ui.notice(sel, "feedback.parquet", what="The disagreement table")
        return
    table = data.memo(
        sel.run,
        "disagreements",
        sel,
        dataset,
        build=lambda: disagreement_table(sel, feedback, dataset, result),
    )
    if table.empty:
        st.caption("No reviewer disagrees with the AI suggestions.")
        return
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "disagreement": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0),
            "open in Argilla": st.column_config.LinkColumn(display_text="open"),
        },
    )
    st.caption(
        "Ratings: mean distance between people and the AI over the scale; labels: the share "
        "of people who chose another label. Links search Argilla for the record; Argilla shows "
        "a completed record only to the reviewers who answered it."
    )


def disagreement_table(
    sel: data.Selection, feedback: pd.DataFrame, dataset: str, result: dict
) -> pd.DataFrame:
    """The strongest disagreements of one dataset, with the text and a link to Argilla."""
    types = {n: q.get("type") for n, q in result["questions"].items()}
    table = disagreements(feedback[feedback["dataset"] == dataset], types).head(DISAGREEMENTS)
    if table.empty:
        return table
    texts = data.texts(sel.run)
    table["instruction"] = table["record_id"].map(texts).to_numpy()
    records = data.table(sel.run, "review_records.parquet")
    if records is not None and "dataset_id" in records:
        ids = records.drop_duplicates(["dataset", "record_id"]).set_index(["dataset", "record_id"])
        keys = pd.MultiIndex.from_frame(table[["dataset", "record_id"]])
        found = ids.reindex(keys)
        statuses = found.get("record_status", pd.Series("completed", index=found.index))
        base = data.argilla_url(data.settings())
        table["open in Argilla"] = [
            data.record_link(base, d, t, status)
            for d, t, status in zip(
                found["dataset_id"], table["instruction"], statuses, strict=True
            )
        ]
    return table.drop(columns=["dataset"])


def render() -> None:
    sel = ui.selection()
    st.title("Agreement")
    ui.filter_caption(sel)
    saved = data.agreements(sel.run)
    feedback = data.table(sel.run, "feedback.parquet")
    names = set(saved)
    if feedback is not None and "dataset" in feedback:
        names.update(feedback["dataset"].dropna().astype(str).unique())
    if sel.dataset is not None:
        names &= {sel.dataset}
    if not names:
        ui.notice(sel, "feedback.parquet", "agreement", what="The agreement figures")
        return
    for dataset in sorted(names):
        dataset_section(sel, dataset, saved.get(dataset))


render()
