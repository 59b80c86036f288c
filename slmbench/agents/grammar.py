"""Grammars that force a model's reply into the agents' protocol (constrained decoding).

Beyond the paper: the study lets small models write free text and parses it
(slmbench.agents.protocol); a paradigm with `constrain: protocol` or `constrain: answer`
sends a grammar with every request, so the server can only sample replies the
parser accepts. `protocol`: `<think>` of bounded length, then exactly one `<action>`
whose JSON names one of the agent's tools with arguments its schema accepts (or, for
the supervisor, one `<delegate>` naming a specialist), or one `<final_answer>`.
`answer`: in addition, the final answer is the dataset's answer type (a label of its
label set, a number, entity lines...); it is also the base paradigm's one constraint.

The grammar is built from the same tool schemas, specialist names and dataset specs
as the prompts, so a change to a tool changes both. Everything is bounded: strings
(no escapes, printable ASCII without `<`, `>`, so no tag and no surrogate can appear
inside them), line counts and `<think>`. The longest reply the grammar allows has at
most `max_tokens` characters: every token of this ASCII language is at least one
character, so a constrained reply always ends (finish_reason stop) within its budget.
`<think>` gets what the longest action or final answer leaves; a budget that cannot
hold `<think>` and the longest step is refused at validation, naming the key.

A grammar is a tree of the nodes below; it renders to GBNF (llama.cpp's `grammar`
field, and SGLang's `ebnf`, whose xgrammar backend reads the same format), to a
Python regular expression (the language is regular: every repetition is bounded),
and it can be sampled, which is how the tests check that grammar and parser agree.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from typing import Any, Collection, Mapping, Sequence

from slmbench.answers import TOKEN_LABEL_DATASETS
from slmbench.registry import ENTITY_TYPES
from slmbench.registry import DatasetSpec
from slmbench.tools.base import TextShape, Tool

CONSTRAIN_MODES = ("none", "protocol", "answer")

# The fewest characters a token of the grammar's ASCII language yields (a byte-level vocabulary has a token
# for each character): at this rate the longest reply fits max_tokens, so no reply is cut by the budget.
CHARS_PER_TOKEN = 1
MIN_THINK_CHARS = 16
STRING_CHARS = 64  # a JSON string argument without maxLength in its schema (a search query, an expression)
TASK_CHARS = 64  # the supervisor's request to a specialist
LINE_CHARS = 40  # an entity name, a token, a line of a text answer
TEXT_LINES = 3  # lines of a QA text answer


class GrammarError(ValueError):
    """A grammar cannot be built (an unsupported schema, no room for the reply within max_tokens: then
    `need` is the smallest max_tokens that has room)."""

    need = 0


# --- nodes ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lit:
    """Fixed text."""

    text: str


@dataclass(frozen=True)
class Chars:
    """One character out of `chars` (a string, each character once)."""

    chars: str


@dataclass(frozen=True)
class _Group:
    items: tuple


class Seq(_Group):
    """The items one after another."""


class Alt(_Group):
    """One of the items."""


@dataclass(frozen=True)
class Rep:
    item: Any
    lo: int
    hi: int


@dataclass(frozen=True)
class Rule:
    """A named sub-grammar: rendered as its own GBNF rule, which keeps the text readable."""

    name: str
    item: Any


def seq(*items) -> Seq:
    """A sequence; adjacent literal text is joined and empty text dropped (GBNF dialects differ on "")."""
    out: list = []
    flat = [part for item in items for part in (item.items if isinstance(item, Seq) else (item,))]
    for item in flat:
        item = Lit(item) if isinstance(item, str) else item
        if isinstance(item, Lit) and out and isinstance(out[-1], Lit):
            out[-1] = Lit(out[-1].text + item.text)
        elif not (isinstance(item, Lit) and not item.text):
            out.append(item)
    return Seq(tuple(out))


def alt(*items) -> Alt:
    return Alt(tuple(Lit(i) if isinstance(i, str) else i for i in items))


_PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F))
TEXT = Chars(_PRINTABLE.replace("<", "").replace(">", "") + "\n")  # think and free answers: no tag can start
LINE = Chars(TEXT.chars.replace("\n", ""))
WORD_START = Chars(LINE.chars.replace(" ", ""))  # a parser strips answers and requests: they start with a visible character
JSON_TEXT = Chars(LINE.chars.replace('"', "").replace("\\", ""))  # a JSON string's characters, no escapes
JSON_START = Chars(JSON_TEXT.chars.replace(" ", ""))
_DIGITS = Chars("0123456789")
INTEGER = seq(Rep(Lit("-"), 0, 1), alt("0", seq(Chars("123456789"), Rep(_DIGITS, 0, 8))))  # JSON: no leading zeros
ALNUM = Chars("".join(c for c in _PRINTABLE if c.isalnum()))
# Entity names and tokens: what the answer parser keeps as it is (no quotes, which it strips; no ',' or ':',
# which split a line into name and type).
NAME_TEXT = Chars(ALNUM.chars + " .&'()/%$+-")


def rep(item, lo: int, hi: int):
    """`item` lo to hi times (nothing at all when hi is 0)."""
    return Rep(item, lo, hi) if hi > 0 else Seq(())


def bounded_text(first: Chars, rest: Chars, max_chars: int) -> Seq:
    """1 to max_chars characters: one of `first`, then up to max_chars - 1 of `rest`."""
    return seq(first, rep(rest, 0, max_chars - 1))


def longest(node) -> int:
    """The length of the longest string the node allows."""
    if isinstance(node, Lit):
        return len(node.text)
    if isinstance(node, Chars):
        return 1
    if isinstance(node, Seq):
        return sum(longest(i) for i in node.items)
    if isinstance(node, Alt):
        return max(longest(i) for i in node.items)
    if isinstance(node, Rep):
        return node.hi * longest(node.item)
    return longest(node.item)


def sample(node, rng: random.Random) -> str:
    """A random string of the node's language; repetitions favour their bounds, where mistakes hide."""
    if isinstance(node, Lit):
        return node.text
    if isinstance(node, Chars):
        return rng.choice(node.chars)
    if isinstance(node, Seq):
        return "".join(sample(i, rng) for i in node.items)
    if isinstance(node, Alt):
        return sample(rng.choice(node.items), rng)
    if isinstance(node, Rep):
        n = rng.choice((node.lo, node.hi, rng.randint(node.lo, node.hi)))
        return "".join(sample(node.item, rng) for _ in range(n))
    return sample(node.item, rng)


