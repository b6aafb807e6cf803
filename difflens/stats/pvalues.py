"""P-values for validating one hypothesis from judgements of held-out texts.

All tests are one-sided: the alternative is the hypothesis's claim (the judge tells the
``direction`` model's texts apart better than chance; the direction model prefers texts that
fit the hypothesis). Each uses the number of judgements actually made, never the number
planned: a judgement that came back unusable is not a guess and is not counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from difflens.errors import DataError


def binomial_p_value(successes: int, n: int, p0: float = 0.5) -> float:
    """Exact one-sided binomial p-value ``P(X >= successes)`` for ``X ~ Binomial(n, p0)``.

    ``n = 0`` (no usable judgement) gives 1.0: no evidence against the null.

    Raises:
        DataError: if not ``0 <= successes <= n``.
    """
    if not 0 <= successes <= n:
        raise DataError(f"binomial test needs 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return 1.0
    return float(min(1.0, stats.binom.sf(successes - 1, n, p0)))


def sign_test_p_value(differences: Sequence[float]) -> tuple[float, int, int]:
    """One-sided exact sign test that the median of paired ``differences`` is > 0.

    Zero differences carry no sign and are dropped. Valid for any distribution of the pairs'
    differences as long as pairs are independent (no symmetry assumption, unlike Wilcoxon).

    Returns:
        ``(p_value, n_positive, n_nonzero)``.
    """
    d = np.asarray(differences, dtype=float)
    if np.isnan(d).any():
        raise DataError("sign test: a paired difference is NaN")
    positive, nonzero = int((d > 0).sum()), int((d != 0).sum())
    return binomial_p_value(positive, nonzero), positive, nonzero


def mcnemar_p_value(direction_only: int, other_only: int) -> float:
    """Exact one-sided McNemar (sign) test on the discordant pairs of a paired design.

    Each pair is one prompt continued by both models with the same seed; ``direction_only``
    pairs have the property flagged in the direction model's text only, ``other_only`` in the
    other model's text only. Concordant pairs say nothing about which model shows the property
    more and do not enter. Under the null (within a pair the two texts are exchangeable) each
    discordant pair is a fair coin, so the p-value is ``P(X >= direction_only)`` for
    ``X ~ Binomial(direction_only + other_only, 1/2)``. No discordant pair gives 1.0.

    Raises:
        DataError: if a count is negative.
    """
    if direction_only < 0 or other_only < 0:
        raise DataError(f"McNemar test needs counts >= 0, got {direction_only} and {other_only}")
    n = direction_only + other_only
    if n == 0:
        return 1.0
    return float(min(1.0, stats.binomtest(direction_only, n, 0.5, alternative="greater").pvalue))


def fisher_p_value(hits_a: int, n_a: int, hits_b: int, n_b: int) -> float:
    """One-sided Fisher exact p-value that group A's rate of hits exceeds group B's.

    ``P(X >= hits_a)`` for ``X ~ Hypergeometric`` given both margins: valid whenever the two
    groups' items are exchangeable under the null. For a judge that flags a property sharply,
    this is far more powerful than Mann–Whitney on the raw scores when the property is rare:
    the score noise of the many texts without it carries no signal. ``n_a = 0`` or ``n_b = 0``
    gives 1.0.

    Raises:
        DataError: if a count is outside ``[0, n]``.
    """
    if not (0 <= hits_a <= n_a and 0 <= hits_b <= n_b):
        raise DataError(f"Fisher test needs 0 <= hits <= n, got {hits_a}/{n_a} and {hits_b}/{n_b}")
    if n_a == 0 or n_b == 0:
        return 1.0
    total_hits = hits_a + hits_b
    return float(min(1.0, stats.hypergeom.sf(hits_a - 1, n_a + n_b, total_hits, n_a)))


@dataclass(frozen=True)
class MannWhitney:
    """A one-sided Mann–Whitney U test with the AUC it implies.

    Attributes:
        auc: ``U / (n_pos · n_neg)``: the probability that a random positive scores above a
            random negative, ties counting one half.
        p_value: one-sided p-value for "positives score higher".
        u: the U statistic of the positives.
        n_pos: number of positive scores; n_neg: number of negative scores.
    """

    auc: float
    p_value: float
    u: float
    n_pos: int
    n_neg: int


def mann_whitney_auc(positive: Sequence[float], negative: Sequence[float]) -> MannWhitney:
    """Mann–Whitney U test that ``positive`` scores are stochastically larger than ``negative``.

    Uses scipy's exact distribution when both groups are small and there are no ties, else the
    normal approximation with tie correction (and continuity correction). An empty group gives
    AUC 0.5 and p = 1.
    """
    pos, neg = np.asarray(positive, dtype=float), np.asarray(negative, dtype=float)
    if np.isnan(pos).any() or np.isnan(neg).any():
        raise DataError("Mann–Whitney test: a score is NaN; drop unusable judgements first")
    if len(pos) == 0 or len(neg) == 0:
        return MannWhitney(0.5, 1.0, 0.0, len(pos), len(neg))
    if np.ptp(np.concatenate([pos, neg])) == 0:  # all scores equal: no information
        u = 0.5 * len(pos) * len(neg)
        return MannWhitney(0.5, 1.0, u, len(pos), len(neg))
    result = stats.mannwhitneyu(pos, neg, alternative="greater", method="auto")
    u = float(result.statistic)
    return MannWhitney(u / (len(pos) * len(neg)), float(min(1.0, result.pvalue)), u, len(pos), len(neg))
