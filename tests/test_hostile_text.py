"""Hostile model text and tool output: every reply maps to an answer or a failure kind, fast, and storably.

A small model looping on `[[[[`, digits or escapes can write any of these inputs. For each, no
exception escapes, the outcome is an answer or a failure kind, and what comes out survives
`json.dumps(..., ensure_ascii=False).encode("utf-8")` and back, as a record must.

Timing: the inputs are sized so that a superlinear algorithm takes tens of seconds or more (the
old tag-escaping regex needed 7 s for `<` plus 16,000 spaces, 4 minutes for 100,000) while a
linear one takes milliseconds. The loose bound (FAST_S) only catches the superlinear case.
"""

import asyncio
import json
import time

import pytest

from slmbench.agents import run_multi_agent, run_react, run_single_agent
from slmbench.agents.protocol import MAX_JSON_DEPTH, PROTOCOL_TAGS, parse_agent_turn, parse_supervisor_turn, render_observation
from slmbench.answers import extract_answer
from slmbench.generate import to_record
from slmbench.paradigms import run_base
from slmbench.registry import DATASETS, get
from slmbench.text import REPLACEMENT_CHARACTER, has_lone_surrogate, scrub_surrogates
from slmbench.tools import Tool
from slmbench.tools.calculator import calculator_tool
from slmbench.tools.local_search import shared_index
from slmbench.tools.search import Hit, search_tool
from slmbench.trace import FAILURE_KINDS, LLMCall, SampleRun

FAST_S = 2.0
N = 100_000  # nesting depth, whitespace run, repetitions
HUGE_INT = "9" * 5_000  # past Python's 4,300-digit int-string conversion limit
TOOLS = {
    "calculator": calculator_tool(),
    "web_search": search_tool("web_search", "search", lambda q, k: [Hit("t", "x")]),
}
AGENTS = ("knowledge", "nlp", "quant")
PARSERS = {"agent": lambda text: parse_agent_turn(text, TOOLS), "supervisor": lambda text: parse_supervisor_turn(text, AGENTS)}
FPB = get("fpb")
CELL = {"model": {"name": "tiny"}, "paradigm": {"name": "hostile"}}
SAMPLE = {"id": "s1", "query": "Classify: profit rose.", "gold": "positive", "choices": list(FPB.choices)}


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    assert time.perf_counter() - start < FAST_S, "superlinear work on hostile input"
    return result


def assert_storable(value):
    """The value can be written as a UTF-8 JSON record and read back unchanged."""
    assert json.loads(json.dumps(value, ensure_ascii=False).encode("utf-8")) == value


def action(body):
    return f"<think>x</think><action>{body}</action>"


def delegation(body):
    return f"<think>x</think><delegate>{body}</delegate>"


# ---- the scrubbing helper


def test_scrub_surrogates_replaces_only_surrogate_code_points():
    text = "a\ud800b\udfffc é 😀"
    assert has_lone_surrogate(text) and not has_lone_surrogate("é 😀")
    assert scrub_surrogates(text) == f"a{REPLACEMENT_CHARACTER}b{REPLACEMENT_CHARACTER}c é 😀"
    assert scrub_surrogates("plain") == "plain"
    assert_storable(scrub_surrogates(text))


def test_scrub_surrogates_is_linear():
    assert timed(scrub_surrogates, "\ud800x" * 1_000_000).count(REPLACEMENT_CHARACTER) == 1_000_000


# ---- one turn

# JSON bodies that used to raise out of the parser (RecursionError, ValueError) or were accepted
# and broke the record later (UnicodeEncodeError), each with a phrase of the error the model sees.
HOSTILE_JSON = {
    "deep-list": ("[" * N, "longer than"),
    "deep-object": ('{"a":' * N + "1" + "}" * N, "longer than"),
    "deep-list-within-length": ("[" * 7_000 + "]" * 7_000, "nests deeper"),
    "deep-args-within-length": ('{"tool": "calculator", "args": ' + '{"a":' * 2_000 + "1" + "}" * 2_001, "nests deeper"),
    "huge-int": ('{"tool": "calculator", "args": {"expression": ' + HUGE_INT + "}}", "too many digits"),
    "surrogate-escape": ('{"tool": "calculator", "args": {"expression": "1 + \\ud800"}}', "lone surrogate"),
    "raw-surrogate": ('{"tool": "calculator", "args": {"expression": "1 + \ud800"}}', "lone surrogate"),
    "surrogate-key": ('{"tool": "calculator", "args": {"\\udfff": "1"}}', "lone surrogate"),
}


