"""What the LLM backends share: prompts in, replies cached, replies parsed.

A `ChatAssistant` turns each job into chat requests (`prompts`), serves what it can from the
`ReplyCache`, sends the rest to the backend (`_complete_many`), stores each reply the moment
it arrives (so an interrupted run keeps everything it paid for), and parses the replies. A
reply that cannot be parsed is counted and kept in ``unparsed`` — never replaced by a guess;
a request that failed after all retries is not cached, so the next run tries it again.
"""

from __future__ import annotations

import logging
import threading
from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from difflens.assistants.base import Assistant
from difflens.assistants.cache import CachedReply, ReplyCache, request_key
from difflens.assistants.prompts import (
    JUDGE,
    PARSERS,
    PROPOSE,
    WRITE_EXAMPLES,
    Prompt,
    check_subject,
    format_avoid,
    format_texts,
)
from difflens.errors import ConfigError, DifflensError

log = logging.getLogger("difflens.assistants")

DEFAULT_CACHE = "runs/assistant_cache.sqlite"


class AssistantError(DifflensError):
    """The backend could not answer (budget spent, endpoint refused the request)."""


class BudgetExceededError(AssistantError):
    """The request budget is spent; every reply received so far is in the cache."""


@dataclass
class ChatRequest:
    """One chat request: the prompt it comes from and its filled-in messages."""

    prompt: Prompt
    messages: list[dict[str, str]]


@dataclass
class Completion:
    """A backend's reply; ``text`` is None when no reply came back after all retries."""

    text: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class AssistantStats:
    """Running counts of one assistant object (this process)."""

    cache_hits: int = 0
    completions: int = 0  # new replies received from the backend
    failed: int = 0  # requests with no reply after all retries (not cached)
    unparsed: int = 0  # replies that could not be read (cached, never guessed)
    requests: int = 0  # HTTP requests / generate calls sent, retries included
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "lock"}

    def __getstate__(self):
        return self.as_dict()

    def __setstate__(self, state):
        self.__dict__.update(state, lock=threading.Lock())


