"""Seed files: the contexts SelfInstruct writes instructions about, and seed instructions.

A seed record has a `context` (a topic or passage; also read from `input`, `topic` or
`text`) and/or an `instruction` (a seed task, used as is by the `seed` source and evolved
by `evol-instruct`; also read from `prompt` or `question`). Files: JSONL (one object per
line), CSV (header row), Parquet, or a folder saved with `datasets` (`save_to_disk`).
Without a file, the bundled `curation/data/seeds.jsonl` is used.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from curation.errors import CurationError
from curation.utf8 import check_utf8

CONTEXT_KEYS = ("context", "input", "topic", "text")
INSTRUCTION_KEYS = ("instruction", "prompt", "question")


@dataclass(frozen=True)
class Seed:
    context: str | None
    instruction: str | None


def bundled_seeds() -> Path:
    return Path(str(resources.files("curation") / "data" / "seeds.jsonl"))


def load_seeds(path: Path | None) -> tuple[Path, list[Seed]]:
    """The seed file (default: bundled) and its records; bad input is a one-line error."""
    path = Path(path) if path is not None else bundled_seeds()
    if not path.exists():
        raise CurationError(f"seed file not found: {path}")
    if path.is_dir():
        records = _read_datasets_folder(path)
    elif path.suffix.lower() in {".jsonl", ".json"}:
        records = _read_jsonl(path)
    elif path.suffix.lower() == ".csv":
        records = _read_csv(path)
    elif path.suffix.lower() == ".parquet":
        records = _read_parquet(path)
    else:
        raise CurationError(
            f"{path}: unknown seed file type {path.suffix!r} (use .jsonl, .csv, .parquet "
            "or a datasets folder)"
        )
    seeds = [_seed(path, where, record) for where, record in records]
    if not seeds:
        raise CurationError(f"{path}: no seed records")
    return path, seeds


def _seed(path: Path, where: str, record: Any) -> Seed:
    if not isinstance(record, dict):
        raise CurationError(f"{path}: {where}: expected an object, got {type(record).__name__}")
    context = _first_text(record, CONTEXT_KEYS)
    instruction = _first_text(record, INSTRUCTION_KEYS)
    if context is None and instruction is None:
        names = ", ".join(CONTEXT_KEYS + INSTRUCTION_KEYS)
        raise CurationError(f"{path}: {where}: no seed text (expected one of: {names})")
    return Seed(context=context, instruction=instruction)


def _first_text(record: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = record.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _read_text(path: Path) -> str:
    """The file as text; a one-line error naming the line that is not UTF-8."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise CurationError(f"{path}: line {line}: not UTF-8 text") from None


def _read_jsonl(path: Path) -> list[tuple[str, Any]]:
    records = []
    for number, line in enumerate(io.StringIO(_read_text(path), newline=None), start=1):
        if not line.strip():
            continue
        try:
            records.append((f"line {number}", json.loads(line)))
        except json.JSONDecodeError as error:
            raise CurationError(
                f"{path}: line {number}, column {error.colno}: invalid JSON ({error.msg})"
            ) from None
    return records


def _read_csv(path: Path) -> list[tuple[str, Any]]:
    reader = csv.DictReader(io.StringIO(_read_text(path), newline=""))
    return [(f"line {reader.line_num}", row) for row in reader]


def _read_parquet(path: Path) -> list[tuple[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise CurationError(f"{path}: not a readable Parquet file ({error})") from None
    check_utf8(table, str(path))
    rows = table.to_pylist()
    return [(f"row {index}", row) for index, row in enumerate(rows)]


def _read_datasets_folder(path: Path) -> list[tuple[str, Any]]:
    from datasets import Dataset, DatasetDict, load_from_disk

    try:
        data = load_from_disk(str(path))
    except FileNotFoundError as error:
        raise CurationError(f"{path}: not a folder saved with datasets ({error})") from None
    if isinstance(data, DatasetDict):
        split = "train" if "train" in data else next(iter(data))
        data = data[split]
    assert isinstance(data, Dataset)
    return [(f"row {index}", row) for index, row in enumerate(data)]
