"""Topic clusters on real sentence-transformers embeddings recover planted topics."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import adjusted_rand_score

from curation.hygiene.clusters import cluster_labels, default_k, topic_clusters
from curation.selection.embeddings import encode

TOPICS = {
    "cooking": [
        "How long should I bake {} bread in the oven?",
        "Give me a recipe for {} soup with fresh vegetables.",
        "What spices go well with roasted {} chicken?",
        "How do I knead dough for {} pizza at home?",
    ],
    "finance": [
        "How much should I save each month for {} retirement?",
        "Explain how {} mortgage interest rates work.",
        "Is it wise to invest my {} savings in index funds?",
        "How do I build a budget for {} household expenses?",
    ],
    "astronomy": [
        "Why do {} planets orbit the sun in ellipses?",
        "How far away is the {} nearest star from Earth?",
        "What causes a {} solar eclipse to happen?",
        "How are {} black holes formed from dying stars?",
    ],
}
FILL = ["", "simple", "quick", "typical", "big", "small", "modern", "classic", "cheap", "old"]


def planted() -> tuple[list[str], list[str]]:
    texts, topics = [], []
    for topic, templates in TOPICS.items():
        for template in templates:
            for word in FILL:
                texts.append(" ".join(template.format(word).split()))
                topics.append(topic)
    return texts, topics


def test_clusters_recover_planted_topics_with_telling_labels() -> None:
    texts, topics = planted()
    result = topic_clusters(encode(texts), texts, k=3)
    assert adjusted_rand_score(topics, result.cluster) > 0.9
    vocab = {topic: set(" ".join(t).lower().split()) for topic, t in TOPICS.items()}
    for topic in TOPICS:
        members = result.cluster[np.array(topics) == topic]
        words = set(result.labels[np.bincount(members).argmax()].split(" · "))
        others = set().union(*(v for name, v in vocab.items() if name != topic))
        assert len(words) == 3 and words <= vocab[topic] - others, (topic, words)


def test_labels_skip_words_every_cluster_uses() -> None:
    texts = ["please explain apples", "please explain pears", "please explain rockets"] * 3
    labels = cluster_labels(texts, np.array([0, 0, 1] * 3), 2)
    assert set(labels[0].split(" · ")[:2]) == {"apples", "pears"}
    assert labels[1].split(" · ")[0] == "rockets"


def test_small_inputs() -> None:
    assert default_k(10) == 2 and default_k(100_000) == 30
    one = topic_clusters(np.ones((1, 4)), ["a lonely instruction"])
    assert one.cluster.tolist() == [0] and set(one.labels[0].split(" · ")) == {
        "lonely",
        "instruction",
    }
    assert topic_clusters(np.zeros((0, 4)), []).labels == []
