"""Match the base model's clusters to the intervention's and test each pair for a size difference.

Three ways to get cluster pairs:

- ``joint``: one clustering of both models' texts; pair ``c`` is cluster ``c`` on each side, and
  the question is whether the two models put different shares of their texts into it.
- ``base_init`` (default): cluster the base texts, then cluster the intervention texts starting
  from the base centroids, so cluster ``c`` keeps its identity on both sides while its centre
  may move to where the intervention puts its texts.
- ``hungarian``: cluster each side on its own and pair clusters one-to-one by the Hungarian
  assignment on centroid distance; a K-nearest-neighbour graph between the two clusterings
  records which clusters are near which, for areas that split or merge.

Per pair: sizes, a two-proportion z-test of the difference in shares, Cohen's h (the
arcsine-transformed difference, positive when the intervention puts more of its texts there),
and the texts nearest the centroid on each side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from difflens.discovery.clustering import Clustering, kmeans
from difflens.errors import ConfigError

MODES = ("joint", "base_init", "hungarian")


@dataclass
class ClusterPair:
    """A base cluster, its intervention counterpart, and how their sizes differ.

    Attributes:
        pair_id: index of the pair.
        base_cluster: cluster id among the base model's clusters.
        intervention_cluster: cluster id among the intervention model's clusters.
        n_base: base texts in the base cluster.
        n_intervention: intervention texts in the intervention cluster.
        share_base: ``n_base`` over all base texts.
        share_intervention: ``n_intervention`` over all intervention texts.
        z: two-proportion z statistic (intervention minus base).
        p_value: two-sided p-value of the z-test (for ranking; not a validation).
        cohens_h: ``2 asin sqrt(share_intervention) - 2 asin sqrt(share_base)``.
        base_representatives: indices (into the base texts) nearest the base centroid.
        intervention_representatives: indices (into the intervention texts) nearest its centroid.
    """

    pair_id: int
    base_cluster: int
    intervention_cluster: int
    n_base: int
    n_intervention: int
    share_base: float
    share_intervention: float
    z: float
    p_value: float
    cohens_h: float
    base_representatives: list[int] = field(default_factory=list)
    intervention_representatives: list[int] = field(default_factory=list)


@dataclass
class Matching:
    """The result of clustering both sides and pairing the clusters.

    Attributes:
        mode: one of ``MODES``.
        base: clustering of the base texts (labels index the base texts).
        intervention: clustering of the intervention texts.
        pairs: cluster pairs, ranked: most different (largest ``|cohens_h|``) first.
        knn_edges: for ``hungarian``: ``(base_cluster, intervention_cluster, distance)`` of
            each cluster's nearest clusters on the other side; empty otherwise.
    """

    mode: str
    base: Clustering
    intervention: Clustering
    pairs: list[ClusterPair]
    knn_edges: list[tuple[int, int, float]] = field(default_factory=list)


def two_proportion_test(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float]:
    """Pooled two-proportion z-test of ``x2/n2 - x1/n1``; returns ``(z, two-sided p)``."""
    from scipy.stats import norm

    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0
    z = (x2 / n2 - x1 / n1) / se
    return z, float(2 * norm.sf(abs(z)))


def cohens_h(p1: float, p2: float) -> float:
    """Cohen's h from ``p1`` to ``p2``: ``2 asin sqrt(p2) - 2 asin sqrt(p1)``."""
    return 2 * math.asin(math.sqrt(p2)) - 2 * math.asin(math.sqrt(p1))


def nearest(embeddings: np.ndarray, members: np.ndarray, centroid: np.ndarray, n: int) -> list[int]:
    """Indices among ``members`` of the ``n`` embeddings closest to ``centroid``."""
    if len(members) == 0:
        return []
    dist = np.linalg.norm(embeddings[members] - centroid, axis=1)
    return [int(i) for i in members[np.argsort(dist, kind="stable")[:n]]]


def cluster_members(labels: np.ndarray, k: int) -> list[np.ndarray]:
    """The indices of each cluster's texts in ascending order (``np.flatnonzero(labels == c)``
    for every ``c``, in one sort instead of ``k`` passes)."""
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(k + 1))
    return [order[bounds[c]: bounds[c + 1]] for c in range(k)]


def representatives(embeddings: np.ndarray, clustering: Clustering, n: int) -> list[list[int]]:
    """Per cluster, the ``n`` texts nearest its centroid (`nearest`)."""
    return [nearest(embeddings, members, clustering.centroids[c], n)
            for c, members in enumerate(cluster_members(clustering.labels, clustering.k))]


