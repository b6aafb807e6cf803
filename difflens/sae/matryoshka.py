"""Matryoshka BatchTopK SAE (Bussmann et al. 2025; Nabeshima 2024).

The latents are split into nested groups ``g_1 | g_2 | ... | g_n``; prefix ``i`` (the first
``i`` groups) must reconstruct the target on its own, so early latents learn general features
and later ones refine them. The reconstruction loss is the mean over the ``n`` prefixes:

    L = 1/n sum_i ||y - (b_dec + sum_{j<=i} f_gj W_dec,gj)||^2  (+ AuxK)

Each group is decoded sparsely once; prefix reconstructions are running sums of the groups.
"""

from __future__ import annotations

import torch

from difflens.sae.batchtopk import BatchTopKSAE
from difflens.sae.registry import register
from difflens.sae.sparse import sparse_decode


@register
class MatryoshkaBatchTopKSAE(BatchTopKSAE):
    """BatchTopK with a loss averaged over nested prefixes of the latents (``cfg.group_sizes``)."""

    architecture = "matryoshka"

    def __init__(self, cfg):
        super().__init__(cfg)
        bounds = torch.tensor(self.cfg.matryoshka_groups()).cumsum(0)
        self.register_buffer("group_ends", bounds, persistent=False)  # (n_groups,)

    def reconstruction_loss(self, codes, crow, y):
        group = torch.bucketize(codes.cols, self.group_ends, right=True)  # (nnz,) group of each latent
        recon = self.b_dec.expand_as(y)
        prefix_losses = []
        for g in range(len(self.group_ends)):
            recon = recon + sparse_decode(codes.select(group == g), self.W_dec)  # (B, d_out)
            prefix_losses.append(self.mse(recon, y))
        loss = torch.stack(prefix_losses).mean()
        terms = {"mse": prefix_losses[-1].detach(), "mse_first_prefix": prefix_losses[0].detach()}
        return recon, loss, terms
