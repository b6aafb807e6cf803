"""The interpreter network and its confidence."""

import math

import pytest
import torch

from difflens.encyclopedia.interpreter import InterpreterNetwork, confidence


@pytest.mark.parametrize("probs, expected", [
    (torch.tensor([0.0, 1.0, 0.0, 0.0]), 1.0),          # one-hot
    (torch.full((7,), 1 / 7), 0.0),                      # uniform
    (torch.tensor([0.5, 0.5, 0.0, 0.0]), 1 - math.log(2) / math.log(4)),
    (torch.tensor([1.0]), 1.0),                          # a single class
])
def test_confidence(probs, expected):
    assert confidence(probs).item() == pytest.approx(expected, abs=1e-6)


def test_confidence_is_batched():
    probs = torch.softmax(torch.randn(3, 5, 11), dim=-1)
    c = confidence(probs)
    assert c.shape == (3, 5) and bool(((c >= 0) & (c <= 1)).all())


def test_network_heads_and_normalisation():
    torch.manual_seed(0)
    net = InterpreterNetwork(n_sites=3, hidden_size=37, n_concepts=13, d_model=20, n_heads=5, n_layers=1,
                             n_categories=4, embedding_dim=9).eval()
    x = torch.randn(6, 3, 37) * 50 + 10
    net.set_feature_statistics(x.mean(0), x.std(0))
    out = net(x)
    assert out["logits"].shape == (6, 13) and out["category_logits"].shape == (6, 4)
    assert torch.allclose(out["embedding"].norm(dim=-1), torch.ones(6), atol=1e-5)
    plain = InterpreterNetwork(3, 37, 13, d_model=20, n_heads=5, n_layers=1)
    assert set(plain(x)) == {"logits"}
