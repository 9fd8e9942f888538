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

from curation.agreement.results import Agreement, QuestionAgreement
from curation.errors import CurationError
from dashboards import charts, data, judge, live, ui

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
# AI-human pairs the blind control slice needs before its figure leads: below ~30 the
# 95% interval of an agreement share is wider than +-0.18, too loose to lead with.
MIN_BLIND_PAIRS = 30
DISAGREEMENTS = 50


def figure_rows(result: Agreement) -> pd.DataFrame:
    """Long table (question, figure, value, low, high) of the charted figures."""
    rows = []
    for question, q in result.questions.items():
        for block, key, label in FIGURES:
            value, interval = getattr(q, block).figure(key)
            if value is None:
                continue
            low, high = interval or (np.nan, np.nan)
            rows.append((question, label, value, low, high))
    return pd.DataFrame(rows, columns=["question", "figure", "value", "low", "high"])


def _with_ci(value: float | None, interval: list | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2f}" + (f" [{interval[0]:.2f}, {interval[1]:.2f}]" if interval else "")


def slice_table(result: Agreement) -> pd.DataFrame:
    """Per question: AI-human exact agreement on the blind slice, on suggested records,
    and the anchoring effect (suggested minus blind), each with its 95% interval."""
    rows = []
    for question, q in result.questions.items():
        blind, suggested, effect = q.ai_human_blind, q.ai_human_suggested, q.anchoring
        if blind is None or suggested is None or effect is None or not q.ai_human.n_pairs:
            continue  # no blind slice; free text: no AI value
        rows.append(
            {
                "question": question,
                "blind pairs": blind.n_pairs,
                "blind agreement": _with_ci(*blind.figure("exact_agreement")),
                "suggested pairs": suggested.n_pairs,
                "suggested agreement": _with_ci(*suggested.figure("exact_agreement")),
                "anchoring (suggested − blind)": _with_ci(effect.effect, effect.ci95),
            }
        )
    return pd.DataFrame(rows)


def blind_section(result: Agreement) -> None:
    """Lead with the blind slice's AI-human agreement where it has enough pairs."""
    table = slice_table(result)
    if table.empty:
        st.caption(
            "No blind control slice in these reviews (`review.blind_fraction` 0, or pushed "
            "before it existed): every AI–human figure below comes from answers given with "
            "the AI's suggestion in view, which pulls them up."
        )
        return
    leading = [
        (name, q.ai_human_blind)
        for name, q in result.questions.items()
        if q.ai_human_blind is not None and q.ai_human_blind.n_pairs >= MIN_BLIND_PAIRS
    ]
    columns = st.columns(max(len(leading), 1))
    for column, (name, blind) in zip(columns, leading, strict=False):
        if blind.exact_agreement is not None:
            column.metric(
                f"{name}: AI–human agreement, blind slice",
                f"{blind.exact_agreement:.0%}",
                help="Reviewers answered these records without seeing the AI's suggestion.",
            )
    st.caption(
        f"The blind control slice leads once it has {MIN_BLIND_PAIRS} AI–human pairs: "
        "there reviewers answered without seeing the AI's suggestion, so agreement is not "
        "inflated by anchoring. Pairs per slice and the anchoring effect:"
    )
    st.dataframe(table, hide_index=True)
    short = table[table["blind pairs"] < MIN_BLIND_PAIRS]
    for question, pairs in zip(short["question"], short["blind pairs"], strict=True):
        st.caption(
            f"{question}: the blind slice has {pairs} AI–human pairs so far, fewer than "
            f"{MIN_BLIND_PAIRS}, so the figures below (mostly answers given with the "
            "suggestion in view) lead; read them as likely too high."
        )


def figure_table(result: Agreement) -> pd.DataFrame:
    rows = []
    for question, q in result.questions.items():
        row = {
            "question": question,
            "type": q.type,
            "records": q.n_records,
            "annotators": q.n_annotators,
            "responses": q.n_responses,
            "AI pairs": q.ai_human.n_pairs,
        }
        for block, key, label in TABLE_FIGURES:
            value, interval = getattr(q, block).figure(key)
            row[label] = None if value is None else round(value, 3)
            if interval:
                row[f"{label} 95% CI"] = f"{interval[0]:.3f} – {interval[1]:.3f}"
        rows.append(row)
    return pd.DataFrame(rows)


def annotator_table(q: QuestionAgreement) -> pd.DataFrame:
    rows = []
    for who, stats in q.annotators.items():
        consensus, ai = stats.vs_consensus, stats.vs_ai
        rows.append(
            {
                "annotator": who,
                "responses": stats.n_responses,
                "records with a majority of others": consensus.n_records,
                "agrees with majority": consensus.exact_agreement,
                "AI pairs": ai.n_pairs,
                "agrees with AI": ai.exact_agreement,
                "kappa vs AI": ai.cohen_kappa,
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


def result_for(
    sel: data.Selection, dataset: str, saved: dict | None
) -> tuple[Agreement | None, str]:
    """The agreement to show and where it came from."""
    feedback = sel.feedback()
    if saved is not None and not (sel.filtered and feedback is not None):
        name = f"agreement/{dataset}.json"
        path = sel.run / name
        when = (
            datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
            if path.exists()
            else "?"
        )
        note = f"From `{name}` (written {when}), 95% bootstrap intervals."
        return Agreement.from_json(saved, where=name), note
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
    blind_section(result)
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
    confusion_section(dataset, result)
    annotator_section(dataset, result)
    disagreement_section(sel, dataset, result)


def confusion_section(dataset: str, result: Agreement) -> None:
    """The AI x human confusion matrix of each question with categorical answers."""
    matrices = {
        name: q.ai_human.confusion_matrix
        for name, q in result.questions.items()
        if q.ai_human.confusion_matrix and q.ai_human.confusion_matrix.labels
    }
    if not matrices:
        return
    st.subheader("AI judge vs people: confusion matrices")
    columns = st.columns(min(len(matrices), 3))
    for index, (name, matrix) in enumerate(matrices.items()):
        with columns[index % len(columns)]:
            ui.chart(
                charts.heatmap(matrix.labels, matrix.counts, title=name),
                key=f"confusion:{dataset}:{name}",
            )


def annotator_section(dataset: str, result: Agreement) -> None:
    """Each annotator against the others' majority and the AI, for a chosen question."""
    with_annotators = [n for n, q in result.questions.items() if q.annotators]
    if not with_annotators:
        return
    st.subheader("Per annotator")
    question = st.selectbox("Question", with_annotators, key=f"annotator-question:{dataset}")
    st.dataframe(annotator_table(result.questions[question]), hide_index=True)


def disagreement_section(sel: data.Selection, dataset: str, result: Agreement) -> None:
    """The records where people disagree most with the AI suggestion, linked to Argilla."""
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
    sel: data.Selection, feedback: pd.DataFrame, dataset: str, result: Agreement
) -> pd.DataFrame:
    """The strongest disagreements of one dataset, with the text and a link to Argilla."""
    types = {n: q.type for n, q in result.questions.items()}
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
        base = live.argilla_url(data.settings())
        table["open in Argilla"] = [
            live.record_link(base, d, t, status)
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
