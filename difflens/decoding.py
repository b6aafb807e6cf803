"""Batched sampling with a KV cache, continuous batching and per-prompt seeds.

The texts a prompt gets depend on the prompt, its seed and the model, not on which other
prompts share its batch or which process decodes it: each row draws its uniforms from its own
generator (seeded with the row's seed) and samples by inverting the cumulative distribution.
Batches are made the same way for any number of processes, which is what lets two processes
write exactly the texts one process writes. A batch changes a row's logits only by float
rounding, so a resumed run, which batches the remaining prompts anew, writes the texts an
uninterrupted one would have up to that rounding (a draw that falls on a CDF boundary).

Speed comes from continuous batching over a preallocated KV cache (`difflens.kv_cache`): one
token per row and step after the prefill, written into the cache rather than concatenated onto
it; prompts prefilled in groups of similar length; and a row whose text has ended taking the
next prompt, so the batch stays full instead of draining to its longest text.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from difflens.errors import ConfigError, DifflensError
from difflens.kv_cache import RowCache

# The cache keyword of a causal LM's forward, newest name first: transformers 5.24 renamed
# ``past_key_values`` to ``cache`` and removes the old name in 5.40; every forward also takes
# ``**kwargs``, so a cache passed under a name the forward no longer has is swallowed silently.
CACHE_KEYWORDS = ("cache", "past_key_values")


class CacheNotUsedError(DifflensError, RuntimeError):
    """The model did not write into the cache the decoder gave it, so its texts would be wrong."""


def cache_keyword(model) -> str:
    """The name under which ``model``'s forward takes a KV cache (see `CACHE_KEYWORDS`).

    A peft model forwards its keyword arguments to the model it wraps, so the wrapped model's
    signature is the one that counts.

    Raises:
        ConfigError: the forward names none of `CACHE_KEYWORDS`.
    """
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    # inspect.signature follows functools.wraps, so a decorated forward shows its own parameters
    parameters = inspect.signature(inner.forward).parameters
    for name in CACHE_KEYWORDS:
        if name in parameters:
            return name
    raise ConfigError(f"{type(inner).__name__}.forward takes no KV cache argument (none of "
                      f"{', '.join(CACHE_KEYWORDS)}); difflens decodes only models whose forward accepts one")


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
        if not 0 <= self.temperature < float("inf"):  # written so that NaN fails too
            raise ConfigError(f"temperature must be a finite number >= 0 (0 = greedy), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p}")


@dataclass
class Continuation:
    """A sampled continuation.

    Attributes:
        text: the generated text, without the prompt and special tokens.
        n_tokens: generated tokens, with the end token.
        prompt_ids: the prompt's token ids as the model read them.
        text_ids: the generated token ids, without the end token.
        logprob: with ``sample_batch(..., logprobs=True)``: the model's own log-probability of
            ``text_ids`` after ``prompt_ids`` (nats, temperature 1 whatever the sampling settings);
            else None.
    """

    text: str
    n_tokens: int
    prompt_ids: list[int] = field(default_factory=list, repr=False)
    text_ids: list[int] = field(default_factory=list, repr=False)
    logprob: float | None = None


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
    # float32 throughout: a float64 cumsum over the vocabulary costs more than the rest of the
    # step's sampling, and float32's error in the CDF (~1e-6) is far below any rate we estimate
    logits = logits.float()
    if config.temperature != 1.0:  # the division is a pass over (B, V) that changes nothing at 1
        logits = logits / config.temperature
    probs = torch.softmax(logits, dim=-1)  # (B, V)
    if config.top_p < 1.0:
        probs, order = probs.sort(dim=-1, descending=True)
        # keep a token when the mass before it is below top_p (the most likely token always stays)
        probs = probs * ((probs.cumsum(dim=-1) - probs) < config.top_p)
    else:
        order = None
    cdf = probs.cumsum(dim=-1)  # (B, V)
    total = cdf[:, -1:]  # (B, 1)
    # Strictly below the total, so the first CDF entry above the target is a token with probability > 0
    # even when u * total rounds up to the total.
    target = torch.minimum(uniforms.to(device=cdf.device, dtype=cdf.dtype).unsqueeze(1) * total,
                           torch.nextafter(total, torch.zeros_like(total)))  # (B, 1)
    index = torch.searchsorted(cdf, target, right=True)  # (B, 1)
    if order is not None:
        index = order.gather(1, index)
    return index.squeeze(1)  # (B,)


def max_positions(model) -> int | None:
    config = model.config
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


class _RunningBatch:
    """The rows being decoded, one prompt per row slot, with their cache, mask and last logits.

    A row whose text has ended stays in its slot (its outputs are ignored) until `admit` gives
    the slot a new prompt or `drop_ended` drops it, so slots are reused without copying the cache.
    """

    def __init__(self, model, device, headroom: int):
        self.model, self.device, self.headroom = model, device, headroom
        self.cache_keyword = cache_keyword(model)
        self.prompts = torch.zeros(0, dtype=torch.long)  # (B,) prompt index in each slot
        self.steps = torch.zeros(0, dtype=torch.long)  # (B,) tokens generated so far
        self.alive = torch.zeros(0, dtype=torch.bool)  # (B,) slots whose text goes on
        self.mask = torch.zeros((0, 0), dtype=torch.long, device=device)  # (B, cache length)
        self.next_pos = torch.zeros(0, dtype=torch.long, device=device)  # (B,) position of the next token
        self.logits: torch.Tensor | None = None  # (B, V) next-token logits
        self.cache: RowCache | None = None  # the first admitted group's prefill cache

    def __len__(self) -> int:
        return len(self.prompts)

    def _forward(self, input_ids, mask, positions, cache: RowCache) -> torch.Tensor:
        """The next-token logits, ``(B, V)``, after feeding ``input_ids`` ``(B, T)`` through ``cache``.

        Raises:
            CacheNotUsedError: the model did not append the ``T`` new columns to ``cache`` (it
                ignored the cache, e.g. under a keyword its forward no longer reads).
        """
        before = cache.get_seq_length()
        inputs = {"input_ids": input_ids, "attention_mask": mask, "position_ids": positions,
                  self.cache_keyword: cache, "use_cache": True}
        try:
            out = self.model(**inputs, logits_to_keep=1)  # only the last position's logits are needed
        except TypeError:  # a model class without logits_to_keep
            out = self.model(**inputs)
        grown = cache.get_seq_length() - before
        if grown != input_ids.shape[1]:
            raise CacheNotUsedError(
                f"{type(self.model).__name__} wrote {grown} columns into the KV cache passed as "
                f"{self.cache_keyword!r} for {input_ids.shape[1]} input tokens, so decoding would return "
                f"wrong texts; this transformers version's forward does not use the cache it is given "
                f"(use a transformers version in difflens' declared range)")
        return out.logits[:, -1, :]

    def admit(self, prompts: list[int], token_lists: list[list[int]], pad_id: int) -> None:
        """Prefill ``prompts`` and put them in the slots of ended rows, or in new slots at the start."""
        input_ids, mask = left_pad(token_lists, pad_id)
        input_ids, mask = input_ids.to(self.device), mask.to(self.device)
        position = (mask.cumsum(dim=-1) - 1).clamp(min=0)  # left padding must not shift positions
        cache = RowCache(self.headroom if len(self) == 0 else 0)  # copied into the batch's cache
        logits = self._forward(input_ids, mask, position, cache)
        fresh = torch.tensor(prompts, dtype=torch.long)
        if len(self) == 0:
            self.cache, self.mask, self.logits, self.next_pos = cache, mask, logits, position[:, -1] + 1
            self.prompts, self.steps, self.alive = (fresh, torch.zeros_like(fresh),
                                                    torch.ones(len(fresh), dtype=torch.bool))
            return
        width = mask.shape[1]
        if width > self.mask.shape[1]:  # a prompt longer than the cache: pad the cache on the left
            pad_left = width - self.mask.shape[1]
            self.cache.rebuild(pad_left=pad_left)
            self.mask = torch.cat([self.mask.new_zeros((len(self), pad_left)), self.mask], dim=1)
        slots = (~self.alive).nonzero().squeeze(1)[:len(prompts)]
        slots_dev = slots.to(self.device)
        self.cache.write_rows(slots_dev, cache)
        self.mask[slots_dev] = 0
        self.mask[slots_dev, self.mask.shape[1] - width:] = mask
        self.logits[slots_dev] = logits
        self.next_pos[slots_dev] = position[:, -1] + 1
        self.prompts[slots], self.steps[slots], self.alive[slots] = fresh, 0, True

    def leading_padding(self) -> int:
        """Leading cache columns that no live row attends to."""
        attended = self.mask[self.alive.to(self.device)].any(dim=0)
        return int(attended.long().argmax()) if attended.any() else 0

    def drop_padding(self) -> None:
        """Stop attending to the leading columns no live row attends to: the attention reads every
        column of every row, so a shorter cache is a cheaper step, and dropping costs no copy."""
        drop_left = self.leading_padding()
        if drop_left:
            self.cache.drop_columns(drop_left)
            self.mask = self.mask[:, drop_left:]

    def drop_ended(self) -> None:
        """Drop the ended rows and the leading columns no live row attends to (copies the cache)."""
        drop_left = self.leading_padding()
        keep = self.alive.nonzero().squeeze(1)
        keep_dev = keep.to(self.device)
        self.cache.rebuild(keep_dev, drop_left=drop_left)
        self.mask = self.mask[keep_dev, drop_left:]
        self.logits, self.next_pos = self.logits[keep_dev], self.next_pos[keep_dev]
        self.prompts, self.steps, self.alive = self.prompts[keep], self.steps[keep], self.alive[keep]

    def step(self, tokens: torch.Tensor) -> None:
        """Feed one token per row (ended rows too: their slot is reused or dropped later)."""
        self.mask = torch.cat([self.mask, self.mask.new_ones((len(self), 1))], dim=1)
        # an ended row may wait past the context's last position: give it position 0 (its output is unused)
        positions = torch.where(self.alive.to(self.device), self.next_pos, 0)
        # tokens and positions (B,) -> (B, 1): one new column per row; logits (B, V)
        self.logits = self._forward(tokens.unsqueeze(1), self.mask, positions.unsqueeze(1), self.cache)
        self.next_pos = self.next_pos + 1
        self.steps += 1


@torch.no_grad()
def sample_batch(model, tokenizer, prompts: Sequence[str], seeds: Sequence[int],
                 config: SamplingConfig, max_rows: int | None = None, logprobs: bool = False) -> list[Continuation]:
    """Sample one continuation per prompt by continuous batching.

    At most ``max_rows`` prompts are decoded at once. When a text ends, its row slot takes the
    next waiting prompt (prefilled in small groups, shortest prompts first), so the batch stays
    full; when no prompt is waiting, ended rows are dropped from the batch and the cache.

    Args:
        model: a causal LM (``transformers``) in eval mode; its device is used.
        tokenizer: the model's own tokenizer (two models may have different ones).
        prompts: prompt texts; ``""`` samples freely from BOS.
        seeds: one seed per prompt; equal seeds give equal texts whatever the batch.
        config: max new tokens, temperature and top-p.
        max_rows: rows decoded at once (None: all prompts). Per generated token, a CPU step
            costs least from about 64 rows on; more rows mostly cost memory.
        logprobs: also sum each text's log-probability under the model as it is sampled (one
            log-softmax per step; no extra forward pass).

    Returns:
        One `Continuation` per prompt, in order: the generated text without the prompt and
        without special tokens, and the number of generated tokens.

    Raises:
        ConfigError: ``max_new_tokens`` leaves no room for a prompt in the model's context.
    """
    if len(prompts) != len(seeds):
        raise ValueError(f"{len(prompts)} prompts but {len(seeds)} seeds")
    if max_rows is not None and max_rows < 1:
        raise ConfigError(f"max_rows must be >= 1, got {max_rows}")
    if not prompts:
        return []
    device = next(model.parameters()).device
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    token_lists = encode_prompts(tokenizer, prompts, prompt_room(model, config.max_new_tokens))
    uniforms = row_uniforms(seeds, config.max_new_tokens)  # (N, max_new_tokens)
    n = len(prompts)
    max_rows = min(n, max_rows or n)
    # Refill in groups: one prefill per group, and an ended row idles at most until its group is full.
    group = max(1, max_rows // 8)
    waiting = sorted(range(n), key=lambda i: len(token_lists[i]))  # similar lengths are prefilled together
    generated: list[list[int]] = [[] for _ in range(n)]
    totals = torch.zeros(n, dtype=torch.float64)  # (N,) log-probability of each text so far
    batch = _RunningBatch(model, device, headroom=config.max_new_tokens)
    while True:
        waiting = _refill_or_shrink(batch, waiting, token_lists, max_rows, group, pad)
        steps = batch.steps.clamp(max=config.max_new_tokens - 1)
        tokens = sample_tokens(batch.logits, uniforms[batch.prompts, steps], config)  # (B,)
        if logprobs:
            _add_logprobs(totals, batch, tokens, eos)
        _append_tokens(batch, tokens, generated, eos, config.max_new_tokens)
        if not batch.alive.any() and not waiting:
            break
        batch.step(tokens.to(device))
    return [_continuation(tokenizer, ids, eos, token_lists[i], float(totals[i]) if logprobs else None)
            for i, ids in enumerate(generated)]


def prompt_room(model, max_new_tokens: int) -> int:
    """Prompt tokens that fit in the model's context beside ``max_new_tokens`` (unbounded when
    the model declares no context length).

    Raises:
        ConfigError: ``max_new_tokens`` leaves no room for a prompt.
    """
    limit = max_positions(model)
    room = (limit - max_new_tokens) if limit else 1 << 30
    if room < 1:
        raise ConfigError(f"max_new_tokens={max_new_tokens} leaves no room for a prompt in the "
                          f"model's {limit}-token context; lower max_new_tokens")
    return room


def _refill_or_shrink(batch: _RunningBatch, waiting: list[int], token_lists: list[list[int]], max_rows: int,
                      group: int, pad: int) -> list[int]:
    """Before a step: admit waiting prompts once a group's worth of slots is free; with none
    waiting, drop the ended rows once they are a quarter of the batch; else drop leading
    padding. Returns the prompts still waiting."""
    n_alive = int(batch.alive.sum())
    free = max_rows - n_alive
    if waiting and free >= min(group, len(waiting)):
        # the first call fills the batch; later ones reuse the slots of ended rows
        take, waiting = waiting[:free], waiting[free:]
        batch.admit(take, [token_lists[i] for i in take], pad)
    elif not waiting and len(batch) - n_alive >= max(1, len(batch) // 4):
        batch.drop_ended()  # the tail: a smaller batch is a cheaper step
    else:
        batch.drop_padding()
    return waiting


def _add_logprobs(totals: torch.Tensor, batch: _RunningBatch, tokens: torch.Tensor, eos: int | None) -> None:
    """Add each live row's sampled-token log-probability to its prompt's total ``(N,)``."""
    # the text's tokens: not the end token, which the text does not contain
    counted = batch.alive if eos is None else batch.alive & (tokens.cpu() != eos)
    step_logprobs = torch.log_softmax(batch.logits.float(), dim=-1).gather(1, tokens[:, None]).squeeze(1)  # (B,)
    totals.index_add_(0, batch.prompts[counted], step_logprobs.cpu().double()[counted])


def _append_tokens(batch: _RunningBatch, tokens: torch.Tensor, generated: list[list[int]], eos: int | None,
                   max_new_tokens: int) -> None:
    """Append each live row's token to its prompt's text; a row ends at the end token or at
    ``max_new_tokens``."""
    for slot, (p, t, a) in enumerate(zip(batch.prompts.tolist(), tokens.tolist(), batch.alive.tolist())):
        if a:
            generated[p].append(t)
            if t == eos or len(generated[p]) == max_new_tokens:
                batch.alive[slot] = False


def _continuation(tokenizer, ids: list[int], eos: int | None, prompt_ids: list[int],
                  logprob: float | None) -> Continuation:
    """A finished text from its generated ``ids``: the end token that closed it is no part of it."""
    text_ids = ids[:-1] if ids and ids[-1] == eos else ids
    return Continuation(tokenizer.decode(text_ids, skip_special_tokens=True), len(ids), prompt_ids, text_ids, logprob)


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
