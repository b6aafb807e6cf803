"""Generative validation: do the models' likelihoods agree with the hypothesis?

The assistant writes texts that fit the hypothesis. If the hypothesis is true, the direction
model should like them more, relative to the other model, than it likes ordinary texts. For
text x let ``Δ(x) = log p_direction(x) − log p_other(x)`` (total log-likelihood, so models
with different tokenizers compare on the same text). Pair each written text ``x_i`` with a
held-out control text ``c_i`` (one of the hypothesis's own validation texts) and test the paired
differences ``D_i = Δ(x_i) − Δ(c_i)`` with the exact one-sided sign test: under the null
"median D <= 0" it is valid with independent pairs whatever the distribution of D. The
control removes a general preference of one model for all text (a finetuned model usually
assigns higher likelihood to everything in its domain).
"""

from __future__ import annotations

from collections.abc import Sequence

from difflens.likelihood import sequence_logprobs


def sequence_log_likelihood(model, tokenizer, texts: Sequence[str], batch_size: int = 16,
                            max_length: int | None = None) -> list[float]:
    """Total log-likelihood ``log p(text | BOS)`` of each text under ``model``.

    The text is encoded with the tokenizer's own special tokens; BOS is prepended when the
    tokenizer does not add it, and the first token is only conditioned on. The first
    ``max_length`` tokens count (default: the model's context).
    """
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    ids = []
    for tokens in tokenizer(list(texts), add_special_tokens=True)["input_ids"]:
        tokens = list(tokens)
        if not tokens or tokens[0] != bos:
            tokens = [bos, *tokens]
        ids.append(tokens[:max_length] if max_length else tokens)
    return sequence_logprobs(model, [t[:1] for t in ids], [t[1:] for t in ids], batch_size)


def paired_differences(direction_ll_examples: Sequence[float], other_ll_examples: Sequence[float],
                       direction_ll_controls: Sequence[float], other_ll_controls: Sequence[float]) -> list[float]:
    """``D_i = [ℓ_dir(x_i) − ℓ_other(x_i)] − [ℓ_dir(c_i) − ℓ_other(c_i)]`` for paired lists."""
    n = len(direction_ll_examples)
    if not (len(other_ll_examples) == len(direction_ll_controls) == len(other_ll_controls) == n):
        raise ValueError("paired_differences needs four lists of equal length")
    return [(a - b) - (c - d) for a, b, c, d in zip(direction_ll_examples, other_ll_examples,
                                                   direction_ll_controls, other_ll_controls)]
