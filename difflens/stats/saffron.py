"""SAFFRON (Ramdas, Zrnic, Wainwright and Jordan, ICML 2018), parameterised as onlineFDR.

With candidates ``C_i = 1{p_i <= λ}``, rejection times ``τ_1 < τ_2 < ...``,
``C_{0+} = Σ_{i<t} C_i`` and ``C_{j+} = Σ_{τ_j < i < t} C_i``, the level for hypothesis t is::

    α_t = min(λ, (1 − λ) · [ w0 γ_{t − C_{0+}} + (α − w0) γ_{t − τ_1 − C_{1+}}
                               + α Σ_{j≥2} γ_{t − τ_j − C_{j+}} ])

Parameterisation: the paper writes the bracket times (1 − λ) folded into its own ``w0``,
``W0_paper = (1 − λ) · w0`` with ``W0_paper <= (1 − λ) α``. onlineFDR (and this module) take
``w0 <= α`` and multiply by ``(1 − λ)``; the two are the same procedure. Defaults follow
onlineFDR: α = 0.05, w0 = α/2, λ = 0.5, ``γ_j = j^-1.6 / ζ(1.6)``.

SAFFRON only pays for hypotheses that are not candidates. The wealth reported after test t is
``w0 + earned − Σ_{i<=t} α_i 1{p_i > λ} / (1 − λ)``, with earned = α − w0 for the first
discovery and α for each later one; it stays >= 0, which is the paper's invariant
``FDP̂(t) = Σ α_i 1{p_i > λ} / ((1 − λ)(R(t) ∨ 1)) <= α``.

FDR control needs the null p-values to be independent of each other and of the non-nulls (and
super-uniform): validate each hypothesis on its own texts.
"""

from __future__ import annotations

from difflens.stats.checks import check_alpha, check_initial_wealth, check_open_unit
from difflens.stats.gamma import saffron_gamma
from difflens.stats.online import Decision, OnlineFDR, earned_wealth, register


@register
class Saffron(OnlineFDR):
    """SAFFRON online FDR control.

    Args:
        alpha: target FDR level, in (0, 1).
        w0: initial wealth, 0 < w0 <= alpha; None means alpha / 2.
        lam: candidate threshold λ in (0, 1); no p-value above λ is ever rejected.

    Raises:
        ConfigError: alpha outside (0, 1), w0 > alpha or w0 <= 0, lam outside (0, 1).
    """

    method = "saffron"

    def __init__(self, alpha: float = 0.05, w0: float | None = None, lam: float = 0.5):
        alpha = check_alpha(alpha)
        super().__init__(alpha)
        self.w0 = check_initial_wealth(w0, alpha, default=alpha / 2)
        self.lam = check_open_unit(lam, "lam (the candidate threshold λ)")
        self._candidate_prefix = [0]  # _candidate_prefix[k] = candidates among the first k tests
        self._spent = 0.0

    def params(self) -> dict[str, float]:
        return {"alpha": self.alpha, "w0": self.w0, "lam": self.lam}

    def level(self) -> float:
        t = self.t + 1
        c0 = self._candidate_prefix[-1]
        total = self.w0 * saffron_gamma(t - c0)
        for j, tau in enumerate(self.rejection_times):
            cj = c0 - self._candidate_prefix[tau]
            total += (self.alpha - self.w0 if j == 0 else self.alpha) * saffron_gamma(t - tau - cj)
        return min(self.lam, (1 - self.lam) * total)

    def _record(self, p: float, alpha_t: float, rejected: bool) -> Decision:
        candidate = p <= self.lam
        self._candidate_prefix.append(self._candidate_prefix[-1] + candidate)
        if not candidate:
            self._spent += alpha_t / (1 - self.lam)
        wealth = self.w0 + earned_wealth(self.alpha, self.w0, self.n_rejections) - self._spent
        return Decision(self.t + 1, p, alpha_t, rejected, candidate, True, wealth, self.n_rejections)
