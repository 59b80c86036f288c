"""The three ways of deploying a model that the study compares, by name.

Each paradigm is `async run(sample, spec, chat, settings) -> SampleRun`; a paradigm's
config entry picks one with `kind`, so variants (say, a 3-turn agent) are config only.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from .registry import DatasetSpec
from .text import scrub_surrogates
from .trace import ChatError, ChatFn, SampleRun

ParadigmFn = Callable[[dict[str, Any], DatasetSpec, ChatFn, dict[str, Any]], Awaitable[SampleRun]]


async def run_base(sample: dict[str, Any], spec: DatasetSpec, chat: ChatFn, settings: dict[str, Any]) -> SampleRun:
    """Paradigm 1: FinBen's prompt as one user message, the reply (surrogates scrubbed) is the answer.

    With `constrain: answer` (beyond the paper) the reply is decoded under the dataset's answer grammar.
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


def get_paradigm(kind: str) -> ParadigmFn:
    """Paradigm 1 is `base`; 2 and 3 are the ReAct agent and the routing multi-agent system."""
    from .agents import run_multi_agent, run_single_agent

    paradigms = {"base": run_base, "single_agent": run_single_agent, "multi_agent": run_multi_agent}
    try:
        return paradigms[kind]
    except KeyError:
        raise KeyError(f"unknown paradigm kind {kind!r}; known: {', '.join(paradigms)}") from None
