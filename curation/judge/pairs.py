"""Pairs to judge (JSONL in) and verdicts (JSONL out), checked before any work starts.

Input rows: `id`, `instruction`, `response_a`, `response_b`, optional `preferred`
(`a` | `b` | `tie`, what people chose). Any problem is a one-line error naming the file,
the line and the column.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from curation.errors import CurationError
from curation.runs import write_atomic

REQUIRED = ("id", "instruction", "response_a", "response_b")
LABELS = ("a", "b", "tie")


def read_pairs(path: Path) -> list[dict[str, Any]]:
    """The rows of a pairs file, validated; `preferred` is None where people gave no label."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CurationError(f"pairs file not found: {path}") from None
    except IsADirectoryError:
        raise CurationError(f"{path}: is a directory, expected a JSONL file of pairs") from None
    except UnicodeDecodeError:
        raise CurationError(f"{path}: not UTF-8 text, expected a JSONL file of pairs") from None
    except OSError as error:
        raise CurationError(f"cannot read pairs file {path}: {error.strerror}") from None
    rows, seen = [], set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        row = _parse(path, number, line)
        if row["id"] in seen:
            raise CurationError(f"{path}, line {number}: duplicate id {row['id']!r}")
        seen.add(row["id"])
        rows.append(row)
    if not rows:
        raise CurationError(f"{path}: no pairs in the file (expected one JSON object per line)")
    return rows


def _parse(path: Path, number: int, line: str) -> dict[str, Any]:
    where = f"{path}, line {number}"
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        raise CurationError(f"{where}: not valid JSON ({error.msg})") from None
    if not isinstance(data, dict):
        raise CurationError(f"{where}: expected a JSON object, got {type(data).__name__}")
    missing = [column for column in REQUIRED if column not in data]
    if missing:
        raise CurationError(f"{where}: missing column {', '.join(missing)}")
    for column in REQUIRED[1:]:
        if not isinstance(data[column], str):
            raise CurationError(f"{where}: column {column} must be text")
    if not isinstance(data["id"], str | int) or isinstance(data["id"], bool):
        raise CurationError(f"{where}: column id must be text or an integer")
    preferred = data.get("preferred")
    if isinstance(preferred, float) and math.isnan(preferred):
        preferred = None
    if preferred is not None and preferred not in LABELS:
        raise CurationError(
            f"{where}: column preferred is {preferred!r}; expected one of a, b, tie (or none)"
        )
    return {**data, "id": str(data["id"]), "preferred": preferred}


def write_predictions(path: Path, rows: list[dict[str, Any]]) -> None:
    """One JSON object per line, written atomically, readable by its owner only."""

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.chmod(tmp, 0o600)

    write_atomic(path, write)
