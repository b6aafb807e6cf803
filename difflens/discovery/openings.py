"""Openings that lead into an area of text space from outside it.

When one model goes somewhere after an opening about something else (a backdoor, a behaviour
tied to a topic, a toy-world ``trigger``), the opening is where the two models differ: both
continue an opening that is already inside the area the same way, so such openings would only
dilute the contrast. Discovery states a hypothesis conditionally on these openings, and active
sampling decodes continuations of them.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence

import numpy as np

from difflens.discovery.matching import ClusterPair, Matching
from difflens.records import DecodedText


def opening(record: DecodedText, max_words: int, min_words: int = 4) -> str:
    """The record's prompt and the first sentence of its text (with the next ones while it has
    fewer than ``min_words`` words: "Look!" says nothing), at most ``max_words`` words of text."""
    sentence = record.text
    for match in re.finditer(r"[.!?](?=\s|$)", record.text):
        if len(record.text[: match.end()].split()) >= min(min_words, max_words):
            sentence = record.text[: match.end()]
            break
    head = " ".join(sentence.split()[:max_words])
    return f"{record.prompt} {head}".strip() if record.prompt else head


def openings_leading_in(pair: ClusterPair, matching: Matching, base: Sequence[DecodedText],
                        intervention: Sequence[DecodedText], n: int, words: int, rng: random.Random,
                        embed: Callable[[Sequence[str]], np.ndarray],
                        divergence: tuple[np.ndarray, np.ndarray] | None = None) -> list[str]:
    """Up to ``n`` distinct openings (see `opening`, ``words`` at most) of texts in ``pair``
    whose own embedding is nearest another cluster's centroid (of the text's own model's
    clustering); empty when none.

    Without ``divergence``: the over-represented model's texts, openings from the most common
    outside cluster first, in ``rng``'s order within one. With ``divergence`` (``(Na,)`` and
    ``(Nb,)``: how much more likely the model that wrote each text finds it than the other model
    does, see `difflens.likelihood`): both models' texts with positive divergence, the most
    divergent first, which finds a rare opening that one model continues differently.

    ``embed`` must map into the space of ``matching``'s centroids.
    """
    sides = [(base, matching.base, pair.base_cluster, 0), (intervention, matching.intervention,
                                                           pair.intervention_cluster, 1)]
    if divergence is None:
        sides = [sides[1] if pair.cohens_h >= 0 else sides[0]]
    candidates = []  # (text, its clustering, its cluster, its divergence)
    for texts, clustering, cluster, side in sides:
        for i in np.flatnonzero(clustering.labels == cluster):
            score = float(divergence[side][i]) if divergence is not None else 0.0
            if divergence is None or score > 0:
                candidates.append((texts[int(i)], clustering, cluster, score))
    rng.shuffle(candidates)
    if divergence is not None:
        candidates.sort(key=lambda c: -c[3])  # stable: shuffled among equals
    seen, kept = set(), []
    for record, clustering, cluster, _ in candidates:
        text = opening(record, words)
        if text and text not in seen:
            seen.add(text)
            kept.append((text, clustering, cluster))
    if not kept:
        return []
    x = embed([t for t, _, _ in kept])  # (M, D)
    origin = [int(np.linalg.norm(c.centroids - x[j], axis=-1).argmin()) for j, (_, c, _) in enumerate(kept)]
    outside = [j for j, (_, _, cluster) in enumerate(kept) if origin[j] != cluster]
    if divergence is None:
        counts = np.bincount(origin, minlength=matching.base.k)
        outside.sort(key=lambda j: -counts[origin[j]])  # stable: shuffled within an origin
    return [kept[j][0] for j in outside[:n]]
