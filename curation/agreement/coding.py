"""Coding of answers: the feedback table's submitted responses to one question as integer
codes (record, annotator, value, AI suggestion), the form every figure is computed on.

Multi-label answers become one nominal value (the set of labels), rankings one nominal
value (the ordering); a value outside the question's declared values is an error naming
the record and who gave it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from curation.errors import CurationError
from curation.feedback import AGREEMENT_COLUMNS, RESPONSE_STATUSES

CATEGORICAL_TYPES = {"rating", "label_selection", "multi_label_selection", "ranking"}
QUESTION_TYPES = CATEGORICAL_TYPES | {"text", "span"}
LEVELS = ("nominal", "ordinal", "interval", "ratio")
TIE = "tie"
PREFERENCE_LABELS = {"a", "b", TIE}


@dataclass
class Coded:
    """One question's submitted responses as integer codes (the vectorised form)."""

    qtype: str
    domain: list[Any]  # the possible values, in order; codes index into it
    numeric: np.ndarray | None  # domain as numbers (ratings), else None
    ordered: bool  # whether the domain order means something (ordinal alpha)
    record: np.ndarray  # record code (0..n_records-1) per response
    annotator: np.ndarray  # annotator code per response
    annotators: list[str]
    value: np.ndarray  # value code per response
    ai: np.ndarray  # AI suggestion code per response, -1 where there is none

    @property
    def n_records(self) -> int:
        return int(self.record.max()) + 1 if len(self.record) else 0

    def counts(self) -> np.ndarray:
        """records x values: how many annotators gave each value to each record."""
        size = len(self.domain)
        flat = np.bincount(self.record * size + self.value, minlength=self.n_records * size)
        return flat.reshape(self.n_records, size)

    @property
    def is_preference(self) -> bool:
        """An a/b/tie question, where agreement is also counted without ties."""
        return self.qtype == "label_selection" and set(self.domain) <= PREFERENCE_LABELS


# --- input checks -----------------------------------------------------------------------


def check_level(alpha_level: str | None) -> None:
    if alpha_level is not None and alpha_level not in LEVELS:
        raise CurationError(f"unknown alpha level {alpha_level!r}; use one of {', '.join(LEVELS)}")


def types_of(table: pd.DataFrame, declared: dict[str, str]) -> dict[str, str]:
    """Each question's type, from the table and the declared ones (which may have no rows)."""
    missing = [c for c in AGREEMENT_COLUMNS if c not in table.columns]
    if missing:
        raise CurationError(f"responses table lacks column(s): {', '.join(missing)}")
    bad_status = set(table["status"].dropna().unique()) - set(RESPONSE_STATUSES)
    if bad_status or table["status"].isna().any():
        shown = sorted(map(str, bad_status)) or ["null"]
        raise CurationError(
            f"unknown response status {', '.join(shown)}; expected one of "
            f"{', '.join(RESPONSE_STATUSES)}"
        )
    types = dict(declared)
    for name, group in table.groupby("question", sort=False):
        seen = set(group["question_type"].unique())
        if len(seen) != 1:
            raise CurationError(f"question {name!r} has several types: {sorted(map(str, seen))}")
        qtype = seen.pop()
        if types.setdefault(str(name), qtype) != qtype:
            raise CurationError(f"question {name!r} is {qtype!r} in the table, not {types[name]!r}")
    for name, qtype in types.items():
        if qtype not in QUESTION_TYPES:
            raise CurationError(f"question {name!r} has unknown type {qtype!r}")
    return types


def submitted(table: pd.DataFrame) -> pd.DataFrame:
    """The submitted responses: the only ones that count, at most one per reviewer."""
    rows = table[table["status"] == "submitted"]
    duplicated = rows.duplicated(["record_id", "annotator", "question"])
    if duplicated.any():
        row = rows[duplicated].iloc[0]
        raise CurationError(
            f"record {row['record_id']!r}: annotator {row['annotator']!r} has more than one "
            f"submitted response to question {row['question']!r}"
        )
    return rows


# --- one answer -------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def _canonical(value: Any, qtype: str) -> Any:
    """One hashable value per answer: a number, a label, a sorted label set, a ranking."""
    if qtype == "rating":
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(value)
        return int(number) if number.is_integer() else number
    if qtype == "label_selection":
        return str(value)
    if isinstance(value, str | bytes | Mapping):
        raise TypeError(value)
    items = list(value)
    if qtype == "multi_label_selection":
        return tuple(sorted({str(v) for v in items}))
    # ranking: [{"value": v, "rank": r}, ...] or the values in rank order
    if items and isinstance(items[0], Mapping):
        pairs = [(int(item["rank"]), str(item["value"])) for item in items]
    else:
        pairs = [(rank, str(v)) for rank, v in enumerate(items, start=1)]
    return tuple((v, rank) for rank, v in sorted(pairs))