def to_regex(node) -> str:
    """A Python regular expression of the node's language (use with re.fullmatch)."""
    if isinstance(node, Lit):
        return re.escape(node.text)
    if isinstance(node, Chars):
        return "[" + "".join(re.escape(c) for c in node.chars) + "]"
    if isinstance(node, Seq):
        return "".join(to_regex(i) for i in node.items)
    if isinstance(node, Alt):
        return "(?:" + "|".join(to_regex(i) for i in node.items) + ")"
    if isinstance(node, Rep):
        return f"(?:{to_regex(node.item)}){{{node.lo},{node.hi}}}"
    return to_regex(node.item)


# Beyond a letter, digit or plain punctuation, a character is written as \xNN: the one escape form that
# llama.cpp, xgrammar and llguidance all read (llguidance refuses `\-` in a class, llama.cpp refuses `\^`).
_GBNF_PLAIN = frozenset(c for c in _PRINTABLE if c not in '"\\[]-^')
_GBNF_NAMED = {"\n": "\\n", "\t": "\\t"}
# llama.cpp silently reads a bound above 2000 as unbounded, and refuses a repeated group whose own generated
# rules times its bound reach 2000: a longer repetition is split into a chain of rules (to_gbnf), and a
# repeated item that is more than one character, literal or rule becomes a rule of its own.
REP_LIMIT = 1000


def _gbnf_char(c: str, in_class: bool) -> str:
    if c in _GBNF_PLAIN or (not in_class and c in "[]-^"):
        return c
    if not in_class and c in '"\\':
        return "\\" + c
    return _GBNF_NAMED.get(c) or f"\\x{ord(c):02X}"


def _gbnf_class(chars: str) -> str:
    """A character class with consecutive characters as ranges: [ -!#-;=?-~\\n]."""
    codes, parts, i = sorted(ord(c) for c in chars), [], 0
    while i < len(codes):
        j = i
        while j + 1 < len(codes) and codes[j + 1] == codes[j] + 1:
            j += 1
        lo, hi = _gbnf_char(chr(codes[i]), True), _gbnf_char(chr(codes[j]), True)
        parts.append(lo if i == j else lo + hi if j == i + 1 else f"{lo}-{hi}")
        i = j + 1
    return "[" + "".join(parts) + "]"


