"""The grammars of constrained decoding against the parser: what the grammar can produce parses as a
valid turn, and what the parser rejects is not in the grammar.

The grammar is sampled (its own sampler, which favours the bounds of every repetition) and recognised
(its regular expression); replies come from hand-written rejections, the hostile-text corpus and
random edits of sampled replies. Real decoding under the grammar is in test_agent_episodes.py.
"""

import json
import random

import pytest

from slmbench.agents.grammar import (
    CHARS_PER_TOKEN,
    GrammarError,
    base_grammar,
    json_value,
    longest,
    paradigm_grammars,
    react_grammar,
    sample,
    seq,
    supervisor_grammar,
    to_gbnf,
    to_regex,
)
from slmbench.agents.protocol import parse_agent_turn, parse_supervisor_turn
from slmbench.agents.react import SINGLE_AGENT_TOOLS
from slmbench.agents.supervisor import SPECIALISTS
from slmbench.answers import _TOKEN_LABEL_LINE, extract_answer
from slmbench.registry import DATASETS, get
from slmbench.tools import Tool
from slmbench.tools.toolbox import tool_schemas

DATASET_NAMES = ("fpb", "fomc", "headlines", "multifin_en", "tsa", "ner", "finer_ord", "finqa", "ectsum", "edtsum")
TOOL_SETS = [SINGLE_AGENT_TOOLS, *(s.tools for s in SPECIALISTS.values())]
N = 150


def odd_tool() -> Tool:
    """A tool with every argument type the grammar supports (and an optional one it leaves out)."""
    schema = {
        "type": "object",
        "properties": {
            "ticker": {"type": "string", "maxLength": 5},
            "years": {"type": "integer"},
            "rate": {"type": "number"},
            "adjusted": {"type": "boolean"},
            "unit": {"enum": ["pct", "bp"]},
            "window": {"type": "object", "properties": {"start": {"type": "integer"}}, "required": ["start"], "additionalProperties": False},
            "note": {"type": "string"},
        },
        "required": ["ticker", "years", "rate", "adjusted", "unit", "window"],
        "additionalProperties": False,
    }
    return Tool("odd", "a test tool", schema, fn=lambda args: "ok")


def sampled(grammar, n=N, seed=0):
    rng = random.Random(seed)
    return [sample(grammar.root, rng) for _ in range(n)]


def check_final(spec, mode, text):
    """A final answer under `answer` is one the scorer reads (a label of the label set, a number in range...)."""
    if mode != "answer":
        return
    answer = extract_answer(spec, text, {})
    assert answer is not None, text
    if spec.task_type == "classification":
        assert text in spec.choices
    if spec.task_type == "regression":
        assert -1 <= float(text) <= 1
    if spec.task_type == "ner" and spec.name == "finer_ord":  # token:label lines, all O is no entity
        assert all(_TOKEN_LABEL_LINE.match(line) for line in text.splitlines()), text
    elif spec.task_type == "ner" and text != "None":
        assert answer, text


@pytest.mark.parametrize("mode", ["protocol", "answer"])
@pytest.mark.parametrize("dataset", DATASET_NAMES)
@pytest.mark.parametrize("max_tokens", [192, 1024])
def test_every_reply_the_agent_grammar_produces_parses_as_a_valid_turn(mode, dataset, max_tokens):
    spec = get(dataset)
    for names in TOOL_SETS:
        tools = tool_schemas(names)
        by_name = {t.name: t for t in tools}
        for final_only in (False, True):
            grammar = react_grammar(tools, spec, mode, max_tokens, final_only=final_only)
            pattern = grammar.regex()
            assert longest(grammar.root) <= max_tokens * CHARS_PER_TOKEN
            kinds = set()
            for reply in sampled(grammar):
                assert pattern.fullmatch(reply), reply
                turn = parse_agent_turn(reply, by_name)
                assert turn.kind in ("action", "final"), (reply, turn)
                kinds.add(turn.kind)
                if turn.kind == "action":
                    assert turn.payload["tool"] in by_name
                else:
                    assert turn.payload == reply.split("<final_answer>")[1].removesuffix("</final_answer>").strip()
                    check_final(spec, mode, turn.payload)
            assert kinds == ({"final"} if final_only else {"action", "final"})


@pytest.mark.parametrize("mode", ["protocol", "answer"])
@pytest.mark.parametrize("dataset", ["fpb", "tsa", "ner", "finqa"])
def test_every_reply_the_supervisor_grammar_produces_parses(mode, dataset):
    spec = get(dataset)
    for final_only in (False, True):
        grammar = supervisor_grammar(SPECIALISTS, spec, mode, 256, final_only=final_only)
        kinds = set()
        for reply in sampled(grammar):
            turn = parse_supervisor_turn(reply, SPECIALISTS)
            assert turn.kind in ("delegate", "final"), (reply, turn)
            kinds.add(turn.kind)
            if turn.kind == "delegate":
                assert turn.payload["agent"] in SPECIALISTS and turn.payload["task"]
            else:
                check_final(spec, mode, turn.payload)
        assert kinds == ({"final"} if final_only else {"delegate", "final"})


