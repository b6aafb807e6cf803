"""Benjamini–Hochberg (1995): the offline step-up procedure, for comparison with online ones.

Sort the m p-values, find the largest k with ``p_(k) <= k α / m`` and reject the k smallest.
Unlike the online procedures it sees all p-values at once, so it is the power an online
procedure gives up for deciding as it goes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from difflens.stats.checks import check_alpha, check_p_value


def benjamini_hochberg(p_values: Sequence[float], alpha: float = 0.05) -> list[bool]:
    """Rejections of the BH procedure at level ``alpha``, in the input order.

    Raises:
        DataError: a p-value is NaN or outside [0, 1].
        ConfigError: alpha outside (0, 1).
    """
    alpha = check_alpha(alpha)
    p = np.array([check_p_value(v, f"p-value {i}") for i, v in enumerate(p_values)], dtype=float)  # (m,)
    m = len(p)
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    below = p[order] <= alpha * np.arange(1, m + 1) / m
    k = int(np.nonzero(below)[0].max()) + 1 if below.any() else 0
    rejected = np.zeros(m, dtype=bool)
    rejected[order[:k]] = True
    return rejected.tolist()


def bh_adjusted(p_values: Sequence[float]) -> list[float]:
    """BH-adjusted p-values (q-values): reject at level α iff adjusted <= α."""
    p = np.array([check_p_value(v, f"p-value {i}") for i, v in enumerate(p_values)], dtype=float)
    m = len(p)
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1].clip(max=1.0)
    out = np.empty(m)
    out[order] = adjusted
    return out.tolist()
