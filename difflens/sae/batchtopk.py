"""BatchTopK SAE (Bussmann et al. 2024): keep the ``B * k`` largest activations of the batch.

Rows may use more or fewer than ``k`` latents; on average they use ``k``. At inference the
batch is not available, so a single threshold replaces the batch rule: ``f = pre * (pre > θ)``,
with θ the running average, over training batches, of the smallest activation kept.

Selection is exact but cheap: the batch's top ``B * k`` are found among each row's top
``2k`` candidates; if some row had all of its candidates kept (it might own more), the rule is
recomputed over the full ``(B, d_sae)`` matrix.
"""

from __future__ import annotations

import torch

from difflens.sae.registry import register
from difflens.sae.sparse import SparseCodes
from difflens.sae.topk import TopKFamily


def batch_topk(pre: torch.Tensor, k: int) -> SparseCodes:
    """The ``B * k`` largest positive entries of ``pre`` ``(B, d_sae)``, rows sorted.

    Values are the raw pre-activations (no grad); entries <= 0 are never selected.
    """
    B, d_sae = pre.shape
    budget = B * k
    n_candidates = min(2 * k, d_sae)
    cand_values, cand_cols = pre.topk(n_candidates, dim=1, sorted=False)  # (B, 2k)
    flat_values, flat_pos = cand_values.reshape(-1).topk(budget, sorted=False)  # (B * k,)
    rows = flat_pos // n_candidates
    if n_candidates < d_sae and torch.bincount(rows, minlength=B).max() >= n_candidates:
        # a row kept all its candidates: its next-best entries might belong in the batch top too
        flat_values, flat_idx = pre.reshape(-1).topk(budget, sorted=False)
        rows, cols = flat_idx // d_sae, flat_idx % d_sae
    else:
        cols = cand_cols.reshape(-1)[flat_pos]
    order = torch.argsort(rows * d_sae + cols)  # row-major, as CSR needs
    codes = SparseCodes(flat_values[order], rows[order], cols[order], B, d_sae)
    return codes.select(codes.values > 0)


@register
class BatchTopKSAE(TopKFamily):
    """TopK over the whole batch in training; a learned global threshold at inference."""

    architecture = "batchtopk"
    saelens_architecture = "jumprelu"  # SAELens's own BatchTopK saves as JumpReLU with θ per latent

    def __init__(self, cfg):
        super().__init__(cfg)
        self.register_buffer("threshold", torch.zeros(()))

    def select_train(self, pre: torch.Tensor) -> SparseCodes:
        codes = batch_topk(pre, self.cfg.k)
        if self.training and codes.values.numel():
            with torch.no_grad():
                smallest = codes.values.min()
                lr = self.cfg.threshold_lr if self.threshold > 0 else 1.0
                self.threshold.lerp_(smallest.to(self.threshold.dtype), lr)
        return codes

    def encode_sparse_normalized(self, x_in: torch.Tensor) -> SparseCodes:
        pre = self.pre_activations(x_in)  # (B, d_sae)
        return SparseCodes.from_dense(pre * (pre > self.threshold))

    def inference_state(self) -> dict[str, torch.Tensor]:
        return {**super().inference_state(), "threshold": self.threshold.detach().expand(self.d_sae).clone()}

    def load_inference_state(self, state: dict[str, torch.Tensor]) -> None:
        super().load_inference_state(state)
        with torch.no_grad():
            self.threshold.copy_(state["threshold"].max())
