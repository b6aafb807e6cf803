"""Clustering and the three matching modes on planted clusters; the per-pair statistics."""

import math

import numpy as np
import pytest
from scipy.stats import norm

from difflens.discovery.clustering import kmeans
from difflens.discovery.matching import MODES, cohens_h, knn_graph, match_clusters, two_proportion_test
from difflens.errors import ConfigError, DataError


def blobs(counts, rng, centres):
    """Points around ``centres``: ``counts[c]`` points for centre ``c``; returns points and true labels."""
    x = np.concatenate([centres[c] + 0.05 * rng.standard_normal((n, centres.shape[1])) for c, n in enumerate(counts)])
    y = np.concatenate([[c] * n for c, n in enumerate(counts)])
    return x.astype(np.float32), y


@pytest.fixture
def planted():
    """Five well-separated areas; the intervention puts 5x more texts into area 2, fewer into area 4."""
    rng = np.random.default_rng(0)
    centres = np.eye(5, 8) * 3
    base, yb = blobs([60, 60, 30, 60, 60], rng, centres)
    intervention, yi = blobs([50, 50, 150, 50, 20], rng, centres)
    return base, yb, intervention, yi


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_ranks_the_planted_shift_first(planted, mode):
    base, yb, intervention, yi = planted
    m = match_clusters(base, intervention, 5, mode=mode, n_representatives=3)
    top = m.pairs[0]
    # the top pair is area 2 on both sides, with the intervention's larger share
    assert set(yb[m.base.labels == top.base_cluster]) == {2}
    assert set(yi[m.intervention.labels == top.intervention_cluster]) == {2}
    assert (top.n_base, top.n_intervention) == (30, 150) and top.cohens_h > 0.5 and top.p_value < 1e-10
    # area 4 shrank: negative h, and every pair's areas agree on both sides
    shrunk = next(p for p in m.pairs if set(yb[m.base.labels == p.base_cluster]) == {4})
    assert shrunk.cohens_h < 0 and set(yi[m.intervention.labels == shrunk.intervention_cluster]) == {4}
    assert [abs(p.cohens_h) for p in m.pairs] == sorted((abs(p.cohens_h) for p in m.pairs), reverse=True)
    assert [p.pair_id for p in m.pairs] == list(range(5))
    # representatives are members, nearest the centroid first
    reps = top.intervention_representatives
    assert len(reps) == 3 and all(m.intervention.labels[i] == top.intervention_cluster for i in reps)
    if mode == "hungarian":
        assert len(m.knn_edges) >= 5 and all(0 <= b < 5 and 0 <= i < 5 for b, i, _ in m.knn_edges)
    else:
        assert m.knn_edges == []


def test_two_proportion_test_and_cohens_h_by_hand():
    z, p = two_proportion_test(30, 270, 150, 320)
    pooled = 180 / 590
    z_hand = (150 / 320 - 30 / 270) / math.sqrt(pooled * (1 - pooled) * (1 / 270 + 1 / 320))
    assert z == pytest.approx(z_hand) and p == pytest.approx(2 * norm.sf(z_hand))
    from statsmodels.stats.proportion import proportions_ztest

    z_sm, p_sm = proportions_ztest([150, 30], [320, 270])
    assert z == pytest.approx(z_sm) and p == pytest.approx(p_sm)
    assert two_proportion_test(0, 10, 0, 10) == (0.0, 1.0)
    assert cohens_h(0.5, 0.5) == 0
    assert cohens_h(0.1, 0.5) == pytest.approx(2 * math.asin(math.sqrt(0.5)) - 2 * math.asin(math.sqrt(0.1)))


def test_knn_graph_links_each_cluster_to_its_nearest():
    a = np.array([[0.0, 0], [10, 0]])
    b = np.array([[10.5, 0], [0.5, 0], [5, 5]])
    edges = knn_graph(a, b, 1)
    pairs = {(x, y) for x, y, _ in edges}
    assert pairs == {(0, 1), (1, 0), (0, 2)} or pairs == {(0, 1), (1, 0), (1, 2)}


def test_more_clusters_than_texts_is_a_clear_error():
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    with pytest.raises(DataError, match="cannot make 5 clusters from 4 texts"):
        kmeans(x, 5)
    with pytest.raises(DataError, match="clusters from 4 texts"):
        match_clusters(x, np.concatenate([x, x]), 5)
    with pytest.raises(ConfigError, match="matching mode"):
        match_clusters(x, x, 2, mode="closest")


def test_minibatch_kmeans_for_large_sets_finds_the_same_areas(planted):
    base, yb, _, _ = planted
    c = kmeans(base, 5, minibatch_above=100)
    for area in range(5):
        assert len(set(c.labels[yb == area])) == 1


def test_rows_of_a_memory_mapped_array_are_read_through_its_file(tmp_path):
    from difflens.discovery.matching import release, take_rows

    x = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float32, shape=(1000, 7))
    x[:] = np.arange(7000, dtype=np.float32).reshape(1000, 7)
    x.flush()
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    view = mapped[123:900]
    rows = np.array([0, 5, 5, 776, 300])
    np.testing.assert_array_equal(take_rows(view, rows), np.asarray(view)[rows])
    np.testing.assert_array_equal(take_rows(np.asarray(view), rows), np.asarray(view)[rows])  # in memory
    release(view)
    np.testing.assert_array_equal(view[776], x[899])  # released pages come back from the file


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("block", [1, 97, 10**9])
def test_centroid_distances_are_those_of_all_rows_at_once_bit_for_bit(dtype, block):
    from difflens.discovery.clustering import centroid_distances

    rng = np.random.default_rng(3)
    points, centroids = rng.standard_normal((301, 33)).astype(dtype), rng.standard_normal((7, 33)).astype(dtype)
    expected = np.linalg.norm(points[:, None, :] - centroids[None, :, :], axis=-1)
    got = centroid_distances(points, centroids, block=block)
    assert got.dtype == expected.dtype and np.array_equal(got, expected)
    assert centroid_distances(points[:0], centroids).shape == (0, 7)
