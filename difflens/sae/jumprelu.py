"""JumpReLU SAE (Rajamanoharan et al. 2024), trained with straight-through estimators.

    f_i = pre_i * H(pre_i - θ_i)                     θ = exp(log_threshold), one per latent
    L   = ||y - f W_dec - b_dec||^2 + l0_coefficient * sum_i H(pre_i - θ_i)

H has no useful gradient, so θ gets a pseudo-derivative through a rectangle kernel of width
ε (``jumprelu_bandwidth``):  d/dθ JumpReLU = -(θ/ε) K((pre - θ)/ε),  d/dθ H = -(1/ε) K(...),
with K(u) = 1 for |u| < 1/2.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from difflens.sae.base import SparseDictionary, TrainOutput
from difflens.sae.registry import register
from difflens.sae.sparse import SparseCodes


def _rectangle(u: torch.Tensor) -> torch.Tensor:
    return (u.abs() < 0.5).to(u.dtype)


class JumpReLUFunction(torch.autograd.Function):
    """``pre * H(pre - θ)`` with the straight-through gradient for θ."""

    @staticmethod
    def forward(ctx, pre, threshold, bandwidth):
        ctx.save_for_backward(pre, threshold)
        ctx.bandwidth = bandwidth
        return pre * (pre > threshold)

    @staticmethod
    def backward(ctx, grad):
        pre, threshold = ctx.saved_tensors
        eps = ctx.bandwidth
        grad_pre = grad * (pre > threshold)
        grad_threshold = (-(threshold / eps) * _rectangle((pre - threshold) / eps) * grad).sum(0)
        return grad_pre, grad_threshold, None


class StepFunction(torch.autograd.Function):
    """``H(pre - θ)`` with the straight-through gradient for θ (and none for ``pre``)."""

    @staticmethod
    def forward(ctx, pre, threshold, bandwidth):
        ctx.save_for_backward(pre, threshold)
        ctx.bandwidth = bandwidth
        return (pre > threshold).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad):
        pre, threshold = ctx.saved_tensors
        eps = ctx.bandwidth
        grad_threshold = (-(1.0 / eps) * _rectangle((pre - threshold) / eps) * grad).sum(0)
        return None, grad_threshold, None


@register
class JumpReLUSAE(SparseDictionary):
    """A learned threshold per latent; L0 penalty through a straight-through estimator."""

    architecture = "jumprelu"
    saelens_architecture = "jumprelu"

    def __init__(self, cfg):
        super().__init__(cfg)
        init = math.log(cfg.jumprelu_init_threshold)
        self.log_threshold = nn.Parameter(torch.full((cfg.d_sae,), init))

    def training_loss(self, x_in, y):
        pre = self.pre_activations(x_in)  # (B, d_sae)
        threshold = self.log_threshold.exp()
        eps = self.cfg.jumprelu_bandwidth
        f = JumpReLUFunction.apply(pre, threshold, eps)
        recon = self.decode_dense(f)
        mse = self.mse(recon, y)
        l0 = StepFunction.apply(pre, threshold, eps).sum(-1).mean()
        loss = mse + self.cfg.l0_coefficient * l0
        return TrainOutput(recon, SparseCodes.from_dense(f.detach()), loss, {"mse": mse.detach(), "l0": l0.detach()})

    def encode_sparse_normalized(self, x_in):
        pre = self.pre_activations(x_in)  # (B, d_sae)
        return SparseCodes.from_dense(pre * (pre > self.log_threshold.exp()))

    def inference_state(self):
        return {**super().inference_state(), "threshold": self.log_threshold.detach().exp().clone()}

    def load_inference_state(self, state):
        super().load_inference_state(state)
        with torch.no_grad():
            self.log_threshold.copy_(state["threshold"].clamp_min(1e-12).log())
