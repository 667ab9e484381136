"""Face clustering: who appears in a media set, grouped by person, without labels.

1. A k-NN graph of the faces by cosine similarity (FAISS, exact inner product on unit vectors),
   keeping the edges at or above ``threshold``.
2. Its connected components (SciPy); each component of two or more faces is clustered by
   average-linkage agglomeration restricted to the graph's edges (scikit-learn's
   ``AgglomerativeClustering`` with ``connectivity``), cut at distance ``1 - threshold``, which
   splits the chains a single-linkage component would make.
3. No cluster keeps two faces of one photo (or one video frame): the face nearest the cluster's
   mean stays and the others leave, each for the best cluster it can join (mean similarity at or
   above the threshold, no face of its photo there) or a cluster of its own.

The result depends only on the input (exact search, deterministic linkage, fixed tie order),
so the same faces give the same clusters.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_THRESHOLD = 0.50  # cosine similarity (SFace); tuned on CFP frontal, docs/victim.md
DEFAULT_NEIGHBOURS = 10


@dataclass(frozen=True)
class ClusterSettings:
    threshold: float = DEFAULT_THRESHOLD
    neighbours: int = DEFAULT_NEIGHBOURS

    def __post_init__(self) -> None:
        if not -1.0 < self.threshold < 1.0:
            raise ValueError(
                f"cluster threshold must be a cosine similarity in (-1, 1): {self.threshold}"
            )
        if self.neighbours < 1:
            raise ValueError("neighbours must be at least 1")


def knn_graph(vectors: np.ndarray, neighbours: int, threshold: float) -> Any:
    """The symmetric sparse graph (SciPy CSR) of k-NN edges with similarity >= threshold."""
    import faiss
    from scipy import sparse

    n = len(vectors)
    k = min(neighbours + 1, n)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    sims, ids = index.search(vectors, k)
    rows = np.repeat(np.arange(n), k)
    cols, vals = ids.ravel(), sims.ravel()
    keep = (cols >= 0) & (cols != rows) & (vals >= threshold)
    graph = sparse.coo_matrix(
        (np.ones(int(keep.sum()), np.float32), (rows[keep], cols[keep])), shape=(n, n)
    ).tocsr()
    return ((graph + graph.T) > 0).astype(np.float32)


def cluster_vectors(
    vectors: np.ndarray, photos: np.ndarray, settings: ClusterSettings | None = None
) -> np.ndarray:
    """A cluster label (0..m-1, largest cluster first) for each unit vector; ``photos`` names
    the photo (or frame) of each face: faces sharing one never share a label."""
    from scipy.sparse.csgraph import connected_components
    from sklearn.cluster import AgglomerativeClustering

    settings = settings or ClusterSettings()
    x = np.ascontiguousarray(vectors, np.float32)
    n = len(x)
    if n == 0:
        return np.zeros(0, np.int64)
    graph = knn_graph(x, settings.neighbours, settings.threshold)
    _, components = connected_components(graph, directed=False)
    labels = np.full(n, -1, np.int64)
    next_label = 0
    for comp in _groups(components):
        if len(comp) == 1:
            labels[comp[0]] = next_label
            next_label += 1
            continue
        sub = graph[comp][:, comp]
        model = AgglomerativeClustering(
            n_clusters=None,
            metric="cosine",
            linkage="average",
            connectivity=sub,
            distance_threshold=1.0 - settings.threshold,
        )
        local = model.fit_predict(x[comp])
        labels[comp] = local + next_label
        next_label += int(local.max()) + 1
    labels = separate_same_photo(x, labels, np.asarray(photos), settings.threshold)
    return relabel_by_size(labels)


def _groups(labels: np.ndarray) -> list[np.ndarray]:
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    return [np.sort(g) for g in np.split(order, bounds)]


def separate_same_photo(
    x: np.ndarray, labels: np.ndarray, photos: np.ndarray, threshold: float
) -> np.ndarray:
    """Move faces out of clusters that hold another face of their photo (see module doc)."""
    labels = labels.copy()
    members: dict[int, list[int]] = defaultdict(list)
    for i, lab in enumerate(labels):
        members[int(lab)].append(i)
    evicted: list[int] = []
    for lab, idx in members.items():
        by_photo: dict[object, list[int]] = defaultdict(list)
        for i in idx:
            by_photo[photos[i]].append(i)
        if all(len(v) == 1 for v in by_photo.values()):
            continue
        centre = x[idx].mean(axis=0)
        for faces in by_photo.values():
            if len(faces) > 1:
                ranked = sorted(faces, key=lambda i: (-float(x[i] @ centre), i))
                evicted.extend(ranked[1:])
                for i in ranked[1:]:
                    members[lab].remove(i)
    next_label = int(labels.max()) + 1 if len(labels) else 0
    for i in sorted(evicted):
        best, best_sim = None, threshold
        for lab, idx in members.items():
            if not idx or any(photos[j] == photos[i] for j in idx):
                continue
            sim = float(x[idx].mean(axis=0) @ x[i])
            if sim >= best_sim:
                best, best_sim = lab, sim
        if best is None:
            best = next_label
            next_label += 1
        labels[i] = best
        members[best].append(i)
    return labels


def relabel_by_size(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 0.. by decreasing size, ties by first member."""
    uniq, first, counts = np.unique(labels, return_index=True, return_counts=True)
    order = sorted(range(len(uniq)), key=lambda j: (-counts[j], first[j]))
    mapping = {int(uniq[j]): new for new, j in enumerate(order)}
    return np.array([mapping[int(v)] for v in labels], np.int64)


def bcubed(labels: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    """BCubed precision, recall and F-measure of ``labels`` against ``truth`` (per item)."""
    labels, truth = np.asarray(labels), np.asarray(truth)
    n = len(labels)
    if n == 0:
        return 1.0, 1.0, 1.0
    pair: defaultdict[tuple[Any, Any], int] = defaultdict(int)
    for a, b in zip(labels.tolist(), truth.tolist(), strict=True):
        pair[(a, b)] += 1
    size_l: defaultdict[Any, int] = defaultdict(int)
    size_t: defaultdict[Any, int] = defaultdict(int)
    for (a, b), c in pair.items():
        size_l[a] += c
        size_t[b] += c
    precision = sum(c * c / size_l[a] for (a, _), c in pair.items()) / n
    recall = sum(c * c / size_t[b] for (_, b), c in pair.items()) / n
    f = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f
