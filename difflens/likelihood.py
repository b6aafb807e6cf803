"""How likely a model finds a text: teacher-forced log-probabilities of continuations.

Active sampling asks of every text how much more likely the model that wrote it finds it than
the other model does (the log-likelihood ratio). Averaged over one model's samples that is the
KL divergence between the models, so where the high ratios sit is where the models differ; and
a single text with a large ratio is evidence even when its area holds too few texts for any
difference in proportions to show (a behaviour that follows a rare opening).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from difflens.decoding import encode_prompts, max_positions
from difflens.errors import DataError
from difflens.records import DecodedText


def continuation_logprobs(model, tokenizer, prompts: Sequence[str], texts: Sequence[str],
                          batch_size: int = 32) -> list[float]:
    """``log p(text | prompt)`` under ``model``, summed over the text's tokens, for each pair.

    The prompt is encoded as decoding encodes it (an empty prompt is the BOS token) and the
    text is encoded on its own and appended, so every model is scored on its own tokenization
    of the same characters; the end-of-text token is not scored. A pair longer than the
    model's context keeps the prompt's last tokens, as decoding does.

    Args:
        model: a causal LM in eval mode; its device is used.
        tokenizer: the model's own tokenizer.
        prompts: prompt texts (``""`` for free generation).
        texts: the continuations to score, one per prompt.
        batch_size: pairs per forward pass (sorted by length, so a batch pads little).

    Returns:
        One log-probability (nats, <= 0) per pair, in order; 0.0 for an empty text.
    """
    if len(prompts) != len(texts):
        raise ValueError(f"{len(prompts)} prompts but {len(texts)} texts")
    if not texts:
        return []
    continuations = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    heads = encode_prompts(tokenizer, prompts, 1 << 30)  # fitted to the context by sequence_logprobs
    return sequence_logprobs(model, heads, continuations, batch_size)


@torch.no_grad()
def sequence_logprobs(model, heads: Sequence[Sequence[int]], continuations: Sequence[Sequence[int]],
                      batch_size: int = 32) -> list[float]:
    """``log p(continuation | head)`` under ``model`` for token-id sequences, summed over the
    continuation's tokens (teacher forcing).

    A pair longer than the model's context keeps the continuation's first tokens and the head's
    last ones (at least one, which every head needs). Rows are padded on the right, so positions
    start at 0 in every row and, attention being causal, the padding id never matters.

    Returns:
        One log-probability per pair, in order; 0.0 for an empty continuation.
    """
    device = next(model.parameters()).device
    limit = max_positions(model) or 1 << 30
    continuations = [list(c)[: limit - 1] for c in continuations]
    heads = [list(h)[-max(1, limit - len(c)):] for h, c in zip(heads, continuations)]
    out = [0.0] * len(heads)
    order = sorted(range(len(heads)), key=lambda i: len(heads[i]) + len(continuations[i]))
    for start in range(0, len(order), batch_size):
        rows = [i for i in order[start:start + batch_size] if continuations[i]]
        if not rows:
            continue
        width = max(len(heads[i]) + len(continuations[i]) for i in rows)
        input_ids = torch.zeros((len(rows), width), dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        scored = torch.zeros((len(rows), width), dtype=torch.bool)  # positions whose token is a continuation token
        for r, i in enumerate(rows):
            ids = [*heads[i], *continuations[i]]
            input_ids[r, : len(ids)] = torch.tensor(ids)
            mask[r, : len(ids)] = 1
            scored[r, len(heads[i]): len(ids)] = True
        input_ids, mask, scored = input_ids.to(device), mask.to(device), scored.to(device)
        logits = model(input_ids=input_ids, attention_mask=mask).logits[:, :-1].float()  # (B, T-1, V)
        logprobs = torch.log_softmax(logits, dim=-1).gather(2, input_ids[:, 1:, None]).squeeze(2)  # (B, T-1)
        totals = (logprobs * scored[:, 1:]).sum(dim=1)  # token t is predicted at position t-1
        for r, i in enumerate(rows):
            out[i] = float(totals[r])
    return out


def text_divergence(records: Sequence[DecodedText]) -> np.ndarray:
    """``(N,)`` how much more likely the model that wrote each text finds it than the other
    model does: ``log_ratio`` for an intervention text, ``-log_ratio`` for a base text. Its mean
    over one model's samples estimates the KL divergence from that model to the other.

    Raises:
        DataError: a text without ``log_ratio`` (decoded without scoring).
    """
    missing = [r.text_id for r in records if r.log_ratio is None]
    if missing:
        raise DataError(f"{len(missing)} texts (e.g. {missing[0]!r}) have no log_ratio, which active.kl_weight > 0 "
                        f"needs: they were decoded without scoring. Decode them again with the ActiveSampler "
                        f"(it scores texts when kl_weight > 0) or set active.kl_weight: 0")
    return np.array([r.log_ratio if r.model == "intervention" else -r.log_ratio for r in records], dtype=float)
