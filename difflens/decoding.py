"""Batched sampling with a KV cache, left padding and per-prompt seeds.

The texts a prompt gets depend only on the prompt, its seed and the model, not on which other
prompts share its batch or which process decodes it: each row draws its uniforms from its own
generator (seeded with the row's seed) and samples by inverting the cumulative distribution.
That is what lets two processes write exactly the texts one process writes, and a resumed run
write the texts an uninterrupted one would have.

Speed comes from three things: a KV cache (one token per step after the prefill), batches of
prompts of similar length (little padding), and dropping finished rows from the batch and the
cache, so a batch costs what its still-running rows cost.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from difflens.errors import ConfigError


@dataclass
class SamplingConfig:
    """How to sample continuations; a property of the run, never of the model.

    Attributes:
        max_new_tokens: tokens to generate at most per text (fewer when the model ends the text).
        temperature: softmax temperature; 0 means greedy decoding.
        top_p: nucleus sampling: sample from the smallest set of tokens whose probability
            reaches ``top_p`` (1.0 = the full distribution, as the base rates need).
    """

    max_new_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 1.0

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ConfigError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p}")


@dataclass
class Continuation:
    """A sampled continuation: its text and how many tokens were generated (with the end token)."""

    text: str
    n_tokens: int


def prompt_seed(seed: int, prompt_id: str, sample: int = 0) -> int:
    """The sampling seed of sample ``sample`` of prompt ``prompt_id`` in a run seeded ``seed``.

    A hash, so it is stable across processes and Python versions (unlike ``hash()``) and two
    prompts never share a random stream by accident of their position.
    """
    digest = hashlib.sha256(f"{seed}:{prompt_id}:{sample}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def encode_prompts(tokenizer, prompts: Sequence[str], max_prompt_tokens: int) -> list[list[int]]:
    """Token ids of each prompt with the tokenizer's special tokens; at least one token each.

    An empty prompt becomes the BOS token (free generation); a prompt longer than
    ``max_prompt_tokens`` keeps its last tokens, so the continuation still follows the text.
    """
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    if start is None:
        raise ConfigError("the tokenizer has neither a BOS nor an EOS token; free generation needs one")
    encoded = tokenizer(list(prompts), add_special_tokens=True)["input_ids"]
    out = []
    for ids in encoded:
        ids = list(ids) or [start]
        out.append(ids[-max_prompt_tokens:])
    return out


def left_pad(token_lists: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)``, both ``(B, T)``, padded on the left to the longest row."""
    width = max(len(ids) for ids in token_lists)
    input_ids = torch.full((len(token_lists), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(token_lists), width), dtype=torch.long)
    for i, ids in enumerate(token_lists):
        input_ids[i, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
        mask[i, width - len(ids):] = 1
    return input_ids, mask


def row_uniforms(seeds: Sequence[int], n: int) -> torch.Tensor:
    """``(B, n)`` uniforms; row ``i`` comes from a generator seeded with ``seeds[i]`` alone."""
    rows = [torch.rand(n, generator=torch.Generator().manual_seed(int(s)), dtype=torch.float64) for s in seeds]
    return torch.stack(rows)  # (B, n)


def sample_tokens(logits: torch.Tensor, uniforms: torch.Tensor, config: SamplingConfig) -> torch.Tensor:
    """One token per row by inverse-CDF sampling with the row's own uniform.

    Args:
        logits: ``(B, V)`` next-token logits.
        uniforms: ``(B,)`` numbers in [0, 1), one per row.
        config: temperature and top-p.

    Returns:
        ``(B,)`` token ids.
    """
    if config.temperature == 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.double() / config.temperature, dim=-1)  # (B, V)
    if config.top_p < 1.0:
        probs, order = probs.sort(dim=-1, descending=True)
        # keep a token when the mass before it is below top_p (the most likely token always stays)
        probs = probs * ((probs.cumsum(dim=-1) - probs) < config.top_p)
    else:
        order = None
    cdf = probs.cumsum(dim=-1)  # (B, V)
    target = (uniforms.to(cdf.device) * cdf[:, -1]).unsqueeze(1)  # (B, 1)
    index = torch.searchsorted(cdf, target, right=True).clamp_(max=cdf.shape[1] - 1)  # (B, 1)
    if order is not None:
        index = order.gather(1, index)
    return index.squeeze(1)


def max_positions(model) -> int | None:
    config = model.config
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


