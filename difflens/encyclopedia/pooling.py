"""Tokenise concept contexts with the concept's token span, and pool hidden states.

Poolings (`difflens.encyclopedia.store.POOLINGS`):

- ``span_mean``: mean over the tokens that overlap the concept's characters (default). A
  sentence mean is dominated by the template's own words, the span is not.
- ``span_last``: the last token of the span (where a causal model has read the whole name).
- ``context_mean``: mean over every token of the context except special tokens (BOS), the only
  choice for contexts that do not name the concept. ``span_*`` falls back to it for a context
  without a span.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import torch

from difflens.activations import capture
from difflens.encyclopedia.store import POOLINGS
from difflens.errors import ConfigError
from difflens.models.layers import LAYER_PREFIX, block_index


def check_poolings(poolings: Sequence[str]) -> list[str]:
    poolings = list(poolings)
    bad = [p for p in poolings if p not in POOLINGS]
    if bad or not poolings:
        raise ConfigError(f"unknown pooling(s) {bad or poolings}; use any of {', '.join(POOLINGS)}")
    return poolings


def encode_contexts(tokenizer, texts: Sequence[str], spans: Sequence[tuple[int, int] | None],
                    max_length: int = 64) -> dict[str, torch.Tensor]:
    """Tokenise a batch (right padding) and mark each concept's tokens.

    Returns:
        ``input_ids``, ``attention_mask``, ``span_mask`` and ``content_mask``, all ``(B, T)``.
        ``content_mask`` is the attention mask without special tokens; ``span_mask`` marks the
        tokens whose characters overlap the span (empty for a context without one).
    """
    enc = tokenizer(list(texts), return_tensors="pt", padding=True, truncation=True, max_length=max_length,
                    return_offsets_mapping=True, return_special_tokens_mask=True)
    offsets = enc.pop("offset_mapping")  # (B, T, 2)
    special = enc.pop("special_tokens_mask").bool()  # (B, T)
    content = enc["attention_mask"].bool() & ~special
    span_mask = torch.zeros_like(content)
    for b, span in enumerate(spans):
        if span is None:
            continue
        start, end = span
        overlap = (offsets[b, :, 0] < end) & (offsets[b, :, 1] > start) & content[b]  # (T,)
        span_mask[b] = overlap
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
            "span_mask": span_mask, "content_mask": content}


@dataclass
class TokenizedContexts:
    """Every context of a stage tokenised once, unpadded, as flat per-token arrays.

    Context ``i`` owns tokens ``starts[i]:starts[i + 1]``. A batch is padded only to its own
    longest context, so batches of contexts of equal `lengths` carry no padding at all: for
    short contexts (a bare concept is 2-8 tokens, the longest 36), padding to the longest of a
    random batch doubles the tokens the model runs.
    """

    input_ids: np.ndarray  # (N_tokens,) int64
    span_mask: np.ndarray  # (N_tokens,) bool
    content_mask: np.ndarray  # (N_tokens,) bool
    starts: np.ndarray  # (N + 1,) int64
    pad_token_id: int

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.starts)  # (N,)

    def batch(self, rows: Sequence[int]) -> dict[str, torch.Tensor]:
        """Contexts ``rows``, right-padded to the longest of them: the tensors of `encode_contexts`."""
        rows = np.asarray(rows, dtype=np.int64)
        lengths = self.starts[rows + 1] - self.starts[rows]  # (B,)
        t = np.arange(lengths.max())  # (T,)
        real = t[None, :] < lengths[:, None]  # (B, T)
        src = np.where(real, self.starts[rows, None] + t[None, :], 0)  # (B, T) token positions
        input_ids = np.where(real, self.input_ids[src], self.pad_token_id)
        return {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(real.astype(np.int64)),
                "span_mask": torch.from_numpy(real & self.span_mask[src]),
                "content_mask": torch.from_numpy(real & self.content_mask[src])}


def tokenize_contexts(tokenizer, texts: Sequence[str], spans: Sequence[tuple[int, int] | None],
                      max_length: int = 64) -> TokenizedContexts:
    """Tokenise all contexts in one call and mark each one's concept tokens as `encode_contexts` does."""
    enc = tokenizer(list(texts), truncation=True, max_length=max_length, return_offsets_mapping=True,
                    return_special_tokens_mask=True)
    lengths = np.fromiter(map(len, enc["input_ids"]), dtype=np.int64, count=len(texts))  # (N,)
    n_tokens = int(lengths.sum())
    starts = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])

    def flat(rows, dtype, width=1):
        return np.fromiter(chain.from_iterable(rows), dtype=dtype, count=n_tokens * width)

    input_ids = flat(enc["input_ids"], np.int64)
    content = flat(enc["attention_mask"], bool) & ~flat(enc["special_tokens_mask"], bool)
    offsets = flat(chain.from_iterable(enc["offset_mapping"]), np.int64, 2).reshape(n_tokens, 2)  # (N_tokens, 2)
    # a context without a span gets the empty span (0, 0), which no token overlaps
    bounds = np.asarray([span or (0, 0) for span in spans], dtype=np.int64).reshape(len(texts), 2)  # (N, 2)
    row_bounds = np.repeat(bounds, lengths, axis=0)  # (N_tokens, 2)
    span_mask = (offsets[:, 0] < row_bounds[:, 1]) & (offsets[:, 1] > row_bounds[:, 0]) & content
    return TokenizedContexts(input_ids, span_mask, content, starts, int(tokenizer.pad_token_id))


