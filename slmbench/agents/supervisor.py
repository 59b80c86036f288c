"""The routing multi-agent paradigm: a supervisor without tools delegates to ReAct specialists.

The supervisor replies with `<delegate>` or `<final_answer>`. A delegation runs
one specialist episode (see react.run_react); its final answer comes back to
the supervisor as an observation, and the supervisor answers or delegates
again, at most `max_delegations` times. Problems (a reply with neither tag, a
malformed delegation, an unknown specialist, a failed specialist, a delegation
over the limit) go back as an error observation; a second problem in a row
ends the sample with that problem's kind: no_delegation for a reply with
neither tag, delegation_failure otherwise. Running out of supervisor turns
(`max_turns`) ends with the last problem's kind, or delegation_failure. A
ChatError, in the supervisor or a specialist, ends the sample at once with its
own kind; a server that cannot answer (client.ServerFailure) is not a sample outcome and
ends the whole job.

Under constrained decoding (settings `constrain`, slmbench.agents.grammar) every reply of the
supervisor and the specialists is decoded under its grammar; once no delegation can run (the
limit is reached, or it is the supervisor's last turn) the supervisor's grammar only answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from slmbench.answers import answer_format
from slmbench.agents.grammar import supervisor_turns
from slmbench.agents.prompts import specialist_message, supervisor_system_prompt, task_message
from slmbench.agents.protocol import parse_supervisor_turn, render_observation
from slmbench.agents.react import agent_grammars, run_react
from slmbench.agents.settings import AgentSettings
from slmbench.registry import DatasetSpec
from slmbench.tools import build_tools, truncate_tokens
from slmbench.tools.base import ERROR_PREFIX
from slmbench.trace import ChatError, ChatFn, SampleRun

SUPERVISOR = "supervisor"
# A conversation that no longer fits the model: another specialist would not help.
CHAT_FAILURES = ("context_length_exceeded",)


@dataclass(frozen=True)
class Specialist:
    """A ReAct specialist the supervisor can delegate to."""

    name: str
    role: str  # the first line of its system prompt
    summary: str  # what the supervisor is told it is good at
    tools: tuple[str, ...]


SPECIALISTS: dict[str, Specialist] = {
    s.name: s
    for s in (
        Specialist(
            "knowledge",
            "You are FinancialKnowledgeAgent, a specialist in financial concepts, terms, institutions and background facts.",
            "FinancialKnowledgeAgent: financial concepts, definitions, institutions, credit and bankruptcy risk factors",
            ("calculator", "wikipedia_search"),
        ),
        Specialist(
            "nlp",
            "You are FinancialNLPAgent, a specialist in financial language: sentiment, text classification, named entities and summaries.",
            "FinancialNLPAgent: sentiment, classification of financial text, named entities, summarization",
            ("web_search",),
        ),
        Specialist(
            "quant",
            "You are FinancialQuantAgent, a specialist in numerical reasoning over financial data: ratios, percentages, growth and tables.",
            "FinancialQuantAgent: calculations, numerical questions over tables and reports, stock movement from price data",
            ("calculator",),
        ),
    )
}


async def _delegate(
    specialist: Specialist, request: str, query: str, spec: DatasetSpec, chat: ChatFn, cfg: AgentSettings, run: SampleRun
) -> SampleRun:
    """Run one specialist episode; its calls go into `run.trace`, its outcome into the returned SampleRun."""
    outcome = SampleRun(trace=run.trace)
    tools = build_tools(specialist.tools, cfg.tools)
    outcome.output = (
        await run_react(
            specialist_message(query, request),
            answer_format(spec),
            chat,
            tools,
            agent=specialist.name,
            max_turns=cfg.max_turns,
            run=outcome,
            system_prompt_prefix=specialist.role,
            tool_output_tokens=cfg.tool_output_tokens,
            tool_timeout_s=cfg.tool_timeout_s,
            grammars=agent_grammars(tools, spec, cfg),
        )
        or ""
    )
    return outcome


async def run_multi_agent(sample: Mapping[str, Any], spec: DatasetSpec, chat: ChatFn, settings: Mapping[str, Any]) -> SampleRun:
    """The routing multi-agent paradigm on one sample.

    `sample["query"]` is the FinBen prompt; `settings` keys are documented in AgentSettings.
    """
    cfg = AgentSettings.from_mapping(settings)
    answer_fmt = answer_format(spec)
    run = SampleRun()
    summaries = {name: f"{s.summary} (tools: {', '.join(s.tools)})" for name, s in SPECIALISTS.items()}
    messages = [
        {"role": "system", "content": supervisor_system_prompt(summaries, answer_fmt, cfg.max_delegations)},
        {"role": "user", "content": task_message(sample["query"])},
    ]
    grammars = None if cfg.constrain == "none" else supervisor_turns(SPECIALISTS, spec, cfg.constrain, cfg.max_tokens)
    delegations = 0
    previous_problem: tuple[str, str] | None = None
    for turn_no in range(1, cfg.max_turns + 1):
        # Constrained: once no delegation can run (the limit, or the last turn), the grammar only answers.
        answer_only = turn_no == cfg.max_turns or delegations >= cfg.max_delegations
        grammar = grammars and (grammars.final if answer_only else grammars.step)
        try:
            call = await chat(list(messages), SUPERVISOR, grammar=grammar)
        except ChatError as e:
            return run.fail(e.kind, str(e))
        run.trace.append(call)
        turn = parse_supervisor_turn(call.output, SPECIALISTS)
        if turn.kind == "final":
            run.output = turn.payload
            return run
        messages.append({"role": "assistant", "content": call.output})
        if turn.kind == "delegate" and delegations < cfg.max_delegations:
            delegations += 1
            name = turn.payload["agent"]
            outcome = await _delegate(SPECIALISTS[name], turn.payload["task"], sample["query"], spec, chat, cfg, run)
            if outcome.failure in CHAT_FAILURES:
                return run.fail(outcome.failure, f"{name}: {outcome.error}")
            problem = ("delegation_failure", f"the {name} specialist gave no answer ({outcome.failure})") if outcome.failure else None
        elif turn.kind == "delegate":
            problem = ("delegation_failure", f"the delegation limit ({cfg.max_delegations}) is reached; give your <final_answer> now")
        else:
            problem = (turn.failure, turn.error)
        if problem and previous_problem:
            return run.fail(*problem)
        previous_problem = problem
        observation = f"{ERROR_PREFIX} {problem[1]}" if problem else f"The {name} specialist answered:\n{outcome.output}"
        # A specialist's answer is data (escaped); the workflow's own error hints name the tags to use.
        observation = truncate_tokens(observation, cfg.tool_output_tokens)
        messages.append({"role": "user", "content": render_observation(observation, escape=not problem)})
    return run.fail(*(previous_problem or ("delegation_failure", f"no final answer within {cfg.max_turns} supervisor turns")))
