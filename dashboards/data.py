"""The dashboard's data layer: run-directory files, read once and cached.

Every read is keyed by the file's path, size and modification time, so a stage that
rewrites a file shows on the next rerun; the TTL (`dashboard.cache_ttl_s`) bounds how long
anything is held, and the sidebar's Refresh button clears everything. Raw Parquet tables
are cached as shared resources (one copy per server, never copied per rerun: callers must
not modify them); small derived results (the embedding map, recomputed agreement) are
cached as data. Optional columns may be missing: loaders return the columns that exist.
"""

from __future__ import annotations

import importlib
import json
import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import streamlit as st

from curation.agreement.results import Agreement
from curation.config import Config, DashboardConfig, load_config
from curation.errors import CurationError
from curation.run_files import AGREEMENT, EXPORTS, RUN_FILES

Stamp = tuple[int, int]  # (size, mtime_ns): changes whenever a stage rewrites the file

PREFERENCE_SCORES = (
    "complexity",
    "quality",
    "deita_score",
    "evol_score",
    "margin",
    "chosen_rating",
    "rejected_rating",
    "judge_uncertainty",
)
SCORED = ("id", "source", "tie", *PREFERENCE_SCORES)
LIGHT_COLUMNS: dict[str, tuple[str, ...]] = {  # what the pages read; long texts stay on disk
    "instructions.parquet": ("id", "source"),
    "preferences.parquet": SCORED,
    "selected.parquet": (*SCORED, "selection_rank", "nn_similarity"),
    "selection_rejected.parquet": ("id", "reason", "similarity", "blocked_by"),
}


def _ttl() -> int:
    try:
        return load_config().dashboard.cache_ttl_s
    except CurationError:
        return DashboardConfig().cache_ttl_s


TTL_S = _ttl()


def _warm_up() -> None:
    """Import what later pages need (PCA: scikit-learn; live progress: the Argilla SDK),
    each 1-2 s on a shared CPU, in the background when the app first loads."""
    for module in ("sklearn.decomposition", "argilla"):
        importlib.import_module(module)


threading.Thread(target=_warm_up, daemon=True, name="dashboard-warm-up").start()


# --- config and runs ---------------------------------------------------------------------


@st.cache_resource(ttl=TTL_S, show_spinner=False)
def settings() -> Config:
    """The effective config (file + environment), as `curate dashboard` passed it."""
    return load_config()


def list_runs(root: Path) -> list[Path]:
    """Run directories under the runs root, newest first."""
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return sorted(runs, key=lambda p: p.stat().st_mtime, reverse=True)


def resolve_run(value: str, root: Path) -> Path:
    """A run given as a path or as a run id under the runs root."""
    path = Path(value).expanduser()
    if path.is_absolute() or path.exists() or "/" in value:
        return path.resolve()
    return (root / value).resolve()


def stamp(path: Path) -> Stamp | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_size, info.st_mtime_ns)


def run_stamp(run: Path) -> tuple[Stamp | None, ...]:
    """The stamps of every run file and folder: changes when any stage writes anything."""
    names = [name for name in RUN_FILES if "." in name]
    folders = [run / AGREEMENT, run / EXPORTS]
    listed = [p for folder in folders if folder.is_dir() for p in sorted(folder.rglob("*"))]
    return tuple(stamp(run / name) for name in names) + tuple(stamp(p) for p in listed)


@st.cache_resource(ttl=TTL_S, show_spinner=False, max_entries=512)
def _memo(key: tuple, _build: Callable[[], Any]) -> Any:
    return _build()


def memo(run: Path, *key: Hashable, build: Callable[[], Any]) -> Any:
    """`build()` once per run state and `key`: charts and tables that cost to compute.

    `key` must name everything `build` depends on besides the run files (the selection,
    the column); the result is shared, so nobody may modify it.
    """
    return _memo((str(run), run_stamp(run), *key), build)


# --- raw files ----------------------------------------------------------------------------


class UnreadableFile(CurationError):
    """A run file exists but cannot be read (corrupt, half-copied, wrong format)."""


@st.cache_resource(ttl=TTL_S, show_spinner=False, max_entries=64)
def _parquet(path: str, file_stamp: Stamp, columns: tuple[str, ...] | None) -> pd.DataFrame:
    try:
        names = pq.read_schema(path).names
        wanted = None if columns is None else [c for c in columns if c in names]
        return pq.read_table(path, columns=wanted, pre_buffer=False).to_pandas()
    except (pa.ArrowException, OSError) as error:
        raise UnreadableFile(f"{path}: cannot read it as Parquet ({error})") from None


def table(run: Path, name: str, columns: Sequence[str] | None = None) -> pd.DataFrame | None:
    """A Parquet file of the run, or None when it is missing.

    Without `columns`, the file's `LIGHT_COLUMNS` (those that exist), so that every page
    shares one cached copy; the review files are small and come whole. The frame is
    shared between sessions: filter it into a new frame, never modify it.
    """
    path = run / name
    file_stamp = stamp(path)
    if file_stamp is None:
        return None
    wanted = columns if columns is not None else LIGHT_COLUMNS.get(name)
    return _parquet(str(path), file_stamp, tuple(wanted) if wanted is not None else None)


