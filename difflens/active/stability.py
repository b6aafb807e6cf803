"""When to stop sampling: the clustering and the set of most different areas no longer change.

Successive clusterings are compared on a *fixed reference set* (the seed round's texts): each
reference text is labelled with its nearest centroid in both clusterings and the two labellings
are compared with the adjusted Rand index (1 = identical partitions, about 0 = chance). ARI is
invariant to relabelling, so it also works when cluster ids are not carried over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from difflens.discovery.clustering import centroid_distances
from difflens.discovery.matching import ClusterPair


def reference_labels(reference: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """``(R,)`` index of the nearest centroid of each ``(R, D)`` reference embedding."""
    return centroid_distances(reference, centroids).argmin(axis=1)  # of (R, k)


def top_divergent(pairs: Sequence[ClusterPair], alpha: float, min_effect: float, top: int) -> frozenset[int]:
    """Base cluster ids of the ``top`` most different pairs that pass a Bonferroni-corrected
    two-proportion test at ``alpha`` and have ``|h| >= min_effect``."""
    k = max(len(pairs), 1)
    passing = [p for p in pairs if p.p_value * k <= alpha and abs(p.cohens_h) >= min_effect]
    passing.sort(key=lambda p: (-abs(p.cohens_h), p.base_cluster))
    return frozenset(p.base_cluster for p in passing[:top])


@dataclass
class StabilityCheck:
    """Tracks successive clusterings and says when they have stopped changing.

    Args:
        ari_threshold: ARI on the reference set at or above which two clusterings count as the same.
        patience: stable rounds in a row needed to stop.
        require_divergent: a round counts as stable only when its top-divergent set is not
            empty: while no area differs, nothing has been discovered that could be stable.
    """

    ari_threshold: float = 0.9
    patience: int = 1
    require_divergent: bool = False
    previous_labels: np.ndarray | None = None
    previous_top: frozenset[int] | None = None
    stable_rounds: int = 0
    history: list[dict] = field(default_factory=list)

    def update(self, labels: np.ndarray, top: frozenset[int]) -> dict:
        """Record this round's reference labels and top-divergent set; returns the round's
        ``ari`` (None on the first round), ``top_changed`` and ``stable`` (stop now)."""
        from sklearn.metrics import adjusted_rand_score

        ari = None if self.previous_labels is None else float(adjusted_rand_score(self.previous_labels, labels))
        top_changed = self.previous_top is None or top != self.previous_top
        same = (ari is not None and ari >= self.ari_threshold and not top_changed
                and (bool(top) or not self.require_divergent))
        self.stable_rounds = self.stable_rounds + 1 if same else 0
        self.previous_labels, self.previous_top = labels, top
        row = {"ari": ari, "top_changed": top_changed, "top_divergent": sorted(top),
               "stable": self.stable_rounds >= self.patience}
        self.history.append(row)
        return row