def test_every_argument_type_the_grammar_supports_validates_against_the_schema():
    tool = odd_tool()
    grammar = react_grammar([tool], get("fpb"), "protocol", 512)
    actions = [parse_agent_turn(r, {"odd": tool}) for r in sampled(grammar, 300)]
    assert {t.kind for t in actions} == {"action", "final"}
    for turn in actions:
        if turn.kind == "action":
            args = turn.payload["args"]
            assert len(args["ticker"]) <= 5 and args["unit"] in ("pct", "bp") and "note" not in args


def test_calculator_expressions_under_the_grammar_are_arithmetic():
    """The calculator's shape (Tool.arg_shapes): its characters, opened by at most one function call."""
    from slmbench.tools.calculator import calculator_tool

    calculator = calculator_tool()
    pattern = react_grammar([calculator], get("fpb"), "protocol", 512).regex()
    expressions = [t.payload["args"]["expression"] for r in sampled(react_grammar([calculator], get("fpb"), "protocol", 512), 300)
                   if (t := parse_agent_turn(r, {"calculator": calculator})).kind == "action"]
    assert expressions and all(set(e.split("(", 1)[-1] if e[:1].isalpha() else e) <= set("0123456789.+-*/%(), ") for e in expressions)
    assert all("," not in e for e in expressions if not e[:1].isalpha())  # commas separate a function's arguments only
    for expression in ("round((1250 - 1000) / 1000 * 100, 2)", "12% * 3", "(8.7 - 13.1) / 8.7", "max(1, 2)"):
        reply = act(json.dumps({"tool": "calculator", "args": {"expression": expression}}))
        assert pattern.fullmatch(reply) and not calculator.run({"expression": expression}).startswith("Error:")
    for words in ("profit rose", ".01, ", "1,328.80"):  # a tuple is no number
        assert not pattern.fullmatch(act(json.dumps({"tool": "calculator", "args": {"expression": words}})))


def test_the_grammar_refuses_schemas_it_cannot_express():
    with pytest.raises(GrammarError, match="array"):
        json_value({"type": "object", "properties": {"xs": {"type": "array"}}, "required": ["xs"]}, "t")


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_a_constrained_base_reply_is_always_an_answer_the_scorer_reads(dataset):
    spec = get(dataset)
    grammar = base_grammar(spec, 128)
    assert longest(grammar.root) <= 128 * CHARS_PER_TOKEN
    for reply in sampled(grammar, 60):
        check_final(spec, "answer", reply)
        assert extract_answer(spec, reply, {}) is not None


# --- what the parser rejects is not in the grammar ---------------------------------------------------

TOOLS = tool_schemas(SINGLE_AGENT_TOOLS)
BY_NAME = {t.name: t for t in TOOLS}
FPB = get("fpb")


def act(body: str, think="Look it up.") -> str:
    return f"<think>{think}</think>\n<action>{body}</action>"


REJECTED = {
    "two actions": act('{"tool": "calculator", "args": {"expression": "1+1"}}') + '<action>{"tool": "calculator", "args": {"expression": "2"}}</action>',
    "unknown tool": act('{"tool": "python", "args": {"code": "1"}}'),
    "extra argument": act('{"tool": "calculator", "args": {"expression": "1", "x": 2}}'),
    "missing argument": act('{"tool": "calculator", "args": {}}'),
    "wrong type": act('{"tool": "calculator", "args": {"expression": 1}}'),
    "extra key": act('{"tool": "calculator", "args": {"expression": "1"}, "why": "x"}'),
    "not an object": act('["calculator"]'),
    "broken JSON": act('{"tool": "calculator", "args": {"expression": "1"}'),
    "lone surrogate": act('{"tool": "web_search", "args": {"query": "\\ud800"}}'),
    "deep nesting": act('{"tool": "calculator", "args": {"expression": "1"}, "x": ' + "[" * 40 + "]" * 40 + "}"),
    "words as an expression": act('{"tool": "calculator", "args": {"expression": "gold rate today"}}'),
    "no action or answer": "<think>The sentiment is positive.</think>\nPositive",
    "empty final answer": "<think>ok</think>\n<final_answer>  </final_answer>",
    "bare text": "Positive",
    "an invented observation only": "<observation>positive</observation>",
}


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_replies_the_parser_rejects_are_not_in_the_grammar(name):
    reply = REJECTED[name]
    turn = parse_agent_turn(reply, BY_NAME)
    if turn.kind == "action":  # parsed, but the tool refuses it: the grammar keeps to what the tool can run
        assert BY_NAME[turn.payload["tool"]].run(turn.payload["args"]).startswith("Error:")
    else:
        assert turn.kind == "none", "the case must be one the parser rejects"
    for mode in ("protocol", "answer"):
        assert not react_grammar(TOOLS, FPB, mode, 512).regex().fullmatch(reply)


def test_answers_outside_the_label_set_are_not_in_the_answer_grammar():
    pattern = react_grammar(TOOLS, FPB, "answer", 512).regex()
    for answer in ("Positive", "very positive", "positive.", "bullish", "positive\nnegative", ""):
        assert not pattern.fullmatch(f"<think>x</think>\n<final_answer>{answer}</final_answer>")
    assert pattern.fullmatch("<think>x</think>\n<final_answer>positive</final_answer>")


