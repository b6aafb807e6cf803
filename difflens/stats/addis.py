"""ADDIS (Tian and Ramdas, NeurIPS 2019), parameterised as onlineFDR.

ADDIS adds discarding to SAFFRON: p-values above τ are "discarded" (they neither spend wealth
nor advance the γ index), which regains power when null p-values are conservative (many near
1). With ``S_i = 1{p_i <= τ}``, ``C_i = 1{p_i <= λ}``, ``S^t = Σ_{i<t} S_i``,
``C_{0+} = Σ_{i<t} C_i``, ``κ*_j = Σ_{i<=τ_j} S_i`` and ``C_{j+} = Σ_{τ_j < i < t} C_i``::

    α_t = min(λ, (τ − λ) · [ w0 γ_{S^t − C_{0+} + 1} + (α − w0) γ_{S^t − κ*_1 − C_{1+} + 1}
                               + α Σ_{j≥2} γ_{S^t − κ*_j − C_{j+} + 1} ])

The ``+ 1`` is onlineFDR's indexing (its γ vector has N + 1 entries and index 0 is γ_1); the
paper's subscripts start where the sum is 0. λ is absolute (a candidate has p <= λ < τ) and
0 < w0 <= α. Defaults follow onlineFDR's ``ADDIS``: α = 0.05, w0 = α/2, λ = 0.25, τ = 0.5.

Wealth after test t is ``w0 + earned − Σ α_i 1{λ < p_i <= τ} / (τ − λ)``.
"""

from __future__ import annotations

from difflens.errors import ConfigError
from difflens.stats.checks import check_alpha, check_initial_wealth, check_open_unit
from difflens.stats.gamma import saffron_gamma
from difflens.stats.online import Decision, OnlineFDR, earned_wealth, register


@register
class Addis(OnlineFDR):
    """ADDIS online FDR control with adaptive discarding.

    Args:
        alpha: target FDR level, in (0, 1).
        w0: initial wealth, 0 < w0 <= alpha; None means alpha / 2.
        lam: candidate threshold λ, 0 < λ < τ.
        tau: discarding threshold τ in (0, 1); p-values above τ are discarded.

    Raises:
        ConfigError: alpha outside (0, 1), w0 > alpha or w0 <= 0, not 0 < lam < tau < 1.
    """

    method = "addis"

    def __init__(self, alpha: float = 0.05, w0: float | None = None, lam: float = 0.25, tau: float = 0.5):
        alpha = check_alpha(alpha)
        super().__init__(alpha)
        self.w0 = check_initial_wealth(w0, alpha, default=alpha / 2)
        self.tau = check_open_unit(tau, "tau (the discarding threshold τ)")
        self.lam = check_open_unit(lam, "lam (the candidate threshold λ)")
        if not self.lam < self.tau:
            raise ConfigError(f"ADDIS needs lam < tau, got lam={lam}, tau={tau}")
        self._candidate_prefix = [0]
        self._selected_prefix = [0]
        self._spent = 0.0

    def params(self) -> dict[str, float]:
        return {"alpha": self.alpha, "w0": self.w0, "lam": self.lam, "tau": self.tau}

    def level(self) -> float:
        s, c0 = self._selected_prefix[-1], self._candidate_prefix[-1]
        total = self.w0 * saffron_gamma(s - c0 + 1)
        for j, rejection in enumerate(self.rejection_times):
            kappa = self._selected_prefix[rejection]
            cj = c0 - self._candidate_prefix[rejection]
            total += (self.alpha - self.w0 if j == 0 else self.alpha) * saffron_gamma(s - kappa - cj + 1)
        return min(self.lam, (self.tau - self.lam) * total)

    def _record(self, p: float, alpha_t: float, rejected: bool) -> Decision:
        candidate, selected = p <= self.lam, p <= self.tau
        self._candidate_prefix.append(self._candidate_prefix[-1] + candidate)
        self._selected_prefix.append(self._selected_prefix[-1] + selected)
        if selected and not candidate:
            self._spent += alpha_t / (self.tau - self.lam)
        wealth = self.w0 + earned_wealth(self.alpha, self.w0, self.n_rejections) - self._spent
        return Decision(self.t + 1, p, alpha_t, rejected, candidate, selected, wealth, self.n_rejections)
