"""Gold items: known-answer records mixed into the review queue to measure each reviewer.

`curate push --gold FILE` adds the file's rows to the dataset as records of the same
template. Reviewers cannot tell them apart: the expected answer is hidden metadata
(`gold: yes`, `gold_answer`), gold records carry no AI suggestion (like the blind slice,
so accepting suggestions earns nothing on gold), and their priorities are spread over
the real records' range, so they are mixed through the queue sorted by priority.

The gold file (Parquet or JSON Lines) has the template's texts and the expected answer:

- `instruction`: `id`, `instruction`, `response`, `expected_verdict` (keep | fix | drop);
- `preference`: `id`, `instruction`, `chosen` (the better response), `rejected`; the
  expected answer is the side `chosen` lands on (drawn from the id, as for any pair).

Gold records are never exported and never routed; their answers count in
`quality.reviewer_quality` (accuracy on gold, with a Wilson interval).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from curation.config import RoutingWeights
from curation.errors import CurationError
from curation.review.push import PlannedRecord, chosen_side, plan_records
from curation.review.push_input import REQUIRED, check_rows
from curation.review.templates import TEMPLATES, Template

COLUMNS: dict[Template, tuple[str, ...]] = {
    "instruction": ("id", "instruction", "response", "expected_verdict"),
    "preference": ("id", "instruction", "chosen", "rejected"),
}
VERDICTS = ("keep", "fix", "drop")


def read_gold(path: Path, template: Template, real_ids: pd.Series) -> pd.DataFrame:
    """The gold rows, checked: columns of `template`, texts, answers, no id shared with
    the real rows (`real_ids`). Every problem is a one-line error naming file and row."""
    rows = _read(path)
    where = f"gold file {path}"
    missing = [c for c in COLUMNS[template] if c not in rows.columns]
    if missing:
        other = next(t for t in TEMPLATES if t != template)
        looks = all(c in rows.columns for c in COLUMNS[other])
        hint = f" (it has the {other} template's columns)" if looks else ""
        raise CurationError(
            f"{where}: missing column(s) {', '.join(missing)} for the {template} template{hint}"
        )
    rows = rows.reset_index(drop=True)
    check_rows(rows, template, where)
    if template == "instruction":
        bad = ~rows["expected_verdict"].isin(VERDICTS)
        if bad.any():
            index = int(bad.idxmax())
            raise CurationError(
                f"{where}: row {index} (id {rows['id'][index]!r}): expected_verdict "
                f"{rows['expected_verdict'][index]!r} is not one of {', '.join(VERDICTS)}"
            )
    clash = rows["id"].isin(set(real_ids))
    if clash.any():
        index = int(clash.idxmax())
        raise CurationError(
            f"{where}: row {index}: id {rows['id'][index]!r} is also a row to review; "
            "gold ids must differ from the real ones"
        )
    return rows


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise CurationError(f"gold file not found: {path}")
    try:
        if path.suffix in (".jsonl", ".json"):
            return pd.read_json(path, lines=True, dtype=False)
        return pd.read_parquet(path)
    except (ValueError, OSError) as error:
        kind = "JSON Lines" if path.suffix in (".jsonl", ".json") else "Parquet"
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CurationError(f"gold file {path}: not a readable {kind} file ({first})") from None


def expected_answer(row: dict, template: Template) -> str:
    """The gold answer of the deciding question, as reviewers will see the record."""
    if template == "instruction":
        return str(row["expected_verdict"])
    return chosen_side(str(row["id"]))


def plan_gold(
    gold: pd.DataFrame,
    template: Template,
    weights: RoutingWeights,
    real_priorities: pd.Series | list[float],
) -> list[PlannedRecord]:
    """Gold records: as the template plans them, without suggestions, answer in metadata."""
    frame = gold.copy()
    for column in REQUIRED[template]:
        if column not in frame:
            frame[column] = None
    planned = plan_records(frame, template, weights)
    spread = _spread(frame["id"], np.asarray(real_priorities, dtype=float))
    for record, row, priority in zip(planned, frame.to_dict("records"), spread, strict=True):
        record.suggestions = {}
        record.metadata.update(
            gold="yes",
            gold_answer=expected_answer(row, template),
            blind="no",
            priority=priority,
        )
    return planned


def _spread(ids: pd.Series, priorities: np.ndarray) -> list[float]:
    """Priorities for gold records at id-drawn quantiles of the real ones (0.5 if none)."""
    if len(priorities) == 0:
        return [0.5] * len(ids)
    draws = [
        int.from_bytes(hashlib.sha256(b"gold:" + str(i).encode()).digest()[:8], "big") / 2**64
        for i in ids
    ]
    return [round(float(np.quantile(priorities, d)), 4) for d in draws]
