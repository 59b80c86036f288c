"""The text protocol between the agents and the model: parse one model turn, render observations.

A turn is `<think>...</think>` followed by exactly one of
  `<action>{"tool": NAME, "args": {...}}</action>`       (ReAct agents)
  `<delegate>{"agent": NAME, "task": "..."}</delegate>`  (the supervisor)
  `<final_answer>...</final_answer>`

Tolerated: whitespace and letter case in tags, ```json fences around the JSON, a
missing closing tag at the end of the text, and any text after the first
element's closing tag (small models often go on to invent an observation).
Anything inside `<think>` is ignored. Strict: at most one action or delegation
per turn, the JSON must be one object, and it must name a known tool (with args
that validate against the tool's schema) or a known specialist.

Model text is hostile input: every reply maps to a Turn in linear time and
nothing in it raises. The JSON is bounded in length and nesting before it is
parsed, and JSON whose strings hold surrogate escapes (text UTF-8 cannot store)
is malformed; a final answer's surrogates become U+FFFD.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Collection, Mapping

from jsonschema import Draft202012Validator

from slmbench.text import has_lone_surrogate, scrub_surrogates
from slmbench.tools.base import Tool, shorten

# Tags the protocol uses; any of them inside an observation is escaped so that
# tool output (e.g. a search result with injected tags) cannot fake a boundary.
PROTOCOL_TAGS = ("think", "action", "delegate", "final_answer", "observation")

_MAX_DETAIL_CHARS = 200  # error details quote model text; keep them short
# A tool call or delegation is a few hundred characters nested 2 levels deep; the
# bounds keep json.loads (recursive) and schema validation off pathological input.
MAX_JSON_CHARS = 16_000
MAX_JSON_DEPTH = 16


@dataclass(frozen=True)
class Turn:
    """One parsed model turn.

    kind: "action" (payload {"tool", "args"}), "delegate" (payload {"agent", "task"}),
    "final" (payload: the answer text) or "none" (nothing usable; see error).
    failure: the failure kind to record if the episode ends on this problem ("" if none).
    """

    kind: str
    payload: Any = None
    error: str = ""
    failure: str = ""


def _open(tag: str) -> str:
    return rf"<\s*{tag}\s*>"


def _close(tag: str) -> str:
    return rf"<\s*/\s*{tag}\s*>"


_THINK = re.compile(rf"{_open('think')}.*?(?:{_close('think')}|\Z)", re.I | re.S)
_THINK_OPEN, _THINK_CLOSE = re.compile(_open("think"), re.I), re.compile(_close("think"), re.I)
_ANY_OPEN = re.compile(rf"<\s*({'|'.join(PROTOCOL_TAGS)})\s*>", re.I)
_FENCE_OPEN = re.compile(r"```[a-zA-Z]*")
# One whitespace run on each side of the optional "/": two adjacent `\s*` would backtrack quadratically.
_TAG_IN_DATA = re.compile(rf"<(\s*(?:/\s*)?(?:{'|'.join(PROTOCOL_TAGS)})\s*)>", re.I)
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.S)  # unrolled, so no backtracking; may be unterminated
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def _strip_thinking(text: str) -> str:
    """Drop `<think>` blocks (an unclosed one runs to the end of the text).

    Reasoning models whose chat template opens `<think>` in the prompt emit only
    the closing tag; everything before it is thinking too.
    """
    close, open_ = _THINK_CLOSE.search(text), _THINK_OPEN.search(text)
    if close and (not open_ or close.start() < open_.start()):
        text = text[close.end() :]
    return _THINK.sub(" ", text)


def _element(text: str, tag: str) -> tuple[int, str] | None:
    """Start offset and body of the first `<tag>` element, or None.

    The body ends at the closing tag or, when that is missing, at the next
    protocol tag or the end of the text.
    """
    start = re.search(_open(tag), text, re.I)
    if not start:
        return None
    rest = text[start.end() :]
    end = re.search(_close(tag), rest, re.I) or _ANY_OPEN.search(rest)
    return start.start(), (rest[: end.start()] if end else rest).strip()


def _nesting_depth(body: str) -> int:
    """How deep the brackets of a JSON text nest outside its strings, in linear time."""
    depth = deepest = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub("", body)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _json_object(body: str) -> tuple[dict | None, str]:
    """Parse the body as exactly one JSON object (fences allowed); returns (object, error)."""
    body = body.strip()
    if fence := _FENCE_OPEN.match(body):
        body = body[fence.end() :]
    body = body.removesuffix("```").strip()
    if len(body) > MAX_JSON_CHARS:
        return None, f"the JSON is longer than {MAX_JSON_CHARS} characters"
    if _nesting_depth(body) > MAX_JSON_DEPTH:
        return None, f"the JSON nests deeper than {MAX_JSON_DEPTH} levels"
    try:
        value = json.loads(body)
    except json.JSONDecodeError as e:
        return None, f"invalid JSON ({e.msg} at position {e.pos}): {scrub_surrogates(shorten(body, _MAX_DETAIL_CHARS))}"
    except (ValueError, RecursionError):  # an integer past Python's digit limit; a stack already deep
        return None, "invalid JSON: a number has too many digits or the nesting is too deep"
    if not isinstance(value, dict):
        return None, f"the JSON must be an object, got {type(value).__name__}"
    if has_lone_surrogate(json.dumps(value, ensure_ascii=False)):
        return None, "the JSON holds a lone surrogate (\\ud800-\\udfff), which is not text; write plain characters"
    return value, ""


def _count(text: str, tag: str) -> int:
    return len(re.findall(_open(tag), text, re.I))


def _first(text: str, tags: tuple[str, ...]) -> tuple[str, str] | None:
    """The tag and body of whichever of `tags` opens first in the text."""
    found = [(el[0], tag, el[1]) for tag in tags if (el := _element(text, tag))]
    if not found:
        return None
    _, tag, body = min(found)
    return tag, body


def _validate_args(tool: Tool, args: Any) -> str:
    """An error text if `args` does not match the tool's schema, else ""."""
    if not isinstance(args, dict):
        return f'"args" must be a JSON object for tool {tool.name}'
    error = next(iter(Draft202012Validator(tool.parameters).iter_errors(args)), None)
    if error is None:
        return ""
    where = "".join(f"[{p!r}]" for p in error.absolute_path)
    return f"invalid args{where} for tool {tool.name}: {shorten(error.message, _MAX_DETAIL_CHARS)}"


