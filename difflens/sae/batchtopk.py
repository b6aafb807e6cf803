"""BatchTopK SAE (Bussmann et al. 2024): keep the ``B * k`` largest activations of the batch.

Rows may use more or fewer than ``k`` latents; on average they use ``k``. At inference the
batch is not available, so a single threshold replaces the batch rule: ``f = pre * (pre > θ)``,
with θ the running average, over training batches, of the smallest activation kept.

Selection is exact but avoids a top-k over all ``B * d_sae`` entries: when the running
threshold is known, only entries above 90% of it are candidates (one comparison pass);
otherwise each row's top ``2k`` are candidates, completed by every entry of the rare rows
that may own more (see `_batch_topk_exact`).
"""

from __future__ import annotations

import torch

from difflens.sae.registry import register
from difflens.sae.sparse import SparseCodes
from difflens.sae.topk import TopKFamily


def batch_topk(pre: torch.Tensor, k: int, guess: float | None = None) -> SparseCodes:
    """The ``B * k`` largest positive entries of ``pre`` ``(B, d_sae)``, rows sorted.

    Values are the raw pre-activations (no grad); entries <= 0 are never selected.

    Args:
        pre: pre-activations.
        k: average active latents per row.
        guess: a value probably a little below the batch's cut-off (the running threshold);
            when the entries above it number between ``B * k`` and ``4 B * k``, the answer is
            found among them with one comparison pass instead of per-row candidates.
    """
    B, d_sae = pre.shape
    budget = B * k
    if guess is not None and guess > 0:
        rows, cols = (pre > guess).nonzero(as_tuple=True)  # row-major order
        if budget <= len(rows) <= 4 * budget:
            values = pre[rows, cols]
            _, keep = values.topk(budget, sorted=False)
            keep = keep.sort().values  # back to row-major order
            return SparseCodes(values[keep], rows[keep], cols[keep], B, d_sae)
    return _batch_topk_exact(pre, budget)


def _batch_topk_exact(pre: torch.Tensor, budget: int) -> SparseCodes:
    """Batch top-``budget`` through each row's top ``2 budget / B`` candidates.

    Let τ_c be the ``budget``-th largest candidate. A row whose smallest candidate is below τ_c
    cannot hold a winner outside its candidates; the few rows whose candidates all reach τ_c
    ("saturated") contribute every entry >= τ_c instead. The final top-``budget`` of that pool
    is exact.
    """
    B, d_sae = pre.shape
    m = min(2 * budget // B, d_sae)
    cand_values, cand_cols = pre.topk(m, dim=1, sorted=False)  # (B, m)
    if m == d_sae:
        pool_values, pool_rows, pool_cols = cand_values.reshape(-1), None, cand_cols.reshape(-1)  # (B * m,)
    else:
        tau = cand_values.reshape(-1).kthvalue(B * m - budget + 1).values  # scalar: budget-th largest of B * m
        saturated = cand_values.min(dim=1).values >= tau  # (B,)
        if saturated.any():
            cand_values = cand_values[~saturated]
            cand_cols = cand_cols[~saturated]
            rest = (~saturated).nonzero().flatten()  # (n_rest,)
            sat_rows = saturated.nonzero().flatten()  # (n_saturated,)
            sat_pre = pre[sat_rows]  # (n_saturated, d_sae)
            r, c = (sat_pre >= tau).nonzero(as_tuple=True)
            pool_values = torch.cat([cand_values.reshape(-1), sat_pre[r, c]])  # (n_rest * m + len(r),)
            pool_rows = torch.cat([rest.repeat_interleave(m), sat_rows[r]])
            pool_cols = torch.cat([cand_cols.reshape(-1), c])  # (n_rest * m + len(r),)
        else:
            pool_values, pool_rows, pool_cols = cand_values.reshape(-1), None, cand_cols.reshape(-1)  # (B * m,)
    if pool_rows is None:
        pool_rows = torch.arange(B, device=pre.device).repeat_interleave(pool_cols.numel() // B)
    values, pos = pool_values.topk(budget, sorted=False)
    rows, cols = pool_rows[pos], pool_cols[pos]
    order = torch.argsort(rows * d_sae + cols)  # row-major, as CSR needs
    codes = SparseCodes(values[order], rows[order], cols[order], B, d_sae)
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
        guess = 0.9 * float(self.threshold) if self.training else None
        codes = batch_topk(pre, self.cfg.k, guess)
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
