"""The Diversity page's data: the embedding map and the topic of every row.

Apart from `dashboards.data` because it alone reads the embeddings matrix; cached the same
way (keyed by the files' stamps, bounded by the TTL, cleared by Refresh).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import streamlit as st

from dashboards import data


@st.cache_data(ttl=data.TTL_S, show_spinner=False, max_entries=8)
def _embedding_map(
    run: str, stamps: tuple[data.Stamp | None, ...], max_points: int
) -> tuple[pd.DataFrame, int]:
    """A random sample of at most `max_points` embeddings projected on 2 PCA axes.

    Returns the points (`id`, `x`, `y`, `status`, `source`, `deita_score`) and how many
    embeddings there are in all. The PCA is fitted on the sample itself.
    """
    from sklearn.decomposition import PCA

    path = Path(run)
    ids, vectors, total = _read_embeddings(path, max_points)
    points = pd.DataFrame({"id": ids})
    if len(vectors) >= 2:
        # covariance_eigh: a d x d eigenproblem, fast for many rows of few hundred dims
        xy = PCA(n_components=2, svd_solver="covariance_eigh").fit_transform(vectors)
    else:
        xy = np.zeros((len(vectors), 2))
    points["x"], points["y"] = xy[:, 0], xy[:, 1]
    points["status"] = status_of(path, points["id"])
    attrs = data.attributes(path)
    if attrs is not None:
        points = points.merge(attrs.drop_duplicates("id"), on="id", how="left")
    return points, total


def _read_embeddings(path: Path, max_points: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    """(ids, float32 matrix, rows in all) of `embeddings.parquet`, a random sample if asked."""
    found = pq.read_table(
        path / "embeddings.parquet", columns=["id", "embedding"], memory_map=True, pre_buffer=False
    )
    total = found.num_rows
    if max_points is not None and total > max_points:
        take = np.sort(np.random.default_rng(0).choice(total, size=max_points, replace=False))
        found = found.take(pa.array(take))
    column = found["embedding"].combine_chunks()
    flat = pc.list_flatten(column).to_numpy(zero_copy_only=False)
    vectors = flat.astype(np.float32).reshape(len(column), -1)
    return found["id"].to_numpy(zero_copy_only=False), vectors, total


@st.cache_data(ttl=data.TTL_S, show_spinner=False, max_entries=4)
def _topics(run: str, stamps: tuple[data.Stamp | None, ...], k: int | None) -> pd.DataFrame:
    """The topic of every embedded row (`id`, `topic`): k-means on all the embeddings,
    labelled by each cluster's most characteristic words (`curation.hygiene.clusters`)."""
    from curation.hygiene.clusters import topic_clusters

    path = Path(run)
    ids, vectors, _ = _read_embeddings(path, None)
    text = data.texts(path).reindex(ids).fillna("").tolist()
    found = topic_clusters(vectors, text, k)
    labels = [f"{i + 1}. {label}" for i, label in enumerate(found.labels)]
    return pd.DataFrame({"id": ids, "topic": [labels[c] for c in found.cluster]})


def topics(run: Path, k: int | None) -> pd.DataFrame | None:
    names = ("embeddings.parquet", "preferences.parquet")
    stamps = tuple(data.stamp(run / name) for name in names)
    if stamps[0] is None:
        return None
    return _topics(str(run), stamps, k)


def embedding_map(run: Path, max_points: int) -> tuple[pd.DataFrame, int] | None:
    names = ("embeddings.parquet", "selected.parquet", "selection_rejected.parquet")
    stamps = tuple(data.stamp(run / name) for name in names)
    if stamps[0] is None:
        return None
    return _embedding_map(str(run), stamps, max_points)


def status_of(run: Path, ids: pd.Series) -> np.ndarray:
    """`kept`, `rejected` or `not selected` for each row id, from the selection files."""
    status = np.full(len(ids), "not selected", dtype=object)
    rejected = data.table(run, "selection_rejected.parquet")
    if rejected is not None and "id" in rejected:
        status[ids.isin(rejected["id"]).to_numpy()] = "rejected"
    kept = data.table(run, "selected.parquet")
    if kept is not None and "id" in kept:
        status[ids.isin(kept["id"]).to_numpy()] = "kept"
    return status