@pytest.mark.parametrize("body, hint", HOSTILE_JSON.values(), ids=HOSTILE_JSON.keys())
def test_hostile_action_json_is_a_malformed_action(body, hint):
    turn = timed(parse_agent_turn, action(body), TOOLS)
    assert (turn.kind, turn.failure) == ("none", "malformed_action")
    assert hint in turn.error and len(turn.error) < 500
    assert_storable(turn.error)


@pytest.mark.parametrize("body, hint", HOSTILE_JSON.values(), ids=HOSTILE_JSON.keys())
def test_hostile_delegation_json_is_a_delegation_failure(body, hint):
    turn = timed(parse_supervisor_turn, delegation(body.replace('"tool": "calculator", "args"', '"agent": "quant", "task"')), AGENTS)
    assert (turn.kind, turn.failure) == ("none", "delegation_failure")
    assert hint in turn.error
    assert_storable(turn.error)


@pytest.mark.parametrize("task", ['"sum \\ud800 these"', '"sum \\udc00"', '"\ud800"'])
def test_a_delegation_task_with_a_lone_surrogate_is_rejected(task):
    turn = parse_supervisor_turn(delegation('{"agent": "quant", "task": ' + task + "}"), AGENTS)
    assert (turn.kind, turn.failure) == ("none", "delegation_failure") and "lone surrogate" in turn.error


def test_json_at_the_bounds_and_surrogate_pairs_are_still_accepted():
    def delegation_nested(levels):  # the delegation object plus `levels` below it
        return delegation('{"agent": "quant", "task": "t", "x": ' + '{"a": ' * levels + "1" + "}" * levels + "}")

    at_the_bound = parse_supervisor_turn(delegation_nested(MAX_JSON_DEPTH - 1), AGENTS)
    assert at_the_bound.error.startswith("malformed delegation: the JSON must be")  # parsed, then rejected for the extra key
    assert "nests deeper" in parse_supervisor_turn(delegation_nested(MAX_JSON_DEPTH), AGENTS).error
    brackets_in_a_string = '{"agent": "quant", "task": "say \\" ' + "[{" * 5_000 + '"}'  # after an escaped quote, still text
    assert parse_supervisor_turn(delegation(brackets_in_a_string), AGENTS).kind == "delegate"
    emoji = parse_agent_turn(action('{"tool": "web_search", "args": {"query": "bull \\ud83d\\ude80 market"}}'), TOOLS)
    assert (emoji.kind, emoji.payload["args"]["query"]) == ("action", "bull 🚀 market")


@pytest.mark.parametrize("parse", PARSERS.values(), ids=PARSERS.keys())
def test_a_final_answer_with_lone_surrogates_is_scrubbed(parse):
    turn = parse("<final_answer>posi\ud800tive \udfff</final_answer>")
    assert (turn.kind, turn.payload) == ("final", f"posi{REPLACEMENT_CHARACTER}tive {REPLACEMENT_CHARACTER}")
    literal_escape = parse("<final_answer>posi\\ud800tive</final_answer>")  # not JSON: kept as written
    assert literal_escape.payload == "posi\\ud800tive"


HOSTILE_TURNS = {
    "open-bracket-then-spaces": "<" + " " * N,
    "close-tag-runs": "< / " * N,
    "spaces-inside-close": "<action>{}<" + " " * N + "/" + " " * N,
    "think-openings": "<think>" * 50_000,
    "think-closings-then-action": "</think>" * 50_000 + action("[" * N),
    "action-openings": "<action>" * 50_000,
    "delegate-openings": "<delegate>" * 50_000,
    "final-openings": "<final_answer>" * 50_000,
    "megabyte-of-digits": "<action>" + "1" * 1_000_000,
    "megabyte-of-escapes": '<delegate>{"task": "' + "\\ud800" * 200_000,
    "megabyte-of-quotes": "<action>" + '"\\' * 500_000,
    "megabyte-answer": "<final_answer>" + "positive " * 120_000,
    "raw-surrogates": "\ud800" * N,
    "raw-surrogate-in-invalid-json": action("{\ud800"),
}


@pytest.mark.parametrize("text", HOSTILE_TURNS.values(), ids=HOSTILE_TURNS.keys())
@pytest.mark.parametrize("parse", PARSERS.values(), ids=PARSERS.keys())
def test_hostile_turns_map_to_an_answer_or_a_failure_kind_quickly(parse, text):
    turn = timed(parse, text)
    assert turn.kind in ("final", "none")
    assert (turn.failure in FAILURE_KINDS) if turn.kind == "none" else not has_lone_surrogate(turn.payload)
    assert_storable([turn.payload, turn.error, turn.failure])


