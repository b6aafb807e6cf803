"""The interpreter network: activations at several sites -> a concept, with a confidence.

Each site (a layer and pooling) is one token: the activation is z-scored with training
statistics, projected per site to ``d_model`` and given a site embedding; a small transformer
encoder reads the site tokens after a learned summary token, whose output feeds the heads.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def confidence(probs: torch.Tensor) -> torch.Tensor:
    """``1 - H(p) / log C`` over the last dimension: 1 for a one-hot, 0 for uniform.

    Args:
        probs: ``(..., C)`` probabilities.

    Returns:
        ``(...)`` confidences in [0, 1]; 1 when C == 1.
    """
    c = probs.shape[-1]
    if c <= 1:
        return torch.ones(probs.shape[:-1], dtype=probs.dtype, device=probs.device)
    entropy = -(probs * torch.log(probs.clamp_min(1e-12))).sum(dim=-1)
    return (1.0 - entropy / math.log(c)).clamp(0.0, 1.0)


class InterpreterNetwork(nn.Module):
    """Concept logits, optional category logits and an optional name-embedding projection.

    Args:
        n_sites: S, the number of (layer, pooling) sites per sample.
        hidden_size: H, the model's width.
        n_concepts: C.
        d_model: width of the encoder.
        n_heads: attention heads.
        n_layers: encoder layers.
        dropout: dropout in the encoder and on the input.
        n_categories: K > 0 adds a category head (the hierarchy).
        embedding_dim: E > 0 adds a similarity head projecting to the concept-name embedding
            space (MiniLM: 384), so concepts unseen in training can be ranked by name.
    """

    def __init__(self, n_sites: int, hidden_size: int, n_concepts: int, d_model: int = 128, n_heads: int = 4,
                 n_layers: int = 2, dropout: float = 0.1, n_categories: int = 0, embedding_dim: int = 0):
        super().__init__()
        self.register_buffer("feature_mean", torch.zeros(n_sites, hidden_size))
        self.register_buffer("feature_std", torch.ones(n_sites, hidden_size))
        self.site_proj = nn.Parameter(torch.randn(n_sites, hidden_size, d_model) / math.sqrt(hidden_size))
        self.site_bias = nn.Parameter(torch.zeros(n_sites, d_model))
        self.summary = nn.Parameter(torch.zeros(1, 1, d_model))
        self.input_dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(d_model, n_heads, 4 * d_model, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.concept_head = nn.Linear(d_model, n_concepts)
        self.category_head = nn.Linear(d_model, n_categories) if n_categories > 0 else None
        self.similarity_head = nn.Linear(d_model, embedding_dim) if embedding_dim > 0 else None

    def set_feature_statistics(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Set the z-scoring statistics ``(S, H)`` from the training split."""
        self.feature_mean.copy_(mean)
        self.feature_std.copy_(std.clamp_min(1e-6))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, S, H)`` activations -> ``(B, d_model)`` summary."""
        z = (x - self.feature_mean) / self.feature_std  # (B, S, H)
        tokens = torch.einsum("bsh,shd->bsd", self.input_dropout(z), self.site_proj) + self.site_bias  # (B, S, d)
        tokens = torch.cat([self.summary.expand(x.shape[0], -1, -1), tokens], dim=1)  # (B, 1 + S, d)
        return self.norm(self.encoder(tokens)[:, 0])  # (B, d)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.encode(x)
        out = {"logits": self.concept_head(h)}  # (B, C)
        if self.category_head is not None:
            out["category_logits"] = self.category_head(h)  # (B, K)
        if self.similarity_head is not None:
            out["embedding"] = nn.functional.normalize(self.similarity_head(h), dim=-1)  # (B, E)
        return out
