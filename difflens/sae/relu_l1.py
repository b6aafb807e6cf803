"""ReLU SAE with an L1 penalty (Bricken et al. 2023; SAELens's ``standard``).

    f = ReLU((x - b_dec) W_enc + b_enc)          (B, d_sae), dense
    L = ||y - f W_dec - b_dec||^2 + l1_coefficient * sum_i f_i ||W_dec,i||

Decoding is dense: the number of active latents is not bounded, so a sparse kernel has no
guaranteed advantage.
"""

from __future__ import annotations

from difflens.sae.base import SparseDictionary, TrainOutput
from difflens.sae.registry import register
from difflens.sae.sparse import SparseCodes


@register
class ReLUSAE(SparseDictionary):
    """ReLU activations, L1 sparsity penalty weighted by decoder norms."""

    architecture = "relu_l1"
    saelens_architecture = "standard"

    def training_loss(self, x_in, y):
        f = self.pre_activations(x_in).relu()  # (B, d_sae)
        recon = self.decode_dense(f)
        mse = self.mse(recon, y)
        l1 = (f * self.W_dec.norm(dim=1)).sum(-1).mean()
        loss = mse + self.cfg.l1_coefficient * l1
        return TrainOutput(recon, SparseCodes.from_dense(f.detach()), loss, {"mse": mse.detach(), "l1": l1.detach()})

    def encode_sparse_normalized(self, x_in):
        return SparseCodes.from_dense(self.pre_activations(x_in).relu())
