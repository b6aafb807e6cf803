"""The assistant on a local ``transformers`` chat model, by Hub name or directory.

Requests are rendered with the tokenizer's chat template and generated in left-padded batches.
A model without a chat template (a base model such as the quickstart's tiny GPT-2) gets a plain
template: each message as ``Role: content`` on its own paragraph, then ``Assistant:``. Replies
go through the same cache and parsers as the endpoint backend; with ``temperature > 0`` each
request is sampled with a seed derived from its cache key, so a rerun reproduces it.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence

from difflens.assistants.cache import request_key
from difflens.assistants.chat import DEFAULT_CACHE, ChatAssistant, ChatRequest, Completion
from difflens.errors import ConfigError


def plain_chat_prompt(messages: Sequence[dict[str, str]]) -> str:
    """The fallback template for tokenizers without a chat template."""
    parts = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    return "\n\n".join(parts) + "\n\nAssistant:"


class LocalChatAssistant(ChatAssistant):
    """Assistant on a local causal LM.

    Args:
        model: Hub name or directory written by ``save_pretrained``.
        temperature: 0 for greedy decoding, else the sampling temperature.
        max_tokens: new tokens per reply.
        batch_size: requests generated together.
        device: torch device of the model.
        dtype: model dtype (``auto``, ``float32``, ``bfloat16``).
        quantization: ``4bit`` or ``8bit`` through bitsandbytes, or None.
        adapter: directory of a peft adapter to apply.
        cache_path: SQLite file of the reply cache (``None``: no cache).
        max_texts_per_group: texts of each group shown to the proposer.
        max_chars_per_text: each shown text is cut to this many characters.
        examples_per_request: examples asked for in one ``write_examples`` request.
    """

    backend = "local"

    def __init__(self, model: str, temperature: float = 0.0, max_tokens: int = 256, batch_size: int = 8,
                 device: str = "cpu", dtype: str = "auto", quantization: str | None = None,
                 adapter: str | None = None, cache_path: str | None = DEFAULT_CACHE, max_texts_per_group: int = 30,
                 max_chars_per_text: int = 600, examples_per_request: int = 10):
        super().__init__(model, temperature, max_tokens, cache_path, max_texts_per_group, max_chars_per_text,
                         examples_per_request)
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        from difflens.models.loading import check_quantization  # torch stays unimported until needed

        check_quantization(quantization)
        self.batch_size = batch_size
        self.device = device
        self.dtype = dtype
        self.quantization = quantization
        self.adapter = adapter
        self._lm = None
        self._tokenizer = None
        self._load_lock = threading.Lock()

    def __getstate__(self):
        # The model is not pickled: a copy loads it again on first use.
        return {**super().__getstate__(), "_lm": None, "_tokenizer": None, "_load_lock": None}

    def __setstate__(self, state):
        self.__dict__.update(state, _load_lock=threading.Lock())

    def sampling(self) -> dict:
        return {**super().sampling(), "adapter": self.adapter, "quantization": self.quantization}

    def _load(self):
        with self._load_lock:
            if self._lm is None:
                from difflens.models import load_causal_lm, load_tokenizer

                self._tokenizer = load_tokenizer(self.model, padding_side="left")
                self._lm = load_causal_lm(self.model, dtype=self.dtype, quantization=self.quantization,
                                          adapter=self.adapter)
                if self.quantization is None:
                    self._lm.to(self.device)
        return self._lm, self._tokenizer

    def render(self, messages: Sequence[dict[str, str]]) -> str:
        """The prompt text: the tokenizer's chat template, or the plain fallback."""
        _, tokenizer = self._load()
        if getattr(tokenizer, "chat_template", None):
            return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
        return plain_chat_prompt(messages)

    def _complete_one(self, request: ChatRequest) -> Completion:
        out: list[Completion] = []
        self._complete_many([request], lambda i, c: out.append(c))
        return out[0]

    def _complete_many(self, requests: Sequence[ChatRequest], deliver: Callable[[int, Completion], None]) -> None:
        import torch

        lm, tokenizer = self._load()
        # The prompt is cut from the left so that the instructions at its end survive.
        max_prompt = _max_positions(lm) - self.max_tokens
        if max_prompt < 8:
            raise ConfigError(f"max_tokens={self.max_tokens} leaves no room for a prompt in the model's "
                              f"{_max_positions(lm)} positions; lower max_tokens")
        tokenizer.truncation_side = "left"
        for start in range(0, len(requests), self.batch_size):
            batch = requests[start:start + self.batch_size]
            texts = [self.render(r.messages) for r in batch]
            enc = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=max_prompt)
            enc = {k: v.to(lm.device) for k, v in enc.items()}
            kwargs = {"max_new_tokens": self.max_tokens, "pad_token_id": tokenizer.pad_token_id}
            if self.temperature > 0:
                kwargs.update(do_sample=True, temperature=self.temperature)
                keys = "".join(request_key(self._record(r)) for r in batch)
                torch.manual_seed(int(hashlib.sha256(keys.encode()).hexdigest()[:8], 16))
            else:
                kwargs.update(do_sample=False)
            with self.stats.lock:
                self.stats.requests += 1
            with torch.no_grad():
                generated = lm.generate(**enc, **kwargs)  # (B, T_prompt + T_new)
            new = generated[:, enc["input_ids"].shape[1]:]  # (B, T_new)
            for j, row in enumerate(new):
                n_new = int((row != tokenizer.pad_token_id).sum())
                reply = tokenizer.decode(row, skip_special_tokens=True).strip()
                with self.stats.lock:
                    self.stats.prompt_tokens += int(enc["attention_mask"][j].sum())
                    self.stats.completion_tokens += n_new
                deliver(start + j, Completion(reply, int(enc["attention_mask"][j].sum()), n_new))


def _max_positions(lm) -> int:
    config = lm.config
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return 2048