# ---- tool output


@pytest.mark.parametrize(
    "data, escaped",
    [
        ("<" + " " * N + "action>", "&lt;" + " " * N + "action&gt;"),
        ("<" + " " * N + "/" + " " * N + "final_answer>", "&lt;" + " " * N + "/" + " " * N + "final_answer&gt;"),
        ("< / " * N, "< / " * N),
        ("<" + " " * N, "<" + " " * N),
        ("<think>" * N, "&lt;think&gt;" * N),
    ],
    ids=["spaces-before-tag", "spaces-around-slash", "slash-runs", "open-bracket-then-spaces", "many-tags"],
)
def test_escaping_tool_output_is_linear(data, escaped):
    assert timed(render_observation, data) == f"<observation>\n{escaped}\n</observation>"


@pytest.mark.parametrize("tag", PROTOCOL_TAGS)
def test_every_protocol_tag_in_tool_output_is_escaped(tag):
    rendered = render_observation(f"< /\t{tag.upper()} ><{tag}>")
    assert rendered == f"<observation>\n&lt; /\t{tag.upper()} &gt;&lt;{tag}&gt;\n</observation>"


# ---- answer extraction at scoring time

HOSTILE_OUTPUTS = {
    "huge-int": HUGE_INT,
    "huge-signed-decimal": "-" + HUGE_INT + "." + HUGE_INT,
    "deep-list": "[" * N + "]" * N,
    "deep-object": '{"a":' * N,
    "raw-surrogates": "posi\ud800tive\n1, \udc00 ORG\n0",
    "surrogate-escape": "posi\\ud800tive",
    "whitespace-after-prefix": "answer" + " " * N + "x",
    "token-label-like": "a:" + " " * N + "B-PERx",
    "binary-like": "0 " * N + "x",
    "megabyte-of-lines": "Apple Inc, ORG\ntok:B-PER\n1\n" * 40_000,
}


@pytest.mark.parametrize("output", HOSTILE_OUTPUTS.values(), ids=HOSTILE_OUTPUTS.keys())
def test_extract_answer_on_hostile_output_for_every_dataset(output):
    start = time.perf_counter()
    for spec in DATASETS.values():
        answer = extract_answer(spec, output, {"choices": spec.choices, "gold": ""})
        assert_storable(answer)
    assert time.perf_counter() - start < FAST_S * 5, "superlinear answer extraction"  # 22 datasets


def test_extract_answer_scrubs_surrogates_in_text_answers():
    assert extract_answer(get("finqa"), "12\ud800", {}) == f"12{REPLACEMENT_CHARACTER}"
    assert extract_answer(get("tsa"), HUGE_INT, {}) == 1.0  # clipped, not a ValueError


# ---- whole episodes
#
# Replies here hold no raw surrogate code points: the chat client scrubs those from every server
# reply (slmbench.client), so a trace never stores one. Where a test sends them anyway, it shows
# that the paradigm's own outputs (answer, next requests) are clean and checks the record without
# the trace. JSON escapes such as "\\ud800" are plain ASCII in a reply and reach the paradigm.


class ScriptedChat:
    """Replays canned replies in order, like tests/test_agents.py, and checks every request could be hashed."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.requests = []

    async def __call__(self, messages, agent, grammar=None):
        json.dumps(messages, ensure_ascii=False).encode("utf-8")  # what the cache's request key does
        self.requests.append((agent, messages))
        reply = self.replies.pop(0)
        return LLMCall(agent, messages, reply, prompt_tokens=1, completion_tokens=1, latency_s=0.0, cache_hit=False)


@pytest.fixture(scope="module", autouse=True)
def search_index_built():
    """Build the shipped corpus's index once, outside the timed episodes."""
    shared_index()


def episode(paradigm, replies, spec=FPB, **settings):
    """Run one sample through a paradigm; check it was fast and its record storable."""
    chat = ScriptedChat(replies)
    start = time.perf_counter()
    run = asyncio.run(paradigm(SAMPLE, spec, chat, settings))
    assert time.perf_counter() - start < FAST_S, "superlinear work on hostile input"
    assert not chat.replies, "the script was not used up"
    assert run.failure in ("", *FAILURE_KINDS)
    record = to_record(CELL, spec, SAMPLE, run)
    if any(has_lone_surrogate(reply) for reply in replies):  # the client's to scrub in the trace
        record.pop("trace")
    assert_storable(record)
    return run, chat


def replies_for(text, parse):
    """A hostile turn once when it parses as a final answer, else twice (a second problem ends the episode)."""
    return [text] if parse(text).kind == "final" else [text, text]


