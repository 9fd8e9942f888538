"""Row assembly into the row schemas `curate push` reads (the columns below), plus extras.

Instruction rows: `id`, `instruction`, `source`, `model` + `parent` (the seed context or
instruction it came from), `generation_params` (JSON provenance).

Preference rows: the contract columns, plus `instruction_id`, `source`, `tie`,
`judge_uncertainty`, the per-candidate distributions, methods and null reasons of the
judges, truncation flags and provenance (`generation_params`, `judge_params`).

Ties: when the best and worst rated candidates are within `tie_margin` (or identical),
`tie` is true; `curate generate` then lets the pair judge (`curation.judge.preferences`)
decide the pair, its tie and its uncertainty from probabilities. A tie row keeps
`chosen`/`rejected` (so reviewers can still compare them and say which is better), but it
is not an AI-decided pair: anything that builds training pairs from the judge alone must
skip `tie` rows.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from curation.generate.scoring import STEP_FAILED, distribution_std, prob_not_better

SOURCES = ("seed", "self-instruct", "magpie", "evol-instruct")

_LIST_MARKER = re.compile(r"^\s*(?:\d+\s*[.):-]|[-*•]|#+)\s*")
_QUOTES = "\"'`"
# "Query 2:", "#Question:", "#Rewritten Prompt#:": labels models put before an instruction.
_INSTRUCTION_LABEL = re.compile(
    r"^#*\s*(?:rewritten\s+)?(?:query|question|prompt|instruction)\s*\d*\s*#*\s*:\s*",
    re.IGNORECASE,
)
# EvolQuality's prompt ends in "#Rewritten Response#:"; small models often repeat it.
_REWRITE_LABEL = re.compile(r"^\s*#*\s*rewritten response\s*#*\s*:?\s*", re.IGNORECASE)

INSTRUCTION_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("instruction", pa.string()),
        ("source", pa.string()),
        ("model", pa.string()),
        ("parent", pa.string()),
        ("generation_params", pa.string()),
    ]
)

CANDIDATE_SCHEMA = pa.schema(
    [
        ("text", pa.string()),
        ("source", pa.string()),
        ("model", pa.string()),
        ("parent", pa.string()),
        ("params", pa.string()),
        ("truncated", pa.bool_()),
        ("prompt", pa.string()),
    ]
)

_floats = pa.list_(pa.float64())
PREFERENCE_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("instruction", pa.string()),
        ("generations", pa.list_(pa.string())),
        ("generation_models", pa.list_(pa.string())),
        ("ratings", _floats),
        ("rationales", pa.list_(pa.string())),
        ("judge_model", pa.string()),
        ("chosen", pa.string()),
        ("rejected", pa.string()),
        ("chosen_rating", pa.float64()),
        ("rejected_rating", pa.float64()),
        ("margin", pa.float64()),
        ("complexity", pa.float64()),
        ("quality", pa.float64()),
        ("deita_score", pa.float64()),
        # extras
        ("instruction_id", pa.string()),
        ("source", pa.string()),
        ("tie", pa.bool_()),
        ("judge_uncertainty", pa.float64()),
        ("judge_p_chosen", pa.float64()),
        ("judge_p_chosen_raw", pa.float64()),
        ("judge_signals", pa.string()),
        ("chosen_index", pa.int64()),
        ("rejected_index", pa.int64()),
        ("rating_stds", _floats),
        ("rating_distributions", pa.list_(_floats)),
        ("rating_methods", pa.list_(pa.string())),
        ("rating_null_reasons", pa.list_(pa.string())),
        ("qualities", _floats),
        ("quality_null_reasons", pa.list_(pa.string())),
        ("complexity_null_reason", pa.string()),
        ("pair_null_reason", pa.string()),
        ("generation_truncated", pa.list_(pa.bool_())),
        ("dropped_candidates", pa.list_(pa.string())),
        ("generation_params", pa.list_(pa.string())),
        ("judge_params", pa.string()),
    ]
)


def content_id(*texts: str) -> str:
    """A stable id from content: the same texts give the same id in every run."""
    digest = hashlib.sha256("\x1f".join(texts).encode("utf-8"))
    return digest.hexdigest()[:32]


def to_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, default=str)


def clean_instruction(text: str | None) -> str:
    """An instruction without list markers, labels, surrounding quotes or whitespace."""
    if not text:
        return ""
    cleaned = _LIST_MARKER.sub("", text.strip(), count=1).strip()
    cleaned = _INSTRUCTION_LABEL.sub("", cleaned, count=1).strip()
    if len(cleaned) >= 2 and cleaned[0] == cleaned[-1] and cleaned[0] in _QUOTES:
        cleaned = cleaned[1:-1].strip()
    return cleaned


def clean_rewrite(text: str | None) -> str | None:
    """An EvolQuality rewrite without the "#Rewritten Response#:" label the prompt ends in."""
    return _REWRITE_LABEL.sub("", text, count=1) if text else text


@dataclass
class InstructionCandidate:
    """One generated (or seed) instruction before filtering."""

    text: str | None
    source: str
    model: str
    parent: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    truncated: bool = False
    prompt: str | None = None  # what the model was shown: a copy of a piece of it is an echo

    def record(self) -> dict[str, Any]:
        """As a row of `CANDIDATE_SCHEMA` (checkpoints between chunks)."""
        return {**self.__dict__, "params": to_json(self.params)}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> InstructionCandidate:
        return cls(**{**record, "params": json.loads(record["params"])})


def select_instructions(
    candidates: Iterable[InstructionCandidate],
    quotas: dict[str, int],
    *,
    min_chars: int,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Instruction rows: drop empty, truncated, too short, echoed and duplicate ones, keep
    quotas (an echo is a piece of the prompt repeated, such as "AI assistant" from
    SelfInstruct's template or an evolution that returned its input).

    Returns the rows (sources in `SOURCES` order, each in generation order) and counts per
    source of what was generated, dropped (and why) and kept.
    """
    by_source: dict[str, list[InstructionCandidate]] = {source: [] for source in SOURCES}
    for candidate in candidates:
        by_source[candidate.source].append(candidate)
    seen: set[str] = set()
    rows: list[dict[str, Any]] = []
    counts: dict[str, Any] = {}
    for source in SOURCES:
        if source not in quotas:
            continue
        tally: Counter[str] = Counter()
        for candidate in by_source[source]:
            tally["generated"] += 1
            text = clean_instruction(candidate.text)
            if not text:
                tally["dropped_empty"] += 1
            elif candidate.truncated:
                tally["dropped_truncated"] += 1
            elif len(text) < min_chars:
                tally["dropped_too_short"] += 1
            elif candidate.prompt and text.casefold() in candidate.prompt.casefold():
                tally["dropped_echo"] += 1
            elif text in seen:
                tally["dropped_duplicate"] += 1
            elif tally["kept"] >= quotas[source]:
                tally["surplus"] += 1
            else:
                seen.add(text)
                tally["kept"] += 1
                rows.append(
                    {
                        "id": content_id(text),
                        "instruction": text,
                        "source": source,
                        "model": candidate.model,
                        "parent": candidate.parent,
                        "generation_params": to_json(candidate.params),
                    }
                )
        tally["quota"] = quotas[source]
        tally["shortfall"] = max(0, quotas[source] - tally["kept"])
        counts[source] = dict(tally)
    return rows, counts