def test_the_hostile_corpus_never_matches_where_the_parser_rejects():
    from test_hostile_text import HOSTILE_JSON

    pattern = react_grammar(TOOLS, FPB, "protocol", 512).regex()
    for name, (body, _) in HOSTILE_JSON.items():
        reply = act(body)
        if parse_agent_turn(reply, BY_NAME).kind == "none":
            assert not pattern.fullmatch(reply), name


EDIT_ALPHABET = '<>/"\\{}[]:, \n\ud800aZ0éx'


def edits(text: str, rng: random.Random, n: int):
    """Random one- and two-character edits: the near misses a grammar bug would let through."""
    for _ in range(n):
        out = text
        for _ in range(rng.choice((1, 2))):
            i = rng.randrange(len(out) + 1)
            op = rng.choice(("insert", "delete", "replace"))
            c = rng.choice(EDIT_ALPHABET)
            out = out[:i] + c + out[i:] if op == "insert" else out[:i] + (c if op == "replace" else "") + out[i + 1 :]
        yield out


@pytest.mark.parametrize("mode", ["protocol", "answer"])
def test_every_edited_reply_the_grammar_still_accepts_parses(mode):
    """Matched by the grammar implies accepted by the parser, over thousands of near misses."""
    rng = random.Random(1)
    agent = react_grammar(TOOLS, FPB, mode, 512)
    supervisor = supervisor_grammar(SPECIALISTS, FPB, mode, 512)
    for grammar, parse, ok in (
        (agent, lambda r: parse_agent_turn(r, BY_NAME), ("action", "final")),
        (supervisor, lambda r: parse_supervisor_turn(r, SPECIALISTS), ("delegate", "final")),
    ):
        pattern, matched = grammar.regex(), 0
        for reply in sampled(grammar, 100, seed=2):
            for edited in edits(reply, rng, 30):
                if pattern.fullmatch(edited):
                    matched += 1
                    turn = parse(edited)
                    assert turn.kind in ok, (edited, turn)
                    if turn.kind == "final":
                        check_final(FPB, mode, turn.payload)
        assert matched > 100  # edits inside free text stay in the language: the check has cases


# --- the text sent to the server ----------------------------------------------------------------------


def test_the_gbnf_names_the_tools_and_the_labels_from_their_sources():
    text = react_grammar(TOOLS, FPB, "answer", 256).text
    assert text.startswith("root ::= ")
    for tool in SINGLE_AGENT_TOOLS:
        assert f'\\"tool\\": \\"{tool}\\"' in text
    for label in FPB.choices:
        assert f'"{label}"' in text
    assert "call-wikipedia-search ::=" in text and "think ::= " in text


def test_gbnf_escapes_quotes_backslashes_newlines_and_class_metacharacters():
    text = to_gbnf(seq('say "hi"\\\n', json_value({"enum": ["a]b"]}, "x")))
    assert 'root ::= "say \\"hi\\"\\\\\\n"' in text
    from slmbench.agents.grammar import Chars, _gbnf_class

    # class metacharacters as \xNN, the escape llama.cpp, xgrammar and llguidance all read (test_grammar_engines.py)
    assert _gbnf_class("]-^[\\ab") == "[\\x2D\\x5B-\\x5Eab]"  # '-' alone, then the range [ to ^, then a and b
    assert _gbnf_class("abcdxz") == "[a-dxz]"
    assert to_regex(Chars("a-]")) == "[a\\-\\]]"


def test_think_leaves_room_for_the_longest_action_within_max_tokens():
    small, large = (react_grammar(TOOLS, FPB, "protocol", n) for n in (192, 1024))
    think = lambda g: int(g.text.split("think ::= ")[1].split("{0,")[1].split("}")[0])  # noqa: E731
    assert think(small) < think(large)
    for n in (192, 256, 1024):
        assert longest(react_grammar(TOOLS, FPB, "protocol", n).root) <= n * CHARS_PER_TOKEN
    with pytest.raises(GrammarError, match="max_tokens 40 leaves no room.*at least"):
        react_grammar(TOOLS, FPB, "protocol", 40)


def test_a_changed_tool_schema_changes_the_grammars_of_the_cells():
    before = paradigm_grammars("multi_agent", FPB, "protocol", 256)
    assert set(before) == {f"{a}{s}" for a in ("supervisor", *SPECIALISTS) for s in ("", ":final")}
    assert paradigm_grammars("single_agent", FPB, "none", 128) == {}
    with pytest.raises(GrammarError, match="base paradigm"):
        paradigm_grammars("base", FPB, "protocol", 128)
    tool = tool_schemas(["calculator"])[0]
    wider = Tool(tool.name, tool.description, {**tool.parameters, "properties": {"expression": {"type": "string", "maxLength": 9}}}, tool.fn)
    assert react_grammar([wider], FPB, "protocol", 256).text != react_grammar([tool], FPB, "protocol", 256).text
    assert json.dumps(before, sort_keys=True)  # what the cell params digest
