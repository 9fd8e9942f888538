"""The `hygiene` stage (`curate hygiene --run R`, the demo's hygiene step): near-dedup,
decontamination, PII.

Reads the run's `preferences.parquet` and writes, before selection:
- `hygiene.parquet`: one row per input row: `id`, `dup_of` (the id of the kept row it
  duplicates), `dup_jaccard` (their exact Jaccard), `contamination` (list of hits:
  benchmark, item, n-gram, column), `pii_kinds` (list), `drop_reason` (null when kept);
- `hygiene_kept.parquet`: the rows that go on to selection, every input column kept
  (texts redacted when `pii.action` is `redact`) plus `pii_kinds`, `pii_redacted` and
  `contaminated_by` (benchmark names), which `curate push` shows reviewers as metadata.

A row is dropped for the first of: benchmark overlap (`decontamination.action: drop`),
PII (`pii.action: drop`), duplicate. Dedup runs on the rows the first two leave, so a
cluster keeps its best row that can be kept. Every input problem (missing column,
unreadable benchmark, empty input) is found before anything is written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curation.errors import CurationError
from curation.hygiene import decontam, dedup
from curation.hygiene.pii import PIIDetector
from curation.run_files import HYGIENE, HYGIENE_KEPT, PREFERENCES
from curation.stages import Stage

if TYPE_CHECKING:
    from pathlib import Path

    from curation.config import HygieneConfig
    from curation.runs import RunDir, StageContext

DUPLICATE, CONTAMINATED, PII = "duplicate", "contaminated", "pii"
HIT = pa.struct(
    [
        ("benchmark", pa.string()),
        ("item", pa.string()),
        ("ngram", pa.string()),
        ("column", pa.string()),
    ]
)
SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("dup_of", pa.string()),
        ("dup_jaccard", pa.float64()),
        ("contamination", pa.list_(HIT)),
        ("pii_kinds", pa.list_(pa.string())),
        ("drop_reason", pa.string()),
    ]
)


@dataclass
class HygieneResult:
    hygiene: pa.Table
    kept: pa.Table
    counts: dict[str, Any] = field(default_factory=dict)


def summary_line(counts: dict[str, Any]) -> str:
    """What the stage kept and dropped, from its counts (as the manifest records them)."""
    c = counts
    return (
        f"kept {c['kept']:,} of {c['rows']:,} rows ({c['dropped_duplicate']:,} "
        f"near-duplicates, {c['dropped_contaminated']:,} overlapping a benchmark, "
        f"{c['dropped_pii']:,} with PII dropped; {c['pii_rows']:,} rows with PII, "
        f"{c['contaminated_rows']:,} overlapping)"
    )


def read_input(path: Path, config: HygieneConfig) -> pa.Table:
    """The input rows, with every configured column present; one-line errors otherwise."""
    if not path.is_file():
        raise CurationError(f"{path}: missing input; run `curate generate` first")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise CurationError(f"{path}: not a readable Parquet file ({error})") from None
    wanted = ["id", *config.columns]
    if config.dedup.enabled:
        wanted += [config.dedup.column, config.score_column]
    for column in dict.fromkeys(wanted):
        if column not in table.column_names:
            have = ", ".join(table.column_names) or "none"
            raise CurationError(f"{path}: no column `{column}` (columns: {have})")
    if config.dedup.enabled:
        kind = table.schema.field(config.dedup.column).type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            raise CurationError(
                f"{path}: column `{config.dedup.column}` holds {kind}, not text "
                "(hygiene.dedup.column)"
            )
    if table.num_rows == 0:
        raise CurationError(f"{path}: no rows to check (an empty run)")
    return table


def load_benchmarks(config: HygieneConfig) -> decontam.NGramIndex | None:
    """The n-gram index of every configured benchmark (None: no benchmark named)."""
    cfg = config.decontamination
    if not cfg.benchmarks:
        return None
    loaded = [
        decontam.load_benchmark(b.path, b.text_column, b.name, b.id_column) for b in cfg.benchmarks
    ]
    return decontam.NGramIndex.build(loaded, cfg.ngram)


def texts_of(table: pa.Table, column: str) -> list[list[str]]:
    """Per row, the texts of a text or list-of-text column (nulls left out)."""
    values = table.column(column).to_pylist()
    if pa.types.is_list(table.schema.field(column).type):
        return [[t for t in (v or []) if isinstance(t, str)] for v in values]
    return [[v] if isinstance(v, str) else [] for v in values]


def check(
    table: pa.Table, config: HygieneConfig, index: decontam.NGramIndex | None
) -> HygieneResult:
    """Everything the stage computes, written nowhere."""
    started = time.perf_counter()
    rows = table.num_rows
    columns = {column: texts_of(table, column) for column in config.columns}
    hits = _contamination(columns, index, rows)
    timings = {"decontamination_s": time.perf_counter() - started}
    detector = PIIDetector(config.pii.kinds, config.pii.min_score) if config.pii.enabled else None
    pii_kinds = [
        detector.kinds_in([t for texts in columns.values() for t in texts[i]]) if detector else []
        for i in range(rows)
    ]
    timings["pii_s"] = time.perf_counter() - started - sum(timings.values())
    reason: list[str | None] = [None] * rows
    for i in range(rows):
        if hits[i] and config.decontamination.action == "drop":
            reason[i] = CONTAMINATED
        elif pii_kinds[i] and config.pii.action == "drop":
            reason[i] = PII
    dup_of, dup_jaccard, dedup_counts = _dedup(table, config, reason)
    timings["dedup_s"] = time.perf_counter() - started - sum(timings.values())
    ids = table.column("id").to_pylist()
    hygiene = pa.table(
        {
            "id": ids,
            "dup_of": [None if d is None else ids[d] for d in dup_of],
            "dup_jaccard": dup_jaccard,
            "contamination": hits,
            "pii_kinds": pii_kinds,
            "drop_reason": reason,
        },
        schema=SCHEMA,
    )
    keep = np.array([r is None for r in reason])
    kept = _kept_rows(table, config, detector, keep, pii_kinds, hits)
    counts = {
        "rows": rows,
        "kept": int(keep.sum()),
        **{f"dropped_{name}": reason.count(name) for name in (DUPLICATE, CONTAMINATED, PII)},
        "pii_rows": sum(bool(k) for k in pii_kinds),
        "pii_kinds": {kind: sum(kind in k for k in pii_kinds) for kind in config.pii.kinds},
        "contaminated_rows": sum(bool(h) for h in hits),
        "benchmark_items": index.items if index else 0,
        "benchmark_items_too_short": index.too_short if index else 0,
        **dedup_counts,
        **{name: round(seconds, 3) for name, seconds in timings.items()},
        "settings": settings(config, index),
    }
    return HygieneResult(hygiene, kept, counts)


def settings(config: HygieneConfig, index: decontam.NGramIndex | None) -> dict[str, Any]:
    """The settings in words, for the manifest and the dataset card."""
    cfg = config.dedup
    return {
        "dedup": f"MinHash LSH on {cfg.shingle} {cfg.ngram}-grams of `{cfg.column}`, exact "
        f"Jaccard >= {cfg.threshold}"
        if cfg.enabled
        else "off",
        "benchmarks": index.benchmarks if index else [],
        "decontamination": f"shared word {config.decontamination.ngram}-grams",
        "pii_action": {"flag": "flagged", "redact": "redacted", "drop": "dropped"}[
            config.pii.action
        ]
        if config.pii.enabled
        else "not looked for",
    }


def _contamination(
    columns: dict[str, list[list[str]]], index: decontam.NGramIndex | None, rows: int
) -> list[list[dict[str, str]]]:
    """Per row, one hit per benchmark item, naming the first column it was found in."""
    found: list[dict[tuple[str, str], dict[str, str]]] = [{} for _ in range(rows)]
    if index is not None:
        for column, texts in columns.items():
            for i, row_texts in enumerate(texts):
                for text in row_texts:
                    for hit in index.hits(text):
                        found[i].setdefault(
                            (hit["benchmark"], hit["item"]), {**hit, "column": column}
                        )
    return [list(row.values()) for row in found]


def _dedup(
    table: pa.Table, config: HygieneConfig, reason: list[str | None]
) -> tuple[list[int | None], list[float | None], dict[str, int]]:
    """Near-duplicates among the rows not dropped yet; marks `reason` for the duplicates."""
    rows = table.num_rows
    cfg = config.dedup
    if not cfg.enabled:
        return [None] * rows, [None] * rows, {}
    eligible = [i for i in range(rows) if reason[i] is None]
    texts = table.column(cfg.column).to_pylist()
    scores = table.column(config.score_column).to_pylist()
    found = dedup.near_duplicates(
        [texts[i] for i in eligible],
        [scores[i] for i in eligible],
        threshold=cfg.threshold,
        shingle=cfg.shingle,
        ngram=cfg.ngram,
        num_perm=cfg.num_perm,
    )
    dup_of: list[int | None] = [None] * rows
    jaccard: list[float | None] = [None] * rows
    for local, row in enumerate(eligible):
        if found.dup_of[local] is not None:
            dup_of[row], jaccard[row] = eligible[found.dup_of[local]], found.jaccard[local]
            reason[row] = DUPLICATE
    return dup_of, jaccard, {"lsh_candidates": found.candidates, "lsh_rejected": found.rejected}


def _kept_rows(
    table: pa.Table,
    config: HygieneConfig,
    detector: PIIDetector | None,
    keep: np.ndarray,
    pii_kinds: list[list[str]],
    hits: list[list[dict[str, str]]],
) -> pa.Table:
    """The rows that go on, redacted if asked, with the flags `curate push` shows."""
    rows = np.flatnonzero(keep)
    kept = table.take(pa.array(rows, type=pa.int64()))
    redact = detector is not None and config.pii.action == "redact"
    if redact:
        assert detector is not None
        for column in config.columns:
            position = kept.schema.get_field_index(column)
            values = [_redacted(v, detector) for v in kept.column(column).to_pylist()]
            kept = kept.set_column(
                position,
                kept.schema.field(column),
                pa.array(values, kept.schema.field(column).type),
            )
    flags = {
        "pii_kinds": pa.array([pii_kinds[i] for i in rows], pa.list_(pa.string())),
        "pii_redacted": pa.array([redact and bool(pii_kinds[i]) for i in rows], pa.bool_()),
        "contaminated_by": pa.array(
            [sorted({h["benchmark"] for h in hits[i]}) for i in rows], pa.list_(pa.string())
        ),
    }
    for name, values in flags.items():
        if name in kept.column_names:
            kept = kept.drop_columns([name])
        kept = kept.append_column(name, values)
    return kept


def _redacted(value: Any, detector: PIIDetector) -> Any:
    if isinstance(value, list):
        return [detector.redact(v) if isinstance(v, str) else v for v in value]
    return detector.redact(value) if isinstance(value, str) else value


@dataclass
class HygieneStage(Stage):
    """`curate hygiene --run R` and the demo's hygiene step, on the run's preferences."""

    name = "hygiene"
    section = "hygiene"
    reads = (PREFERENCES,)
    writes = (HYGIENE, HYGIENE_KEPT)
    config: HygieneConfig
    _input: tuple[pa.Table, decontam.NGramIndex | None] | None = field(
        default=None, init=False, repr=False
    )

    def check(self, run: RunDir) -> None:
        """The rows and the benchmarks, read and checked before anything is written."""
        self._input = read_input(run.file(PREFERENCES), self.config), load_benchmarks(self.config)

    def settings(self) -> Any:
        """The section (less the dashboard's topics) and each benchmark's content hash."""
        benchmarks = {str(b.path): _digest(b.path) for b in self.config.decontamination.benchmarks}
        return {
            **self.config.model_dump(mode="json", exclude={"topics"}),
            "benchmark_sha256": benchmarks,
        }

    def run(self, ctx: StageContext) -> None:
        if self._input is None:  # run without `run_stage`
            self.check(ctx.run)
        table, index = self._input  # type: ignore[misc]
        result = check(table, self.config, index)
        ctx.write_parquet(HYGIENE, result.hygiene)
        ctx.write_parquet(HYGIENE_KEPT, result.kept)
        ctx.counts.update(result.counts)

    def summary(self, counts: dict[str, Any]) -> str:
        return summary_line(counts)


def _digest(path: Path) -> str:
    """A benchmark's content hash (a folder: its files'), so an edited benchmark reruns."""
    from curation.runs import sha256_file

    if path.is_dir():
        return ",".join(sha256_file(p) for p in sorted(path.rglob("*")) if p.is_file())
    return sha256_file(path)