class ChatAssistant(Assistant):
    """Base of the backends that talk to a chat model.

    Args:
        model: the model name (endpoint) or name/path (local); part of every cache key.
        temperature: sampling temperature; part of every cache key.
        max_tokens: longest reply in tokens; part of every cache key.
        cache_path: SQLite file of the reply cache (``None``: no cache).
        max_texts_per_group: texts of each group shown to the proposer.
        max_chars_per_text: each shown text is cut to this many characters.
        examples_per_request: examples asked for in one ``write_examples`` request.
    """

    def __init__(self, model: str, temperature: float = 0.0, max_tokens: int = 512,
                 cache_path: str | None = DEFAULT_CACHE, max_texts_per_group: int = 30,
                 max_chars_per_text: int = 600, examples_per_request: int = 10):
        if not model:
            raise ConfigError(f"{type(self).__name__} needs a model: set model to a name or path")
        if not 0 <= temperature < float("inf"):  # written so that NaN fails too
            raise ConfigError(f"temperature must be a finite number >= 0, got {temperature}")
        for name, value in (("max_tokens", max_tokens), ("max_texts_per_group", max_texts_per_group),
                            ("max_chars_per_text", max_chars_per_text), ("examples_per_request", examples_per_request)):
            if value < 1:
                raise ConfigError(f"{name} must be >= 1, got {value}")
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.cache_path = cache_path
        self.max_texts_per_group = max_texts_per_group
        self.max_chars_per_text = max_chars_per_text
        self.examples_per_request = examples_per_request
        self.stats = AssistantStats()
        self.unparsed: list[dict] = []  # {"prompt", "key", "reply"} of every reply that could not be read
        self._cache: ReplyCache | None = None

    def __getstate__(self):
        # Picklable for DataLoader workers and spawned processes: the cache reconnects there.
        return {**self.__dict__, "_cache": None}

    @property
    def cache(self) -> ReplyCache | None:
        if self._cache is None and self.cache_path:
            self._cache = ReplyCache(self.cache_path)
        return self._cache

    def sampling(self) -> dict:
        """The sampling parameters; part of every cache key."""
        return {"temperature": self.temperature, "max_tokens": self.max_tokens}

    # ---- the backend's part -------------------------------------------------------------

    @abstractmethod
    def _complete_one(self, request: ChatRequest) -> Completion:
        """Send one request (with the backend's retries); no cache."""

    def _complete_many(self, requests: Sequence[ChatRequest], deliver: Callable[[int, Completion], None]) -> None:
        """Send ``requests`` and call ``deliver(i, completion)`` as each reply arrives.
        Backends that batch or run requests concurrently override this."""
        for i, request in enumerate(requests):
            deliver(i, self._complete_one(request))

    # ---- cached asking ------------------------------------------------------------------

    def _record(self, request: ChatRequest) -> dict:
        return {"backend": self.backend, "model": self.model, "prompt": request.prompt.name,
                "prompt_version": request.prompt.version, "messages": request.messages,
                "sampling": self.sampling()}

    def ask(self, requests: Sequence[ChatRequest]) -> list[str | None]:
        """Replies to ``requests`` (None where none came back), from the cache where possible."""
        records = [self._record(r) for r in requests]
        keys = [request_key(r) for r in records]
        replies: list[str | None] = [None] * len(requests)
        missing: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            cached = self.cache.get(key) if self.cache is not None else None
            if cached is not None:
                replies[i] = cached.reply
                with self.stats.lock:
                    self.stats.cache_hits += 1
            else:
                missing.setdefault(key, []).append(i)  # identical requests are sent once
        todo = [idx[0] for idx in missing.values()]

        def deliver(j: int, completion: Completion) -> None:
            i = todo[j]
            with self.stats.lock:
                if completion.text is None:
                    self.stats.failed += 1
                else:
                    self.stats.completions += 1
            if completion.text is None:
                return
            if self.cache is not None:
                self.cache.put(keys[i], records[i], CachedReply(completion.text, completion.prompt_tokens,
                                                                 completion.completion_tokens))
            for k in missing[keys[i]]:
                replies[k] = completion.text

        if todo:
            self._complete_many([requests[i] for i in todo], deliver)
        return replies

    def _parsed(self, request: ChatRequest, reply: str | None):
        if reply is None:
            return None
        value = PARSERS[request.prompt.name](reply)
        if value is None:
            with self.stats.lock:
                self.stats.unparsed += 1
                self.unparsed.append({"prompt": request.prompt.name, "key": request_key(self._record(request)),
                                      "reply": reply[:2000]})
            log.warning("unparsed %s reply from %s %s: %r", request.prompt.name, self.backend, self.model, reply[:200])
        return value

    # ---- the three jobs -----------------------------------------------------------------

    def write_examples(self, description: str, n: int) -> list[str]:
        return self.write_examples_batch([description], n)[0]

    def write_examples_batch(self, descriptions: Sequence[str], n: int) -> list[list[str]]:
        """``n`` examples per description, asked ``examples_per_request`` at a time.

        Raises:
            AssistantError: fewer than ``n`` usable examples came back for a description.
        """
        chunks = [(d, start, min(self.examples_per_request, n - start))
                  for d in descriptions for start in range(0, n, self.examples_per_request)]
        requests = [ChatRequest(WRITE_EXAMPLES, WRITE_EXAMPLES.messages(description=d, n=k, start=s + 1, end=s + k))
                    for d, s, k in chunks]
        out: dict[str, list[str]] = {d: [] for d in descriptions}
        for (d, _, k), request, reply in zip(chunks, requests, self.ask(requests)):
            items = self._parsed(request, reply)
            out[d].extend((items or [])[:k])
        for d, texts in out.items():
            if len(texts) < n:
                raise AssistantError(
                    f"{self.backend} assistant wrote {len(texts)} of {n} examples for {d!r} "
                    f"({self.stats.failed} requests failed, {self.stats.unparsed} replies unparsed); "
                    f"rerun to retry the failed requests (replies so far are cached)")
        return [out[d] for d in descriptions]

    def propose(self, texts_a: Sequence[str], texts_b: Sequence[str], n_hypotheses: int,
                avoid: Sequence[str] = (), subject: str = "intervention") -> list[str]:
        return self.propose_batch([(texts_a, texts_b)], n_hypotheses, avoid, subject)[0]

    def propose_batch(self, groups: Sequence[tuple[Sequence[str], Sequence[str]]], n_hypotheses: int,
                      avoid: Sequence[str] = (), subject: str = "intervention") -> list[list[str]]:
        """Hypotheses per group pair; an unreadable reply gives ``[]`` and is counted.

        Raises:
            AssistantError: a request got no reply after all retries (the endpoint is down): a
                proposal that was never made is not "no hypotheses"; the replies received are
                cached, so a rerun asks only the missing ones.
        """
        model_b, model_a = check_subject(subject)
        requests = [ChatRequest(PROPOSE, PROPOSE.messages(
            texts_a=format_texts(a, self.max_texts_per_group, self.max_chars_per_text),
            texts_b=format_texts(b, self.max_texts_per_group, self.max_chars_per_text),
            n=n_hypotheses, avoid=format_avoid(avoid), model_a=model_a, model_b=model_b)) for a, b in groups]
        replies = self.ask(requests)
        failed = sum(reply is None for reply in replies)
        if failed:
            raise AssistantError(
                f"{self.backend} assistant {self.model!r} gave no reply to {failed} of {len(requests)} proposal "
                f"requests after retries; the replies received are cached: fix the endpoint and rerun to ask "
                f"only the missing ones")
        out = []
        for request, reply in zip(requests, replies):
            items = self._parsed(request, reply) or []
            out.append(items[:n_hypotheses])
        return out

    def judge(self, hypothesis: str, text: str) -> float | None:
        return self.judge_batch(hypothesis, [text])[0]

    def judge_batch(self, hypothesis: str, texts: Sequence[str]) -> list[float | None]:
        requests = [ChatRequest(JUDGE, JUDGE.messages(hypothesis=hypothesis, text=t)) for t in texts]
        return [self._parsed(r, reply) for r, reply in zip(requests, self.ask(requests))]
