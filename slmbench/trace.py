"""What one sample's run leaves behind: its LLM calls, tool calls and failure kind.

Every paradigm returns a `SampleRun`; the generation step stores it as one JSONL record.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Awaitable, Callable

# The failure taxonomy: a sample has at most one of these, or none (""). Each is the model's
# behaviour; a server that fails is not a sample outcome but a failed job (client.ServerFailure).
FAILURE_KINDS = (
    "context_length_exceeded",  # the prompt no longer fits the model's context window
    "no_final_answer",  # the model stopped without a final answer
    "turn_limit",  # the agent used all its turns without a final answer
    "malformed_action",  # an action that is not one JSON tool call
    "unknown_tool",  # an action that names a tool the agent does not have
    "tool_error",  # a tool failed and the agent could not recover
    "no_delegation",  # the supervisor neither delegated nor answered
    "delegation_failure",  # a delegation named no known specialist, or the specialist failed
)


def describe_outcomes(n: int, failures: dict[str, int]) -> str:
    """"12 samples: 9 answered, 2 no_final_answer, 1 malformed_action": how the samples of a cell ended."""
    counts = {"answered": n - sum(failures.values()), **{k: v for k, v in failures.items() if v}}
    ordered = sorted(counts.items(), key=lambda kv: (kv[0] != "answered", -kv[1], kv[0]))
    return f"{n} samples: " + ", ".join(f"{v} {k}" for k, v in ordered)


@dataclass
class LLMCall:
    """One chat completion request and its reply."""

    agent: str
    messages: list[dict[str, str]]
    output: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    cache_hit: bool
    finish_reason: str = ""
    reasoning: str = ""  # the thinking a reasoning parser moved out of the output
    reasoning_tokens: int = 0  # part of completion_tokens
    type: str = "llm"


@dataclass
class ToolCall:
    """One tool invocation made on behalf of an agent."""

    agent: str
    tool: str
    input: Any
    output: str
    duration_s: float
    error: str = ""
    type: str = "tool"


@dataclass
class SampleRun:
    """The outcome of one sample under one paradigm."""

    output: str = ""  # the final answer text the paradigm produced ("" when it failed)
    failure: str = ""  # one of FAILURE_KINDS, or "" on success
    error: str = ""  # a human-readable detail for the failure
    trace: list[LLMCall | ToolCall] = field(default_factory=list)

    def fail(self, kind: str, error: str = "") -> "SampleRun":
        """Record a failure kind (the first one wins) and return self."""
        if kind not in FAILURE_KINDS:
            raise ValueError(f"unknown failure kind {kind!r}")
        if not self.failure:
            self.failure, self.error = kind, error
        return self

    @property
    def llm_calls(self) -> list[LLMCall]:
        return [c for c in self.trace if isinstance(c, LLMCall)]

    def usage(self) -> dict[str, int]:
        prompt = sum(c.prompt_tokens for c in self.llm_calls)
        completion = sum(c.completion_tokens for c in self.llm_calls)
        reasoning = sum(c.reasoning_tokens for c in self.llm_calls)  # part of completion, where a server reports it
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                "reasoning_tokens": reasoning}

    def trace_dicts(self) -> list[dict[str, Any]]:
        return [asdict(c) for c in self.trace]


class ChatError(Exception):
    """A request the model's context window cannot take; `kind` is its failure kind."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


# A paradigm talks to the model only through this: (messages, agent name, grammar=None) -> LLMCall,
# where `grammar` (GBNF text, slmbench.agents.grammar) constrains the reply when given.
# It raises ChatError(kind, message) when the conversation no longer fits the model.
ChatFn = Callable[..., Awaitable[LLMCall]]
