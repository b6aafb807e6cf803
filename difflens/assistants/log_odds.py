"""Distinctive n-grams between two groups of texts: the log-odds ratio with an informative
Dirichlet prior (Monroe, Colaresi & Quinn 2008, "Fightin' Words", section 3.5).

For a term w with counts y_a, y_b in groups of n_a, n_b terms, and a prior α_w = α0 · p_w where
p_w is the term's share of both groups pooled,

    δ_w = log((y_b + α_w) / (n_b + α0 - y_b - α_w)) - log((y_a + α_w) / (n_a + α0 - y_a - α_w))
    Var(δ_w) ≈ 1 / (y_b + α_w) + 1 / (y_a + α_w)
    z_w = δ_w / sqrt(Var(δ_w))

z_w > 0: w is more frequent in group B. The prior shrinks the log-odds of rare terms towards
zero, so a word seen twice in B and never in A does not outrank a frequent, consistent one.
Each n-gram order is scored against the totals of its own order.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from difflens.assistants.grounding import words

# Function words: a unigram among them is never distinctive content, and an n-gram may not
# begin or end with an article.
STOPWORDS = frozenset(
    "a an the and or but of to in on at by for with from as is are was were be been being it its "
    "this that these those there here he she they them his her their we our you your me my "
    "so if then than when while do does did has have had not no".split()
)
_ARTICLES = frozenset({"a", "an", "the"})
_SENTENCE_END = re.compile(r"[.!?;]+")


def ngram_counts(texts: Sequence[str], max_n: int = 3) -> Counter:
    """Counts of word n-grams (n = 1..max_n) over ``texts``, as space-joined strings.

    N-grams do not cross sentence ends; unigrams that are function words and n-grams that
    begin or end with an article or consist of function words only are skipped.
    """
    counts: Counter = Counter()
    for text in texts:
        for sentence in sentences(text):
            tokens = words(sentence)
            for n in range(1, max_n + 1):
                for i in range(len(tokens) - n + 1):
                    gram = tokens[i:i + n]
                    if gram[0] in _ARTICLES or gram[-1] in _ARTICLES:
                        continue
                    if all(t in STOPWORDS for t in gram):
                        continue
                    counts[" ".join(gram)] += 1
    return counts


def sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text) if s.strip()]


@dataclass(frozen=True)
class TermScore:
    """A term's log-odds ratio and its z-score (positive: more frequent in group B)."""

    term: str
    delta: float
    z: float
    count_a: int
    count_b: int


def log_odds_dirichlet(counts_a: Counter, counts_b: Counter, prior_strength: float = 500.0) -> list[TermScore]:
    """Score every term of either group; sorted by z, most B-distinctive first.

    Args:
        counts_a: term counts of group A (n-gram strings; the order is the number of spaces + 1).
        counts_b: term counts of group B.
        prior_strength: α0, the prior's total pseudo-count per n-gram order; larger shrinks more.
    """
    if prior_strength <= 0:
        raise ValueError(f"prior_strength must be > 0, got {prior_strength}")
    order = lambda term: term.count(" ") + 1  # noqa: E731
    totals_a: Counter = Counter()
    totals_b: Counter = Counter()
    for term, c in counts_a.items():
        totals_a[order(term)] += c
    for term, c in counts_b.items():
        totals_b[order(term)] += c
    scores = []
    for term in set(counts_a) | set(counts_b):
        k = order(term)
        y_a, y_b = counts_a.get(term, 0), counts_b.get(term, 0)
        n_a, n_b = totals_a[k], totals_b[k]
        alpha = prior_strength * (y_a + y_b) / (n_a + n_b)
        delta = (math.log((y_b + alpha) / (n_b + prior_strength - y_b - alpha))
                 - math.log((y_a + alpha) / (n_a + prior_strength - y_a - alpha)))
        z = delta / math.sqrt(1.0 / (y_b + alpha) + 1.0 / (y_a + alpha))
        scores.append(TermScore(term, delta, z, y_a, y_b))
    scores.sort(key=lambda s: (-s.z, s.term))
    return scores

