"""The ReAct loop (think, act, observe) and the single-agent paradigm built on it.

Malformed turns are not fatal at once: each problem (a malformed action, an
unknown tool, a tool error, a reply with neither an action nor a final answer)
goes back to the model as an ``Error: ...`` observation so it can recover.
A second problem in a row ends the episode with that problem's failure kind.
An episode that runs out of turns ends with the last turn's problem kind, or
``turn_limit`` when the last turn was a valid action (whose tool is then not
run: its result could no longer be used). A ChatError ends the episode at once
with its own kind (context_length_exceeded); a server that cannot answer raises
client.ServerFailure, which ends the job, not the sample.

Under constrained decoding (settings `constrain`, slmbench.agents.grammar) every reply is decoded
under the agent's grammar, and the last turn's grammar holds only the final answer.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Mapping

from slmbench.answers import answer_format
from slmbench.agents.grammar import TurnGrammars, react_turns
from slmbench.agents.prompts import SINGLE_AGENT_ROLE, react_system_prompt, task_message
from slmbench.agents.protocol import parse_agent_turn, render_observation
from slmbench.agents.settings import AgentSettings
from slmbench.registry import DatasetSpec
from slmbench.text import scrub_surrogates
from slmbench.tools import Tool, build_tools, is_error, truncate_tokens
from slmbench.tools.base import ERROR_PREFIX
from slmbench.trace import ChatError, ChatFn, SampleRun, ToolCall

SINGLE_AGENT = "single_agent"
SINGLE_AGENT_TOOLS = ("calculator", "wikipedia_search", "web_search")


async def call_tool(tool: Tool, args: dict[str, Any], *, agent: str, run: SampleRun, output_tokens: int, timeout_s: float) -> str:
    """Run a tool off the event loop, record it in the trace and return the (truncated) output.

    The output is outside text (a web page, say): its surrogates are scrubbed so it can be stored and sent.
    """
    start = time.perf_counter()
    try:
        output = await asyncio.wait_for(asyncio.to_thread(tool.run, args), timeout_s)
    except asyncio.TimeoutError:  # the worker thread is abandoned; tools bound their own work
        output = f"{ERROR_PREFIX} {tool.name} did not finish within {timeout_s:g} s"
    output = scrub_surrogates(truncate_tokens(output, output_tokens))
    error = output if is_error(output) else ""
    run.trace.append(ToolCall(agent, tool.name, args, output, time.perf_counter() - start, error))
    return output


async def run_react(
    task_prompt: str,
    answer_format: str,
    chat: ChatFn,
    tools: list[Tool],
    *,
    agent: str,
    max_turns: int,
    run: SampleRun,
    system_prompt_prefix: str = SINGLE_AGENT_ROLE,
    tool_output_tokens: int = AgentSettings.tool_output_tokens,
    tool_timeout_s: float = AgentSettings.tool_timeout_s,
    grammars: TurnGrammars | None = None,
) -> str | None:
    """Run one ReAct episode; return the final answer, or None after recording a failure in `run`.

    `system_prompt_prefix` is the agent's role sentence; `grammars`, when given, constrain every
    reply (the last turn's to a final answer). LLM and tool calls are appended to `run.trace`.
    """
    by_name = {t.name: t for t in tools}
    messages = [
        {"role": "system", "content": react_system_prompt(system_prompt_prefix, tools, answer_format, max_turns)},
        {"role": "user", "content": task_prompt},
    ]
    previous_problem: tuple[str, str] | None = None
    for turn_no in range(1, max_turns + 1):
        try:
            grammar = grammars and (grammars.final if turn_no == max_turns else grammars.step)
            call = await chat(list(messages), agent, grammar=grammar)
        except ChatError as e:
            run.fail(e.kind, str(e))
            return None
        run.trace.append(call)
        turn = parse_agent_turn(call.output, by_name)
        if turn.kind == "final":
            return turn.payload
        if turn.kind == "action" and turn_no == max_turns:
            previous_problem = None  # a valid action, but the turns ran out
            break
        messages.append({"role": "assistant", "content": call.output})
        if turn.kind == "action":
            tool = by_name[turn.payload["tool"]]
            args = turn.payload["args"]
            observation = await call_tool(
                tool, args, agent=agent, run=run, output_tokens=tool_output_tokens, timeout_s=tool_timeout_s
            )
            problem = ("tool_error", observation) if is_error(observation) else None
        else:
            observation = f"{ERROR_PREFIX} {turn.error}"
            problem = (turn.failure, turn.error)
        if problem and previous_problem:
            run.fail(*problem)
            return None
        previous_problem = problem
        observation = truncate_tokens(observation, tool_output_tokens)
        messages.append({"role": "user", "content": render_observation(observation, escape=turn.kind == "action")})
    run.fail(*(previous_problem or ("turn_limit", f"no final answer within {max_turns} turns")))
    return None


async def run_single_agent(sample: Mapping[str, Any], spec: DatasetSpec, chat: ChatFn, settings: Mapping[str, Any]) -> SampleRun:
    """The single-agent paradigm: a general-purpose financial analyst with all three tools.

    `sample["query"]` is the FinBen prompt; `settings` keys are documented in AgentSettings.
    """
    cfg = AgentSettings.from_mapping(settings)
    run = SampleRun()
    tools = build_tools(SINGLE_AGENT_TOOLS, cfg.tools)
    answer = await run_react(
        task_message(sample["query"]),
        answer_format(spec),
        chat,
        tools,
        agent=SINGLE_AGENT,
        max_turns=cfg.max_turns,
        run=run,
        system_prompt_prefix=SINGLE_AGENT_ROLE,
        tool_output_tokens=cfg.tool_output_tokens,
        tool_timeout_s=cfg.tool_timeout_s,
        grammars=agent_grammars(tools, spec, cfg),
    )
    run.output = answer or ""
    return run


def agent_grammars(tools: list[Tool], spec: DatasetSpec, cfg: AgentSettings) -> TurnGrammars | None:
    """The grammars that constrain a ReAct agent's replies, or None when the paradigm is not constrained."""
    return None if cfg.constrain == "none" else react_turns(tools, spec, cfg.constrain, cfg.max_tokens)
