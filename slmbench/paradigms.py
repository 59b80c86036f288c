"""The three ways of deploying a model that the study compares: the one table of paradigm kinds.

Each paradigm is `async run(sample, spec, chat, settings) -> SampleRun`; a paradigm's
config entry picks one with `kind`, so variants (say, a 3-turn agent) are config only.
`KINDS` is read by config validation (the schema's `kind` enum), the per-cell config slice
(the settings a kind reads), the rules (which kinds need the search index) and the analysis
(the `base` kind is NRQ's reference).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from .registry import DatasetSpec
from .text import scrub_surrogates
from .trace import ChatError, ChatFn, SampleRun

ParadigmFn = Callable[[dict[str, Any], DatasetSpec, ChatFn, dict[str, Any]], Awaitable[SampleRun]]


async def run_base(sample: dict[str, Any], spec: DatasetSpec, chat: ChatFn, settings: dict[str, Any]) -> SampleRun:
    """Paradigm 1: FinBen's prompt as one user message, the reply (surrogates scrubbed) is the answer.

    With `constrain: answer` (beyond the paper) the reply is decoded under the dataset's answer grammar.
    `chat` is the client's chat request, or its raw completion under `prompt_format: completion`
    (`request_fn`).
    """
    from .agents.grammar import base_grammar

    run = SampleRun()
    grammar = base_grammar(spec, settings["max_tokens"]).text if settings.get("constrain", "none") == "answer" else None
    try:
        call = await chat([{"role": "user", "content": sample["query"]}], "base", grammar=grammar)
    except ChatError as e:
        return run.fail(e.kind, str(e))
    run.trace.append(call)
    run.output = scrub_surrogates(call.output.strip())
    if not run.output:
        run.fail("no_final_answer", f"empty reply (finish_reason {call.finish_reason!r})")
    return run


def request_fn(client: Any, settings: dict[str, Any]) -> ChatFn:
    """How a paradigm's requests reach the model: through the chat template (`chat`, the default),
    or, for `prompt_format: completion` (the base paradigm only), FinBen's raw completion."""
    return client.complete if settings.get("prompt_format", "chat") == "completion" else client.chat


@dataclass(frozen=True)
class ParadigmKind:
    """One kind of paradigm: the settings it reads and whether its agents use tools."""

    name: str
    settings: tuple[str, ...]  # the paradigm settings this kind reads (the rest cannot change its results)
    agents: bool  # ReAct agents with tools: they need the search index and their prompts' version

    def runner(self) -> ParadigmFn:
        """Paradigm 1 is `base`; 2 and 3 are the ReAct agent and the routing multi-agent system."""
        if not self.agents:
            return run_base
        from . import agents  # imported only where agents run

        return getattr(agents, f"run_{self.name}")


_AGENT_SETTINGS = ("max_tokens", "max_turns", "tool_output_tokens", "tool_timeout_s", "tools", "constrain")
KINDS: dict[str, ParadigmKind] = {
    k.name: k
    for k in [
        ParadigmKind("base", ("kind", "max_tokens", "constrain", "prompt_format"), agents=False),
        ParadigmKind("single_agent", ("kind", *_AGENT_SETTINGS), agents=True),
        ParadigmKind("multi_agent", ("kind", *_AGENT_SETTINGS, "max_delegations"), agents=True),
    ]
}
BASE_KIND = "base"  # NRQ's reference: every gain is measured against the same model's base run


def get_kind(kind: str) -> ParadigmKind:
    try:
        return KINDS[kind]
    except KeyError:
        raise KeyError(f"unknown paradigm kind {kind!r}; known: {', '.join(KINDS)}") from None


def get_paradigm(kind: str) -> ParadigmFn:
    """The coroutine that runs one sample under a paradigm of this kind."""
    return get_kind(kind).runner()
