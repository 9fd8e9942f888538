"""The blind control slice: records pushed without the AI judge's suggestions.

Reviewers who see the AI's answer pre-filled tend to keep it (anchoring), so AI-human
agreement measured on suggested records is biased upwards. A slice of records
(`review.blind_fraction`, default 10%) goes to reviewers without suggestions; agreement on
the slice is the unbiased figure, and suggested minus blind agreement measures the
anchoring (`curate agreement`: `ai_human_blind`, `ai_human_suggested`, `anchoring`).

- Which records: drawn from the record id alone (a hash), so the slice is the same on
  every push, and a larger fraction keeps every record of a smaller one.
- What the server holds: hidden metadata `blind` (`yes` / `no`) on every record and, on
  blind records, the AI's withheld answers (`withheld_<question>`); annotators see
  neither (owners and admins do).
- `pull` puts the withheld answers back beside the people's (`with_withheld`), marked
  `withheld`, so agreement, decisions and exports compare people with the AI everywhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from curation.review.push import PlannedRecord

SALT = b"blind-slice:"  # independent of the a/b order, which hashes the bare id
PREFIX = "withheld_"


def draw(record_id: str) -> float:
    """A number in [0, 1) fixed by the record id (uniform across ids)."""
    digest = hashlib.sha256(SALT + record_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_blind(record_id: str, fraction: float) -> bool:
    return draw(record_id) < fraction


def withhold(planned: Iterable[PlannedRecord], fraction: float) -> None:
    """Mark each planned record blind or not; blind ones lose their suggestions to metadata."""
    for record in planned:
        blind = is_blind(record.id, fraction)
        record.metadata["blind"] = "yes" if blind else "no"
        if blind:
            for question, (value, _score, _agent) in record.suggestions.items():
                record.metadata[PREFIX + question] = value
            record.suggestions = {}


def is_marked(metadata: Mapping[str, Any]) -> bool:
    """Whether a record's metadata puts it in the blind slice."""
    return metadata.get("blind") == "yes"


def with_withheld(
    suggestions: dict[str, dict[str, Any]], metadata: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """A record's suggestions plus the AI answers withheld from its reviewers (`withheld`)."""
    out = dict(suggestions)
    for name, value in metadata.items():
        question = name.removeprefix(PREFIX)
        if name.startswith(PREFIX) and question not in out:
            agent = metadata.get("judge_model")
            out[question] = {"value": value, "score": None, "agent": agent, "withheld": True}
    return out
