"""K-means on text embeddings: exact KMeans for small sets, MiniBatchKMeans for large ones."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from difflens.errors import ConfigError, DataError

# Above this many texts full-batch KMeans (n_init restarts over all points) gets slow on a CPU.
MINIBATCH_ABOVE = 20_000
# Floats in one block of `centroid_distances`' (rows, k, D) differences, where all rows at once
# would be N * k * D (61 GB for two million texts, 20 centroids, width 384). 1 MB of float32
# stays in the CPU's caches: about three times as fast as blocks of 64 MB, measured.
DISTANCE_BLOCK = 2**18


@dataclass
class Clustering:
    """Cluster labels and centroids.

    Attributes:
        labels: ``(N,)`` cluster id of each text.
        centroids: ``(k, D)`` cluster centres.
    """

    labels: np.ndarray
    centroids: np.ndarray

    @property
    def k(self) -> int:
        return len(self.centroids)


def centroid_distances(embeddings: np.ndarray, centroids: np.ndarray, block: int = DISTANCE_BLOCK) -> np.ndarray:
    """``(N, k)`` Euclidean distance of each ``(N, D)`` embedding to each ``(k, D)`` centroid.

    Computed a block of rows at a time, each row exactly as over all rows at once (the norm of
    the difference, not the faster ``|x|^2 - 2 x.c + |c|^2``, whose rounding could change which
    centroid is nearest), so memory stays about ``block`` floats beyond the ``(N, k)`` result.
    """
    n, k = len(embeddings), len(centroids)
    rows = max(1, block // max(k * embeddings.shape[-1], 1))
    out = None
    for lo in range(0, n, rows):
        part = np.linalg.norm(embeddings[lo: lo + rows, None, :] - centroids[None, :, :], axis=-1)  # (rows, k)
        if out is None:
            out = np.empty((n, k), dtype=part.dtype)
        out[lo: lo + rows] = part
    if out is None:  # no rows: the dtype the one-shot expression would give
        out = np.linalg.norm(embeddings[:, None, :] - centroids[None, :, :], axis=-1)  # (0, k)
    return out


def kmeans(embeddings: np.ndarray, k: int, seed: int = 0, init: np.ndarray | None = None,
           minibatch_above: int = MINIBATCH_ABOVE) -> Clustering:
    """Cluster ``(N, D)`` embeddings into ``k`` clusters.

    Args:
        embeddings: ``(N, D)`` vectors.
        k: number of clusters.
        seed: random state of the k-means initialisation.
        init: ``(k, D)`` starting centroids (one run from them instead of k-means++ restarts).
        minibatch_above: use MiniBatchKMeans when there are more than this many texts.

    Raises:
        DataError: more clusters than texts.
        ConfigError: ``k`` < 1 or ``init`` of the wrong shape.
    """
    from sklearn.cluster import KMeans, MiniBatchKMeans

    n = len(embeddings)
    if k < 1:
        raise ConfigError(f"n_clusters must be >= 1, got {k}")
    if k > n:
        raise DataError(f"cannot make {k} clusters from {n} texts; lower n_clusters or decode more texts")
    if init is not None and init.shape != (k, embeddings.shape[1]):
        raise ConfigError(f"initial centroids have shape {init.shape}, expected {(k, embeddings.shape[1])}")
    start = init if init is not None else "k-means++"
    n_init = 1 if init is not None else 4
    if n > minibatch_above:
        model = MiniBatchKMeans(k, init=start, n_init=n_init, random_state=seed, batch_size=2048)
    else:
        model = KMeans(k, init=start, n_init=n_init, random_state=seed)
    labels = model.fit_predict(embeddings)
    return Clustering(labels.astype(np.int64), model.cluster_centers_.astype(np.float32))
