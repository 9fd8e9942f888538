"""What `curate export` refuses to publish: approved rows with PII or benchmark overlap.

PII is looked for in the texts that would be exported (a reviewer's correction can bring
some in, and a dataset may have been pushed without `curate hygiene`); benchmark overlap
comes from the `contaminated_by` metadata `curate push` gave the record (the benchmark
files are the hygiene stage's business). `--allow-pii` / `--allow-contaminated` let such
rows through, and the dataset card says how many did.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from curation.config import HygieneConfig
from curation.errors import CurationError

TEXTS = {"sft": ("instruction", "final_response"), "dpo": ("instruction", "chosen", "rejected")}


@dataclass
class Flagged:
    """Approved rows with PII (per kind) or benchmark overlap (per benchmark)."""

    pii_rows: int = 0
    pii_kinds: dict[str, int] = field(default_factory=dict)
    contaminated_rows: int = 0
    benchmarks: dict[str, int] = field(default_factory=dict)


def flagged(rows: pd.DataFrame, format: str, config: HygieneConfig) -> Flagged:
    """Count the approved rows that hold PII or overlap a benchmark."""
    result = Flagged()
    if config.pii.enabled and len(rows):
        from curation.hygiene.pii import PIIDetector

        detector = PIIDetector(config.pii.kinds, config.pii.min_score)
        texts = rows[[c for c in TEXTS[format] if c in rows]].to_numpy().tolist()
        found = [detector.kinds_in(row) for row in texts]
        result.pii_rows = sum(bool(kinds) for kinds in found)
        result.pii_kinds = dict(Counter(kind for kinds in found for kind in kinds))
    if "contaminated_by" in rows:
        names = [_terms(value) for value in rows["contaminated_by"]]
        result.contaminated_rows = sum(bool(n) for n in names)
        result.benchmarks = dict(Counter(name for row in names for name in row))
    return result


def refuse(found: Flagged, allow_pii: bool, allow_contaminated: bool) -> None:
    """A one-line error for what the flags do not allow."""
    if found.pii_rows and not allow_pii:
        raise CurationError(
            f"{found.pii_rows:,} approved rows hold unredacted PII ({_listing(found.pii_kinds)}): "
            "redact them (hygiene.pii.action: redact, then push again) or pass --allow-pii"
        )
    if found.contaminated_rows and not allow_contaminated:
        raise CurationError(
            f"{found.contaminated_rows:,} approved rows overlap a benchmark "
            f"({_listing(found.benchmarks)}): pass --allow-contaminated to export them anyway"
        )


def _terms(value: Any) -> list[str]:
    if value is None or isinstance(value, float):
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _listing(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n:,}" for name, n in sorted(counts.items()))
