"""Recurring themes: the validated hypotheses that say one thing in different words.

Discovery proposes from many cluster pairs and contrast rounds, so one behaviour is often
validated several times ("talk about the ocean ..., mentioning shore" and "mention waves,
tides and whales more often"). The report's summary level groups them: hypotheses about the
same model whose statements are close in meaning (MiniLM cosine, average linkage) form a
theme, named by its most central statement. It needs no assistant call, so it reads the same
with every backend.

On hand-written statements (``tests/difflens/validation/test_themes.py``) paraphrases of one
topic or style are at cosine 0.73-0.89, statements of different ones at 0.33-0.63.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import AgglomerativeClustering


@dataclass
class Theme:
    """Validated hypotheses that make one claim about one model.

    Attributes:
        statement: the member closest in meaning to the others (the theme's name).
        direction: the model the claim is about (``base`` or ``intervention``).
        hypothesis_ids: the members, in test order.
        p_value: the smallest member p-value.
    """

    statement: str
    direction: str
    hypothesis_ids: list[str]
    p_value: float


def recurring_themes(validated: Sequence[dict], embed: Callable[[list[str]], np.ndarray],
                     min_similarity: float = 0.7) -> list[Theme]:
    """Group validated results rows (``hypothesis_id``, ``text``, ``direction``, ``p_value``)
    into themes: within one direction, average-linkage clusters whose members are on average at
    cosine >= ``min_similarity``. Largest themes first, then by smallest p-value."""
    themes = []
    for direction in sorted({r["direction"] for r in validated}):
        rows = [r for r in validated if r["direction"] == direction]
        vectors = np.asarray(embed([r["text"] for r in rows]), dtype=float)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-12)
        if len(rows) == 1:
            labels = np.zeros(1, dtype=int)
        else:
            labels = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                             distance_threshold=1 - min_similarity).fit_predict(vectors)
        for label in np.unique(labels):
            members = np.flatnonzero(labels == label)
            similarity = vectors[members] @ vectors[members].T  # (m, m)
            central = members[int(similarity.sum(axis=1).argmax())]
            themes.append(Theme(rows[central]["text"], direction, [rows[i]["hypothesis_id"] for i in members],
                                min(float(rows[i]["p_value"]) for i in members)))
    return sorted(themes, key=lambda t: (-len(t.hypothesis_ids), t.p_value))
