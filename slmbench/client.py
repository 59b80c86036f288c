"""The async chat client every paradigm talks through.

It bounds requests in flight, times each one out, sends every sampling parameter
explicitly in the names the engine's server reads (servers otherwise fill what a request
leaves out with their own or the model's defaults: engines/base.py, `SamplingFields`), and
answers from the request cache when it can. The engine is opened lazily on the first cache miss, so a
fully cached cell starts no server, and imports no OpenAI client either: that import (about
0.4 s) runs while the server loads (bench/README.md, "One cell, whole run").

A failed request is infrastructure, not a result: connection errors, 5xx replies and
time-outs are retried with exponential backoff after asking the engine to recover
(a dead or hung server is restarted, a bounded number of times). When the server still
cannot answer, `ServerFailure` ends the whole job; no sample is ever recorded as a
server failure. Only a prompt that does not fit the context window is the model's
outcome (`ChatError("context_length_exceeded")`).

A constrained request carries its grammar in the request body field the engine reads
(`grammar_field`: llama.cpp's `grammar`, SGLang's `ebnf`); a server that rejects the
grammar answers 400, which, like every refused request, fails the job.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from .cache import RequestCache, request_key
from .config import schema_defaults
from .engines.base import Endpoint, EngineError, SamplingFields
from .text import scrub_surrogates
from .trace import ChatError, LLMCall

if TYPE_CHECKING:
    import openai

# How llama.cpp ("exceed context window") and SGLang/vLLM ("longer than the model's context
# length", "maximum context length") say that a prompt does not fit.
CONTEXT_MARKERS = ("context window", "context length", "maximum context")
CLIENT_DEFAULTS = schema_defaults("client")  # schemas/config.schema.yaml, client


def fold_system_prompt(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """For chat templates without a system role (Gemma's): the system prompt opens the first user turn."""
    if not messages or messages[0]["role"] != "system":
        return messages
    system, rest = messages[0]["content"], messages[1:]
    if rest and rest[0]["role"] == "user":
        return [{"role": "user", "content": f"{system}\n\n{rest[0]['content']}"}, *rest[1:]]
    return [{"role": "user", "content": system}, *rest]


class ServerFailure(RuntimeError):
    """The server could not answer a request even after retries and restarts: the job must fail."""


class GrammarUnsupported(EngineError):
    """A constrained request for an engine that has no request field for a grammar."""


@dataclass
class ClientStats:
    sent: int = 0
    cache_hits: int = 0
    retries: int = 0  # requests sent again after a failed attempt
    recoveries: int = 0  # endpoints replaced by the engine after a failure (a restarted server)


class ChatClient:
    def __init__(
        self,
        open_endpoint: Callable[[], Endpoint],
        fingerprint: dict[str, Any],
        cache: RequestCache,
        sampling: dict[str, Any],
        *,
        sampling_fields: SamplingFields,
        concurrency: int = CLIENT_DEFAULTS["concurrency"],
        timeout_s: float = CLIENT_DEFAULTS["timeout_s"],
        retries: int = CLIENT_DEFAULTS["retries"],
        backoff_s: float = CLIENT_DEFAULTS["backoff_s"],
        api_key: str = "none",
        system_role: bool = True,
        recover_endpoint: Callable[[], Endpoint] | None = None,
        grammar_field: str | None = None,
        constrained_extras: dict[str, Any] | None = None,
    ):
        self._open_endpoint = open_endpoint
        self._recover_endpoint = recover_endpoint or open_endpoint
        self.fingerprint = fingerprint
        self.cache = cache
        self.sampling = dict(sampling)  # the cache key's part: all of it decides the reply
        self.request_args, self.request_extra = sampling_fields.request(sampling)
        self.semaphore = asyncio.Semaphore(concurrency)
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.api_key = api_key
        self.system_role = system_role
        self.grammar_field = grammar_field
        self.constrained_extras = constrained_extras or {}  # Engine.constrained_extras: e.g. thinking off
        self.stats = ClientStats()
        self._client: openai.AsyncOpenAI | None = None
        self._endpoint: Endpoint | None = None
        self._open_lock = asyncio.Lock()

    def _connect(self, endpoint: Endpoint) -> None:
        import openai  # imported by _connection, while the server loaded

        self._endpoint = endpoint
        self._client = openai.AsyncOpenAI(base_url=endpoint.base_url, api_key=self.api_key, max_retries=0, timeout=self.timeout_s)

    async def _connection(self) -> tuple[openai.AsyncOpenAI, Endpoint]:
        async with self._open_lock:
            if self._client is None:
                endpoint, _ = await asyncio.gather(
                    asyncio.to_thread(self._open_endpoint), asyncio.to_thread(importlib.import_module, "openai")
                )
                self._connect(endpoint)
        return self._client, self._endpoint

    async def _recover(self, failed: Endpoint) -> None:
        """Ask the engine for a working endpoint once per failure, however many requests saw it."""
        async with self._open_lock:
            if self._endpoint != failed:  # another request has already recovered
                return
            try:
                endpoint = await asyncio.to_thread(self._recover_endpoint)
            except EngineError as e:
                raise ServerFailure(str(e)) from e
            if endpoint != failed:
                self.stats.recoveries += 1
            self._connect(endpoint)

    async def chat(self, messages: list[dict[str, str]], agent: str, grammar: str | None = None) -> LLMCall:
        """One completion, constrained to `grammar` (GBNF) when given; the returned call records the
        messages as the model received them."""
        if not self.system_role:
            messages = fold_system_prompt(messages)
        return await self._cached(messages, agent, grammar)

    async def complete(self, messages: list[dict[str, str]], agent: str, grammar: str | None = None) -> LLMCall:
        """FinBen's harness request (`prompt_format: completion`): the one user message's text sent
        raw to /v1/completions, without the chat template; the call records it as that message."""
        if len(messages) != 1 or messages[0]["role"] != "user":
            raise ValueError("a raw completion sends exactly one user message's text")
        return await self._cached(messages, agent, grammar, prompt=messages[0]["content"])

    async def _cached(self, messages: list[dict[str, str]], agent: str, grammar: str | None, prompt: str | None = None) -> LLMCall:
        """The cached reply to a request, else the server's (then cached)."""
        if grammar is not None and not self.grammar_field:
            raise GrammarUnsupported(
                "a constrained paradigm needs an engine that accepts a grammar: llamacpp, sglang, or openai with "
                "models.<name>.endpoint.grammar_field naming the request field its server reads (grammar for "
                "llama.cpp, ebnf for SGLang)"
            )
        key = request_key(self.fingerprint, messages, self.sampling, grammar, prompt=prompt)
        hit = self.cache.get(key)
        if hit is not None:
            self.stats.cache_hits += 1
            return LLMCall(agent=agent, messages=messages, cache_hit=True, **hit)
        body = {**self.request_extra, **self.constrained_extras, self.grammar_field: grammar} if grammar is not None else self.request_extra
        async with self.semaphore:
            reply = await self._request(messages, body, prompt=prompt)
        self.cache.put(key, reply)
        return LLMCall(agent=agent, messages=messages, cache_hit=False, **reply)

    async def _request(self, messages: list[dict[str, str]], extra_body: dict[str, Any] | None = None, prompt: str | None = None) -> dict[str, Any]:
        for attempt in range(self.retries + 1):
            client, endpoint = await self._connection()
            import openai  # imported by _connection, while the server loaded
            start = time.perf_counter()
            try:
                self.stats.sent += 1
                if prompt is None:
                    response = await client.chat.completions.create(
                        model=endpoint.model, messages=messages, extra_body=extra_body or None, **self.request_args
                    )
                else:  # the same sampling: a raw completion differs only in what it sends
                    response = await client.completions.create(
                        model=endpoint.model, prompt=prompt, extra_body=extra_body or None, **self.request_args
                    )
            except openai.APITimeoutError:
                problem = f"no reply within {self.timeout_s:g} s (client.timeout_s)"
            except (openai.APIConnectionError, openai.InternalServerError) as e:
                problem = f"{type(e).__name__}: {e}"
            except openai.BadRequestError as e:
                if any(m in str(e).lower() for m in CONTEXT_MARKERS):
                    raise ChatError("context_length_exceeded", str(e)) from e
                raise ServerFailure(f"the server refused a request: {e}") from e
            except openai.APIStatusError as e:
                raise ServerFailure(f"the server refused a request: {e}") from e
            else:
                if not (response.choices and response.choices[0].finish_reason == "abort"):
                    return reply_record(response, round(time.perf_counter() - start, 4))
                # SGLang ends a request it aborted (a scheduler or grammar failure, a full queue) with an
                # HTTP 200 reply: infrastructure, so it is retried and never cached as the model's reply.
                problem = f"the server aborted the generation (finish_reason 'abort'): {response.choices[0].message.content or ''}"[:500]
            if attempt < self.retries:
                self.stats.retries += 1
                await self._recover(endpoint)
                await asyncio.sleep(self.backoff_s * 2**attempt)
        raise ServerFailure(
            f"the server gave no reply to one request in {self.retries + 1} attempts (client.retries); last: {problem}"
        )


def reply_record(response: Any, latency_s: float) -> dict[str, Any]:
    """What the cache stores of a reply; model text is scrubbed so that every record can be written."""
    if not response.choices:
        raise ServerFailure("the server replied without a choice")
    choice = response.choices[0]
    usage = response.usage
    return {
        # a chat reply's text is its message's content, a raw completion's its `text`
        "output": scrub_surrogates((choice.message.content if hasattr(choice, "message") else choice.text) or ""),
        # A reasoning parser (SGLang's --reasoning-parser) moves the thinking here; its tokens are part of
        # completion_tokens, and SGLang reports how many (usage.reasoning_tokens, or OpenAI's details).
        "reasoning": scrub_surrogates(str((getattr(getattr(choice, "message", None), "model_extra", None) or {}).get("reasoning_content") or "")),
        "prompt_tokens": usage.prompt_tokens if usage else 0,
        "completion_tokens": usage.completion_tokens if usage else 0,
        "reasoning_tokens": reasoning_tokens(usage),
        "latency_s": latency_s,
        "finish_reason": choice.finish_reason or "",
    }


def reasoning_tokens(usage: Any) -> int:
    details = getattr(usage, "completion_tokens_details", None)
    for count in (getattr(details, "reasoning_tokens", None), (getattr(usage, "model_extra", None) or {}).get("reasoning_tokens")):
        if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
            return count
    return 0
