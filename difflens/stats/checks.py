"""Argument checks shared by the statistics: each raises an error that says what to change."""

from __future__ import annotations

import math

from difflens.errors import ConfigError, DataError


def check_p_value(p, what: str = "p-value") -> float:
    """Return ``p`` as a float if it is a number in [0, 1]; otherwise raise `DataError`."""
    try:
        value = float(p)
    except (TypeError, ValueError):
        raise DataError(f"{what} must be a number in [0, 1], got {p!r}") from None
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise DataError(f"{what} must be a number in [0, 1], got {p!r}: a p-value outside [0, 1] "
                        f"or NaN means the test that produced it is broken")
    return value


def check_alpha(alpha: float, name: str = "alpha") -> float:
    """Return ``alpha`` if it is in the open interval (0, 1); otherwise raise `ConfigError`."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 < float(alpha) < 1.0:
        raise ConfigError(f"{name} must be in (0, 1) (e.g. 0.05), got {alpha!r}")
    return float(alpha)


def check_open_unit(value: float, name: str) -> float:
    """Return ``value`` if it is in (0, 1); otherwise raise `ConfigError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < float(value) < 1.0:
        raise ConfigError(f"{name} must be in (0, 1), got {value!r}")
    return float(value)


def check_initial_wealth(w0: float | None, alpha: float, default: float) -> float:
    """``w0`` (None means ``default``) must satisfy 0 < w0 <= alpha."""
    if w0 is None:
        return default
    if isinstance(w0, bool) or not isinstance(w0, (int, float)) or math.isnan(w0):
        raise ConfigError(f"w0 must be a number in (0, alpha], got {w0!r}")
    if w0 > alpha:
        raise ConfigError(f"w0 (initial wealth) must not exceed alpha: got w0={w0} > alpha={alpha}; "
                          f"lower w0 or leave it unset (default {default:g})")
    if w0 <= 0:
        raise ConfigError(f"w0 (initial wealth) must be > 0, got {w0}: with no wealth nothing can be rejected")
    return float(w0)