@st.cache_data(ttl=TTL_S, show_spinner=False, max_entries=64)
def _json(path: str, file_stamp: Stamp) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise UnreadableFile(f"{path}: cannot read it as JSON ({error})") from None


def read_json(path: Path) -> Any | None:
    file_stamp = stamp(path)
    return None if file_stamp is None else _json(str(path), file_stamp)


def manifest(run: Path) -> dict[str, Any] | None:
    return read_json(run / "manifest.json")


def agreements(run: Path) -> dict[str, dict[str, Any]]:
    """The agreement JSON of each dataset: `agreement/<dataset>.json` (or `agreement.json`)."""
    found: dict[str, dict[str, Any]] = {}
    single = read_json(run / "agreement.json")
    if isinstance(single, dict) and "questions" in single:
        found[str(single.get("dataset", "dataset"))] = single
    folder = run / "agreement"
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            data = read_json(path)
            if isinstance(data, dict) and "questions" in data:
                found[str(data.get("dataset") or path.stem)] = data
    return found


@dataclass(frozen=True)
class Export:
    """One exported dataset folder, `exports/<dataset>-<format>/`."""

    dataset: str
    format: str
    path: Path
    rows: int
    files: int
    has_card: bool


def exports(run: Path) -> list[Export]:
    folder = run / "exports"
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(p for p in folder.iterdir() if p.is_dir()):
        dataset, _, fmt = path.name.rpartition("-")
        files = sorted(path.rglob("*.parquet"))
        rows = 0
        for file in files:
            try:
                rows += pq.ParquetFile(file).metadata.num_rows
            except (pa.ArrowException, OSError):
                continue
        found.append(
            Export(dataset or path.name, fmt, path, rows, len(files), (path / "README.md").exists())
        )
    return found


# --- what the pages share ------------------------------------------------------------------


def rating_columns(run: Path, name: str) -> list[str]:
    """UltraFeedback rating list columns: `ratings` (the judged aspect), `ratings_<aspect>`."""
    path = run / name
    if stamp(path) is None:
        return []
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as error:
        raise UnreadableFile(f"{path}: cannot read it as Parquet ({error})") from None
    return [
        field.name
        for field in schema
        if (field.name == "ratings" or field.name.startswith("ratings_"))
        and pa.types.is_list(field.type)
    ]


def aspect_name(run: Path, name: str, column: str) -> str:
    """The UltraFeedback aspect of a ratings column: `ratings_<aspect>`, or for `ratings` the
    `aspect` in the rows' `judge_params` (what `curate generate` judged), else "overall"."""
    if column != "ratings":
        return column.removeprefix("ratings_")

    def build() -> str:
        file = pq.ParquetFile(run / name)
        if "judge_params" not in file.schema_arrow.names:
            return "overall"
        for batch in file.iter_batches(batch_size=64, columns=["judge_params"]):
            for text in batch.column(0).to_pylist():
                try:
                    aspect = json.loads(text).get("aspect") if text else None
                except (ValueError, AttributeError):
                    aspect = None
                if aspect:
                    return str(aspect)
            break
        return "overall"

    return memo(run, "aspect", name, build=build)


@st.cache_resource(ttl=TTL_S, show_spinner=False, max_entries=16)
def _ratings_long(path: str, file_stamp: Stamp, column: str) -> pd.DataFrame:
    """One row per (pair, generation) rating: `id`, `source`, `deita_score`, `rating`."""
    names = pq.read_schema(path).names
    columns = [c for c in ("id", "source", "deita_score", column) if c in names]
    data = pq.read_table(path, columns=columns)
    ratings = data[column].combine_chunks()
    parents = pc.list_parent_indices(ratings).to_numpy()
    values = pc.list_flatten(ratings).to_numpy(zero_copy_only=False).astype(float)
    frame = pd.DataFrame({"rating": values})
    for name in columns:
        if name != column:
            frame[name] = data[name].to_numpy(zero_copy_only=False)[parents]
    return frame.dropna(subset=["rating"])


def ratings_long(run: Path, name: str, column: str) -> pd.DataFrame | None:
    """Every rating of a list column of `name`, one row each (flattened in Arrow)."""
    path = run / name
    file_stamp = stamp(path)
    return None if file_stamp is None else _ratings_long(str(path), file_stamp, column)


def attributes(run: Path) -> pd.DataFrame | None:
    """`source` and `deita_score` by row id, for filtering tables that lack them."""
    for name in ("preferences.parquet", "selected.parquet", "instructions.parquet"):
        frame = table(run, name)
        if frame is not None and "id" in frame:
            return frame
    return None


