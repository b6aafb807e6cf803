"""Fresh samples for validation when the held-out pool runs out: plain batched ``generate``.

Texts are sampled from BOS (free generation, temperature 1, no top-k/top-p truncation), which
is how the toy-world quickstart decodes; each batch has its own seed so a rerun regenerates
the same texts. Decoding proper (prompts, KV-cache bucketing) is the decoding stage's job.
"""

from __future__ import annotations

import zlib

import torch

from difflens.records import DecodedText


@torch.no_grad()
def sample_fresh_texts(model, tokenizer, model_name: str, n: int, seed: int, start: int = 0,
                       max_new_tokens: int = 48, batch_size: int = 16) -> list[DecodedText]:
    """``n`` texts from ``model`` with ids ``f"{model_name}/fresh/{seed}-{i}"``, i from ``start``."""
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    device = next(model.parameters()).device
    out: list[DecodedText] = []
    for first in range(start, start + n, batch_size):
        count = min(batch_size, start + n - first)
        torch.manual_seed(zlib.crc32(f"{seed}:{model_name}:{first}".encode()))
        input_ids = torch.full((count, 1), bos, dtype=torch.long, device=device)  # (B, 1)
        generated = model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), do_sample=True,
                                   top_k=0, top_p=1.0, temperature=1.0, max_new_tokens=max_new_tokens,
                                   pad_token_id=pad)  # (B, 1 + new)
        for i, row in enumerate(generated[:, 1:].tolist()):
            tokens = [t for t in row if t != pad]
            if tokenizer.eos_token_id in tokens:
                tokens = tokens[: tokens.index(tokenizer.eos_token_id)]
            out.append(DecodedText(text_id=f"{model_name}/fresh/{seed}-{first + i}", prompt_id=f"fresh/{first + i}",
                                   model=model_name, seed=seed, prompt="",
                                   text=tokenizer.decode(tokens, skip_special_tokens=True).strip(),
                                   n_tokens=len(tokens), source="validation-fresh"))
    return out