def preference_row(
    row: dict[str, Any],
    *,
    candidate_params: dict[str, dict[str, Any]],
    judge_params: dict[str, Any],
    tie_margin: float,
) -> dict[str, Any]:
    """One preference row from a pipeline output row (instruction + judged candidates).

    `candidate_params` maps each candidate label to its generation parameters.
    """
    generations: list[str] = list(row.get("generations") or [])
    count = len(generations)
    ratings = _per_candidate(row, "ratings", count)
    distributions = _per_candidate(row, "rating_distributions", count)
    qualities = _per_candidate(row, "qualities", count)
    complexity = row.get("complexity")
    labels = list(row.get("candidate_labels") or [])
    pair = _pair(generations, ratings, distributions, tie_margin)
    chosen_index = pair["chosen_index"]
    quality = qualities[chosen_index] if chosen_index is not None else None
    return {
        "id": content_id(row["instruction"], *generations),
        "instruction": row["instruction"],
        "generations": generations,
        "generation_models": list(row.get("generation_models") or []),
        "ratings": ratings,
        "rationales": _per_candidate(row, "rationales", count),
        "judge_model": row.get("judge_model") or judge_params.get("model"),
        "chosen": pair["chosen"],
        "rejected": pair["rejected"],
        "chosen_rating": pair["chosen_rating"],
        "rejected_rating": pair["rejected_rating"],
        "margin": pair["margin"],
        "complexity": complexity,
        "quality": quality,
        "deita_score": complexity * quality
        if complexity is not None and quality is not None
        else None,
        "instruction_id": row["instruction_id"],
        "source": row["source"],
        "tie": pair["tie"],
        "judge_uncertainty": pair["uncertainty"],
        "judge_p_chosen": None,  # set by the pair judge (curation.judge.preferences)
        "judge_p_chosen_raw": None,
        "judge_signals": None,
        "chosen_index": chosen_index,
        "rejected_index": pair["rejected_index"],
        "rating_stds": [distribution_std(d) for d in distributions],
        "rating_distributions": distributions,
        "rating_methods": _per_candidate(row, "rating_methods", count),
        "qualities": qualities,
        **_null_reasons(row, count),
        "pair_null_reason": pair["null_reason"],
        "generation_truncated": [
            bool(t) for t in _per_candidate(row, "generation_truncated", count)
        ],
        "dropped_candidates": list(row.get("dropped_candidates") or []),
        "generation_params": [to_json(candidate_params.get(label, {})) for label in labels],
        "judge_params": to_json(judge_params),
    }


