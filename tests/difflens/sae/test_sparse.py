"""The sparse kernels agree with dense computation, values and gradients, to 1e-5."""

import pytest
import torch

from difflens.sae import SparseCodes, batch_topk, geometric_median, sparse_decode
from difflens.sae.sparse import selected_linear


@pytest.mark.parametrize("B,d_sae,d_out,k", [(23, 97, 36, 5), (1, 8, 3, 8), (64, 300, 29, 17)])
def test_sparse_decode_equals_dense_with_gradients(B, d_sae, d_out, k):
    torch.manual_seed(0)
    pre = torch.randn(B, d_sae, dtype=torch.float64)
    values, indices = pre.topk(k, dim=1)
    W = torch.randn(d_sae, d_out, dtype=torch.float64, requires_grad=True)
    v = values.clone().requires_grad_()
    codes = SparseCodes.from_topk(v, indices, d_sae)
    grad_out = torch.randn(B, d_out, dtype=torch.float64)
    sparse = sparse_decode(codes, W)
    (sparse * grad_out).sum().backward()
    g_v, g_W = v.grad.clone(), W.grad.clone()
    v.grad = W.grad = None
    dense = SparseCodes.from_topk(v, indices, d_sae).to_dense() @ W
    (dense * grad_out).sum().backward()
    assert torch.allclose(sparse, dense, atol=1e-5)
    assert torch.allclose(g_v, v.grad, atol=1e-5)
    assert torch.allclose(g_W, W.grad, atol=1e-5)


def test_selected_linear_gradients_equal_dense():
    torch.manual_seed(0)
    B, d_in, d_sae, k = 19, 36, 97, 7
    x = torch.randn(B, d_in, requires_grad=True)
    W = torch.randn(d_in, d_sae, requires_grad=True)
    b = torch.randn(d_sae, requires_grad=True)
    with torch.no_grad():
        values, indices = torch.addmm(b, x, W).topk(k, dim=1)
    codes = SparseCodes.from_topk(values, indices, d_sae)
    weights = torch.randn(B * k)
    (selected_linear(x, W, b, codes.values, codes) * weights).sum().backward()
    sparse_grads = [t.grad.clone() for t in (x, W, b)]
    for t in (x, W, b):
        t.grad = None
    dense = torch.addmm(b, x, W)[codes.rows, codes.cols]
    (dense * weights).sum().backward()
    for got, t in zip(sparse_grads, (x, W, b)):
        assert torch.allclose(got, t.grad, atol=1e-5)


@pytest.mark.parametrize("skewed,guess", [(False, None), (True, None), (False, 1.8), (False, 3.5)])
def test_batch_topk_is_exact(skewed, guess):
    torch.manual_seed(0)
    B, d_sae, k = 16, 200, 4
    pre = torch.randn(B, d_sae)
    if skewed:  # one row owns most of the batch's largest activations: the saturated-row path
        pre[3] += 10
    # guess 1.8: 122 entries above it, between B k = 64 and 4 B k: the threshold path; 3.5: too few
    if guess == 1.8:
        assert B * k <= int((pre > guess).sum()) <= 4 * B * k
    codes = batch_topk(pre, k, guess)
    expected = pre.relu().flatten().topk(B * k).values
    assert torch.allclose(codes.values.sort().values, expected[expected > 0].sort().values)
    assert (codes.rows.diff() >= 0).all()
    assert torch.equal(pre[codes.rows, codes.cols], codes.values)


def test_geometric_median_is_robust_to_outliers():
    torch.manual_seed(0)
    points = torch.randn(200, 5) * 0.1 + torch.tensor([1.0, 2, 3, 4, 5])
    points[:20] += 1000.0
    median = geometric_median(points)
    assert (median - torch.tensor([1.0, 2, 3, 4, 5])).norm() < 0.2
    assert (points.mean(0) - median).norm() > 50


def test_nested_reconstruction_loss_equals_naive_prefix_losses():
    from difflens.sae.matryoshka import NestedReconstructionLoss

    torch.manual_seed(0)
    B, d_sae, d_out, k, ends = 13, 40, 7, 5, [4, 12, 40]
    pre = torch.randn(B, d_sae, dtype=torch.float64)
    vals, idx = pre.topk(k, dim=1)
    codes = SparseCodes.from_topk(vals, idx, d_sae)
    W = torch.randn(d_sae, d_out, dtype=torch.float64, requires_grad=True)
    b = torch.randn(d_out, dtype=torch.float64, requires_grad=True)
    v = codes.values.clone().requires_grad_()
    y = torch.randn(B, d_out, dtype=torch.float64)
    weights = torch.tensor([0.3, 1.0, 2.0], dtype=torch.float64)
    group = torch.bucketize(codes.cols, torch.tensor(ends), right=True)
    order = torch.argsort(group, stable=True)
    offsets = [0, *torch.bincount(group, minlength=3).cumsum(0).tolist()]
    losses, residual = NestedReconstructionLoss.apply(v[order], W, b, y, codes.rows[order], codes.cols[order], offsets)
    (losses * weights).sum().backward()
    fused = [t.grad.clone() for t in (v, W, b)]
    for t in (v, W, b):
        t.grad = None
    dense = SparseCodes(v, codes.rows, codes.cols, B, d_sae).to_dense()  # (B, d_sae)
    naive = torch.stack([((y - b - dense[:, :e] @ W[:e]) ** 2).sum(-1).mean() for e in ends])
    (naive * weights).sum().backward()
    assert torch.allclose(losses, naive, atol=1e-10)
    assert torch.allclose(residual, y - b - dense @ W, atol=1e-10)
    for got, t in zip(fused, (v, W, b)):
        assert torch.allclose(got, t.grad, atol=1e-8)
