import numpy as np

from difflens.active import StabilityCheck, reference_labels, top_divergent
from difflens.discovery.matching import ClusterPair


def test_reference_labels_are_the_nearest_centroids():
    ref = np.array([[0.0, 0.1], [0.9, 1.0], [0.2, 0.0]])
    assert reference_labels(ref, np.array([[0.0, 0.0], [1.0, 1.0]])).tolist() == [0, 1, 0]


def test_top_divergent_needs_bonferroni_significance_and_effect():
    pairs = [ClusterPair(0, 4, 4, 0, 0, 0, 0, 0, 0.001, 0.5),   # 0.001 * 3 <= 0.05, |h| 0.5
             ClusterPair(1, 7, 7, 0, 0, 0, 0, 0, 0.02, -0.9),   # 0.02 * 3 > 0.05
             ClusterPair(2, 9, 9, 0, 0, 0, 0, 0, 0.0001, 0.05)]  # effect too small
    assert top_divergent(pairs, alpha=0.05, min_effect=0.1, top=5) == {4}


def test_stable_after_patience_rounds_of_the_same_partition_and_top_set():
    check = StabilityCheck(ari_threshold=0.9, patience=2)
    a = np.array([0, 0, 1, 1, 2, 2])
    relabelled = np.array([2, 2, 0, 0, 1, 1])  # the same partition under other ids: ARI 1
    first = check.update(a, frozenset({1}))
    assert first["ari"] is None and not first["stable"]
    second = check.update(relabelled, frozenset({1}))
    assert second["ari"] == 1.0 and not second["stable"]  # one stable round, patience 2
    assert check.update(a, frozenset({1}))["stable"]
    moved = check.update(a, frozenset({1, 2}))  # a new divergent area resets the count
    assert moved["top_changed"] and not moved["stable"]
    shuffled = check.update(np.array([0, 1, 2, 0, 1, 2]), frozenset({1, 2}))
    assert shuffled["ari"] < 0.9 and not shuffled["stable"]


def test_an_empty_top_set_is_stable_only_when_divergence_is_not_required():
    labels = np.array([0, 0, 1, 1])
    for require, expected in ((False, True), (True, False)):
        check = StabilityCheck(ari_threshold=0.9, patience=1, require_divergent=require)
        check.update(labels, frozenset())
        assert check.update(labels, frozenset())["stable"] is expected
    check = StabilityCheck(ari_threshold=0.9, patience=1, require_divergent=True)
    check.update(labels, frozenset({3}))
    assert check.update(labels, frozenset({3}))["stable"]