def texts(run: Path) -> pd.Series:
    """The instruction text by row id (for previews and record links)."""

    def build() -> pd.Series:
        for name in ("preferences.parquet", "selected.parquet", "instructions.parquet"):
            frame = table(run, name, ("id", "instruction"))
            if frame is not None and {"id", "instruction"} <= set(frame.columns):
                return pd.Series(frame["instruction"].to_numpy(), index=frame["id"].to_numpy())
        return pd.Series(dtype=object)

    return memo(run, "texts", build=build)


@dataclass(frozen=True)
class Selection:
    """What the sidebar selected: run, dataset (None: all) and row filters."""

    run: Path
    dataset: str | None = None
    sources: tuple[str, ...] = ()
    score_range: tuple[float, float] | None = None

    @property
    def filtered(self) -> bool:
        """True when a source or score filter narrows the rows."""
        return bool(self.sources) or self.score_range is not None

    def rows(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows that pass the source and score filters (columns it lacks don't filter)."""
        mask = np.ones(len(frame), dtype=bool)
        if self.sources and "source" in frame:
            mask &= frame["source"].isin(self.sources).to_numpy()
        if self.score_range is not None and "deita_score" in frame:
            low, high = self.score_range
            mask &= frame["deita_score"].between(low, high).to_numpy()
        return frame if mask.all() else frame[mask]

    def by_id(self, frame: pd.DataFrame, column: str = "id") -> pd.DataFrame:
        """Filter a table without source/score columns through the row attributes."""
        if not self.filtered or column not in frame:
            return frame
        attrs = attributes(self.run)
        if attrs is None:
            return frame
        return frame[frame[column].isin(self.rows(attrs)["id"])]

    def in_dataset(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.dataset is None or "dataset" not in frame:
            return frame
        return frame[frame["dataset"] == self.dataset]

    def review_records(self) -> pd.DataFrame | None:
        """Pushed records of the selected dataset(s) that pass the filters."""
        records = table(self.run, "review_records.parquet")
        if records is None:
            return None
        records = self.in_dataset(records)
        if "source" in records or "deita_score" in records:
            return self.rows(records)
        return self.by_id(records, "record_id")

    def feedback(self) -> pd.DataFrame | None:
        """Responses of the selected dataset(s) on records that pass the filters."""
        responses = table(self.run, "feedback.parquet")
        if responses is None:
            return None
        responses = self.in_dataset(responses)
        if not self.filtered:
            return responses
        records = self.review_records()
        if records is not None and {"dataset", "record_id"} <= set(records.columns):
            keys = pd.MultiIndex.from_frame(records[["dataset", "record_id"]])
            mine = pd.MultiIndex.from_frame(responses[["dataset", "record_id"]])
            return responses[mine.isin(keys)]
        return self.by_id(responses, "record_id")


def datasets(run: Path) -> list[str]:
    """Every Argilla dataset the run knows of (review files, agreement, exports)."""

    def build() -> list[str]:
        names: set[str] = set()
        for name in ("review_records.parquet", "feedback.parquet"):
            frame = table(run, name)
            if frame is not None and "dataset" in frame:
                names.update(frame["dataset"].dropna().astype(str).unique())
        names.update(agreements(run))
        names.update(export.dataset for export in exports(run))
        return sorted(names)

    return memo(run, "datasets", build=build)


def sources(run: Path) -> list[str]:
    def build() -> list[str]:
        found: set[str] = set()
        for name in ("preferences.parquet", "instructions.parquet", "review_records.parquet"):
            frame = table(run, name)
            if frame is not None and "source" in frame:
                found.update(frame["source"].dropna().astype(str).unique())
        return sorted(found)

    return memo(run, "sources", build=build)


def score_bounds(run: Path) -> tuple[float, float] | None:
    """The range of Deita scores in the run, for the score filter."""

    def build() -> tuple[float, float] | None:
        for name in ("preferences.parquet", "selected.parquet", "review_records.parquet"):
            frame = table(run, name)
            if frame is not None and "deita_score" in frame:
                scores = pd.to_numeric(frame["deita_score"], errors="coerce").dropna()
                if len(scores):
                    return float(scores.min()), float(scores.max())
        return None

    return memo(run, "score_bounds", build=build)


# --- agreement recomputed on filtered responses -----------------------------------------------


@st.cache_data(ttl=TTL_S, show_spinner=False, max_entries=16)
def _agreement(
    run: str,
    feedback_stamp: Stamp,
    dataset: str,
    selection: Selection,
    resamples: int,
) -> Agreement:
    from curation.agreement import compute_agreement

    responses = selection.feedback()
    assert responses is not None
    responses = responses[responses["dataset"] == dataset]
    responses = responses[responses["status"].isin(("submitted", "draft", "discarded"))]
    return compute_agreement(responses, dataset, resamples=resamples)


def agreement(selection: Selection, dataset: str, resamples: int) -> Agreement | None:
    """Agreement of one dataset over the filtered responses (`curation.agreement`)."""
    feedback_stamp = stamp(selection.run / "feedback.parquet")
    if feedback_stamp is None:
        return None
    return _agreement(str(selection.run), feedback_stamp, dataset, selection, resamples)
