"""LORD++ (Ramdas, Yang, Wainwright and Jordan 2017; Javanmard and Montanari 2018).

With rejection times ``τ_1 < τ_2 < ...`` the level for hypothesis t is::

    α_t = w0 γ_t + (α − w0) γ_{t − τ_1} + α Σ_{j≥2} γ_{t − τ_j}

with onlineFDR's defaults α = 0.05, w0 = α/10 and the LORD sequence of `gamma.lord_gamma`.
Wealth after test t is ``w0 + earned − Σ_{i<=t} α_i`` (earned = α − w0 for the first
discovery, α after). The package online-fdr credits α for the first discovery too and caps
α_t at that larger wealth; the cap can never bind, so decisions agree.
"""

from __future__ import annotations

from difflens.stats.checks import check_alpha, check_initial_wealth
from difflens.stats.gamma import lord_gamma
from difflens.stats.online import Decision, OnlineFDR, earned_wealth, register


@register
class LordPlusPlus(OnlineFDR):
    """LORD++ online FDR control.

    Args:
        alpha: target FDR level, in (0, 1).
        w0: initial wealth, 0 < w0 <= alpha; None means alpha / 10 (onlineFDR's default).

    Raises:
        ConfigError: alpha outside (0, 1), w0 > alpha or w0 <= 0.
    """

    method = "lord++"

    def __init__(self, alpha: float = 0.05, w0: float | None = None):
        alpha = check_alpha(alpha)
        super().__init__(alpha)
        self.w0 = check_initial_wealth(w0, alpha, default=alpha / 10)
        self._spent = 0.0

    def params(self) -> dict[str, float]:
        return {"alpha": self.alpha, "w0": self.w0}

    def level(self) -> float:
        t = self.t + 1
        total = self.w0 * lord_gamma(t)
        for j, tau in enumerate(self.rejection_times):
            total += (self.alpha - self.w0 if j == 0 else self.alpha) * lord_gamma(t - tau)
        return total

    def _record(self, p: float, alpha_t: float, rejected: bool) -> Decision:
        self._spent += alpha_t
        wealth = self.w0 + earned_wealth(self.alpha, self.w0, self.n_rejections) - self._spent
        return Decision(self.t + 1, p, alpha_t, rejected, None, True, wealth, self.n_rejections)
