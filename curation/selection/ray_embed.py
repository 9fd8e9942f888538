"""`selection.engine: ray`: embed a Parquet input on a Ray cluster, into the embeddings cache.

Ray Data reads the input in blocks, actors (one model each, one CPU each) embed the texts
not in the cache yet with the configured backend, and the driver streams their vectors into
`embeddings.parquet`: the same rows (`id`, `key`, `model`, `backend`, `embedding`) the local
path writes, so the selection afterwards finds every text cached. The Deita walk itself stays
exact on one machine. `RAY_ADDRESS` names a cluster; without it Ray starts locally.
On a cluster every node needs this package and the model installed, as for any Ray job.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from curation.errors import CurationError
from curation.runs import write_atomic
from curation.selection import embeddings
from curation.selection.table import ID_COLUMN

if TYPE_CHECKING:
    from rich.console import Console

TEXT = "text"
BATCHES_PER_BLOCK = 4  # encoder batches per Ray block


@dataclass
class RayEmbedding:
    """What a Ray embedding run did: texts embedded, rows already cached, actors used."""

    computed: int
    cached: int
    workers: int
    seconds: float

    def line(self) -> str:
        rate = self.computed / self.seconds if self.seconds else 0.0
        return (
            f"ray: embedded {self.computed:,} texts on {self.workers} workers in "
            f"{self.seconds:.1f} s ({rate:,.0f} texts/s), {self.cached:,} from the cache"
        )


class Embedder:
    """A Ray Data actor: loads its model once, then embeds batch after batch."""

    def __init__(self, model: str, backend: str, onnx: Any, batch_size: int) -> None:
        self.model, self.backend, self.batch_size = model, backend, batch_size
        if onnx is not None:
            onnx.threads = 1
            self.encode = onnx.encode
        else:
            import torch

            torch.set_num_threads(1)
            encoder = embeddings.load_model(model)
            self.encode = lambda texts, batch_size: encoder.encode(
                texts, batch_size=batch_size, convert_to_numpy=True
            )

    def __call__(self, batch: pa.Table) -> pa.Table:
        texts = batch.column(TEXT).to_pylist()
        vectors = self.encode(texts, batch_size=self.batch_size)
        keys = [embeddings.text_key(self.model, text, self.backend) for text in texts]
        return embeddings.cache_rows(
            batch.column(ID_COLUMN), keys, self.model, self.backend, vectors
        )


def embed_with_ray(
    input: Path,
    text_column: str,
    cache: Path,
    model: str = embeddings.DEFAULT_MODEL,
    backend: str = "torch",
    batch_size: int = 64,
    workers: int | None = None,
    console: Console | None = None,
) -> RayEmbedding:
    """Embed every text of `input` not yet in `cache`, on Ray; rewrite `cache` with them.

    Starts a Ray session unless one is running (and then stops it again).
    """
    import ray

    started = time.perf_counter()
    known = _cached_keys(cache)
    sample = _sample(input, text_column)
    onnx = embeddings.onnx_encoder(model, backend, cache.parent, sample, console)
    own_session = not ray.is_initialized()
    if own_session:
        ray.init(**_init_kwargs(workers))
    try:
        # One CPU stays free for reading the input; each actor holds one.
        workers = workers or max(1, int(ray.cluster_resources().get("CPU", 2)) - 1)
        # Blocks of a few batches (streamed, no shuffle), so every actor gets some.
        rows = _pending(input, text_column, model, backend, known).repartition(
            target_num_rows_per_block=batch_size * BATCHES_PER_BLOCK
        )
        vectors = rows.map_batches(
            Embedder,
            fn_constructor_args=(model, backend, onnx, batch_size),
            batch_format="pyarrow",
            batch_size=batch_size * BATCHES_PER_BLOCK,
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=1,
        )
        computed = _write_cache(cache, _cache_schema(input), bool(known), vectors)
    finally:
        if own_session:
            ray.shutdown()
    return RayEmbedding(computed, len(known), workers, time.perf_counter() - started)


def _init_kwargs(workers: int | None) -> dict[str, Any]:
    """The cluster named by RAY_ADDRESS (ray.init reads it), else a local Ray that fits."""
    if os.environ.get("RAY_ADDRESS"):
        return {"log_to_driver": False}
    cpus = workers + 1 if workers else None
    return {"include_dashboard": False, "log_to_driver": False, "num_cpus": cpus}


def _write_cache(cache: Path, schema: pa.Schema, keep_old: bool, vectors: Any) -> int:
    """The old cache's rows, then the new ones as they arrive; atomic. Returns rows added."""
    added = 0

    def write(tmp: Path) -> None:
        nonlocal added
        with pq.ParquetWriter(tmp, schema) as writer:
            if keep_old:
                for part in pq.ParquetFile(cache, pre_buffer=False).iter_batches():
                    writer.write_table(_conform(pa.Table.from_batches([part]), schema))
            for part in vectors.iter_batches(batch_format="pyarrow", batch_size=None):
                writer.write_table(_conform(part, schema))
                added += part.num_rows

    write_atomic(cache, write)
    return added


def _pending(input: Path, text_column: str, model: str, backend: str, known: set[str]) -> Any:
    """The Ray dataset of (`id`, `text`) rows whose text is not cached (nor null)."""
    import ray

    schema = pq.read_schema(input)
    if text_column not in schema.names:
        raise CurationError(f"{input}: no column {text_column!r}")
    has_id = ID_COLUMN in schema.names
    columns = [ID_COLUMN, text_column] if has_id else [text_column]
    dataset = ray.data.read_parquet(str(input)).select_columns(columns)
    known_ref = ray.put(known) if known else None

    def keep(batch: pa.Table) -> pa.Table:
        texts = batch.column(text_column)
        ids = batch.column(ID_COLUMN) if has_id else pa.nulls(len(batch), pa.int64())
        wanted = known_ref and ray.get(known_ref)
        mask = [
            text is not None
            and not (wanted and embeddings.text_key(model, text, backend) in wanted)
            for text in texts.to_pylist()
        ]
        return pa.table({ID_COLUMN: ids, TEXT: texts}).filter(pa.array(mask, pa.bool_()))

    return dataset.map_batches(keep, batch_format="pyarrow")


def _cache_schema(input: Path) -> pa.Schema:
    """The cache's columns; `id` has the input's type (row numbers are int64)."""
    schema = pq.read_schema(input)
    id_type = schema.field(ID_COLUMN).type if ID_COLUMN in schema.names else pa.int64()
    return pa.schema(
        [
            (ID_COLUMN, id_type),
            ("key", pa.string()),
            ("model", pa.string()),
            ("backend", pa.string()),
            ("embedding", pa.list_(pa.float32())),
        ]
    )


def _conform(part: pa.Table, schema: pa.Schema) -> pa.Table:
    """Rows of an older cache (no `backend`: torch) or of an actor, in the cache's schema."""
    if "backend" not in part.column_names:
        part = part.append_column("backend", pa.array(["torch"] * len(part), pa.string()))
    return part.select(schema.names).cast(schema)


def _cached_keys(cache: Path) -> set[str]:
    if not cache.exists():
        return set()
    try:
        return set(pq.read_table(cache, columns=["key"]).column("key").to_pylist())
    except (pa.ArrowInvalid, KeyError, OSError):
        return set()


def _sample(input: Path, text_column: str) -> list[str]:
    """Texts for the first fidelity check: the start of the input, enough for a sample."""
    file = pq.ParquetFile(input)
    for batch in file.iter_batches(batch_size=4096, columns=[text_column]):
        return [text for text in batch.column(0).to_pylist() if text is not None]
    return []
