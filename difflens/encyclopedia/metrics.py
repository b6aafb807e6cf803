"""Evaluation of concept predictions: top-k, category credit, calibration, confidence AUROC."""

from __future__ import annotations

import numpy as np


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Share of rows whose label is among the ``k`` highest scores. ``scores``: ``(N, C)``."""
    if len(labels) == 0:
        return float("nan")
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]  # (N, k)
    return float((top == labels[:, None]).any(axis=1).mean())  # (N, k) == (N, 1) -> (N,)


def category_accuracy(predictions: np.ndarray, labels: np.ndarray, concept_category: np.ndarray) -> float:
    """Top-1 with credit for the right category: the prediction is the concept or a concept of
    the same category (hypernym). A concept without a category (-1) gets exact-match credit only."""
    if len(labels) == 0:
        return float("nan")
    cp, cl = concept_category[predictions], concept_category[labels]
    return float(((predictions == labels) | ((cp == cl) & (cl >= 0))).mean())


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15) -> float:
    """ECE: the bin-weighted mean |accuracy - confidence| over equal-width confidence bins.

    ``confidence`` here is the probability of the predicted class (the standard ECE input).
    """
    if len(correct) == 0:
        return float("nan")
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - confidence[m].mean())
    return float(ece)


def auroc(score: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for predicting ``positive`` (ties count half);
    NaN when only one class occurs."""
    positive = positive.astype(bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    s = score[order]
    # average ranks over ties
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def evaluate(scores: np.ndarray, labels: np.ndarray, concept_category: np.ndarray,
             probs: np.ndarray | None = None, confidence: np.ndarray | None = None) -> dict[str, float]:
    """All metrics for one method on one split.

    Args:
        scores: ``(N, C)`` scores (probabilities or similarities); argmax is the prediction.
        labels: ``(N,)`` true concepts.
        concept_category: ``(C,)`` category index per concept.
        probs: ``(N, C)`` probabilities, if the method has them (enables ECE).
        confidence: ``(N,)`` confidence score whose AUROC for correctness is reported
            (default: the max probability, or the max score).

    Returns:
        ``top1``, ``top5``, ``category_top1``, ``ece`` (NaN without probabilities),
        ``confidence_auroc`` and ``n``.
    """
    pred = scores.argmax(axis=1)
    correct = pred == labels
    if confidence is None:
        confidence = (probs if probs is not None else scores).max(axis=1)
    return {
        "top1": topk_accuracy(scores, labels, 1),
        "top5": topk_accuracy(scores, labels, 5),
        "category_top1": category_accuracy(pred, labels, concept_category),
        "ece": expected_calibration_error(probs.max(axis=1), correct) if probs is not None else float("nan"),
        "confidence_auroc": auroc(confidence, correct),
        "n": int(len(labels)),
    }
