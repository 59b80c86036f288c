"""The async chat client every paradigm talks through.

It bounds requests in flight, times each one out, retries connection errors and 5xx
with exponential backoff, sends the sampling parameters explicitly (servers otherwise
apply a model's own defaults), and answers from the request cache when it can. The
engine is opened lazily on the first cache miss, so a fully cached cell starts no server.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Callable

import openai

from .cache import RequestCache, request_key
from .engines.base import Endpoint
from .trace import ChatError, LLMCall

# How llama.cpp ("exceed context window") and SGLang/vLLM ("longer than the model's context
# length", "maximum context length") say that a prompt does not fit.
CONTEXT_MARKERS = ("context window", "context length", "maximum context")


def fold_system_prompt(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """For chat templates without a system role (Gemma's): the system prompt opens the first user turn."""
    if not messages or messages[0]["role"] != "system":
        return messages
    system, rest = messages[0]["content"], messages[1:]
    if rest and rest[0]["role"] == "user":
        return [{"role": "user", "content": f"{system}\n\n{rest[0]['content']}"}, *rest[1:]]
    return [{"role": "user", "content": system}, *rest]


@dataclass
class ClientStats:
    sent: int = 0
    cache_hits: int = 0
    retries: int = 0


class ChatClient:
    def __init__(
        self,
        open_endpoint: Callable[[], Endpoint],
        fingerprint: dict[str, Any],
        cache: RequestCache,
        sampling: dict[str, Any],
        *,
        concurrency: int = 4,
        timeout_s: float = 120.0,
        retries: int = 3,
        backoff_s: float = 1.0,
        api_key: str = "none",
        system_role: bool = True,
    ):
        self._open_endpoint = open_endpoint
        self.fingerprint = fingerprint
        self.cache = cache
        self.sampling = {k: sampling[k] for k in ("temperature", "top_p", "max_tokens", "seed")}
        self.semaphore = asyncio.Semaphore(concurrency)
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.api_key = api_key
        self.system_role = system_role
        self.stats = ClientStats()
        self._client: openai.AsyncOpenAI | None = None
        self._endpoint: Endpoint | None = None
        self._open_lock = asyncio.Lock()

    async def _connection(self) -> tuple[openai.AsyncOpenAI, Endpoint]:
        async with self._open_lock:
            if self._client is None:
                self._endpoint = await asyncio.to_thread(self._open_endpoint)
                self._client = openai.AsyncOpenAI(base_url=self._endpoint.base_url, api_key=self.api_key, max_retries=0, timeout=self.timeout_s)
        return self._client, self._endpoint

    async def chat(self, messages: list[dict[str, str]], agent: str) -> LLMCall:
        """One completion; the returned call records the messages as the model received them."""
        if not self.system_role:
            messages = fold_system_prompt(messages)
        key = request_key(self.fingerprint, messages, self.sampling)
        hit = self.cache.get(key)
        if hit is not None:
            self.stats.cache_hits += 1
            return LLMCall(agent=agent, messages=messages, cache_hit=True, **hit)
        async with self.semaphore:
            reply = await self._request(messages)
        self.cache.put(key, reply)
        return LLMCall(agent=agent, messages=messages, cache_hit=False, **reply)

    async def _request(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        client, endpoint = await self._connection()
        for attempt in range(self.retries + 1):
            start = time.perf_counter()
            try:
                self.stats.sent += 1
                response = await client.chat.completions.create(model=endpoint.model, messages=messages, **self.sampling)
            except openai.APITimeoutError as e:  # not retried: a retry would double a slow sample's cost
                raise ChatError("timeout", f"no reply within {self.timeout_s:.0f} s (client.timeout_s)") from e
            except (openai.APIConnectionError, openai.InternalServerError) as e:
                error = ChatError("server_error", f"{type(e).__name__}: {e}")
            except openai.BadRequestError as e:
                text = str(e).lower()
                kind = "context_length_exceeded" if any(m in text for m in CONTEXT_MARKERS) else "server_error"
                raise ChatError(kind, str(e)) from e
            except openai.APIStatusError as e:
                raise ChatError("server_error", str(e)) from e
            else:
                choice = response.choices[0]
                usage = response.usage
                return {
                    "output": choice.message.content or "",
                    "prompt_tokens": usage.prompt_tokens if usage else 0,
                    "completion_tokens": usage.completion_tokens if usage else 0,
                    "latency_s": round(time.perf_counter() - start, 4),
                    "finish_reason": choice.finish_reason or "",
                }
            if attempt < self.retries:
                self.stats.retries += 1
                await asyncio.sleep(self.backoff_s * 2**attempt)
        raise error
