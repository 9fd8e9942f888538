"""The agreement as rich tables, for `curate agreement --format table`."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table

from curation.agreement.results import Agreement, ConfusionMatrix, Intervals, QuestionAgreement

Row = tuple[str, Any, Intervals, str]  # label, value, the intervals it is in, its key there


def render_agreement(result: Agreement) -> Group:
    """Per question: the figures, the blind slice, each annotator, the confusion matrix."""
    parts: list[Any] = []
    for name, q in result.questions.items():
        parts.append(_figures_table(name, q))
        if q.anchoring is not None:
            parts.append(_slices_table(name, q))
        if q.annotators:
            parts.append(_annotators_table(name, q))
        matrix = q.ai_human.confusion_matrix
        if matrix and matrix.labels:
            parts.append(_confusion_table(name, matrix))
    if not parts:
        parts.append(f"dataset {result.dataset!r}: no questions with responses")
    return Group(*parts)


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _fmt_ci(ci: list[float] | None) -> str:
    return "—" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def _figure_rows(q: QuestionAgreement) -> list[Row]:
    """The rows of the figures table: each figure with where its interval is."""
    hh, ah = q.human_human, q.ai_human
    level = hh.alpha_level or "-"
    rows: list[Row] = [
        (f"human-human Krippendorff's alpha ({level})", hh.krippendorff_alpha, hh.ci95,
         "krippendorff_alpha"),
        ("human-human Fleiss' kappa", hh.fleiss_kappa, hh.ci95, "fleiss_kappa"),
        ("human-human pairwise agreement", hh.percent_agreement, hh.ci95, "percent_agreement"),
        ("AI-human pairs", ah.n_pairs, {}, ""),
        ("AI-human exact agreement", ah.exact_agreement, ah.ci95, "exact_agreement"),
        ("AI-human Cohen's kappa", ah.cohen_kappa, ah.ci95, "cohen_kappa"),
    ]  # fmt: skip
    if q.type == "rating":
        rows += [
            ("AI-human kappa, linear weights", ah.cohen_kappa_linear, ah.ci95,
             "cohen_kappa_linear"),
            ("AI-human kappa, quadratic weights", ah.cohen_kappa_quadratic, ah.ci95,
             "cohen_kappa_quadratic"),
            ("AI-human Spearman", ah.spearman, ah.ci95, "spearman"),
            ("AI-human within one", ah.within_one, ah.ci95, "within_one"),
        ]  # fmt: skip
    pref = ah.preference
    if pref:
        rows += [
            ("AI-human agreement with ties", pref.agreement_with_ties, pref.ci95,
             "agreement_with_ties"),
            (f"AI-human agreement without ties ({pref.n_pairs_without_ties} pairs)",
             pref.agreement_without_ties, pref.ci95, "agreement_without_ties"),
        ]  # fmt: skip
    return rows


def _figures_table(name: str, q: QuestionAgreement) -> Table:
    title = (
        f"{name} ({q.type}): {q.n_records} records, {q.n_annotators} annotators, "
        f"{q.n_responses} responses"
    )
    table = Table(title=title, title_justify="left", caption="— undefined for these data")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("95% CI", justify="right")
    for label, value, cis, key in _figure_rows(q):
        table.add_row(label, _fmt(value), _fmt_ci(cis.get(key)) if key else "")
    return table


def _slices_table(name: str, q: QuestionAgreement) -> Table:
    """AI-human exact agreement with and without suggestions in view, and the difference."""
    table = Table(
        title=f"{name}: blind control slice (no AI suggestion shown) vs suggested records",
        title_justify="left",
    )
    for column in ("records", "AI-human pairs", "exact agreement", "95% CI"):
        table.add_column(column, justify="right" if column != "records" else "left")
    for label, figures in (("blind", q.ai_human_blind), ("suggested", q.ai_human_suggested)):
        assert figures is not None  # the blind keys come together
        table.add_row(
            label,
            str(figures.n_pairs),
            _fmt(figures.exact_agreement),
            _fmt_ci(figures.ci95.get("exact_agreement")),
        )
    effect = q.anchoring
    assert effect is not None
    table.add_row("anchoring (suggested - blind)", "", _fmt(effect.effect), _fmt_ci(effect.ci95))
    return table


def _annotators_table(name: str, q: QuestionAgreement) -> Table:
    table = Table(
        title=f"{name}: each annotator against the others' majority and against the AI",
        title_justify="left",
    )
    table.add_column("annotator")
    for column in ("responses", "majority n", "agrees", "AI n", "agrees", "kappa"):
        table.add_column(column, justify="right")
    for who, stats in q.annotators.items():
        cons, ai = stats.vs_consensus, stats.vs_ai
        table.add_row(
            who,
            str(stats.n_responses),
            str(cons.n_records),
            _fmt(cons.exact_agreement),
            str(ai.n_pairs),
            _fmt(ai.exact_agreement),
            _fmt(ai.cohen_kappa),
        )
    return table


def _confusion_table(name: str, matrix: ConfusionMatrix) -> Table:
    labels = [", ".join(map(str, v)) if isinstance(v, list) else str(v) for v in matrix.labels]
    table = Table(title=f"{name}: confusion matrix", title_justify="left")
    table.add_column("AI ↓ human →")
    for label in labels:
        table.add_column(label, justify="right")
    for label, row in zip(labels, matrix.counts, strict=True):
        table.add_row(label, *map(str, row))
    return table
