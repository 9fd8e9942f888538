"""Topic clusters of instruction embeddings, each with a short label from its own words.

k-means (scikit-learn's MiniBatchKMeans: seconds at 100,000 rows) on L2-normalised
embeddings, so clusters follow cosine similarity like the selection does. A cluster's
label is its most characteristic words: word counts summed per cluster and weighted by
TF-IDF across clusters (the class-based TF-IDF of BERTopic), so words every cluster uses
("write", "explain") rank low and words of its own topic rank high.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LABEL_WORDS = 3
MAX_CLUSTERS = 30


@dataclass
class Topics:
    """A cluster per row (0..k-1) and a label per cluster."""

    cluster: np.ndarray
    labels: list[str]


def default_k(rows: int) -> int:
    """About one cluster per 50 rows, at least 2 and at most `MAX_CLUSTERS`."""
    return max(2, min(MAX_CLUSTERS, math.ceil(rows / 50)))


def topic_clusters(
    embeddings: np.ndarray, texts: Sequence[str], k: int | None = None, seed: int = 0
) -> Topics:
    """Cluster the rows and label each cluster; fewer rows than clusters: one per row."""
    from sklearn.cluster import MiniBatchKMeans
    from sklearn.preprocessing import normalize

    rows = len(embeddings)
    if rows == 0:
        return Topics(np.zeros(0, dtype=np.int64), [])
    k = min(k or default_k(rows), rows)
    vectors = normalize(np.asarray(embeddings, dtype=np.float32))
    model = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=4096)
    cluster = model.fit_predict(vectors).astype(np.int64)
    return Topics(cluster, cluster_labels(texts, cluster, k))


def cluster_labels(texts: Sequence[str], cluster: np.ndarray, k: int) -> list[str]:
    """`LABEL_WORDS` most characteristic words per cluster, joined by ' · '."""
    from scipy import sparse
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

    vectorizer = CountVectorizer(
        stop_words="english",
        token_pattern=r"(?u)\b[^\W\d_]{3,}\b",  # noqa: S106 (a regex, not a password)
        max_features=50_000,
    )
    try:
        counts = vectorizer.fit_transform([text or "" for text in texts])
    except ValueError:  # no word at all (empty or stop words only)
        return [f"cluster {i}" for i in range(k)]
    member = sparse.csr_matrix(
        (np.ones(len(cluster)), (cluster, np.arange(len(cluster)))), shape=(k, len(cluster))
    )
    weights = TfidfTransformer(sublinear_tf=True).fit_transform(member @ counts).toarray()
    vocabulary = vectorizer.get_feature_names_out()
    labels = []
    for i, row in enumerate(weights):
        top = [vocabulary[j] for j in np.argsort(-row)[:LABEL_WORDS] if row[j] > 0]
        labels.append(" · ".join(top) if top else f"cluster {i}")
    return labels