def to_gbnf(root) -> str:
    """The grammar as GBNF text (llama.cpp's format, which SGLang's xgrammar and llguidance read as EBNF).

    Every bound stays at most REP_LIMIT and no repeated group generates rules of its own, so that
    llama.cpp neither refuses the grammar nor loosens it (checked by slmbench.agents.grammar_engines)."""
    rules: dict[str, str] = {}
    seen: dict[str, Any] = {}

    def define(name: str, text: str) -> str:
        rules[name] = text
        return name

    def atom(node, hi: int) -> str:
        """The node as a repeatable item: a class, a literal, a rule name, a group repeated at most once;
        a group repeated more often becomes a rule of its own."""
        if isinstance(node, (Chars, Lit, Rule)):
            return expr(node)
        return f"({expr(node)})" if hi <= 1 else define(f"rep{len(rules)}", expr(node))

    def repeat(node: Rep) -> str:
        item = atom(node.item, node.hi)
        if node.hi <= REP_LIMIT:
            return f"{item}{{{node.lo},{node.hi}}}"
        # lo fixed items, then item{0,n} as a chain: chain(n) ::= item{0,L-1} | item{L} chain(n-L), chain(r) ::= item{0,r}
        fixed, n = node.lo, node.hi - node.lo
        head = " ".join([f"{item}{{{REP_LIMIT}}}"] * (fixed // REP_LIMIT) + [f"{item}{{{fixed % REP_LIMIT}}}"] * bool(fixed % REP_LIMIT))
        base = f"rep{len(rules)}"
        name = define(f"{base}-0", f"{item}{{0,{n % REP_LIMIT}}}" if n % REP_LIMIT else '""')
        for k in range(1, n // REP_LIMIT + 1):
            name = define(f"{base}-{k}", f"({item}{{0,{REP_LIMIT - 1}}} | {item}{{{REP_LIMIT}}} {name})")
        return f"{head} {name}".strip()

    def expr(node) -> str:
        if isinstance(node, Lit):
            return '"' + "".join(_gbnf_char(c, False) for c in node.text) + '"'
        if isinstance(node, Chars):
            return _gbnf_class(node.chars)
        if isinstance(node, Seq):
            return " ".join(expr(i) for i in node.items)
        if isinstance(node, Alt):
            return "(" + " | ".join(expr(i) for i in node.items) + ")"
        if isinstance(node, Rep):
            return repeat(node)
        if node.name in seen and seen[node.name] != node:
            raise GrammarError(f"two different rules are named {node.name!r}")
        seen[node.name] = node
        if node.name not in rules:
            rules[node.name] = ""  # reserve the name's place: rules print in the order they are met
            rules[node.name] = expr(node.item)
        return node.name

    body = expr(root)
    return "\n".join([f"root ::= {body}", *(f"{name} ::= {text}" for name, text in rules.items())]) + "\n"


# --- JSON values from a tool's schema --------------------------------------------------------------


def json_value(schema: Mapping[str, Any], where: str, shapes: Mapping[str, TextShape] | None = None):
    """The grammar of one JSON value the schema accepts, in the compact form of the prompts' examples.

    Objects list their required properties in schema order (optional ones are left out); strings
    are bounded and hold no escapes, and a string property with a shape (Tool.arg_shapes) holds only
    its characters, after at most one of its openers. Supported: object, string (enum, maxLength),
    integer, number, boolean.
    """
    shapes = shapes or {}
    if "enum" in schema:
        return alt(*(json.dumps(v) for v in schema["enum"]))
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        parts: list = ["{"]
        for i, name in enumerate(n for n in props if n in schema.get("required", ())):
            value = shaped_string(props[name], shapes[name]) if name in shapes else json_value(props[name], f"{where}.{name}")
            parts += [", " if i else "", json.dumps(name) + ": ", value]
        return seq(*parts, "}")
    if kind == "string":
        return seq('"', bounded_text(JSON_START, JSON_TEXT, _max_chars(schema)), '"')
    if kind == "integer":
        return INTEGER
    if kind == "number":
        return seq(INTEGER, Rep(seq(".", Rep(_DIGITS, 1, 6)), 0, 1))
    if kind == "boolean":
        return alt("true", "false")
    raise GrammarError(f"{where}: the grammar cannot express a JSON schema of type {kind!r}")


def _max_chars(schema: Mapping[str, Any]) -> int:
    return int(schema.get("maxLength", STRING_CHARS))


def shaped_string(schema: Mapping[str, Any], shape: TextShape):
    """A JSON string of the shape's characters (no quote, backslash or tag character), or one of its
    openers followed by those and the opened characters."""

    def body(chars: str):
        chars = "".join(c for c in chars if c in JSON_TEXT.chars)
        return bounded_text(Chars(chars.replace(" ", "")), Chars(chars), _max_chars(schema))

    plain = body(shape.chars)
    opened = seq(alt(*shape.openers), body(shape.chars + shape.opened_chars)) if shape.openers else plain
    return seq('"', alt(plain, opened) if shape.openers else plain, '"')


def action_grammar(tools: Sequence[Tool]):
    """`<action>{"tool": NAME, "args": {...}}</action>` for one of the tools."""
    if not tools:
        raise GrammarError("an agent without tools cannot act")
    calls = [
        Rule(f"call-{_rule_name(t.name)}", seq(f'{{"tool": {json.dumps(t.name)}, "args": ', json_value(t.parameters, t.name, t.arg_shapes), "}"))
        for t in tools
    ]
    return seq("<action>", alt(*calls), "</action>")


def delegate_grammar(agents: Collection[str]):
    """`<delegate>{"agent": NAME, "task": "..."}</delegate>` for one of the specialists."""
    task = bounded_text(JSON_START, JSON_TEXT, TASK_CHARS)
    return seq("<delegate>", '{"agent": ', alt(*(json.dumps(a) for a in agents)), ', "task": "', task, '"}', "</delegate>")


def _rule_name(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9]+", "-", name).strip("-").lower() or "x"


# --- final answers ---------------------------------------------------------------------------------


def lines(line, max_chars: int):
    """One to as many lines of `line` as fit in max_chars."""
    n = max(1, (max_chars + 1) // (longest(line) + 1))
    return seq(line, rep(seq("\n", line), 0, n - 1))


NUMBER = seq(Rep(Lit("-"), 0, 1), Rep(_DIGITS, 1, 12), Rep(seq(".", Rep(_DIGITS, 1, 6)), 0, 1))


def answer_grammar(spec: DatasetSpec, max_chars: int):
    """The dataset's answer type as a grammar (the format `answers.answer_format` tells the model), within max_chars."""
    if spec.task_type == "classification":
        return alt(*spec.choices)
    if spec.task_type == "regression":  # a number in [-1, 1]
        return seq(Rep(Lit("-"), 0, 1), alt(seq("0", Rep(seq(".", Rep(_DIGITS, 1, 3)), 0, 1)), seq("1", Rep(Lit(".0"), 0, 1))))
    if spec.task_type == "ner" and spec.name in TOKEN_LABEL_DATASETS:
        token = bounded_text(ALNUM, Chars(NAME_TEXT.chars.replace(" ", "")), LINE_CHARS)
        labels = alt("O", *(f"{p}-{t}" for t in ENTITY_TYPES for p in "BI"))
        return lines(seq(token, ":", labels), max_chars)
    if spec.task_type == "ner":
        name = bounded_text(ALNUM, NAME_TEXT, LINE_CHARS)
        return alt("None", lines(seq(name, ", ", alt(*ENTITY_TYPES)), max_chars))
    if spec.task_type == "qa":
        text = bounded_text(WORD_START, LINE, LINE_CHARS)
        return alt(NUMBER, lines(text, min(max_chars, TEXT_LINES * (LINE_CHARS + 1))))
    if spec.task_type == "extractive_summarization":
        return lines(Chars("01"), max_chars)
    return free_text(max_chars)


def free_text(max_chars: int):
    """A `protocol` final answer, or a summary: text that starts with a visible character."""
    return bounded_text(Chars(TEXT.chars.replace(" ", "").replace("\n", "")), TEXT, max_chars)


# --- whole replies ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grammar:
    """A reply grammar: `text` goes into the request, `root` is the tree it was rendered from."""

    root: Any
    text: str

    @classmethod
    def of(cls, root) -> "Grammar":
        return cls(root, to_gbnf(root))

    def regex(self) -> re.Pattern:
        return re.compile(to_regex(self.root))


def _too_small(what: str, need: int) -> GrammarError:
    error = GrammarError(f"{what}; set the paradigm's max_tokens to at least {need}")
    error.need = need
    return error


def _budget(max_tokens: int) -> int:
    return max_tokens * CHARS_PER_TOKEN


def _final(spec: DatasetSpec, mode: str, max_chars: int):
    body = answer_grammar(spec, max_chars) if mode == "answer" else free_text(max_chars)
    return seq("<final_answer>", Rule("answer", body), "</final_answer>")


def _turn(step, spec: DatasetSpec, mode: str, max_tokens: int, who: str) -> Grammar:
    """`<think>` (bounded), a newline, then `step` or a final answer (only the final answer when `step` is
    None); think gets the room left within max_tokens."""
    budget = _budget(max_tokens)
    fixed = len("<think></think>\n")
    final = _final(spec, mode, max(LINE_CHARS, budget // 2 - len("<final_answer></final_answer>")))
    step = step or final
    think = budget - fixed - max(longest(step), longest(final))
    if think < MIN_THINK_CHARS:
        need = -(-(fixed + max(longest(step), longest(final)) + MIN_THINK_CHARS) // CHARS_PER_TOKEN)
        raise _too_small(f"{who}: max_tokens {max_tokens} leaves no room for <think> before the longest {longest(step)}-character "
                         "step under constrained decoding", need)
    root = seq("<think>", Rule("think", Rep(TEXT, 0, think)), "</think>\n", final if step is final else alt(step, final))
    return Grammar.of(root)


@dataclass(frozen=True)
class TurnGrammars:
    """An agent's grammars (GBNF text): `step` while it may still act or delegate, `final` when it may only answer.

    The loop gives an agent's last turn, and the supervisor's turns once its delegations are used up,
    the `final` grammar: an action there could never run (the loop would end with turn_limit), a
    delegation would be refused, so under constrained decoding those turns can only answer.
    """

    step: str
    final: str

    def digest_items(self, agent: str) -> dict[str, str]:
        return {agent: self.step, f"{agent}:final": self.final}


def react_grammar(tools: Sequence[Tool], spec: DatasetSpec, mode: str, max_tokens: int, *, final_only: bool = False) -> Grammar:
    """A ReAct agent's reply (the single agent, a specialist): think, then one action or the final answer."""
    step = None if final_only else Rule("action", action_grammar(tools))
    return _turn(step, spec, mode, max_tokens, f"agent with tools {', '.join(t.name for t in tools)}")


def supervisor_grammar(agents: Collection[str], spec: DatasetSpec, mode: str, max_tokens: int, *, final_only: bool = False) -> Grammar:
    """The supervisor's reply: think, then one delegation to a known specialist or the final answer."""
    return _turn(None if final_only else Rule("delegate", delegate_grammar(agents)), spec, mode, max_tokens, "supervisor")


def react_turns(tools: Sequence[Tool], spec: DatasetSpec, mode: str, max_tokens: int) -> TurnGrammars:
    return TurnGrammars(*(react_grammar(tools, spec, mode, max_tokens, final_only=f).text for f in (False, True)))


def supervisor_turns(agents: Collection[str], spec: DatasetSpec, mode: str, max_tokens: int) -> TurnGrammars:
    return TurnGrammars(*(supervisor_grammar(agents, spec, mode, max_tokens, final_only=f).text for f in (False, True)))


def base_grammar(spec: DatasetSpec, max_tokens: int) -> Grammar:
    """The base paradigm under `constrain: answer`: the reply is the answer alone."""
    root = answer_grammar(spec, _budget(max_tokens))
    if longest(root) > _budget(max_tokens):
        raise _too_small(f"max_tokens {max_tokens} cannot hold the longest {longest(root)}-character answer of {spec.name} "
                         "under constrained decoding", -(-longest(root) // CHARS_PER_TOKEN))
    return Grammar.of(root)


def paradigm_grammars(kind: str, spec: DatasetSpec, mode: str, max_tokens: int) -> dict[str, str]:
    """Every grammar a cell of the paradigm sends, by agent: what the paradigms build, and what the
    cell's params digest (so a changed tool schema or answer grammar reruns the constrained cells)."""
    from slmbench.tools.toolbox import tool_schemas

    if check_mode(mode) == "none":
        return {}
    if kind == "base":
        if mode != "answer":
            raise GrammarError(f"the base paradigm takes constrain 'none' or 'answer', not {mode!r}: it has no protocol")
        return {"base": base_grammar(spec, max_tokens).text}
    if kind == "single_agent":
        from slmbench.agents.react import SINGLE_AGENT, SINGLE_AGENT_TOOLS

        return react_turns(tool_schemas(SINGLE_AGENT_TOOLS), spec, mode, max_tokens).digest_items(SINGLE_AGENT)
    from slmbench.agents.supervisor import SPECIALISTS, SUPERVISOR

    grammars, errors = {}, []
    builds = {SUPERVISOR: lambda: supervisor_turns(SPECIALISTS, spec, mode, max_tokens)}
    builds |= {name: lambda s=s: react_turns(tool_schemas(s.tools), spec, mode, max_tokens) for name, s in SPECIALISTS.items()}
    for name, build in builds.items():
        try:
            grammars.update(build().digest_items(name))
        except GrammarError as e:
            errors.append(e)
    if errors:  # the one that needs the most, so that the max_tokens it names has room for every agent
        raise max(errors, key=lambda e: e.need)
    return grammars


def check_mode(mode: str) -> str:
    if mode not in CONSTRAIN_MODES:
        raise GrammarError(f"unknown constrain mode {mode!r}; known: {', '.join(CONSTRAIN_MODES)}")
    return mode
