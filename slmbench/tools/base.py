"""The tool interface the agents see: a name, a description, a JSON schema and run(args) -> text.

A tool never raises into the agent loop: any failure comes back as a text that
starts with ``Error:`` so the model can read it as an observation and react.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

ERROR_PREFIX = "Error:"

# Tool output is budgeted in approximate tokens, counted as characters / 4
# (closer to real tokenizers than whitespace words for numbers and tables).
CHARS_PER_TOKEN = 4
TRUNCATION_MARK = " ...[truncated]"


class ToolError(Exception):
    """An expected failure of a tool (bad input, no backend); its message is shown to the model."""


@dataclass(frozen=True)
class TextShape:
    """What a string argument can usefully hold, beyond its JSON schema; read by constrained decoding
    (slmbench.agents.grammar), not shown in the prompt. The tool still checks its input itself."""

    chars: str  # the characters the text may hold
    openers: tuple[str, ...] = ()  # words it may start with (say, a function name and its parenthesis)
    opened_chars: str = ""  # more characters, only after an opener (say, the ',' between a function's arguments)


@dataclass(frozen=True)
class Tool:
    """A callable the agent can invoke with JSON arguments that follow `parameters`."""

    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the args object
    fn: Callable[[dict[str, Any]], str]
    example_args: dict[str, Any] | None = None  # shown to the model as a usage example
    arg_shapes: Mapping[str, TextShape] = field(default_factory=dict)  # by argument name, for grammars

    def run(self, args: dict[str, Any]) -> str:
        """Run the tool; failures become an ``Error: ...`` text instead of an exception."""
        try:
            return self.fn(args)
        except ToolError as e:
            return f"{ERROR_PREFIX} {e}"
        except Exception as e:  # a tool bug or backend failure must not end the episode
            return f"{ERROR_PREFIX} {type(e).__name__}: {shorten(str(e), 300)}"


def is_error(output: str) -> bool:
    """Whether a tool output reports a failure."""
    return output.startswith(ERROR_PREFIX)


def truncate_tokens(text: str, max_tokens: int) -> str:
    """Cut `text` to about `max_tokens` tokens, marking the cut so the model knows."""
    return shorten(text, max_tokens * CHARS_PER_TOKEN, TRUNCATION_MARK)


def shorten(text: str, max_chars: int, mark: str = "...") -> str:
    """Cut `text` to at most `max_chars` characters, ending with `mark` when cut."""
    if len(text) <= max_chars:
        return text
    return text[: max(0, max_chars - len(mark))] + mark
