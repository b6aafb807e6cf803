"""Sparse codes and the two sparse kernels of the TopK family.

A TopK-style SAE keeps ``nnz`` active latents out of ``B * d_sae``; the dense encoder matmul is
unavoidable, but everything after it only needs to touch the active ones:

* ``SelectedLinear``: the encoder's pre-activations at the selected (row, latent) pairs, with a
  backward that builds ``dL/dW_enc = x^T G`` from the sparse gradient ``G`` (a sparse-dense
  matmul) instead of a dense ``(B, d_sae)`` gradient or a ``(nnz, d_in)`` temporary.
* ``SparseDecode``: ``f @ W_dec`` with ``f`` in CSR form (forward: CSR @ dense; backward:
  sampled dense-dense matmul for ``dL/df`` and sparse^T @ dense for ``dL/dW_dec``).

Rows of a ``SparseCodes`` are sorted (row-major order), which is what CSR needs; TopK gives
exactly ``k`` entries per row, BatchTopK a variable number.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

warnings.filterwarnings("ignore", message=".*Sparse CSR tensor support is in beta.*")
warnings.filterwarnings("ignore", message=".*Sparse invariant checks are implicitly disabled.*")


@dataclass
class SparseCodes:
    """Active latents of a batch in CSR form.

    Attributes:
        values: activations, ``(nnz,)``.
        rows: batch row of each value, ``(nnz,)``, non-decreasing.
        cols: latent index of each value, ``(nnz,)``.
        n_rows: batch size ``B``.
        d_sae: number of latents.
    """

    values: torch.Tensor
    rows: torch.Tensor
    cols: torch.Tensor
    n_rows: int
    d_sae: int

    @property
    def crow(self) -> torch.Tensor:
        """CSR row pointers, ``(B + 1,)``."""
        counts = torch.bincount(self.rows, minlength=self.n_rows)
        return torch.cat([counts.new_zeros(1), counts.cumsum(0)])

    def to_dense(self) -> torch.Tensor:
        """The codes as a dense ``(B, d_sae)`` tensor (differentiable in ``values``)."""
        dense = self.values.new_zeros(self.n_rows, self.d_sae)
        return dense.index_put((self.rows, self.cols), self.values)

    def select(self, mask: torch.Tensor) -> SparseCodes:
        """The entries where ``mask`` (``(nnz,)`` bool) holds; row order is preserved."""
        return SparseCodes(self.values[mask], self.rows[mask], self.cols[mask], self.n_rows, self.d_sae)

    @staticmethod
    def from_dense(dense: torch.Tensor) -> SparseCodes:
        """Nonzeros of a ``(B, d_sae)`` tensor (row-major, so rows come sorted)."""
        rows, cols = dense.nonzero(as_tuple=True)
        return SparseCodes(dense[rows, cols], rows, cols, dense.shape[0], dense.shape[1])

    @staticmethod
    def from_topk(values: torch.Tensor, indices: torch.Tensor, d_sae: int) -> SparseCodes:
        """``(B, k)`` values and indices (as from ``torch.topk``) in CSR form."""
        B, k = indices.shape
        rows = torch.arange(B, device=indices.device).repeat_interleave(k)  # (B * k,)
        return SparseCodes(values.reshape(-1), rows, indices.reshape(-1), B, d_sae)  # (B * k,) each, as rows


def _csr(values: torch.Tensor, crow: torch.Tensor, cols: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    return torch.sparse_csr_tensor(crow, cols, values, shape, check_invariants=False)


def _transpose_matmul(values, rows, cols, n_cols: int, dense: torch.Tensor) -> torch.Tensor:
    """``S^T @ dense`` for the sparse ``(B, n_cols)`` matrix ``S`` given as (values, rows, cols)."""
    st = torch.sparse_coo_tensor(torch.stack([cols, rows]), values, (n_cols, dense.shape[0]), check_invariants=False)
    return torch.sparse.mm(st, dense)  # (n_cols, d)


class SelectedLinear(torch.autograd.Function):
    """Differentiable ``(x @ W + b)[rows, cols]`` whose values were computed without grad.

    Forward returns ``pre_values`` unchanged (they come from the dense no-grad encoder matmul
    that chose ``rows, cols``); backward gives the gradients of ``x``, ``W`` (``(d_in, d_sae)``)
    and ``b`` as sparse products.
    """

    @staticmethod
    def forward(ctx, x, W, b, pre_values, rows, cols, crow):
        ctx.save_for_backward(x, W, rows, cols, crow)
        return pre_values.clone()

    @staticmethod
    def backward(ctx, grad_values):
        x, W, rows, cols, crow = ctx.saved_tensors
        grad_x = grad_W = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = _csr(grad_values, crow, cols, (x.shape[0], W.shape[1])) @ W.t().contiguous()  # (B, d_in)
        if ctx.needs_input_grad[1]:
            grad_W = _transpose_matmul(grad_values, rows, cols, W.shape[1], x).t()  # (d_in, d_sae)
        if ctx.needs_input_grad[2]:
            grad_b = torch.zeros(W.shape[1], dtype=grad_values.dtype, device=grad_values.device)
            grad_b.index_add_(0, cols, grad_values)
        return grad_x, grad_W, grad_b, None, None, None, None


class SparseDecode(torch.autograd.Function):
    """``f @ W_dec`` for CSR codes ``f``: ``(B, d_sae) x (d_sae, d_out) -> (B, d_out)``."""

    @staticmethod
    def forward(ctx, values, rows, cols, crow, W_dec, n_rows):
        ctx.save_for_backward(values, rows, cols, crow, W_dec)
        ctx.n_rows = n_rows
        return _csr(values, crow, cols, (n_rows, W_dec.shape[0])) @ W_dec  # (B, d_out)

    @staticmethod
    def backward(ctx, grad_out):
        values, rows, cols, crow, W_dec = ctx.saved_tensors
        grad_values = grad_W = None
        grad_out = grad_out.contiguous()
        if ctx.needs_input_grad[0]:
            # dL/df is only needed at the active entries: a sampled dense-dense matmul.
            pattern = _csr(torch.ones_like(values), crow, cols, (ctx.n_rows, W_dec.shape[0]))
            grad_values = torch.sparse.sampled_addmm(pattern, grad_out, W_dec.t(), beta=0.0).values()  # (nnz,)
        if ctx.needs_input_grad[4]:
            grad_W = _transpose_matmul(values, rows, cols, W_dec.shape[0], grad_out)  # (d_sae, d_out)
        return grad_values, None, None, None, grad_W, None


def selected_linear(x, W, b, pre_values, codes: SparseCodes, crow: torch.Tensor | None = None) -> torch.Tensor:
    """Differentiable pre-activations at ``codes``' (row, latent) pairs; see `SelectedLinear`."""
    crow = codes.crow if crow is None else crow
    return SelectedLinear.apply(x, W, b, pre_values, codes.rows, codes.cols, crow)


def sparse_decode(codes: SparseCodes, W_dec: torch.Tensor, crow: torch.Tensor | None = None) -> torch.Tensor:
    """``codes @ W_dec`` touching only the active latents, ``(B, d_out)``, with a sparse backward."""
    if codes.values.numel() == 0:
        return W_dec.new_zeros(codes.n_rows, W_dec.shape[1]) + 0.0 * W_dec.sum()
    crow = codes.crow if crow is None else crow
    return SparseDecode.apply(codes.values, codes.rows, codes.cols, crow, W_dec, codes.n_rows)
