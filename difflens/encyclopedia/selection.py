"""Which concepts the next stage spends its capture on: uncertain and confused ones."""

from __future__ import annotations

import numpy as np


def concept_uncertainty(probs: np.ndarray, labels: np.ndarray, n_concepts: int) -> np.ndarray:
    """Per concept, ``1 - mean(confidence * correct)`` over its probe samples.

    A concept the interpreter gets wrong scores 1, one it gets right scores one minus its
    confidence (``1 - H(p)/log C``). Concepts without a probe sample score 1 (unknown).

    Args:
        probs: ``(N, C)`` interpreter probabilities on probe contexts.
        labels: ``(N,)`` their concepts.
        n_concepts: C.
    """
    c = probs.shape[1]
    entropy = -(probs * np.log(np.clip(probs, 1e-12, None))).sum(axis=1)
    conf = 1.0 - entropy / np.log(c) if c > 1 else np.ones(len(probs))
    credit = conf * (probs.argmax(axis=1) == labels)
    total = np.bincount(labels, weights=credit, minlength=n_concepts)
    count = np.bincount(labels, minlength=n_concepts)
    return np.where(count > 0, 1.0 - total / np.maximum(count, 1), 1.0)


def select_uncertain(uncertainty: np.ndarray, fraction: float, minimum: int = 1) -> np.ndarray:
    """Indices of the ``fraction`` most uncertain concepts (at least ``minimum``), most
    uncertain first; ties broken by index so the choice is deterministic."""
    n = max(minimum, int(round(fraction * len(uncertainty))))
    order = np.lexsort((np.arange(len(uncertainty)), -uncertainty))
    return np.sort(order[:n])


def confused_pairs(predictions: np.ndarray, labels: np.ndarray, top: int) -> list[tuple[int, int]]:
    """The ``top`` concept pairs the interpreter confuses most (both directions counted),
    from its confusion matrix; each pair as ``(a, b)`` with ``a < b``."""
    counts: dict[tuple[int, int], int] = {}
    for p, y in zip(predictions.tolist(), labels.tolist()):
        if p != y:
            key = (min(p, y), max(p, y))
            counts[key] = counts.get(key, 0) + 1
    return [k for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]
