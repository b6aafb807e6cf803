"""Metrics, baselines and the selection of uncertain concepts."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from difflens.encyclopedia import baselines as B
from difflens.encyclopedia.metrics import auroc, category_accuracy, evaluate, expected_calibration_error, topk_accuracy
from difflens.encyclopedia.selection import concept_uncertainty, confused_pairs, select_uncertain


def test_topk_and_category_credit():
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
    labels = np.array([1, 1, 0])
    assert topk_accuracy(scores, labels, 1) == pytest.approx(1 / 3)
    assert topk_accuracy(scores, labels, 2) == pytest.approx(2 / 3)
    category = np.array([0, 0, -1])
    # row 2 predicts concept 0 for concept 1 (same category): credit; row 3 predicts 2 (no category)
    assert category_accuracy(scores.argmax(1), labels, category) == pytest.approx(2 / 3)


def test_auroc_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    score = np.round(rng.random(200), 1)
    positive = rng.random(200) < score
    assert auroc(score, positive) == pytest.approx(roc_auc_score(positive, score))
    assert np.isnan(auroc(score, np.ones(200, bool)))


def test_ece():
    conf = np.array([0.9, 0.9, 0.9, 0.9, 0.2])
    correct = np.array([1, 1, 1, 0, 0], dtype=float)
    assert expected_calibration_error(conf, correct) == pytest.approx(0.8 * 0.15 + 0.2 * 0.2)
    assert expected_calibration_error(np.full(4, 0.75), np.array([1, 1, 1, 0.0])) == pytest.approx(0.0)


def test_evaluate_keys():
    probs = np.eye(4)[[0, 1, 2, 2]] * 0.9 + 0.025
    m = evaluate(probs, np.array([0, 1, 2, 3]), np.array([0, 0, 1, 1]), probs=probs)
    assert m["top1"] == 0.75 and m["category_top1"] == 1.0 and m["n"] == 4


def test_baselines_on_separable_features():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(6, 2, 11)) * 3
    y = np.repeat(np.arange(6), 8)
    x = centers[y] + rng.normal(size=(len(y), 2, 11))
    train, test = np.arange(len(y)) % 4 != 0, np.arange(len(y)) % 4 == 0
    scores = B.nearest_centroid_scores(x[train], y[train], x[test], 7)  # concept 6 never seen
    assert (scores.argmax(1) == y[test]).mean() > 0.9 and np.isneginf(scores[:, 6]).all()
    predict, train_acc = B.fit_softmax_probe(x[train], y[train], 7, epochs=100)
    assert train_acc == 1.0 and (predict(x[test]).argmax(1) == y[test]).mean() > 0.9
    shuffled = B.shuffled_labels(y)
    assert sorted(shuffled) == sorted(y) and (shuffled != y).any()


def test_uncertainty_selection_and_confused_pairs():
    probs = np.array([[0.98, 0.01, 0.01], [0.4, 0.35, 0.25], [0.1, 0.1, 0.8]])
    labels = np.array([0, 1, 2])  # right and sure, wrong, right but less sure
    u = concept_uncertainty(probs, labels, 4)
    assert u[1] == 1.0 and u[3] == 1.0 and u[0] < u[2] < 1.0
    assert select_uncertain(u, 0.5).tolist() == [1, 3]
    pred = np.array([1, 0, 1, 2, 2])
    assert confused_pairs(pred, np.array([0, 1, 0, 1, 2]), 1) == [(0, 1)]
