"""The run directory: one Parquet file per stage plus `manifest.json`.

A stage is skipped when its outputs exist and were made from the same inputs (by
content hash) and the same config; otherwise it runs. Outputs are written atomically
(temporary file, then rename), so a failed or interrupted stage never leaves a
half-written file and never touches the outputs of earlier stages. A stage's scratch
folder (`.work/<stage>/`) survives an interruption so the next run can resume from it.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curation.errors import CurationError, StageSkipped

MANIFEST = "manifest.json"
TOOLS = (
    "curation",
    "distilabel",
    "argilla",
    "datasets",
    "sentence-transformers",
    "transformers",
    "torch",
    "llama-cpp-python",
)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_run_id() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")


def tool_versions() -> dict[str, str]:
    versions = {}
    for name in TOOLS:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


def sha256_file(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` then rename tmp over `path`: readers see old or new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def temp_path(path: Path) -> Path:
    """The hidden file beside `path` that this process writes before renaming it over `path`.

    A writer killed mid-write leaves it behind; `remove_stale_temps` clears those.
    """
    remove_stale_temps(path)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def remove_stale_temps(path: Path) -> None:
    """Delete temps of `path` whose writing process is gone (killed before its rename)."""
    if not path.parent.is_dir():
        return
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.tmp-*"):
        pid = tmp.name.rpartition("-")[2]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def check_writable(path: Path, option: str) -> None:
    """A one-line error now, before any work, if `path` cannot be written as a file."""
    if path.is_dir():
        raise CurationError(f"{option} {path} is a directory; give a file name")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise CurationError(f"{option} {path}: {folder} is a file, not a directory")
    try:  # a real try (access() says yes to root, even on a read-only file system)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise CurationError(
            f"{option} {path}: cannot write in {folder} ({error.strerror})"
        ) from None


def write_error(path: Path, error: OSError) -> CurationError:
    """A failed write (disk full, permissions changed meanwhile) as one line naming the file."""
    return CurationError(f"cannot write {path}: {error.strerror or error}")


def write_parquet(table: pa.Table, path: Path, mode: int | None = None) -> None:
    """Write a Parquet file atomically, optionally with a file mode (0o600 for records)."""

    def write(tmp: Path) -> None:
        pq.write_table(table, tmp)
        if mode is not None:
            os.chmod(tmp, mode)

    write_atomic(path, write)


def write_json(data: Any, path: Path, mode: int | None = None) -> None:
    """Write JSON atomically, optionally with a file mode (0o600 for secrets)."""

    def write(tmp: Path) -> None:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        if mode is not None:
            os.chmod(tmp, mode)

    write_atomic(path, write)


@dataclass
class StageContext:
    """What a stage function gets: where to write, where to keep resume state."""

    run: RunDir
    name: str
    counts: dict[str, Any] = field(default_factory=dict)

    @property
    def work_dir(self) -> Path:
        """Scratch space kept across interruptions (for resuming); removed on success."""
        path = self.run.path / ".work" / self.name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def path(self, name: str) -> Path:
        return self.run.path / name

    def write_parquet(self, name: str, table: pa.Table) -> Path:
        target = self.path(name)
        write_parquet(table, target)
        return target


class RunDir:
    """A run directory `runs/<run-id>/` and its manifest."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def open(cls, run: str | Path | None, runs_dir: Path, create: bool = True) -> RunDir:
        """A run by path or by id under `runs_dir`; a new id when `run` is None."""
        if run is None:
            path = Path(runs_dir) / new_run_id()
        else:
            candidate = Path(run)
            path = (
                candidate
                if (candidate.is_absolute() or candidate.exists() or "/" in str(run))
                else Path(runs_dir) / str(run)
            )
        if not create and not path.is_dir():
            raise CurationError(f"run directory not found: {path}")
        if path.exists() and not path.is_dir():
            raise CurationError(f"run path is a file, not a directory: {path}")
        if create:
            path.mkdir(parents=True, exist_ok=True)
        return cls(path)

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    def file(self, name: str) -> Path:
        return self.path / name

    def manifest(self) -> dict[str, Any]:
        """The manifest as stored (a fresh skeleton for a new run)."""
        try:
            data = json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            return {"run_id": self.id, "created_at": now(), "stages": {}, "files": {}}
        except json.JSONDecodeError as error:
            raise CurationError(f"{self.manifest_path}: corrupt manifest ({error})") from None
        data.setdefault("stages", {})
        data.setdefault("files", {})
        return data

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        """Read-modify-write the manifest under a lock (other processes read it too)."""
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / ".manifest.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self.manifest()
            yield data
            data["updated_at"] = now()
            data["tool_versions"] = tool_versions()
            write_json(data, self.manifest_path)

    def update(self, **fields: Any) -> None:
        """Set top-level manifest fields (for example the config hash)."""
        with self._locked() as data:
            data.update(fields)

    def stage(self, name: str) -> dict[str, Any] | None:
        return self.manifest()["stages"].get(name)

    def digest(self, name: str) -> str:
        """Content hash of a file in the run, cached in the manifest by size and mtime."""
        path = self.file(name)
        if not path.exists():
            raise CurationError(f"{path}: missing input; run the stage that makes it first")
        stat = path.stat()
        key = [stat.st_size, stat.st_mtime_ns]
        cached = self.manifest()["files"].get(name)
        if cached and cached.get("stat") == key:
            return cached["sha256"]
        digest = sha256_file(path)
        with self._locked() as data:
            data["files"][name] = {"stat": key, "sha256": digest}
        return digest

    def fingerprint(self, inputs: Sequence[str], config: Any) -> str:
        payload = {
            "config": config,
            "inputs": {name: self.digest(name) for name in inputs},
        }
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def is_current(self, name: str, fingerprint: str, outputs: Sequence[str]) -> bool:
        """True if the stage finished with this fingerprint and its outputs are unchanged."""
        record = self.stage(name)
        if not record or record.get("status") != "done" or record.get("fingerprint") != fingerprint:
            return False
        recorded = record.get("outputs", {})
        for output in outputs:
            if not self.file(output).exists() or recorded.get(output) != self.digest(output):
                return False
        return True

    def run_stage(
        self,
        name: str,
        work: Callable[[StageContext], None],
        *,
        inputs: Sequence[str] = (),
        outputs: Sequence[str],
        config: Any = None,
        force: bool = False,
    ) -> bool:
        """Run one stage unless its outputs are current. Returns True if it ran.

        `work` writes every name in `outputs` (through `ctx.write_parquet`) and may put
        counts in `ctx.counts`; they land in the manifest with row counts and timings. A
        `StageSkipped` from `work` is recorded as status `skipped` with its reason.
        Stages are declared as `curation.stages.Stage`; `curation.stages.run` calls this.
        """
        fingerprint = self.fingerprint(inputs, config)
        if not force and self.is_current(name, fingerprint, outputs):
            return False
        ctx = StageContext(self, name)
        started = time.monotonic()
        self._record_start(name, fingerprint)
        try:
            work(ctx)
            missing = [output for output in outputs if not self.file(output).exists()]
            if missing:
                raise CurationError(f"stage {name} did not write {', '.join(missing)}")
        except StageSkipped as skipped:
            self._record_end(name, started, ctx, status="skipped", reason=str(skipped))
            raise
        except BaseException as error:
            status = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
            error_line = f"{type(error).__name__}: {error}"[:500]
            self._record_end(name, started, ctx, status=status, error=error_line)
            raise
        self._record_done(name, started, fingerprint, inputs, outputs, ctx)
        shutil.rmtree(self.path / ".work" / name, ignore_errors=True)
        return True

    def _record_start(self, name: str, fingerprint: str) -> None:
        previous = self.stage(name) or {}
        with self._locked() as data:
            data["stages"][name] = {
                "status": "running",
                "started_at": now(),
                "fingerprint": fingerprint,
                "pid": os.getpid(),
                "resumed": previous.get("status") in {"running", "interrupted", "failed"},
            }

    def _record_end(self, name: str, started: float, ctx: StageContext, **fields: Any) -> None:
        """A stage that stopped early: why, when, and what it had counted."""
        with self._locked() as data:
            data["stages"][name].update(
                finished_at=now(),
                duration_s=round(time.monotonic() - started, 3),
                counts=ctx.counts,
                **fields,
            )

    def _record_done(
        self,
        name: str,
        started: float,
        fingerprint: str,
        inputs: Sequence[str],
        outputs: Sequence[str],
        ctx: StageContext,
    ) -> None:
        """A finished stage: its outputs' hashes and row counts, counts, timings."""
        running = self.stage(name) or {}
        record = {
            "status": "done",
            "started_at": running.get("started_at"),
            "finished_at": now(),
            "duration_s": round(time.monotonic() - started, 3),
            "fingerprint": fingerprint,
            "resumed": running.get("resumed", False),
            "inputs": list(inputs),
            "outputs": {output: self.digest(output) for output in outputs},
            "rows": {
                output: pq.ParquetFile(self.file(output)).metadata.num_rows
                for output in outputs
                if output.endswith(".parquet")
            },
            "counts": ctx.counts,
        }
        with self._locked() as data:
            data["stages"][name] = record
