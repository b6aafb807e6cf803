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


@pytest.mark.parametrize("skewed", [False, True])
def test_batch_topk_is_exact(skewed):
    torch.manual_seed(0)
    B, d_sae, k = 16, 200, 4
    pre = torch.randn(B, d_sae)
    if skewed:  # one row owns most of the batch's largest activations: the fallback path
        pre[3] += 10
    codes = batch_topk(pre, k)
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
