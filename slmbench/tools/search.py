"""Search tools: one interface (query -> numbered passages) over interchangeable backends.

A backend is a function (query, k) -> list[Hit]. Result text is data for the
model, shown verbatim inside an observation; nothing in it is ever interpreted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from slmbench.config import schema_defaults
from slmbench.tools.base import Tool, ToolError

DEFAULTS = schema_defaults("search_tool")  # backend, top_k, timeout_s: schemas/config.schema.yaml

MAX_QUERY_CHARS = 300


@dataclass(frozen=True)
class Hit:
    """One search result."""

    title: str
    text: str
    source: str = ""  # passage id or URL


Backend = Callable[[str, int], list[Hit]]


def format_hits(query: str, hits: list[Hit]) -> str:
    """Numbered results, one block per hit, as the model sees them."""
    if not hits:
        return f"No results for {query!r}."
    blocks = []
    for i, hit in enumerate(hits, 1):
        source = f" ({hit.source})" if hit.source else ""
        blocks.append(f"[{i}] {hit.title}{source}\n{hit.text.strip()}")
    return "\n\n".join(blocks)


def search_tool(name: str, description: str, backend: Backend, top_k: int = DEFAULTS["top_k"]) -> Tool:
    """A Tool that searches `backend` and returns the `top_k` best passages."""

    def run(args: dict[str, Any]) -> str:
        query = args.get("query")
        if not isinstance(query, str) or not query.strip():
            raise ToolError("query must be a non-empty string")
        if len(query) > MAX_QUERY_CHARS:
            raise ToolError(f"query is longer than {MAX_QUERY_CHARS} characters")
        return format_hits(query, backend(query.strip(), top_k))

    return Tool(
        name=name,
        description=description,
        parameters={
            "type": "object",
            "properties": {"query": {"type": "string", "description": "a few keywords"}},
            "required": ["query"],
            "additionalProperties": False,
        },
        fn=run,
        example_args={"query": "current ratio"},
    )