def past_the_client(texts: dict[str, str]) -> dict[str, str]:
    """The texts that can reach a paradigm: those without raw surrogates."""
    return {name: text for name, text in texts.items() if not has_lone_surrogate(text)}


HOSTILE_ACTIONS = past_the_client({name: action(body) for name, (body, _) in HOSTILE_JSON.items()})
EPISODE_TURNS = past_the_client(HOSTILE_TURNS)


@pytest.mark.parametrize("bad", HOSTILE_ACTIONS.values(), ids=HOSTILE_ACTIONS.keys())
def test_single_agent_two_hostile_actions_end_as_malformed_action(bad):
    run, chat = episode(run_single_agent, [bad, bad])
    assert (run.failure, run.output) == ("malformed_action", "")
    assert chat.requests[1][1][-1]["content"].startswith("<observation>\nError: malformed action")


def test_single_agent_recovers_after_a_surrogate_in_action_args():
    run, chat = episode(run_single_agent, [action(HOSTILE_JSON["surrogate-escape"][0]), "<final_answer>positive</final_answer>"])
    assert (run.output, run.failure) == ("positive", "")
    assert "lone surrogate" in chat.requests[1][1][-1]["content"]


@pytest.mark.parametrize("text", EPISODE_TURNS.values(), ids=EPISODE_TURNS.keys())
def test_single_agent_on_hostile_turns(text):
    run, _ = episode(run_single_agent, replies_for(text, PARSERS["agent"]))
    assert run.output or run.failure


def test_multi_agent_hostile_delegations_end_as_delegation_failure():
    tasks = ['{"agent": "quant", "task": "add \\ud800"}', '{"agent": "quant", "task": ' + HUGE_INT + "}"]
    run, chat = episode(run_multi_agent, [delegation(t) for t in tasks])
    assert (run.failure, run.output) == ("delegation_failure", "")
    assert [agent for agent, _ in chat.requests] == ["supervisor", "supervisor"]  # no specialist saw a bad task


def test_multi_agent_specialist_answer_with_surrogates_reaches_the_supervisor_scrubbed():
    replies = [
        delegation('{"agent": "quant", "task": "' + "[" * 1_000 + '"}'),  # brackets in a string are text
        "<final_answer>up \ud800</final_answer>",
        "<final_answer>positive</final_answer>",
    ]
    run, chat = episode(run_multi_agent, replies)
    assert (run.output, run.failure) == ("positive", "")
    assert f"up {REPLACEMENT_CHARACTER}" in chat.requests[2][1][-1]["content"]


@pytest.mark.parametrize("text", EPISODE_TURNS.values(), ids=EPISODE_TURNS.keys())
def test_multi_agent_on_hostile_turns(text):
    run, _ = episode(run_multi_agent, replies_for(text, PARSERS["supervisor"]))
    assert run.output or run.failure


def test_single_agent_final_answer_with_a_raw_surrogate_is_scrubbed():
    run, _ = episode(run_single_agent, ["<final_answer>posi\ud800tive</final_answer>"])
    assert run.output == f"posi{REPLACEMENT_CHARACTER}tive"


@pytest.mark.parametrize("output", ["posi\ud800tive", HUGE_INT, "[" * N, "<" + " " * N], ids=["raw-surrogate", "huge-int", "deep-list", "spaces"])
def test_base_paradigm_output_is_an_answer_and_storable(output):
    run, _ = episode(run_base, [output], spec=get("tsa") if output == HUGE_INT else FPB)
    assert run.output and not has_lone_surrogate(run.output) and not run.failure


def test_hostile_tool_output_is_scrubbed_and_escaped_in_linear_time_whatever_the_budget():
    hostile = "\ud800" + "<" + " " * N + "/" + " " * N + "final_answer>"
    tool = Tool("leaky", "returns hostile text", {"type": "object"}, lambda args: hostile)
    chat = ScriptedChat([action('{"tool": "leaky", "args": {}}'), "<final_answer>x</final_answer>"])
    run = SampleRun()
    start = time.perf_counter()
    answer = asyncio.run(run_react("task", "any", chat, [tool], agent="a", max_turns=2, run=run, tool_output_tokens=10 * N))
    assert time.perf_counter() - start < FAST_S
    assert answer == "x" and run.trace[1].output == scrub_surrogates(hostile)
    assert chat.requests[1][1][-1]["content"].startswith(f"<observation>\n{REPLACEMENT_CHARACTER}&lt; ")
    assert_storable(run.trace_dicts())
