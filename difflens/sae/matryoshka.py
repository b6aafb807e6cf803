"""Matryoshka BatchTopK SAE (Bussmann et al. 2025; Nabeshima 2024).

The latents are split into nested groups ``g_1 | g_2 | ... | g_n``; prefix ``i`` (the first
``i`` groups) must reconstruct the target on its own, so early latents learn general features
and later ones refine them. The reconstruction loss is the mean over the ``n`` prefixes:

    L = 1/n sum_i ||y - (b_dec + sum_{j<=i} f_gj W_dec,gj)||^2  (+ AuxK)

Each group is decoded sparsely into one running residual (`NestedReconstructionLoss`).
"""

from __future__ import annotations

import torch

from difflens.sae.batchtopk import BatchTopKSAE
from difflens.sae.registry import register
from difflens.sae.sparse import _csr, _transpose_matmul


class NestedReconstructionLoss(torch.autograd.Function):
    """Prefix losses ``L_i = ||r_i||^2 / B`` with ``r_i = y - b_dec - sum_{j<=i} f_gj W_dec,gj``.

    Fused so that no ``(n_groups, B, d_out)`` tensor exists: forward subtracts one group's
    sparse decode at a time from a single residual; backward walks the groups in reverse,
    accumulating ``dL/dP_j = -sum_{i>=j} 2 w_i r_i / B`` and recovering ``r_{j-1} = r_j + P_j``
    by decoding again instead of storing every residual.

    Inputs are the codes sorted by group (rows sorted within each group) and ``offsets``, the
    group boundaries in that order. Returns the ``(n_groups,)`` prefix losses and the final
    residual (not differentiable).
    """

    @staticmethod
    def forward(ctx, values, W_dec, b_dec, y, rows, cols, offsets: list[int]):
        B = y.shape[0]
        residual = y - b_dec  # (B, d_out)
        losses, crows = [], []
        for g in range(len(offsets) - 1):
            lo, hi = offsets[g], offsets[g + 1]
            counts = torch.bincount(rows[lo:hi], minlength=B)
            crows.append(torch.cat([counts.new_zeros(1), counts.cumsum(0)]))
            residual.addmm_(_csr(values[lo:hi], crows[g], cols[lo:hi], (B, W_dec.shape[0])), W_dec, alpha=-1)
            flat = residual.view(-1)  # (B * d_out,)
            losses.append(torch.dot(flat, flat) / B)
        ctx.save_for_backward(values, W_dec, rows, cols, residual)
        ctx.offsets, ctx.crows = offsets, crows
        ctx.mark_non_differentiable(residual)
        return torch.stack(losses), residual

    @staticmethod
    def backward(ctx, grad_losses, _grad_residual):
        values, W_dec, rows, cols, residual = ctx.saved_tensors
        offsets, crows = ctx.offsets, ctx.crows
        B, d_sae = residual.shape[0], W_dec.shape[0]
        acc = torch.zeros_like(residual)  # sum_{i>=g} 2 w_i r_i / B  (= -dL/dP_g)
        r = residual.clone()
        grad_values = torch.zeros_like(values)
        grad_W = torch.zeros_like(W_dec)
        W_t = W_dec.t()
        for g in reversed(range(len(offsets) - 1)):
            lo, hi = offsets[g], offsets[g + 1]
            acc.add_(r, alpha=float(2 * grad_losses[g] / B))
            if hi > lo:
                pattern = _csr(torch.ones_like(values[lo:hi]), crows[g], cols[lo:hi], (B, d_sae))
                grad_values[lo:hi] = -torch.sparse.sampled_addmm(pattern, acc, W_t, beta=0.0).values()
                grad_W -= _transpose_matmul(values[lo:hi], rows[lo:hi], cols[lo:hi], d_sae, acc)
                if g > 0:
                    r.addmm_(_csr(values[lo:hi], crows[g], cols[lo:hi], (B, d_sae)), W_dec)  # r_{g-1}
        grad_b = -acc.sum(0) if ctx.needs_input_grad[2] else None
        grad_y = acc.clone() if ctx.needs_input_grad[3] else None
        return grad_values, grad_W, grad_b, grad_y, None, None, None


@register
class MatryoshkaBatchTopKSAE(BatchTopKSAE):
    """BatchTopK with a loss averaged over nested prefixes of the latents (``cfg.group_sizes``)."""

    architecture = "matryoshka"

    def __init__(self, cfg):
        super().__init__(cfg)
        bounds = torch.tensor(self.cfg.matryoshka_groups()).cumsum(0)
        self.register_buffer("group_ends", bounds, persistent=False)  # (n_groups,)

    def reconstruction_loss(self, codes, crow, y):
        n_groups = len(self.group_ends)
        group = torch.bucketize(codes.cols, self.group_ends, right=True)  # (nnz,) group of each latent
        order = torch.argsort(group, stable=True)  # grouped; rows stay sorted within a group
        counts = torch.bincount(group, minlength=n_groups)
        offsets = [0, *counts.cumsum(0).tolist()]
        prefix_losses, residual = NestedReconstructionLoss.apply(
            codes.values[order], self.W_dec, self.b_dec, y, codes.rows[order], codes.cols[order], offsets)
        terms = {"mse": prefix_losses[-1].detach(), "mse_first_prefix": prefix_losses[0].detach()}
        return y - residual, prefix_losses.mean(), terms
