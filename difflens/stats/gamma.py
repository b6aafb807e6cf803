"""Sequences γ_j (j = 1, 2, ...) that spread alpha-wealth over time; each sums to at most 1.

The defaults are those of the R package onlineFDR (Robertson et al.):

* SAFFRON and ADDIS: ``γ_j = j^-1.6 / ζ(1.6)``. onlineFDR hard-codes the constant as
  ``0.4374901658``, which exceeds ``1/ζ(1.6) = 0.43749016577...`` by 2.6e-11, so its sequence
  sums to 1 + 6e-11. We use the exact ``1/ζ(1.6)``; levels agree to 1e-10.
* LORD++: ``γ_j = 0.07720838 · log(max(j, 2)) / (j · exp(√log j))`` (Javanmard and Montanari
  2018, eq. 31). Its tail is heavy: the first million terms sum to only 0.52.
"""

from __future__ import annotations

import math
from functools import lru_cache

from scipy.special import zeta

#: exponent of the SAFFRON/ADDIS power-law sequence
SAFFRON_GAMMA_EXPONENT = 1.6
#: 1/ζ(1.6): normalises j^-1.6 to sum exactly 1 over j >= 1
SAFFRON_GAMMA_SCALE = float(1.0 / zeta(SAFFRON_GAMMA_EXPONENT))
#: normalising constant of the LORD sequence, as in onlineFDR
LORD_GAMMA_SCALE = 0.07720838


@lru_cache(maxsize=100_000)
def saffron_gamma(j: int) -> float:
    """``γ_j = j^-1.6 / ζ(1.6)`` for ``j >= 1``."""
    if j < 1:
        raise ValueError(f"gamma index must be >= 1, got {j}")
    return SAFFRON_GAMMA_SCALE * j ** -SAFFRON_GAMMA_EXPONENT


@lru_cache(maxsize=100_000)
def lord_gamma(j: int) -> float:
    """``γ_j = 0.07720838 · log(max(j, 2)) / (j · exp(√log j))`` for ``j >= 1``."""
    if j < 1:
        raise ValueError(f"gamma index must be >= 1, got {j}")
    return LORD_GAMMA_SCALE * math.log(max(j, 2)) / (j * math.exp(math.sqrt(math.log(j))))