def release(embeddings: np.ndarray) -> None:
    """Let the pages of a memory-mapped array leave this process's memory (they are read back
    from the file if used again); nothing for an array in memory."""
    import mmap

    backing = getattr(embeddings, "_mmap", None)
    if isinstance(backing, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
        backing.madvise(mmap.MADV_DONTNEED)


def take_rows(embeddings: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``embeddings[rows]`` as a new array; from a memory-mapped array, read through its file,
    because the kernel maps the pages around every page faulted in (a sample of 2% of the rows
    would bring nearly all of them into memory)."""
    import mmap

    backing, filename = getattr(embeddings, "_mmap", None), getattr(embeddings, "filename", None)
    if not isinstance(backing, mmap.mmap) or not filename or not embeddings.flags.c_contiguous:
        return np.asarray(embeddings[rows])
    mapped_from = embeddings.offset - embeddings.offset % mmap.ALLOCATIONGRANULARITY
    first = embeddings.ctypes.data - np.frombuffer(backing, dtype=np.uint8).ctypes.data + mapped_from
    out = np.empty((len(rows), *embeddings.shape[1:]), dtype=embeddings.dtype)
    with open(filename, "rb", buffering=0) as f:
        for j, row in enumerate(np.asarray(rows).tolist()):
            f.seek(first + row * embeddings.strides[0])
            f.readinto(memoryview(out[j]).cast("B"))
    return out


def knn_graph(base_centroids: np.ndarray, intervention_centroids: np.ndarray,
              k: int) -> list[tuple[int, int, float]]:
    """Edges from each cluster to its ``k`` nearest clusters of the other clustering, both ways."""
    dist = np.linalg.norm(base_centroids[:, None, :] - intervention_centroids[None, :, :], axis=-1)  # (kb, ki)
    edges = set()
    for b in range(dist.shape[0]):
        edges.update((b, int(i)) for i in np.argsort(dist[b], kind="stable")[:k])
    for i in range(dist.shape[1]):
        edges.update((int(b), i) for b in np.argsort(dist[:, i], kind="stable")[:k])
    return [(b, i, float(dist[b, i])) for b, i in sorted(edges)]


def match_clusters(base: np.ndarray, intervention: np.ndarray, n_clusters: int, mode: str = "base_init",
                   seed: int = 0, n_representatives: int = 5, knn: int = 3,
                   init: np.ndarray | None = None) -> Matching:
    """Cluster both models' embeddings and pair the clusters.

    Args:
        base: ``(Na, D)`` embeddings of the base model's texts.
        intervention: ``(Nb, D)`` embeddings of the intervention model's texts.
        n_clusters: clusters per side (``joint``: in total).
        mode: ``joint``, ``base_init`` or ``hungarian``.
        seed: k-means seed.
        n_representatives: texts nearest the centroid kept per side and pair.
        knn: neighbours per cluster in the ``hungarian`` mode's graph.
        init: ``(n_clusters, D)`` starting centroids for ``joint`` and ``base_init`` (incremental
            re-clustering: cluster ids keep their meaning from one clustering to the next).

    Raises:
        ConfigError: unknown mode.
        DataError: more clusters than texts on a side.
    """
    if mode not in MODES:
        raise ConfigError(f"matching mode {mode!r} is not one of {', '.join(MODES)}")
    if mode == "joint":
        joint = kmeans(np.concatenate([base, intervention]), n_clusters, seed, init=init)
        a = Clustering(joint.labels[: len(base)], joint.centroids)
        b = Clustering(joint.labels[len(base):], joint.centroids)
        pairs_ids = [(c, c) for c in range(n_clusters)]
        reps_a = representatives(base, a, n_representatives)
        reps_b = representatives(intervention, b, n_representatives)
    else:
        # one side at a time: its vectors (memory-mapped) may leave memory before the other's come in
        a = kmeans(base, n_clusters, seed, init=init if mode == "base_init" else None)
        reps_a = representatives(base, a, n_representatives)
        release(base)
        b = kmeans(intervention, n_clusters, seed, init=a.centroids if mode == "base_init" else None)
        reps_b = representatives(intervention, b, n_representatives)
        if mode == "base_init":
            pairs_ids = [(c, c) for c in range(n_clusters)]
        else:
            from scipy.optimize import linear_sum_assignment

            cost = np.linalg.norm(a.centroids[:, None, :] - b.centroids[None, :, :], axis=-1)  # (k, k)
            rows, cols = linear_sum_assignment(cost)
            pairs_ids = [(int(r), int(c)) for r, c in zip(rows, cols)]
    size_a = np.bincount(a.labels, minlength=a.k)
    size_b = np.bincount(b.labels, minlength=b.k)
    pairs = []
    for ca, cb in pairs_ids:
        xa, xb = int(size_a[ca]), int(size_b[cb])
        sa, sb = xa / len(base), xb / len(intervention)
        z, p = two_proportion_test(xa, len(base), xb, len(intervention))
        pairs.append(ClusterPair(
            pair_id=0, base_cluster=ca, intervention_cluster=cb, n_base=xa, n_intervention=xb,
            share_base=sa, share_intervention=sb, z=z, p_value=p, cohens_h=cohens_h(sa, sb),
            base_representatives=reps_a[ca], intervention_representatives=reps_b[cb],
        ))
    pairs.sort(key=lambda p: (-abs(p.cohens_h), p.p_value, p.base_cluster))
    for i, pair in enumerate(pairs):
        pair.pair_id = i
    edges = knn_graph(a.centroids, b.centroids, knn) if mode == "hungarian" else []
    return Matching(mode, a, b, pairs, edges)
