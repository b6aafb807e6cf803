import numpy as np
import pytest

from difflens.active import allocate_budget, boundary_uncertainty, score_areas
from difflens.discovery.matching import ClusterPair
from difflens.errors import ConfigError


def pair(pair_id, cluster, n_base, n_int, h):
    return ClusterPair(pair_id, cluster, cluster, n_base, n_int, 0.0, 0.0, 0.0, 1.0, h)


def test_boundary_uncertainty_is_the_nearest_over_second_nearest_distance():
    centroids = np.array([[0.0, 0.0], [4.0, 0.0]])
    points = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    assert boundary_uncertainty(points, centroids) == pytest.approx([0.0, 1 / 3, 1.0])
    assert boundary_uncertainty(points, centroids[:1]).tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("weights, best", [
    ((1, 0, 0), 1),   # divergence: cluster 1 has |h| = 0.8
    ((0, 1, 0), 2),   # boundary: cluster 2's texts sit between clusters
    ((0, 0, 1), 0),   # under-sampling: cluster 0 holds 2 texts
])
def test_each_signal_picks_its_area(weights, best):
    pairs = [pair(0, 0, 1, 1, 0.1), pair(1, 1, 20, 40, -0.8), pair(2, 2, 30, 30, 0.0)]
    labels = np.array([0, 1, 1, 2, 2])
    ratios = np.array([0.1, 0.2, 0.2, 0.9, 0.9])
    scores = score_areas(pairs, labels, labels, ratios, ratios, weights)
    assert scores[0].base_cluster == best
    assert scores[0].score == pytest.approx(1.0)
    assert {s.base_cluster: s.divergence for s in scores}[1] == pytest.approx(0.8)


def test_negative_weights_are_refused():
    with pytest.raises(ConfigError, match="weights"):
        score_areas([], np.array([]), np.array([]), np.array([]), np.array([]), (1, -1, 0))


@pytest.mark.parametrize("scores, budget, minimum, expected", [
    ([3, 1], 8, 1, [6, 2]),
    ([1, 1, 1], 10, 1, [4, 3, 3]),
    ([1, 0, 0], 9, 2, [5, 2, 2]),     # every area gets its minimum first
    ([1, 0, 0], 2, 2, [2, 0, 0]),     # a budget too small for the minimums goes by score
    ([0, 0], 5, 0, [3, 2]),           # all scores zero: even split
    ([], 5, 1, []),
])
def test_allocation_sums_to_the_budget(scores, budget, minimum, expected):
    assert allocate_budget(scores, budget, minimum) == expected
    assert sum(allocate_budget(scores, budget, minimum)) == (budget if scores else 0)


def test_likelihood_divergence_picks_the_area_of_a_few_very_divergent_texts():
    # no difference in proportions anywhere; two texts of cluster 2 are 20 nats more likely under
    # the model that wrote them: an area only the likelihood ratio can point at
    pairs = [pair(0, 0, 2, 2, 0.0), pair(1, 1, 2, 2, 0.0), pair(2, 2, 2, 2, 0.0)]
    labels = np.array([0, 0, 1, 1, 2, 2])
    ratios = np.full(6, 0.5)
    base_d = np.array([0.5, -0.2, 0.3, 0.1, 0.0, -1.0])
    int_d = np.array([0.4, 0.6, -0.5, 0.2, 20.0, 19.0])
    scores = score_areas(pairs, labels, labels, ratios, ratios, (0, 0, 0, 1), (base_d, int_d))
    assert scores[0].base_cluster == 2 and scores[0].likelihood == pytest.approx(38 / 4)
    assert {s.base_cluster: s.likelihood for s in scores}[0] == pytest.approx(1.3 / 4)
    # a negative mean counts as no divergence, not as less than none
    negative = score_areas(pairs, labels, labels, ratios, ratios, (0, 0, 0, 1), (-base_d - 5, -int_d - 5))
    assert all(s.score == 0 for s in negative)
    with pytest.raises(ConfigError, match="log-likelihood ratios"):
        score_areas(pairs, labels, labels, ratios, ratios, (0, 0, 0, 1))