def _final(body: str) -> Turn:
    if not body:
        return Turn("none", error="the final answer is empty", failure="no_final_answer")
    return Turn("final", scrub_surrogates(body))


def _tagged_json(text: str, tag: str, failure: str, missing: str, multiple: str) -> Turn | dict:
    """The JSON object inside the turn's one `<tag>`, or the Turn that ends parsing (final answer or problem)."""
    visible = _strip_thinking(text)
    first = _first(visible, (tag, "final_answer"))
    if first is None:
        return Turn("none", error=missing, failure="no_final_answer" if tag == "action" else "no_delegation")
    found, body = first
    if found == "final_answer":
        return _final(body)
    if _count(visible, tag) > 1:
        return Turn("none", error=multiple, failure=failure)
    obj, error = _json_object(body)
    if obj is None:
        return Turn("none", error=f"malformed {'action' if tag == 'action' else 'delegation'}: {error}", failure=failure)
    return obj


def parse_agent_turn(text: str, tools: Mapping[str, Tool]) -> Turn:
    """Parse a ReAct agent's turn: one `<action>` or a `<final_answer>`."""
    call = _tagged_json(
        text, "action", "malformed_action",
        missing="no <action> or <final_answer> found; reply with exactly one of them after your <think>",
        multiple="more than one <action> in one turn; send exactly one and wait for its observation",
    )
    if isinstance(call, Turn):
        return call
    name = call.get("tool")
    if set(call) - {"tool", "args"} or not isinstance(name, str):
        return Turn("none", error='malformed action: the JSON must be {"tool": NAME, "args": {...}}', failure="malformed_action")
    if name not in tools:
        known = ", ".join(tools) or "none"
        return Turn("none", error=f"unknown tool {shorten(name, 60)!r}; available tools: {known}", failure="unknown_tool")
    args = call.get("args", {})
    if error := _validate_args(tools[name], args):
        return Turn("none", error=f"malformed action: {error}", failure="malformed_action")
    return Turn("action", {"tool": name, "args": args})


def parse_supervisor_turn(text: str, agents: Collection[str]) -> Turn:
    """Parse the supervisor's turn: one `<delegate>` or a `<final_answer>`."""
    request = _tagged_json(
        text, "delegate", "delegation_failure",
        missing="no <delegate> or <final_answer> found; delegate to a specialist or give the final answer",
        multiple="more than one <delegate> in one turn; delegate to one specialist at a time",
    )
    if isinstance(request, Turn):
        return request
    agent, task = request.get("agent"), request.get("task")
    if set(request) - {"agent", "task"} or not isinstance(agent, str) or not isinstance(task, str) or not task.strip():
        return Turn("none", error='malformed delegation: the JSON must be {"agent": NAME, "task": "..."}', failure="delegation_failure")
    if agent not in agents:
        return Turn("none", error=f"unknown specialist {shorten(agent, 60)!r}; available: {', '.join(agents)}", failure="delegation_failure")
    return Turn("delegate", {"agent": agent, "task": task.strip()})


def render_observation(text: str, *, escape: bool = True) -> str:
    """Wrap tool or specialist output as an observation; protocol tags inside it are escaped.

    Only the workflow's own error hints (which name the tags the model must use) pass unescaped.
    """
    body = _TAG_IN_DATA.sub(r"&lt;\1&gt;", text) if escape else text
    return f"<observation>\n{body}\n</observation>"
