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
    """The first sentence of the record's document (its prompt followed by its text), with the
    next ones while it has fewer than ``min_words`` words ("Look!" says nothing); at most
    ``max_words`` words. A text continuing a prompt that is already an opening (a targeted
    prompt) so opens with that prompt alone, not with the prompt and its continuation, which
    would already be inside the area the opening leads into.
    """
    document = f"{record.prompt} {record.text}".strip() if record.prompt else record.text
    sentence = document
    for match in re.finditer(r"[.!?](?=\s|$)", document):
        if len(document[: match.end()].split()) >= min(min_words, max_words):
            sentence = document[: match.end()]
            break
    return " ".join(sentence.split()[:max_words])


def pair_texts(pair: ClusterPair, matching: Matching, base: Sequence[DecodedText],
               intervention: Sequence[DecodedText], sides: Sequence[int] = (0, 1)):
    """Yield ``(side, index, record, clustering, cluster)`` for every text in ``pair`` of the
    given sides (0: base, 1: intervention), side by side, in text order within one."""
    groups = ((base, matching.base, pair.base_cluster),
              (intervention, matching.intervention, pair.intervention_cluster))
    for side in sides:
        texts, clustering, cluster = groups[side]
        for i in np.flatnonzero(clustering.labels == cluster):
            yield side, int(i), texts[int(i)], clustering, cluster


def openings_leading_in(pair: ClusterPair, matching: Matching, base: Sequence[DecodedText],
                        intervention: Sequence[DecodedText], n: int, words: int, rng: random.Random,
                        embed: Callable[[Sequence[str]], np.ndarray],
                        divergence: tuple[np.ndarray, np.ndarray] | None = None) -> list[str]:
    """Up to ``n`` distinct openings (see `opening`, ``words`` at most) of texts in ``pair``;
    empty when none.

    Without ``divergence``: openings of the over-represented model's texts whose own embedding
    is nearest another cluster's centroid (of that model's clustering), those from the most
    common outside cluster first, in ``rng``'s order within one; an opening inside the area is
    continued alike by both models. With ``divergence`` (``(Na,)`` and ``(Nb,)``: how much more
    likely the model that wrote each text finds it than the other model does, see
    `difflens.likelihood`): openings of both models' texts with positive divergence, wherever
    they embed, from the clusters whose texts carry at least half as much divergence in total
    as the top one's, that one first, the most divergent first within one. A text's divergence
    already says that one model went on from its opening where the other would not (a chess
    opening continued about the ocean may well sit among chess texts); summing over a cluster
    lets a rare opening continued differently in a few texts lead, and not one text whose ratio
    is large by chance, and the cut keeps openings from elsewhere from diluting the condition.

    ``embed`` must map into the space of ``matching``'s centroids.
    """
    sides = (0, 1) if divergence is not None else (1,) if pair.cohens_h >= 0 else (0,)
    candidates = []  # (text, its clustering, its cluster, its divergence)
    for side, i, record, clustering, cluster in pair_texts(pair, matching, base, intervention, sides):
        score = float(divergence[side][i]) if divergence is not None else 0.0
        if divergence is None or score > 0:
            candidates.append((record, clustering, cluster, score))
    rng.shuffle(candidates)
    if divergence is not None:
        candidates.sort(key=lambda c: -c[3])  # stable: shuffled among equals
    seen, kept = set(), []
    for record, clustering, cluster, score in candidates:
        text = opening(record, words)
        if text and text not in seen:
            seen.add(text)
            kept.append((text, clustering, cluster, score if divergence is not None else 1.0))
    if not kept:
        return []
    x = embed([t for t, _, _, _ in kept])  # (M, D)
    # both models' openings count together: their origins need one naming of clusters, which the two
    # clusterings share when one started from the other's centroids (base_init) and not otherwise
    shared_ids = divergence is None or matching.mode == "base_init"
    origin = [int(np.linalg.norm((c if shared_ids else matching.base).centroids - x[j], axis=-1).argmin())
              for j, (_, c, _, _) in enumerate(kept)]
    # the weight of an origin: how many openings come from it, or how much divergence they carry
    weight = np.bincount(origin, weights=[w for _, _, _, w in kept], minlength=matching.base.k)
    if divergence is None:
        chosen = [j for j, (_, _, cluster, _) in enumerate(kept) if origin[j] != cluster]
    else:
        chosen = [j for j in range(len(kept)) if weight[origin[j]] >= weight.max() / 2]
    chosen.sort(key=lambda j: -weight[origin[j]])  # stable: in the order above within an origin
    return [kept[j][0] for j in chosen[:n]]
