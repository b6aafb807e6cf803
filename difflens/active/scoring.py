"""Which areas of text space to sample next, and how many texts each gets.

An *area* is a matched cluster pair (`difflens.discovery.matching.ClusterPair`). Three signals
say an area deserves more texts, and a fourth when the texts have been scored by both models:

- **divergence**: the models put different shares of their texts there (``|Cohen's h|``);
- **boundary uncertainty**: its texts sit between two clusters (the ratio of the distance to
  the nearest centroid over the distance to the second-nearest is close to 1), so more texts
  settle where the boundary lies;
- **under-sampling**: it holds few texts, so its shares are poorly estimated (the standard
  error of a proportion shrinks as ``1 / sqrt(n)``);
- **likelihood divergence**: its texts are much more likely under the model that wrote them
  than under the other (the mean log-likelihood ratio, `difflens.likelihood`), which shows
  in the first few texts of a behaviour long before its share of the texts does.

Each signal is scaled to [0, 1] over the areas and the score is their weighted sum.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from difflens.discovery.clustering import centroid_distances
from difflens.discovery.matching import ClusterPair
from difflens.errors import ConfigError


@dataclass
class AreaScore:
    """Why an area is worth sampling.

    Attributes:
        pair_id: the cluster pair's id in its `Matching`.
        base_cluster: the base cluster id (stable across incremental re-clusterings).
        divergence: ``|cohens_h|`` of the pair.
        uncertainty: mean nearest/second-nearest centroid distance ratio of its texts (0-1).
        undersampling: ``1 / sqrt(n_base + n_intervention + 1)``.
        likelihood: mean over its texts (both models') of how much more likely the model that
            wrote a text finds it than the other model does, in nats; 0 when texts are unscored.
        score: weighted sum of the signals, each scaled to [0, 1] over all areas (a negative
            likelihood divergence counts as 0).
    """

    pair_id: int
    base_cluster: int
    divergence: float
    uncertainty: float
    undersampling: float
    likelihood: float = 0.0
    score: float = 0.0


def boundary_uncertainty(embeddings: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """``(N,)`` ratio of each point's nearest to second-nearest centroid distance.

    0 means the point sits on its centroid, 1 means it is as close to another cluster as to
    its own (on the boundary). With one centroid every ratio is 0.
    """
    if len(centroids) < 2:
        return np.zeros(len(embeddings))
    dist = centroid_distances(embeddings, centroids)  # (N, k)
    two = np.partition(dist, 1, axis=1)[:, :2]  # (N, 2): nearest, second-nearest
    return two[:, 0] / np.maximum(two[:, 1], 1e-12)


def _scaled(values: np.ndarray) -> np.ndarray:
    top = values.max() if len(values) else 0.0
    return values / top if top > 0 else np.zeros_like(values)


def score_areas(pairs: Sequence[ClusterPair], base_labels: np.ndarray, intervention_labels: np.ndarray,
                base_ratio: np.ndarray, intervention_ratio: np.ndarray,
                weights: tuple[float, ...] = (1.0, 0.5, 0.5),
                text_divergence: tuple[np.ndarray, np.ndarray] | None = None) -> list[AreaScore]:
    """Score every area; best first.

    Args:
        pairs: the cluster pairs (``base_init`` or ``joint`` matching: one cluster id per side).
        base_labels: ``(Na,)`` cluster of each base text.
        intervention_labels: ``(Nb,)`` cluster of each intervention text.
        base_ratio: ``(Na,)`` `boundary_uncertainty` of each base text.
        intervention_ratio: ``(Nb,)`` the same for the intervention texts.
        weights: weights of divergence, uncertainty, under-sampling and (optionally, with
            ``text_divergence``) likelihood divergence.
        text_divergence: ``(Na,)`` and ``(Nb,)``: for each base and intervention text, how much
            more likely the model that wrote it finds it than the other model does (nats).

    Raises:
        ConfigError: a negative weight, all weights zero, or a likelihood weight without
            ``text_divergence``.
    """
    if len(weights) not in (3, 4) or min(weights) < 0 or sum(weights) <= 0:
        raise ConfigError(f"area weights must be 3 or 4 numbers >= 0, not all 0, got {list(weights)}")
    if len(weights) == 4 and weights[3] > 0 and text_divergence is None:
        raise ConfigError("a likelihood-divergence weight needs the texts' log-likelihood ratios")
    rows = []
    for pair in pairs:
        in_base, in_intervention = base_labels == pair.base_cluster, intervention_labels == pair.intervention_cluster
        ratios = np.concatenate([base_ratio[in_base], intervention_ratio[in_intervention]])
        likelihood = 0.0
        if text_divergence is not None:
            own = np.concatenate([text_divergence[0][in_base], text_divergence[1][in_intervention]])
            likelihood = float(own.mean()) if len(own) else 0.0
        rows.append(AreaScore(pair.pair_id, pair.base_cluster, abs(pair.cohens_h),
                              float(ratios.mean()) if len(ratios) else 1.0,
                              1.0 / math.sqrt(pair.n_base + pair.n_intervention + 1), likelihood))
    signals = np.array([[r.divergence, r.uncertainty, r.undersampling, max(r.likelihood, 0.0)]
                        for r in rows]).reshape(-1, 4)  # (A, 4)
    scaled = np.stack([_scaled(signals[:, j]) for j in range(4)], axis=1) if len(rows) else signals
    total = scaled[:, : len(weights)] @ np.asarray(weights, dtype=float)  # (A,)
    for row, value in zip(rows, total):
        row.score = float(value)
    return sorted(rows, key=lambda r: (-r.score, r.base_cluster))


def allocate_budget(scores: Sequence[float], budget: int, minimum: int = 1) -> list[int]:
    """Split ``budget`` texts over areas in proportion to their scores (largest remainders).

    Every area gets at least ``minimum`` texts when the budget allows it; the counts sum to
    ``budget`` exactly.

    Raises:
        ConfigError: a negative budget or minimum.
    """
    if budget < 0 or minimum < 0:
        raise ConfigError(f"budget and minimum must be >= 0, got {budget} and {minimum}")
    n = len(scores)
    if n == 0 or budget == 0:
        return [0] * n
    floor = min(minimum, budget // n)
    rest = budget - floor * n
    weights = np.maximum(np.asarray(scores, dtype=float), 0.0)
    if weights.sum() == 0:
        weights = np.ones(n)
    exact = weights / weights.sum() * rest
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: rest - counts.sum()]] += 1
    return [int(floor + c) for c in counts]
