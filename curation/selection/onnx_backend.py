"""ONNX Runtime embedding backends: the sentence-transformers vectors, faster on a CPU.

`onnx` exports the installed sentence-transformers model (transformer, mean pooling and
normalisation as one graph) with `torch.onnx`, and lets onnxruntime's transformer optimiser
fuse layer norm and GELU. `onnx-int8` also quantises the weights of its MatMuls to int8, per
output channel (activations are quantised per batch at run time), all but the FFN outputs.
Texts go through the model's own tokenizer with its `max_seq_length`, so the vectors are the ones
`SentenceTransformer.encode` gives, up to rounding (and quantisation for int8).

The export lives in a folder beside the embeddings cache and is reused; the first time a
backend is used its vectors are compared with the torch ones on a sample of the texts (mean
and minimum cosine), printed, and recorded in that folder's `export.json`.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from curation.errors import CurationError

if TYPE_CHECKING:
    from rich.console import Console
    from sentence_transformers import SentenceTransformer

BACKENDS = ("torch", "onnx", "onnx-int8")
MODEL_FILE = "model.onnx"
EXPORT_FILE = "export.json"
FIDELITY_SAMPLE = 256  # texts compared with torch the first time a backend is used
EXPORT_VERSION = 2  # bump when the export recipe changes, so old exports are redone


@dataclass
class Fidelity:
    """How close a backend's vectors are to torch's on a sample: cosines, one per text."""

    mean_cosine: float
    min_cosine: float
    sample: int

    def line(self, backend: str) -> str:
        return (
            f"{backend} fidelity against torch on {self.sample} texts: mean cosine "
            f"{self.mean_cosine:.5f}, minimum {self.min_cosine:.5f}"
        )


def check_backend(backend: str) -> None:
    """An unknown backend is a one-line error naming the choices."""
    if backend not in BACKENDS:
        raise CurationError(
            f"unknown embedding backend {backend!r}: choose one of {', '.join(BACKENDS)}"
        )


def export_folder(root: Path, model_key: str, backend: str) -> Path:
    """Where one model's export for one backend lives under `root`."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model_key).strip("_")[-80:]
    return root / f"{safe}-{backend}"


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two matrices of the same shape."""
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.einsum("ij,ij->i", a, b) / np.maximum(norms, 1e-12)


def fidelity_sample(texts: Sequence[str], size: int = FIDELITY_SAMPLE) -> list[str]:
    """Up to `size` texts spread evenly over the input (deterministic)."""
    if len(texts) <= size:
        return list(texts)
    step = len(texts) / size
    return [texts[int(i * step)] for i in range(size)]


class OnnxEncoder:
    """One exported model in an onnxruntime session; `encode` streams batch by batch.

    Uses as many threads as torch would (`threads` to choose). Picklable (the session is
    rebuilt where it lands), so a Ray actor can receive one.
    """

    def __init__(self, folder: Path, threads: int | None = None) -> None:
        from transformers import AutoTokenizer

        meta = read_export(folder)
        if meta is None:
            raise CurationError(f"no usable ONNX export in {folder}")
        self.backend = meta["backend"]
        self.max_length = int(meta["max_seq_length"])
        self.dimension = int(meta["dimension"])
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        self.model_bytes = (folder / MODEL_FILE).read_bytes()
        self.threads = threads
        self._session: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_session": None}

    def session(self) -> Any:
        if self._session is None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads or _torch_threads()
            options.inter_op_num_threads = 1
            # Idle threads sleep rather than spin: the CPU is often shared.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            self._session = ort.InferenceSession(
                self.model_bytes, options, providers=["CPUExecutionProvider"]
            )
        return self._session

    def encode_batch(self, texts: Sequence[str]) -> np.ndarray:
        """One batch, padded to its longest text (the caller sorts by length)."""
        features = self.tokenizer(
            list(texts),
            padding=True,
            truncation="longest_first",
            max_length=self.max_length,
            return_tensors="np",
        )
        session = self.session()
        names = {node.name for node in session.get_inputs()}
        feed = {name: features[name].astype(np.int64) for name in names}
        return session.run(None, feed)[0].astype(np.float32, copy=False)

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Vectors of `texts` in their order; batches of similar length pad little."""
        result = np.empty((len(texts), self.dimension), dtype=np.float32)
        for rows, vectors in self.iter_encode(texts, batch_size):
            result[rows] = vectors
        return result

    def iter_encode(
        self, texts: Sequence[str], batch_size: int = 64
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(row numbers, vectors) batch by batch, longest texts first."""
        order = np.argsort([-len(text) for text in texts], kind="stable")
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            yield rows, self.encode_batch([texts[i] for i in rows])


def _torch_threads() -> int:
    """As many threads as torch would use (its default, OMP_NUM_THREADS, set_num_threads)."""
    import torch

    return torch.get_num_threads()


def read_export(folder: Path) -> dict[str, Any] | None:
    """The export's `export.json` if the folder holds a finished, current export."""
    try:
        meta = json.loads((folder / EXPORT_FILE).read_text())
    except (OSError, ValueError):
        return None
    if meta.get("version") != EXPORT_VERSION or not (folder / MODEL_FILE).exists():
        return None
    if meta.get("backend") == "onnx-int8" and meta.get("weights", "u8") != int8_weights():
        return None  # made on a CPU of the other kind: redone for this one
    return meta


@functools.cache
def int8_weights() -> str:
    """`s8` where the CPU has int8 dot-product instructions (VNNI, AMX), else `u8`.

    Measured on 3,000 short texts, one thread: with AVX-512 VNNI, s8 weights ran at 1.74x raw
    `encode` against 1.28x for u8, at the same cosines (mean 0.9965). With AVX2 alone, u8 x s8
    pairs saturate 16-bit sums and s8 was no faster (1.03x against 1.04x, mean 0.9929 against
    0.9936), so u8 there.
    """
    try:
        with open("/proc/cpuinfo") as info:
            flags = next((line for line in info if line.startswith("flags")), "").split()
    except OSError:
        return "u8"
    return "s8" if {"avx512_vnni", "avx_vnni", "amx_int8"}.intersection(flags) else "u8"


def ensure_export(
    encoder: SentenceTransformer,
    model_key: str,
    backend: str,
    folder: Path,
    sample: Sequence[str],
    console: Console | None = None,
) -> dict[str, Any]:
    """Export, optimise (and quantise) once; check fidelity on `sample`; reuse afterwards.

    `onnx-int8` quantises the `onnx` export beside it (made first if missing). Each is built
    in a temporary folder and renamed into place, so an interrupted export leaves nothing
    that looks finished.
    """
    meta = read_export(folder)
    if meta is not None:
        return meta
    folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        if backend == "onnx-int8":
            base = folder.with_name(folder.name.removesuffix("-int8"))
            ensure_export(encoder, model_key, "onnx", base, sample, console)
            _quantise(base / MODEL_FILE, work / MODEL_FILE)
        else:
            _export_optimised(encoder, work)
        encoder.tokenizer.save_pretrained(str(work))
        meta = {
            "version": EXPORT_VERSION,
            "model": model_key,
            "backend": backend,
            "max_seq_length": encoder.max_seq_length,
            "dimension": encoder.get_embedding_dimension(),
        }
        if backend == "onnx-int8":
            meta["weights"] = int8_weights()
        (work / EXPORT_FILE).write_text(json.dumps(meta))
        fidelity = measure_fidelity(encoder, OnnxEncoder(work), sample)
        meta["fidelity"] = asdict(fidelity)
        (work / EXPORT_FILE).write_text(json.dumps(meta, indent=2))
        if console is not None:
            console.print(fidelity.line(backend), highlight=False)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(work, folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return meta


def measure_fidelity(
    encoder: SentenceTransformer, onnx: OnnxEncoder, texts: Sequence[str]
) -> Fidelity:
    """Cosine of each sample text's vector to the torch one."""
    if not texts:
        return Fidelity(mean_cosine=float("nan"), min_cosine=float("nan"), sample=0)
    reference = encoder.encode(list(texts), batch_size=32, convert_to_numpy=True)
    similarity = cosines(onnx.encode(texts, batch_size=32), reference)
    return Fidelity(float(similarity.mean()), float(similarity.min()), len(texts))


def _export_optimised(encoder: SentenceTransformer, work: Path) -> None:
    """`work/model.onnx`: the exported graph after onnxruntime's BERT fusions."""
    raw = work / "raw.onnx"
    _export(encoder, raw)
    _optimise(raw, work / MODEL_FILE, encoder)
    for path in work.iterdir():
        if path.name != MODEL_FILE:
            path.unlink()


def _export(encoder: SentenceTransformer, path: Path) -> None:
    """The whole sentence-transformers pipeline (transformer, pooling, normalise) to ONNX."""
    import torch

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            features = {
                "input_ids": input_ids,
                "attention_mask": attention_mask,
                "token_type_ids": token_type_ids,
            }
            return self.encoder(features)["sentence_embedding"]

    sample = encoder.preprocess(["an example sentence", "another, longer example sentence"])
    args = tuple(sample[name] for name in ("input_ids", "attention_mask", "token_type_ids"))
    axes = {0: "batch", 1: "sequence"}
    # The tracer warns about the model's Python-side shape checks; they hold for all inputs.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Pooled().eval(),
            args,
            str(path),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["sentence_embedding"],
            dynamic_axes={
                "input_ids": axes,
                "attention_mask": axes,
                "token_type_ids": axes,
                "sentence_embedding": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )


def _optimise(source: Path, target: Path, encoder: SentenceTransformer) -> None:
    """onnxruntime's BERT fusions: skip layer norm, bias GELU (attention as transformers 5
    exports it, with IsNaN/Where masking, is not matched and stays unfused)."""
    from onnxruntime.transformers.optimizer import optimize_model

    config = encoder[0].auto_model.config
    model = optimize_model(
        str(source),
        model_type="bert",
        num_heads=config.num_attention_heads,
        hidden_size=config.hidden_size,
    )
    model.save_model_to_file(str(target))


def _quantise(source: Path, target: Path) -> None:
    """int8 MatMul weights, one scale per output channel; activations per batch.

    Weights signed or not as suits the CPU (`int8_weights`), and the FFN output MatMuls left
    in float: their inputs, GELU outputs, have outliers that one scale per batch flattens.
    Measured on the benchmark's texts: mean cosine 0.9966 (minimum 0.992) instead of 0.9934
    (0.980) with them quantised too (s8, 2.44x raw `encode` with VNNI against 1.74x).
    """
    import onnx
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source)).graph
    gelu_outputs = {out for node in graph.node if "Gelu" in node.op_type for out in node.output}
    ffn_out = [
        node.name
        for node in graph.node
        if node.op_type == "MatMul" and gelu_outputs.intersection(node.input)
    ]
    quantize_dynamic(
        str(source),
        str(target),
        per_channel=True,
        weight_type=QuantType.QInt8 if int8_weights() == "s8" else QuantType.QUInt8,
        op_types_to_quantize=["MatMul"],
        nodes_to_exclude=ffn_out,
        # The fused operators (com.microsoft) have no shape inference: their outputs are float.
        extra_options={"DefaultTensorType": TensorProto.FLOAT},
    )
