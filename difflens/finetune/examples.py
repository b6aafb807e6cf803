"""Tokenise prompt/completion examples with a loss mask, then pack or pad them into blocks.

Only completion tokens are trained on: prompt positions get the label ``-100`` (ignored by the
cross-entropy of every Hugging Face causal LM). A text row is a completion with an empty prompt.
"""

from __future__ import annotations

import torch

from difflens.errors import DataError

IGNORE_INDEX = -100


def encode_example(tokenizer, prompt: str, completion: str, eos: bool | None = None) -> tuple[list[int], list[int]]:
    """Token ids and labels of one example.

    The prompt is encoded with the tokenizer's special tokens (a BOS if it adds one), the
    completion without. With a tokenizer whose BOS equals EOS (GPT-2 style, as trained here),
    the leading BOS also ends the previous example in a packed stream, so it keeps its label:
    the model keeps learning where a text ends, exactly as in the base model's training data.
    Otherwise EOS is appended to the completion.

    Args:
        tokenizer: a Hugging Face tokenizer.
        prompt: text the model is conditioned on (not trained on); ``""`` for a plain text.
        completion: text the model is trained to produce.
        eos: append EOS to the completion; None = only when the tokenizer does not delimit
            texts with a BOS that equals EOS. Padded (unpacked) examples need it.
    """
    p_ids = tokenizer(prompt, add_special_tokens=True)["input_ids"]
    c_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
    end = tokenizer.eos_token_id
    delimited = bool(p_ids) and p_ids[0] == end
    if end is not None and (eos if eos is not None else not delimited):
        c_ids = [*c_ids, end]
    labels = [IGNORE_INDEX] * len(p_ids) + list(c_ids)
    if delimited:
        labels[0] = p_ids[0]
    return [*p_ids, *c_ids], labels


def pack_examples(encoded: list[tuple[list[int], list[int]]], block_size: int) -> dict[str, torch.Tensor]:
    """Concatenate examples and cut the stream into ``(N, block_size)`` blocks, dropping the tail.

    Returns:
        ``{"input_ids": (N, T), "labels": (N, T)}``.

    Raises:
        DataError: the examples hold fewer than ``block_size`` tokens.
    """
    ids = [t for e in encoded for t in e[0]]
    labels = [t for e in encoded for t in e[1]]
    n = len(ids) // block_size
    if n == 0:
        raise DataError(f"the examples hold {len(ids)} tokens, fewer than block_size={block_size}; "
                        f"add examples or lower data.block_size")
    cut = n * block_size
    return {"input_ids": torch.tensor(ids[:cut]).view(n, block_size),  # (N, T)
            "labels": torch.tensor(labels[:cut]).view(n, block_size)}  # (N, T)


def pad_examples(encoded: list[tuple[list[int], list[int]]], block_size: int, pad_id: int) -> dict[str, torch.Tensor]:
    """One right-padded row per example, truncated to ``block_size``; padding is masked out.

    Returns:
        ``{"input_ids", "attention_mask", "labels"}``, each ``(N, T)`` with ``T <= block_size``.
    """
    if not encoded:
        raise DataError("no examples to pad")
    width = min(block_size, max(len(ids) for ids, _ in encoded))
    input_ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)  # (N, T)
    labels = torch.full((len(encoded), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for i, (ids, lab) in enumerate(encoded):
        ids, lab = ids[:width], lab[:width]
        input_ids[i, : len(ids)] = torch.tensor(ids)
        labels[i, : len(lab)] = torch.tensor(lab)
        mask[i, : len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}
