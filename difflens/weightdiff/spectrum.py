"""Singular-value statistics of a weight difference ΔW.

Effective rank is the exponential of the Shannon entropy of the normalised singular values
(Roy & Vetterli 2007): ``exp(-Σ p_i log p_i)`` with ``p_i = σ_i / Σ σ_j``; it is 1 for a rank-1
update and ``min(m, n)`` for a flat spectrum. Energy in the top k directions is
``Σ_{i<k} σ_i² / Σ σ_i²``, the share of ``‖ΔW‖_F²`` they hold. Stable rank is ``‖ΔW‖_F² / σ_1²``.
"""

from __future__ import annotations

import math

import torch


def effective_rank(sv: torch.Tensor) -> float:
    """Roy-Vetterli effective rank of singular values ``sv`` (0 for an all-zero spectrum)."""
    total = float(sv.sum())
    if total <= 0:
        return 0.0
    p = sv[sv > 0].double() / total
    return math.exp(float(-(p * p.log()).sum()))


def energy_top_k(sv: torch.Tensor, k: int) -> float:
    """Share of the squared Frobenius norm in the ``k`` largest singular values."""
    sq = sv.double() ** 2
    total = float(sq.sum())
    return float(sq[:k].sum()) / total if total > 0 else 0.0


def stable_rank(sv: torch.Tensor) -> float:
    """``‖ΔW‖_F² / σ_1²`` (0 for an all-zero spectrum)."""
    top = float(sv[0]) if len(sv) else 0.0
    return float((sv.double() ** 2).sum()) / top**2 if top > 0 else 0.0


def singular_values(delta: torch.Tensor) -> torch.Tensor:
    """Singular values of a dense ΔW, descending, in float32."""
    return torch.linalg.svdvals(delta.float())


def lowrank_singular_values(b: torch.Tensor, a: torch.Tensor, scale: float) -> torch.Tensor:
    """Singular values of ``scale · B A`` without forming it: ``B`` (m, r), ``A`` (r, n).

    With ``B = Q_B R_B`` and ``Aᵀ = Q_A R_A`` (thin QR), ``B A = Q_B (R_B R_Aᵀ) Q_Aᵀ``; the outer
    factors have orthonormal columns, so the singular values are those of the r x r core.
    Cost O((m + n) r²) instead of O(m n min(m, n)).
    """
    _, r_b = torch.linalg.qr(b.double())  # (r, r)
    _, r_a = torch.linalg.qr(a.double().T)  # (r, r)
    return (abs(scale) * torch.linalg.svdvals(r_b @ r_a.T)).float()
