"""TopK SAE (Gao et al. 2024): keep the k largest pre-activations of each row.

    pre = (x - b_dec) W_enc + b_enc                  (B, d_sae), dense, computed without grad
    f   = ReLU(topk(pre, k))                          k active latents per row
    x^  = f W_dec + b_dec                             sparse decode: only the k rows of W_dec
    L   = ||y - x^||^2 + aux_k_coefficient * AuxK

The dense pre-activations are computed once without autograd; the selected entries are made
differentiable by `SelectedLinear`, whose backward is a sparse product, and the decoder is
`SparseDecode`. Nothing of size ``(B, d_sae)`` is kept for the backward pass.

AuxK: latents that have not fired for ``dead_tokens`` tokens get a second TopK (``aux_k``
of them, dead ones only) that must explain the residual ``y - x^``; its loss is normalised by
the residual's variance and scaled down while few latents are dead.
"""

from __future__ import annotations

import torch

from difflens.sae.base import SparseDictionary, TrainOutput
from difflens.sae.registry import register
from difflens.sae.sparse import SparseCodes, selected_linear, sparse_decode


class TopKFamily(SparseDictionary):
    """Shared training path of TopK, BatchTopK and Matryoshka: subclasses choose the latents."""

    sparse_decoding = True

    def select_train(self, pre: torch.Tensor) -> SparseCodes:
        """Which latents are active in training; ``values`` are the (no-grad) pre-activations."""
        raise NotImplementedError

    def differentiable_codes(self, x_in: torch.Tensor, chosen: SparseCodes) -> tuple[SparseCodes, torch.Tensor]:
        crow = chosen.crow
        values = selected_linear(x_in, self.W_enc, self.b_enc, chosen.values, chosen, crow).relu()  # (nnz,)
        return SparseCodes(values, chosen.rows, chosen.cols, chosen.n_rows, chosen.d_sae), crow

    def reconstruction_loss(self, codes: SparseCodes, crow: torch.Tensor, y: torch.Tensor):
        """Reconstruction and its loss; Matryoshka overrides this with nested prefixes."""
        recon = sparse_decode(codes, self.W_dec, crow) + self.b_dec  # (B, d_out)
        mse = self.mse(recon, y)
        return recon, mse, {"mse": mse.detach()}

    def training_loss(self, x_in: torch.Tensor, y: torch.Tensor) -> TrainOutput:
        with torch.no_grad():
            pre = self.pre_activations(x_in)  # (B, d_sae)
        codes, crow = self.differentiable_codes(x_in, self.select_train(pre))
        recon, loss, terms = self.reconstruction_loss(codes, crow, y)
        if self.training and self.cfg.resolved_aux_k > 0 and self.cfg.aux_k_coefficient > 0:
            aux = self.auxk_loss(pre, x_in, y - recon.detach())
            if aux is not None:
                terms["aux"] = aux.detach()
                loss = loss + self.cfg.aux_k_coefficient * aux
        return TrainOutput(recon, codes, loss, terms)

    def auxk_loss(self, pre: torch.Tensor, x_in: torch.Tensor, residual: torch.Tensor) -> torch.Tensor | None:
        """Normalised error of the dead latents' best reconstruction of the residual, or None."""
        dead = self.dead_mask
        n_dead = int(dead.sum())
        if n_dead == 0:
            return None
        k_aux = min(self.cfg.resolved_aux_k, n_dead)
        with torch.no_grad():
            values, indices = pre.masked_fill(~dead, float("-inf")).topk(k_aux, dim=1, sorted=False)  # (B, k_aux)
        chosen = SparseCodes.from_topk(values, indices, self.d_sae)
        codes, crow = self.differentiable_codes(x_in, chosen)
        residual_hat = sparse_decode(codes, self.W_dec, crow)  # (B, d_out)
        total_variance = (residual - residual.mean(0)).pow(2).sum().clamp_min(1e-12)
        scale = min(n_dead / k_aux, 1.0)
        return scale * (residual_hat - residual).pow(2).sum() / total_variance


@register
class TopKSAE(TopKFamily):
    """Exactly ``k`` active latents per row, in training and at inference."""

    architecture = "topk"
    saelens_architecture = "topk"

    def select_train(self, pre: torch.Tensor) -> SparseCodes:
        values, indices = pre.topk(self.cfg.k, dim=1, sorted=False)  # (B, k)
        return SparseCodes.from_topk(values, indices, self.d_sae)

    def encode_sparse_normalized(self, x_in: torch.Tensor) -> SparseCodes:
        values, indices = self.pre_activations(x_in).topk(self.cfg.k, dim=1, sorted=False)  # (B, k)
        codes = SparseCodes.from_topk(values.relu(), indices, self.d_sae)
        return codes.select(codes.values > 0)

    def saelens_cfg(self) -> dict:
        return {**super().saelens_cfg(), "k": self.cfg.k}