def pool(hidden: torch.Tensor, span_mask: torch.Tensor, content_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """Pool ``(B, T, H)`` hidden states to ``(B, H)``.

    Rows whose span is empty (no span, or the span was truncated away) use the context mean.
    """
    has_span = span_mask.any(dim=1, keepdim=True)  # (B, 1)
    mask = content_mask if pooling == "context_mean" else torch.where(has_span, span_mask, content_mask)
    if pooling == "span_last":
        t = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
        last = torch.where(mask, t, torch.full_like(t, -1)).amax(dim=1).clamp(min=0)  # (B,)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    w = mask.to(hidden.dtype).unsqueeze(-1)  # (B, T, 1)
    return (hidden * w).sum(dim=1) / w.sum(dim=1).clamp(min=1.0)


def resolve_layers(layers: Sequence[int], n_blocks: int) -> list[int]:
    """Layer numbers (`difflens.models.layers`: N = the residual stream after block N, -1 = the
    last block's output before the final norm) as sorted, distinct block indices.

    Raises:
        ConfigError: a number is out of range for this model.
    """
    try:
        return sorted({block_index(layer, n_blocks) for layer in layers})
    except ConfigError as err:
        raise ConfigError(f"{err} in model.layers") from None


def backbone(model: torch.nn.Module) -> torch.nn.Module:
    """The transformer without its LM head (no ``(B, T, vocab)`` logits are computed)."""
    base = getattr(model, "base_model", None)
    return base if isinstance(base, torch.nn.Module) and base is not model else model


@torch.no_grad()
def capture_batch(model: torch.nn.Module, batch: dict[str, torch.Tensor], layers: Sequence[int],
                  poolings: Sequence[str]) -> dict[tuple[int, str], torch.Tensor]:
    """Run ``model`` once and pool every (layer, pooling) site.

    ``layers`` are block indices (`resolve_layers`), read by hooks on the blocks' outputs as the
    SAE's ``layer.N`` hooks read them.

    Returns:
        ``{(layer, pooling): (B, H) float32}``.
    """
    specs = {layer: f"{LAYER_PREFIX}{layer}" for layer in layers}
    with capture(model, list(specs.values())) as store:
        backbone(model)(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    return {(layer, p): pool(store[specs[layer]].float(), batch["span_mask"], batch["content_mask"], p)
            for layer in layers for p in poolings}