def _null_reasons(row: dict[str, Any], count: int) -> dict[str, Any]:
    """Why each rating, quality and the complexity is null (a failed step: all of them)."""
    reasons = _per_candidate(row, "rating_null_reasons", count)
    if row.get("ratings") is None and count:
        reasons = [STEP_FAILED] * count
    quality_reasons = _per_candidate(row, "quality_null_reasons", count)
    if row.get("qualities") is None and count:
        quality_reasons = [STEP_FAILED] * count
    complexity_reason = row.get("complexity_null_reason")
    if row.get("complexity") is None and complexity_reason is None:
        complexity_reason = STEP_FAILED
    return {
        "rating_null_reasons": reasons,
        "quality_null_reasons": quality_reasons,
        "complexity_null_reason": complexity_reason,
    }


def _per_candidate(row: dict[str, Any], column: str, count: int) -> list[Any]:
    values = row.get(column)
    if not isinstance(values, list) or len(values) != count:
        return [None] * count
    return list(values)


def _pair(
    generations: list[str],
    ratings: list[float | None],
    distributions: list[Sequence[float] | None],
    tie_margin: float,
) -> dict[str, Any]:
    """Chosen = best rated (earliest on equal ratings), rejected = worst rated (latest)."""
    rated = [index for index, rating in enumerate(ratings) if rating is not None]
    empty = dict.fromkeys(
        ["chosen", "rejected", "chosen_rating", "rejected_rating", "margin", "uncertainty"]
    )
    if len(rated) < 2:
        return {
            **empty,
            "chosen_index": None,
            "rejected_index": None,
            "tie": False,
            "null_reason": f"fewer than 2 rated candidates ({len(rated)} of {len(generations)})",
        }
    ordered = sorted(rated, key=lambda index: (-ratings[index], index))  # type: ignore[operator]
    best, worst = ordered[0], ordered[-1]
    margin = ratings[best] - ratings[worst]  # type: ignore[operator]
    tie = margin <= tie_margin or generations[best] == generations[worst]
    uncertainty = None
    if distributions[best] is not None and distributions[worst] is not None:
        uncertainty = prob_not_better(distributions[best], distributions[worst])  # type: ignore[arg-type]
    return {
        "chosen": generations[best],
        "rejected": generations[worst],
        "chosen_rating": ratings[best],
        "rejected_rating": ratings[worst],
        "margin": margin,
        "uncertainty": uncertainty,
        "chosen_index": best,
        "rejected_index": worst,
        "tie": tie,
        "null_reason": None,
    }


def judge_counts(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Parse rate, methods and null reasons of each judge over the preference rows."""
    judges = {
        "ultrafeedback": [
            (rating, reason, method)
            for row in rows
            for rating, reason, method in zip(
                row["ratings"], row["rating_null_reasons"], row["rating_methods"], strict=True
            )
        ],
        "quality": [
            (value, reason, None)
            for row in rows
            for value, reason in zip(row["qualities"], row["quality_null_reasons"], strict=True)
        ],
        "complexity": [(row["complexity"], row["complexity_null_reason"], None) for row in rows],
    }
    counts: dict[str, Any] = {}
    scored_total = items_total = 0
    for name, items in judges.items():
        scored = sum(1 for value, _, _ in items if value is not None)
        counts[name] = {
            "items": len(items),
            "scored": scored,
            "parse_rate": round(scored / len(items), 4) if items else None,
            "null_reasons": dict(Counter(reason for value, reason, _ in items if value is None)),
        }
        methods = Counter(method for value, _, method in items if value is not None and method)
        if methods:
            counts[name]["methods"] = dict(methods)
        scored_total += scored
        items_total += len(items)
    counts["parse_rate"] = round(scored_total / items_total, 4) if items_total else None
    return counts
