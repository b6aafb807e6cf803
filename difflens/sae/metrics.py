"""Dictionary-learning metrics as torchmetrics (so that they reduce across DDP ranks)."""

from __future__ import annotations

import torch
from torchmetrics import Metric

from difflens.sae.sparse import SparseCodes


class FeatureDensity(Metric):
    """How often each latent fires: ``counts / tokens`` over the updates since the last reset.

    Args:
        d_sae: number of latents.
    """

    full_state_update = False

    def __init__(self, d_sae: int, **kwargs):
        super().__init__(**kwargs)
        self.add_state("counts", default=torch.zeros(d_sae, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("tokens", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, codes: SparseCodes) -> None:
        fired = codes.cols[codes.values > 0]
        self.counts += torch.bincount(fired, minlength=self.counts.numel()).to(self.counts.dtype)
        self.tokens += codes.n_rows

    def compute(self) -> torch.Tensor:
        return (self.counts / self.tokens.clamp_min(1)).float()  # (d_sae,)


def fraction_of_variance_unexplained(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``||y - y^||^2 / ||y - mean(y)||^2`` over a batch ``(B, d)``; 0 is perfect, 1 is the mean."""
    residual = (target - recon).pow(2).sum()
    variance = (target - target.mean(0)).pow(2).sum().clamp_min(1e-12)
    return residual / variance
