"""The assistant behind any OpenAI-compatible chat endpoint, through the ``openai`` SDK.

Works with vLLM, Ollama, the llama.cpp server, OpenAI, and the Gemini and Anthropic
compatibility endpoints: set ``base_url`` and ``model``. The API key is read from the
environment variable whose *name* is ``api_key_env``; the key itself is never stored on the
assistant, in its config, the cache, a log line or an error message.

Retries: timeouts, connection errors, 408/409/429, 5xx and replies that are not JSON are
retried up to ``max_retries`` times with exponential backoff (and a 429's ``Retry-After``);
the SDK's own retries are off so that every attempt is counted against ``max_requests``. A
request that still fails gives no reply (``judge`` returns None) and is not cached, so the
next run tries it again; any other HTTP error (a wrong model name, a rejected key) stops with
a one-line `AssistantError`.

Routes: a model without a chat template (a base model behind ``transformers serve`` or
vLLM) fails every chat request (HTTP 500 or 400, saying "chat template"). With ``route: auto``
the first such failure is answered by trying the completions route (``/v1/completions``) with
the messages rendered by ``completion_template``; when that works, the assistant says so once
and uses completions from then on; other failures are retried as before. ``route: chat`` or
``route: completions`` fixes the route. The route is not part of the cache key (a rerun that
starts on ``auto`` finds the replies the completions route gave), so clear the cache after
giving the server a chat template.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed

from difflens.assistants.chat import (
    DEFAULT_CACHE,
    AssistantError,
    BudgetExceededError,
    ChatAssistant,
    ChatRequest,
    Completion,
    log,
)
from difflens.errors import ConfigError

_RETRY_STATUS = frozenset({408, 409, 429})
ROUTES = ("auto", "chat", "completions")
# What a server without a chat template answers on /chat/completions (transformers serve: 500;
# vLLM: 400); 404/405: a server with no chat route at all.
_NO_CHAT_STATUS = frozenset({400, 404, 405, 500})
DEFAULT_COMPLETION_TEMPLATE = "{system}\n\n{user}\n\nAnswer:\n"


class OpenAICompatibleAssistant(ChatAssistant):
    """Assistant on an OpenAI-compatible ``/v1/chat/completions`` endpoint.

    Args:
        model: the model name the endpoint serves (``gpt-4o-mini``, ``Qwen/Qwen2.5-7B-Instruct``).
        base_url: the endpoint (``http://localhost:8000/v1`` for vLLM, ``http://localhost:11434/v1``
            for Ollama); ``None`` is OpenAI's.
        api_key_env: NAME of the environment variable holding the key; ``None`` for servers that
            need none (a placeholder is sent).
        temperature: sampling temperature.
        max_tokens: longest reply in tokens.
        concurrency: requests in flight at once.
        timeout: seconds before a request counts as timed out.
        max_retries: retries after the first attempt of a request.
        backoff: seconds before the first retry; doubles on each retry (with jitter), capped by ``max_backoff``.
        max_backoff: longest wait between attempts, in seconds.
        max_requests: budget of HTTP requests (attempts, retries included) for this object; ``None``: no limit.
        input_price: price per million prompt tokens, for the running cost.
        output_price: price per million completion tokens, for the running cost.
        cache_path: SQLite file of the reply cache (``None``: no cache).
        max_texts_per_group: texts of each group shown to the proposer.
        max_chars_per_text: each shown text is cut to this many characters.
        examples_per_request: examples asked for in one ``write_examples`` request.
        route: ``auto`` (chat, falling back to completions for a model without a chat
            template), ``chat`` or ``completions``.
        completion_template: how the system and user messages become one prompt on the
            completions route (fields ``{system}`` and ``{user}``).
    """

    backend = "openai"

    def __init__(self, model: str, base_url: str | None = None, api_key_env: str | None = "OPENAI_API_KEY",
                 temperature: float = 0.0, max_tokens: int = 512, concurrency: int = 4, timeout: float = 60.0,
                 max_retries: int = 5, backoff: float = 1.0, max_backoff: float = 60.0,
                 max_requests: int | None = None, input_price: float = 0.0, output_price: float = 0.0,
                 cache_path: str | None = DEFAULT_CACHE, max_texts_per_group: int = 30,
                 max_chars_per_text: int = 600, examples_per_request: int = 10, route: str = "auto",
                 completion_template: str = DEFAULT_COMPLETION_TEMPLATE):
        super().__init__(model, temperature, max_tokens, cache_path, max_texts_per_group, max_chars_per_text,
                         examples_per_request)
        if concurrency < 1:
            raise ConfigError(f"concurrency must be >= 1, got {concurrency}")
        if not 0 < timeout < float("inf"):  # written so that NaN fails too
            raise ConfigError(f"timeout must be > 0 seconds, got {timeout}")
        if not (max_retries >= 0 and 0 <= backoff < float("inf") and 0 <= max_backoff < float("inf")):
            raise ConfigError(f"max_retries, backoff and max_backoff must be finite and >= 0, got {max_retries}, "
                              f"{backoff}, {max_backoff}")
        if not (input_price >= 0 and output_price >= 0):
            raise ConfigError(f"input_price and output_price must be >= 0, got {input_price}, {output_price}")
        if max_requests is not None and max_requests < 1:
            raise ConfigError(f"max_requests must be >= 1 or null (no limit), got {max_requests}")
        looks_like_a_key = api_key_env is not None and (
            not api_key_env or api_key_env.startswith(("sk-", "AIza")) or " " in api_key_env)
        if looks_like_a_key:
            raise ConfigError("api_key_env is the NAME of an environment variable (e.g. OPENAI_API_KEY), "
                              "not the key itself; put the key in that variable")
        if route not in ROUTES:
            raise ConfigError(f"route must be one of {ROUTES}, got {route!r}")
        if "{user}" not in completion_template:
            raise ConfigError("completion_template must contain {user} (and may contain {system})")
        self.route = route
        self.completion_template = completion_template
        self._chat_worked = False
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_requests = max_requests
        self.input_price = input_price
        self.output_price = output_price
        self._client = None
        self._client_lock = threading.Lock()

    def __getstate__(self):
        # The SDK client holds the key: never pickle it (DataLoader workers, DDP spawn).
        return {**super().__getstate__(), "_client": None, "_client_lock": None}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._client_lock = threading.Lock()

    def _api_key(self) -> str:
        if self.api_key_env is None:
            return "not-needed"
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ConfigError(f"the environment variable {self.api_key_env} is not set: put the endpoint's API key "
                              f"in it, or set api_key_env to null for a server that needs no key")
        return key

    def _redact(self, message: str) -> str:
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        return message.replace(key, "***") if key else message

    def client(self):
        with self._client_lock:
            if self._client is None:
                import openai

                self._client = openai.OpenAI(base_url=self.base_url, api_key=self._api_key(), max_retries=0,
                                             timeout=self.timeout)
            return self._client

    def _spend_request(self) -> None:
        with self.stats.lock:
            if self.max_requests is not None and self.stats.requests >= self.max_requests:
                raise BudgetExceededError(
                    f"request budget spent ({self.max_requests} requests to {self.model}); every reply so far "
                    f"is cached in {self.cache_path}: raise max_requests and rerun to continue")
            self.stats.requests += 1

    def _wait(self, attempt: int, retry_after: float | None) -> None:
        delay = min(self.max_backoff, self.backoff * 2 ** attempt) * (0.5 + random.random() / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_backoff))
        time.sleep(delay)

    def _prompt_text(self, messages: list[dict[str, str]]) -> str:
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        user = "\n\n".join(m["content"] for m in messages if m["role"] != "system")
        return self.completion_template.format(system=system, user=user)

    def _send(self, client, request: ChatRequest, route: str):
        """One HTTP request on ``route``; returns ``(response, content)``."""
        if route == "completions":
            response = client.completions.create(model=self.model, prompt=self._prompt_text(request.messages),
                                                 temperature=self.temperature, max_tokens=self.max_tokens)
            content = response.choices[0].text if response.choices else None
        else:
            response = client.chat.completions.create(model=self.model, messages=request.messages,
                                                      temperature=self.temperature, max_tokens=self.max_tokens)
            content = response.choices[0].message.content if response.choices else None
        if content is None:
            raise ValueError("a completion without content")
        return response, content

    def _try_completions_instead(self, client, request: ChatRequest, err):
        """After a chat failure that says the model has no chat template: the completions
        route, once; on success the assistant switches to it for good. None when that does not
        help, or for any other failure (a transient 500 is retried as usual)."""
        import openai

        if (self.route != "auto" or self._chat_worked or err.status_code not in _NO_CHAT_STATUS
                or "template" not in str(err).lower()):
            return None
        self._spend_request()
        try:
            answer = self._send(client, request, "completions")
        except (openai.APIError, ValueError, TypeError, AttributeError, IndexError):
            return None
        with self._client_lock:
            if self.route == "auto":
                self.route = "completions"
                log.warning("%s refused chat completions for %r (HTTP %d: no chat template?); using the completions "
                            "route with completion_template from now on (set route: completions to skip the chat "
                            "attempt)", self.base_url or "OpenAI", self.model, err.status_code)
        return answer

    def _complete_one(self, request: ChatRequest) -> Completion:
        import openai

        client = self.client()
        for attempt in range(self.max_retries + 1):
            self._spend_request()
            retry_after = None
            try:
                route = "completions" if self.route == "completions" else "chat"
                try:
                    response, content = self._send(client, request, route)
                    self._chat_worked = self._chat_worked or route == "chat"
                except openai.APIStatusError as err:
                    fallback = self._try_completions_instead(client, request, err) if route == "chat" else None
                    if fallback is None:
                        raise
                    response, content = fallback
            except (openai.APITimeoutError, openai.APIConnectionError) as err:
                reason = type(err).__name__
            except openai.APIStatusError as err:
                if err.status_code not in _RETRY_STATUS and err.status_code < 500:
                    raise AssistantError(
                        f"{self.base_url or 'OpenAI'} refused the request for model {self.model!r} "
                        f"(HTTP {err.status_code}: {self._redact(str(err))[:300]}); check model, base_url and "
                        f"the key in ${self.api_key_env}") from None
                reason = f"HTTP {err.status_code}"
                retry_after = _retry_after(err)
            except (json.JSONDecodeError, ValueError, TypeError, AttributeError, IndexError,
                    openai.APIResponseValidationError) as err:
                reason = f"malformed reply ({type(err).__name__})"
            else:
                usage = getattr(response, "usage", None)
                prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
                completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
                with self.stats.lock:
                    self.stats.prompt_tokens += prompt_tokens
                    self.stats.completion_tokens += completion_tokens
                    self.stats.cost += (prompt_tokens * self.input_price + completion_tokens * self.output_price) / 1e6
                return Completion(content, prompt_tokens, completion_tokens)
            if attempt == self.max_retries:
                log.warning("%s request to %s failed after %d attempts (%s); not cached, a rerun retries it",
                            request.prompt.name, self.model, attempt + 1, reason)
                break
            with self.stats.lock:
                self.stats.retries += 1
            log.info("retrying %s request to %s after %s (attempt %d)", request.prompt.name, self.model, reason,
                     attempt + 1)
            self._wait(attempt, retry_after)
        return Completion(None)

    def _complete_many(self, requests: Sequence[ChatRequest], deliver: Callable[[int, Completion], None]) -> None:
        """Up to ``concurrency`` requests in flight; each reply is delivered (and cached) as it
        arrives. A budget or refusal error stops new requests, lets those in flight finish,
        then is raised."""
        self.client()  # a missing key fails here, once, before any thread starts
        stop = threading.Event()
        errors: list[BaseException] = []

        def work(i: int) -> None:
            if stop.is_set():
                return
            try:
                deliver(i, self._complete_one(requests[i]))
            except AssistantError as err:
                stop.set()
                errors.append(err)

        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests))) as pool:
            for future in as_completed([pool.submit(work, i) for i in range(len(requests))]):
                future.result()
        if errors:
            raise errors[0]


def _retry_after(err) -> float | None:
    try:
        value = err.response.headers.get("retry-after")
        return float(value) if value is not None else None
    except (AttributeError, ValueError):
        return None