# --- one question -----------------------------------------------------------------------


def code_question(
    name: str, qtype: str, rows: pd.DataFrame, allowed: Sequence[Any] | None
) -> Coded:
    """`rows` (one question's submitted responses) as codes into the question's domain."""
    values, suggestions = _answers(name, qtype, rows)
    domain = _domain(name, qtype, allowed, values, suggestions)
    value_codes, ai_codes = _value_codes(name, rows, domain, values, suggestions)
    record_codes, _ = pd.factorize(rows["record_id"].astype(str))
    annotator_codes, annotators = pd.factorize(rows["annotator"].astype(str), sort=True)
    return Coded(
        qtype=qtype,
        domain=domain,
        numeric=np.asarray(domain, dtype=float) if qtype == "rating" else None,
        ordered=qtype == "rating" or (qtype == "label_selection" and allowed is not None),
        record=np.asarray(record_codes, dtype=np.int64),
        annotator=np.asarray(annotator_codes, dtype=np.int64),
        annotators=[str(a) for a in annotators],
        value=value_codes,
        ai=ai_codes,
    )


def _answers(name: str, qtype: str, rows: pd.DataFrame) -> tuple[list[Any], list[Any]]:
    """Each response's canonical value and its record's AI suggestion (None: none)."""

    def canonical(value: Any, where: str) -> Any:
        try:
            return _canonical(value, qtype)
        except (TypeError, ValueError, KeyError) as error:
            raise CurationError(
                f"question {name!r}, {where}: {value!r} is not a {qtype} value"
            ) from error

    values, suggestions = [], []
    for rid, who, value, suggestion in zip(
        rows["record_id"], rows["annotator"], rows["value"], rows["suggestion"], strict=True
    ):
        where = f"record {rid!r}, annotator {who!r}"
        if _missing(value):
            raise CurationError(f"question {name!r}, {where}: submitted response has no value")
        values.append(canonical(value, where))
        suggestions.append(
            None if _missing(suggestion) else canonical(suggestion, f"record {rid!r}, AI")
        )
    return values, suggestions


def _value_codes(
    name: str, rows: pd.DataFrame, domain: list[Any], values: list, suggestions: list
) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the answers and of the AI suggestions (-1: no suggestion)."""
    index = {v: i for i, v in enumerate(domain)}
    value_codes = np.empty(len(values), dtype=np.int64)
    ai_codes = np.full(len(values), -1, dtype=np.int64)
    for i, (value, suggestion) in enumerate(zip(values, suggestions, strict=True)):
        for code, item, who in ((value_codes, value, "annotator"), (ai_codes, suggestion, "AI")):
            if item is None:
                continue
            if item not in index:
                rid = rows["record_id"].iloc[i]
                by = rows["annotator"].iloc[i] if who == "annotator" else "the AI suggestion"
                raise CurationError(
                    f"question {name!r}, record {rid!r}: {by} gave {item!r}, "
                    f"not one of the allowed values {domain}"
                )
            code[i] = index[item]
    return value_codes, ai_codes


def _domain(
    name: str, qtype: str, allowed: Sequence[Any] | None, values: list, suggestions: list
) -> list[Any]:
    """The question's possible values: declared ones in their order, else the observed."""
    if allowed is not None and qtype in {"rating", "label_selection"}:
        try:
            domain = [_canonical(v, qtype) for v in allowed]
        except (TypeError, ValueError) as error:
            raise CurationError(
                f"question {name!r}: allowed values {list(allowed)} are not {qtype}"
            ) from error
        return sorted(set(domain)) if qtype == "rating" else list(dict.fromkeys(domain))
    observed = {v for v in values + suggestions if v is not None}
    if allowed is not None:  # multi-label: the labels each selection may hold
        labels = {str(v) for v in allowed}
        for combo in observed:
            if not set(combo) <= labels:
                raise CurationError(
                    f"question {name!r}: {list(combo)} is not within {sorted(labels)}"
                )
    if qtype == "rating" and observed and all(isinstance(v, int) for v in observed):
        return list(range(min(observed), max(observed) + 1))  # unseen steps still count
    return sorted(observed)
