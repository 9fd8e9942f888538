"""`compute_agreement`: the feedback table (one row per record, annotator and question;
the shape `curate pull` writes) to the agreement of the architecture contract.

Only submitted responses count. A figure the data does not define is None (JSON null),
never NaN; free text and spans get counts only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from curation.agreement.anchoring import blind_and_suggested
from curation.agreement.bootstrap import DEFAULT_RESAMPLES, with_intervals
from curation.agreement.coding import (
    CATEGORICAL_TYPES,
    Coded,
    check_level,
    code_question,
    submitted,
    types_of,
)
from curation.agreement.metrics import ai_human, human_human, per_annotator
from curation.agreement.results import (
    Agreement,
    AIHuman,
    Bootstrap,
    HumanHuman,
    QuestionAgreement,
)
from curation.errors import CurationError

if TYPE_CHECKING:
    from curation.config import Config


def compute_agreement(
    table: pd.DataFrame,
    dataset: str,
    question: str | None = None,
    alpha_level: str | None = None,
    *,
    question_values: Mapping[str, Sequence[Any]] | None = None,
    question_types: Mapping[str, str] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Agreement:
    """The agreement of the architecture contract, extended with more figures.

    `question_values` gives each question's allowed values (rating scale, label order);
    without it the observed values are used. `question_types` declares questions that may
    have no responses yet, so they still appear (with null figures). `alpha_level`
    overrides the default level (interval for ratings, nominal otherwise) where it applies
    (ordinal needs ordered values, interval and ratio numbers); for a `question` asked by
    name, a level that cannot apply is an error. `resamples` bootstrap resamples of the
    records (0: no intervals), drawn from `seed`.
    """
    check_level(alpha_level)
    question_values = dict(question_values or {})
    types = _types(table, dict(question_types or {}), dataset, question)
    responses = submitted(table)
    questions = {}
    for name, qtype in types.items():
        rows = responses[responses["question"] == name]
        allowed = question_values.get(name)
        questions[name] = _question(
            name, qtype, rows, allowed, alpha_level, question is not None, resamples, seed
        )
    return Agreement(
        dataset=dataset,
        questions=questions,
        bootstrap=Bootstrap(resamples=resamples, seed=seed),
    )


def _types(
    table: pd.DataFrame, declared: dict[str, str], dataset: str, question: str | None
) -> dict[str, str]:
    """The questions to compute and their types; only `question` when one is asked for."""
    types = types_of(table, declared)
    if question is None:
        return types
    if question not in types:
        known = ", ".join(types) or "none"
        raise CurationError(f"dataset {dataset!r} has no question {question!r} (known: {known})")
    return {question: types[question]}


def _question(
    name: str,
    qtype: str,
    rows: pd.DataFrame,
    allowed: Sequence[Any] | None,
    alpha_level: str | None,
    strict: bool,
    resamples: int,
    seed: int,
) -> QuestionAgreement:
    """One question's figures, with the blind/suggested split where rows say `blind`."""
    coded = level = None
    hh, ah, annotators = HumanHuman(), AIHuman(), {}
    if qtype in CATEGORICAL_TYPES and not rows.empty:  # else free text, spans, nothing yet
        coded = code_question(name, qtype, rows, allowed)
        level = _alpha_level(name, coded, alpha_level, strict)
        counts = coded.counts()
        hh, ah = human_human(counts, coded, level), ai_human(coded)
        annotators = per_annotator(coded, counts)
    hh, ah = with_intervals(qtype, hh, ah, coded, level, resamples, seed)
    slices = {}
    if "blind" in rows.columns:  # pulled with the blind control slice (review.blind)
        slices = blind_and_suggested(name, qtype, rows, allowed, resamples, seed)
    return QuestionAgreement(
        type=qtype,
        n_records=int(rows["record_id"].nunique()),
        n_annotators=int(rows["annotator"].nunique()),
        n_responses=len(rows),
        human_human=hh,
        ai_human=ah,
        annotators=annotators,
        **slices,
    )


def _alpha_level(name: str, coded: Coded, requested: str | None, strict: bool) -> str:
    """The requested level where it applies to the question, else the default level.

    With `strict` (the question was asked for by name) a level that cannot apply is an
    error; over a whole dataset it applies where it can and the output names the level.
    """
    default = "interval" if coded.qtype == "rating" else "nominal"
    if requested is None:
        return default
    problem = None
    if requested in {"interval", "ratio"} and coded.qtype != "rating":
        problem = f"alpha level {requested!r} needs numbers; question {name!r} is {coded.qtype}"
    elif requested == "ordinal" and not coded.ordered:
        problem = f"alpha level 'ordinal' needs ordered values; question {name!r} declares none"
    if problem and strict:
        raise CurationError(problem)
    return default if problem else requested


def agreement_from_argilla(
    config: Config,
    dataset: str,
    workspace: str | None = None,
    question: str | None = None,
    alpha_level: str | None = None,
    resamples: int = DEFAULT_RESAMPLES,
) -> Agreement:
    """`compute_agreement` on a live Argilla dataset, its questions taken from its settings.

    The body of `curate agreement`; the responses come from the review loop's pull
    (incremental: a second run fetches only what changed).
    """
    from curation.review.connection import connect
    from curation.review.pull import pull

    check_level(alpha_level)  # before any network work
    pulled = pull(connect(config), dataset, workspace)
    return compute_agreement(
        pulled.responses,
        dataset,
        question,
        alpha_level,
        question_values=pulled.question_values,
        question_types=pulled.question_types,
        resamples=resamples,
    )
