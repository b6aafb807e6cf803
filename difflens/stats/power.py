"""Exact power of the validation tests, and the sample size that reaches a target power.

Validation fixes the number of judgements per hypothesis before it starts (DESIGN.md); these
functions turn flag rates estimated beforehand (on proposal-split texts, never held-out ones)
into that number. Power is computed exactly from the tests' own rejection regions, not from a
normal approximation: at the small rates and levels of validation (a property in 2% of texts,
a level near 0.005) the normal approximation is optimistic.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np
from scipy import stats

from difflens.errors import ConfigError
from difflens.stats.checks import check_alpha, check_initial_wealth, check_open_unit
from difflens.stats.gamma import saffron_gamma


def _check_rate(p: float, name: str) -> float:
    if not 0.0 <= p <= 1.0:
        raise ConfigError(f"{name} must be a rate in [0, 1], got {p}")
    return float(p)


def _smallest_rejecting(sf: Callable[[np.ndarray], np.ndarray], guess: np.ndarray, alpha: float,
                        upper: np.ndarray) -> np.ndarray:
    """Per entry, the smallest k with ``sf(k - 1) <= alpha`` (``upper + 1`` when none), starting
    from a quantile ``guess`` and correcting the off-by-one of floating point quantiles."""
    k = np.clip(guess, 0, upper + 1).astype(np.int64)
    for _ in range(4):
        lower_ok = (k > 0) & (sf(k - 2) <= alpha)  # k - 1 already rejects: step down
        k = np.where(lower_ok, k - 1, k)
        not_ok = (k <= upper) & (sf(k - 1) > alpha)  # k does not reject: step up
        k = np.where(not_ok, k + 1, k)
    return k


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)  # cached: a caller must not change what the next one reads
    return array


@lru_cache(maxsize=4096)  # rate-free: a sample size search asks for the same n again and again
def fisher_critical_values(n: int, alpha: float) -> np.ndarray:
    """For each total of flagged texts t = 0..2n (n texts per model), the smallest count of
    flagged direction-model texts that the one-sided Fisher test rejects at ``alpha``
    (``n + 1`` where no count does)."""
    t = np.arange(2 * n + 1)
    upper = np.minimum(t, n)
    guess = stats.hypergeom.ppf(1 - alpha, 2 * n, t, n) + 1

    def sf(k):
        return stats.hypergeom.sf(k, 2 * n, t, n)

    return _read_only(_smallest_rejecting(sf, np.nan_to_num(guess, nan=0.0), alpha, upper))


def fisher_power(p_direction: float, p_other: float, n: int, alpha: float) -> float:
    """Exact power of the one-sided Fisher test (`fisher_p_value`) with ``n`` texts per model.

    Args:
        p_direction: rate at which the judge flags the direction model's texts.
        p_other: rate at which it flags the other model's texts.
        n: texts judged per model.
        alpha: the level the p-value is compared with.

    Returns:
        ``P(p_fisher <= alpha)`` when the flags are independent Bernoulli draws at those rates.
    """
    alpha = check_alpha(alpha)
    p1, p0 = _check_rate(p_direction, "p_direction"), _check_rate(p_other, "p_other")
    if n < 1:
        return 0.0
    critical = fisher_critical_values(n, alpha)  # (2n + 1,)
    x = np.arange(n + 1)
    reject = x[:, None] >= critical[x[:, None] + x[None, :]]  # (n + 1, n + 1): [flagged direction, flagged other]
    return float(np.clip(stats.binom.pmf(x, n, p1) @ reject @ stats.binom.pmf(x, n, p0), 0.0, 1.0))


@lru_cache(maxsize=4096)  # rate-free: a sample size search asks for the same n again and again
def sign_critical_values(m: int, alpha: float) -> np.ndarray:
    """For each number of discordant pairs d = 0..m, the smallest count of direction-only
    pairs that the one-sided exact McNemar test rejects at ``alpha`` (``d + 1`` where none does)."""
    d = np.arange(m + 1)
    guess = stats.binom.ppf(1 - alpha, d, 0.5) + 1

    def sf(k):
        return stats.binom.sf(k, d, 0.5)

    return _read_only(_smallest_rejecting(sf, np.nan_to_num(guess, nan=0.0), alpha, d))


def paired_power(p_direction_only: float, p_other_only: float, m: int, alpha: float) -> float:
    """Exact power of the one-sided McNemar test (`mcnemar_p_value`) on ``m`` same-prompt pairs.

    Args:
        p_direction_only: probability that a pair has the property flagged in the direction
            model's text only.
        p_other_only: probability that it is flagged in the other model's text only.
        m: pairs judged.
        alpha: the level the p-value is compared with.

    Returns:
        ``P(p_mcnemar <= alpha)`` when pairs are independent: the number of discordant pairs is
        Binomial(m, p10 + p01), and given d of them the direction-only count is Binomial(d, q)
        with ``q = p10 / (p10 + p01)``.
    """
    alpha = check_alpha(alpha)
    p10, p01 = _check_rate(p_direction_only, "p_direction_only"), _check_rate(p_other_only, "p_other_only")
    if p10 + p01 > 1.0 + 1e-12:
        raise ConfigError(f"discordance rates {p10} + {p01} exceed 1")
    if m < 1 or p10 == 0.0:
        return 0.0
    discordant = p10 + p01
    d = np.arange(m + 1)
    critical = sign_critical_values(m, alpha)
    rejects_given_d = stats.binom.sf(critical - 1, d, p10 / discordant)  # P(B >= c(d) | d)
    return float(np.clip(stats.binom.pmf(d, m, min(discordant, 1.0)) @ rejects_given_d, 0.0, 1.0))


def independent_discordance(p_direction: float, p_other: float) -> tuple[float, float]:
    """Discordance rates ``(p10, p01)`` of pairs whose two flags are independent.

    The two texts of a pair continue one prompt with one seed, so their flags are positively
    correlated in practice; correlation removes discordant pairs of both kinds while keeping
    ``p10 - p01 = p_direction - p_other``, which only raises the sign test's power. Planning
    with independent flags is therefore conservative: it asks for at least as many pairs.
    """
    return p_direction * (1 - p_other), p_other * (1 - p_direction)


def smallest_sample_size(power: Callable[[int], float], target: float, n_min: int, n_max: int) -> int:
    """The smallest n in ``[n_min, n_max]`` with ``power(n) >= target``, by bisection; ``n_max``
    when even it falls short.

    The exact power of a discrete test rises with n in a saw-tooth (a point or two up and down
    between neighbours), so bisection returns an n that reaches the target, possibly a few above
    the first that does.
    """
    target = check_open_unit(target, "target power")
    if not 1 <= n_min <= n_max:
        raise ConfigError(f"sample size bounds must satisfy 1 <= n_min <= n_max, got {n_min} and {n_max}")
    if power(n_min) >= target:
        return n_min
    if power(n_max) < target:
        return n_max
    lo, hi = n_min, n_max  # power(lo) < target <= power(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if power(mid) >= target:
            hi = mid
        else:
            lo = mid
    return hi


def saffron_first_level(alpha: float = 0.05, w0: float | None = None, lam: float = 0.5) -> float:
    """SAFFRON's level for its first hypothesis, ``min(λ, (1 − λ) · w0 · γ_1)``: 0.0055 with
    onlineFDR's defaults (α = 0.05, w0 = α/2, λ = 0.5).

    It is also the level of every later hypothesis until the first discovery as long as the
    earlier ones were candidates (p <= λ); a discovery raises later levels and a non-candidate
    lowers them. Fixed before any p-value is seen, it is the natural level to plan n for.
    """
    alpha = check_alpha(alpha)
    w0 = check_initial_wealth(w0, alpha, default=alpha / 2)
    lam = check_open_unit(lam, "lam (the candidate threshold λ)")
    return min(lam, (1 - lam) * w0 * saffron_gamma(1))
