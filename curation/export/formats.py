"""Approved review rows as the tables trainers load: `sft` and `dpo`.

Both are TRL's *conversational* formats, which its trainers take as they are and render
with the model's own chat template (plain-string columns would load too, but then the
text is trained on without the chat template unless the user formats it first):

- `sft`: the conversational "language modeling" type that `SFTTrainer` takes:
  `messages` = [{role: user, content: instruction}, {role: assistant, content: response}],
  the reviewers' corrected response where they fixed it.
- `dpo`: the conversational "preference" type with an explicit prompt (TRL's
  recommendation for `DPOTrainer`): `prompt` = [user message], `chosen` / `rejected` =
  [assistant message], the side the reviewers preferred as `chosen`.

The other columns are provenance (trainers ignore them). Which rows are approved, and
which response is final or chosen, is decided in `curation.review.records`; this module
only reshapes its rows.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd
from datasets import Dataset, DatasetDict, Features, List, Value

from curation.errors import CurationError

# The format each dataset template exports to.
FORMATS: dict[str, str] = {"sft": "instruction", "dpo": "preference"}

MESSAGE = {"role": Value("string"), "content": Value("string")}
TEXT, NUMBER, COUNT, FLAG = Value("string"), Value("float64"), Value("int64"), Value("bool")
PROVENANCE = {
    "id": TEXT,
    "source": TEXT,
    "judge_model": TEXT,
    "approved_by": TEXT,
    "n_reviews": COUNT,
    "ai_agrees": FLAG,
    "deita_score": NUMBER,
    "complexity": NUMBER,
    "quality": NUMBER,
    "judge_uncertainty": NUMBER,
}
SFT_FEATURES = Features(
    {
        "messages": List(MESSAGE),
        **PROVENANCE,
        "generator_model": TEXT,
        "corrected": FLAG,
        "original_response": TEXT,
        "ai_rating": NUMBER,
        "ai_verdict": TEXT,
        "human_rating": NUMBER,
        "votes_keep": COUNT,
        "votes_fix": COUNT,
        "votes_drop": COUNT,
    }
)
DPO_FEATURES = Features(
    {
        "prompt": List(MESSAGE),
        "chosen": List(MESSAGE),
        "rejected": List(MESSAGE),
        "score_chosen": NUMBER,
        "score_rejected": NUMBER,
        **PROVENANCE,
        "chosen_model": TEXT,
        "rejected_model": TEXT,
        "ai_rating_chosen": NUMBER,
        "ai_rating_rejected": NUMBER,
        "human_rating_chosen": NUMBER,
        "human_rating_rejected": NUMBER,
        "votes_chosen": COUNT,
        "votes_rejected": COUNT,
        "votes_tie": COUNT,
    }
)
# What each column means (the dataset card's column table).
DESCRIPTIONS = {
    "messages": "user instruction, then the approved assistant response (the reviewers' "
    "correction where they fixed it)",
    "prompt": "the user instruction, as a one-message conversation",
    "chosen": "the response the reviewers preferred (assistant message)",
    "rejected": "the other response (assistant message)",
    "score_chosen": "mean human rating (1-5) of `chosen`; the AI judge's rating where no "
    "reviewer rated it",
    "score_rejected": "the same for `rejected`",
    "id": "stable record id: a content hash of the generated row",
    "source": "how the instruction was made: seed, self-instruct, magpie, evol-instruct",
    "judge_model": "the AI judge that rated the responses",
    "approved_by": "`humans` (a strict majority of reviewers), `adjudicator` (the final call "
    "on a record the reviewers could not settle), or `auto` (the curator's auto-approval "
    "policy, without review)",
    "n_reviews": "submitted reviews of this record",
    "ai_agrees": "whether the reviewers decided as the AI judge suggested (null for auto rows)",
    "deita_score": "Deita score: complexity x quality (AI)",
    "complexity": "Deita instruction complexity (AI)",
    "quality": "Deita response quality (AI)",
    "judge_uncertainty": "the judge's own uncertainty (higher: less sure)",
    "generator_model": "the model that wrote the response",
    "corrected": "the response is a reviewer's correction of the generated one",
    "original_response": "the generated response, where a reviewer corrected it",
    "ai_rating": "the AI judge's rating of the generated response (1-5)",
    "ai_verdict": "keep or drop, from the AI judge's rating",
    "human_rating": "mean submitted human rating (1-5)",
    "votes_keep": "reviewers who said keep",
    "votes_fix": "reviewers who said fix",
    "votes_drop": "reviewers who said drop",
    "chosen_model": "the model that wrote `chosen`",
    "rejected_model": "the model that wrote `rejected`",
    "ai_rating_chosen": "the AI judge's rating of `chosen` (1-5)",
    "ai_rating_rejected": "the AI judge's rating of `rejected` (1-5)",
    "human_rating_chosen": "mean submitted human rating of `chosen` (1-5)",
    "human_rating_rejected": "mean submitted human rating of `rejected` (1-5)",
    "votes_chosen": "reviewers who preferred `chosen`",
    "votes_rejected": "reviewers who preferred `rejected`",
    "votes_tie": "reviewers who saw a tie",
}
FEATURES = {"sft": SFT_FEATURES, "dpo": DPO_FEATURES}


def approved(rows: pd.DataFrame) -> pd.DataFrame:
    """Only the approved records, in record-id order (a stable order across exports)."""
    if rows.empty:
        return rows
    kept = rows[rows["decision"] == "approved"]
    return kept.sort_values("record_id", kind="stable").reset_index(drop=True)


def to_dataset(rows: pd.DataFrame, format: str) -> Dataset:
    """The approved rows (`approved(...)`) of `reviewed_rows` as a `datasets.Dataset`."""
    build = _sft_row if format == "sft" else _dpo_row
    records = [build(row) for row in rows.to_dict("records")]
    return Dataset.from_list(records, features=FEATURES[format])


def split(dataset: Dataset, test_size: float | None, seed: int) -> DatasetDict:
    """`train` only, or `train` and `test` (`test_size`: a share below 1, or a row count)."""
    if test_size is None:
        return DatasetDict(train=dataset)
    size: float | int = test_size
    if test_size >= 1:
        if not float(test_size).is_integer():
            raise CurationError(f"--test-size {test_size}: give a share below 1 or a row count")
        size = int(test_size)
    test_rows = math.ceil(size * len(dataset)) if isinstance(size, float) else size
    if not 0 < test_rows < len(dataset):
        raise CurationError(
            f"--test-size {test_size} of {len(dataset)} approved rows leaves an empty split"
        )
    return dataset.train_test_split(test_size=size, seed=seed)


def _sft_row(row: dict[str, Any]) -> dict[str, Any]:
    votes = _votes(row)
    corrected = bool(row.get("corrected"))
    return {
        "messages": [
            _message("user", _text(row, "instruction")),
            _message("assistant", _text(row, "final_response")),
        ],
        **_provenance(row),
        "generator_model": _none(row.get("model")),
        "corrected": corrected,
        "original_response": _none(row.get("response")) if corrected else None,
        "ai_rating": _none(row.get("ai_quality")),
        "ai_verdict": _none(row.get("ai_verdict")),
        "human_rating": _none(row.get("human_quality")),
        "votes_keep": votes.get("keep", 0),
        "votes_fix": votes.get("fix", 0),
        "votes_drop": votes.get("drop", 0),
    }


def _dpo_row(row: dict[str, Any]) -> dict[str, Any]:
    chosen, rejected = _text(row, "chosen"), _text(row, "rejected")
    # Which side of the pair (a/b, as reviewers saw it) is exported as chosen, and whether
    # that is the AI's choice: read back from the texts records.py picked.
    side = "a" if chosen == row.get("response_a") else "b"
    other = "b" if side == "a" else "a"
    same_as_ai = chosen == row.get("ai_chosen")
    ai_chosen = _none(row.get("ai_rating_chosen" if same_as_ai else "ai_rating_rejected"))
    ai_rejected = _none(row.get("ai_rating_rejected" if same_as_ai else "ai_rating_chosen"))
    human_chosen = _none(row.get("human_rating_chosen"))
    human_rejected = _none(row.get("human_rating_rejected"))
    votes = _votes(row)
    return {
        "prompt": [_message("user", _text(row, "instruction"))],
        "chosen": [_message("assistant", chosen)],
        "rejected": [_message("assistant", rejected)],
        "score_chosen": human_chosen if human_chosen is not None else ai_chosen,
        "score_rejected": human_rejected if human_rejected is not None else ai_rejected,
        **_provenance(row),
        "chosen_model": _none(row.get("chosen_model")),
        "rejected_model": _none(row.get("rejected_model")),
        "ai_rating_chosen": ai_chosen,
        "ai_rating_rejected": ai_rejected,
        "human_rating_chosen": human_chosen,
        "human_rating_rejected": human_rejected,
        "votes_chosen": votes.get(side, 0),
        "votes_rejected": votes.get(other, 0),
        "votes_tie": votes.get("tie", 0),
    }


def _provenance(row: dict[str, Any]) -> dict[str, Any]:
    agrees = _none(row.get("ai_agrees"))
    return {
        "id": row["record_id"],
        "source": _none(row.get("source")),
        "judge_model": _none(row.get("judge_model")),
        "approved_by": row.get("approved_by"),
        "n_reviews": int(row.get("n_submitted") or 0),
        "ai_agrees": None if agrees is None else bool(agrees),
        **{name: _number(row.get(name)) for name in _SCORES},
    }


_SCORES = ("deita_score", "complexity", "quality", "judge_uncertainty")


def _message(role: str, content: str) -> dict[str, str]:
    return {"role": role, "content": content}


def _text(row: dict[str, Any], column: str) -> str:
    """A text an approved row must have; a missing one is a broken record, named."""
    value = _none(row.get(column))
    if not isinstance(value, str) or not value.strip():
        raise CurationError(f"record {row['record_id']!r} is approved but has no `{column}` text")
    return value


def _votes(row: dict[str, Any]) -> dict[str, int]:
    votes = row.get("votes")
    return {str(k): int(v) for k, v in json.loads(votes).items()} if votes else {}


def _none(value: Any) -> Any:
    """None for every kind of missing value (None, NaN, pandas NA)."""
    if value is None or (not isinstance(value, list | dict | str) and pd.isna(value)):
        return None
    return value


def _number(value: Any) -> float | None:
    value = _none(value)
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
