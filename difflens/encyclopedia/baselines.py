"""Baselines for the interpreter, evaluated on the same split.

- nearest centroid: cosine to each concept's mean of z-scored training features (this is the
  encyclopedia itself, used as a lookup table);
- linear probe: softmax regression on the same features;
- input only: the MiniLM embedding of the context against the MiniLM embeddings of the concept
  names; it never sees the model's activations;
- random-label control: the probe trained on shuffled labels, which shows how much a head can
  memorise (its training accuracy) and what chance looks like on held-out contexts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def flatten(x: np.ndarray) -> np.ndarray:
    """``(N, S, H)`` -> ``(N, S * H)``."""
    return x.reshape(len(x), -1)


def zscore_fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation of ``x`` (first axis is samples)."""
    return x.mean(axis=0), x.std(axis=0) + 1e-6


def nearest_centroid_scores(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray,
                            n_concepts: int) -> np.ndarray:
    """Cosine similarity of each test sample to each concept's centroid, z-scored features.

    Returns:
        ``(N_test, C)``; concepts without a training sample score -inf.
    """
    a, b = flatten(train_x), flatten(test_x)
    mu, sd = zscore_fit(a)
    a, b = (a - mu) / sd, (b - mu) / sd
    centroids = np.zeros((n_concepts, a.shape[1]))
    np.add.at(centroids, train_y, a)
    counts = np.bincount(train_y, minlength=n_concepts)
    centroids /= np.maximum(counts, 1)[:, None]  # (C, S * H) / (C, 1)
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True) + 1e-12
    b = b / (np.linalg.norm(b, axis=1, keepdims=True) + 1e-12)
    scores = b @ centroids.T
    scores[:, counts == 0] = -np.inf
    return scores


def fit_softmax_probe(train_x: np.ndarray, train_y: np.ndarray, n_concepts: int, epochs: int = 300,
                      lr: float = 1e-2, weight_decay: float = 1e-4, seed: int = 0):
    """Train a linear softmax probe full-batch with Adam on z-scored features.

    Returns:
        A function mapping ``(N, S, H)`` features to ``(N, C)`` probabilities, and its accuracy
        on the training samples.
    """
    a = flatten(train_x)
    mu, sd = zscore_fit(a)
    g = torch.Generator().manual_seed(seed)
    x = torch.as_tensor((a - mu) / sd, dtype=torch.float32)
    y = torch.as_tensor(train_y, dtype=torch.long)
    w = torch.nn.Linear(x.shape[1], n_concepts)
    with torch.no_grad():
        w.weight.normal_(0, 0.01, generator=g)
        w.bias.zero_()
    opt = torch.optim.Adam(w.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(epochs):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(w(x), y)
        loss.backward()
        opt.step()

    @torch.no_grad()
    def predict(features: np.ndarray) -> np.ndarray:
        z = torch.as_tensor((flatten(features) - mu) / sd, dtype=torch.float32)
        return torch.softmax(w(z), dim=-1).numpy()

    train_acc = float((predict(train_x).argmax(1) == train_y).mean())
    return predict, train_acc


def input_only_scores(embedder, contexts: Sequence[str], concept_names: Sequence[str],
                      batch_size: int = 64) -> np.ndarray:
    """Cosine of each context's MiniLM embedding to each concept name's: ``(N, C)``."""
    ctx = embedder.encode(list(contexts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
    names = embedder.encode(list(concept_names), batch_size=batch_size, normalize_embeddings=True,
                            convert_to_numpy=True)
    return ctx @ names.T


def shuffled_labels(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """A random permutation of ``labels`` (the random-label control's targets)."""
    return np.random.default_rng(seed).permutation(labels)
