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
                        embed: Callable[[Sequence[str]], np.ndarray]) -> list[str]:
    """Up to ``n`` distinct openings (see `opening`, ``words`` at most) of the over-represented
    model's texts in ``pair`` whose own embedding is nearest another cluster's centroid, those
    from the most common outside cluster first, in ``rng``'s order within one; empty when none.

    ``embed`` must map into the space of ``matching``'s centroids.
    """
    if pair.cohens_h >= 0:
        texts, clustering, cluster = intervention, matching.intervention, pair.intervention_cluster
    else:
        texts, clustering, cluster = base, matching.base, pair.base_cluster
    members = [int(i) for i in np.flatnonzero(clustering.labels == cluster)]
    rng.shuffle(members)
    openings = list(dict.fromkeys(o for o in (opening(texts[i], words) for i in members) if o))
    if not openings:
        return []
    x = embed(openings)  # (M, D)
    origin = np.linalg.norm(x[:, None, :] - clustering.centroids[None, :, :], axis=-1).argmin(axis=1)  # (M,)
    counts = np.bincount(origin, minlength=clustering.k)
    outside = [i for i in range(len(openings)) if origin[i] != cluster]
    outside.sort(key=lambda i: -counts[origin[i]])  # stable: shuffled within an origin
    return [openings[i] for i in outside[:n]]