@torch.no_grad()
def sample_batch(model, tokenizer, prompts: Sequence[str], seeds: Sequence[int],
                 config: SamplingConfig) -> list[Continuation]:
    """Sample one continuation per prompt, all prompts in one left-padded batch.

    Args:
        model: a causal LM (``transformers``) in eval mode; its device is used.
        tokenizer: the model's own tokenizer (two models may have different ones).
        prompts: prompt texts; ``""`` samples freely from BOS.
        seeds: one seed per prompt; equal seeds give equal texts whatever the batch.
        config: max new tokens, temperature and top-p.

    Returns:
        One `Continuation` per prompt, in order: the generated text without the prompt and
        without special tokens, and the number of generated tokens.

    Raises:
        ConfigError: ``max_new_tokens`` leaves no room for a prompt in the model's context.
    """
    if len(prompts) != len(seeds):
        raise ValueError(f"{len(prompts)} prompts but {len(seeds)} seeds")
    if not prompts:
        return []
    device = next(model.parameters()).device
    limit = max_positions(model)
    room = (limit - config.max_new_tokens) if limit else 1 << 30
    if room < 1:
        raise ConfigError(f"max_new_tokens={config.max_new_tokens} leaves no room for a prompt in the "
                          f"model's {limit}-token context; lower max_new_tokens")
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    token_lists = encode_prompts(tokenizer, prompts, room)
    input_ids, mask = left_pad(token_lists, pad)
    input_ids, mask = input_ids.to(device), mask.to(device)
    uniforms = row_uniforms(seeds, config.max_new_tokens)  # (B, max_new_tokens)
    n = len(prompts)
    generated: list[list[int]] = [[] for _ in range(n)]
    rows = torch.arange(n)  # batch row -> prompt index; shrinks as texts end
    alive = torch.ones(n, dtype=torch.bool)  # (B,) rows whose text has not ended
    position = mask.cumsum(dim=-1) - 1  # (B, T): left padding must not shift positions
    prefill = {"input_ids": input_ids, "attention_mask": mask, "position_ids": position.clamp(min=0), "use_cache": True}
    try:
        out = model(**prefill, logits_to_keep=1)  # only the last position's logits are needed
    except TypeError:  # a model class without logits_to_keep
        out = model(**prefill)
    cache = out.past_key_values
    next_pos = position[:, -1] + 1  # (B,)
    for step in range(config.max_new_tokens):
        tokens = sample_tokens(out.logits[:, -1, :], uniforms[rows, step], config)  # (B,)
        for r, (p, t, a) in enumerate(zip(rows.tolist(), tokens.tolist(), alive.tolist())):
            if a:
                generated[p].append(t)
                if t == eos:
                    alive[r] = False
        n_alive = int(alive.sum())
        if step == config.max_new_tokens - 1 or n_alive == 0:
            break
        # Dropping ended rows copies the whole cache, so wait until a quarter of the batch has ended.
        if len(rows) - n_alive >= max(1, len(rows) // 4):
            keep = alive.nonzero().squeeze(1)
            keep_dev = keep.to(device)
            cache.batch_select_indices(keep_dev)
            rows, alive, tokens = rows[keep], alive[keep], tokens[keep_dev]
            mask, next_pos = mask[keep_dev], next_pos[keep_dev]
        mask = torch.cat([mask, mask.new_ones((len(rows), 1))], dim=1)  # (B, T + 1)
        out = model(input_ids=tokens.unsqueeze(1), attention_mask=mask, position_ids=next_pos.unsqueeze(1),
                    past_key_values=cache, use_cache=True)
        cache = out.past_key_values
        next_pos = next_pos + 1
    result = []
    for ids in generated:
        text_ids = ids[:-1] if ids and ids[-1] == eos else ids
        result.append(Continuation(tokenizer.decode(text_ids, skip_special_tokens=True), len(ids)))
    return result


@dataclass
class DecodingJob:
    """One text to sample from each model: sample ``sample`` of a prompt, with its seed.

    Attributes:
        prompt_id: the prompt's id.
        sample: 0-based sample number for this prompt.
        seed: the sampling seed (the same for both models).
        prompt: the prompt text.
        source: the prompt's source.
    """

    prompt_id: str
    sample: int
    seed: int
    prompt: str
    source: str

    @property
    def key(self) -> str:
        """``<prompt_id>/<sample>``: the part of a text id that both models share."""
        return f"{self.prompt_id}/{self.sample}"

    def text_id(self, model: str) -> str:
        return f"{model}/{self.key}"


def plan_jobs(prompts, samples_per_prompt: int, seed: int) -> list[DecodingJob]:
    """``samples_per_prompt`` jobs per prompt (objects with ``prompt_id``, ``text``, ``source``)."""
    return [DecodingJob(p.prompt_id, s, prompt_seed(seed, p.prompt_id, s), p.text, p.source)
            for p in prompts for s in range(samples_per_prompt)]


def length_batches(jobs: Sequence[DecodingJob], batch_size: int) -> list[list[DecodingJob]]:
    """Split jobs into batches of similar prompt length (less left padding per batch).

    Sorted by prompt length in characters, a proxy that does not depend on either model's
    tokenizer, so the batches are known before any model is loaded and are the same for any
    number of processes; ties keep the jobs' order.
    """
    order = sorted(range(len(jobs)), key=lambda i: len(jobs[i].prompt))
    return [[jobs[i] for i in order[k:k + batch_size]] for k in range(0, len(order), batch_size)]
