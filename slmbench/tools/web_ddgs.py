"""Web search through the `ddgs` metasearch package (off by default; imported lazily).

The search function is injected so tests run on recorded results without a network.
"""

from __future__ import annotations

from typing import Any, Callable

from slmbench.tools.base import ToolError
from slmbench.tools.search import DEFAULTS, Backend, Hit

# (query, max results, timeout in seconds) -> ddgs text results: dicts with title, href, body
TextSearch = Callable[[str, int, float], list[dict[str, Any]]]


def ddgs_text_search(query: str, max_results: int, timeout: float) -> list[dict[str, Any]]:
    """Run a `ddgs` text search (needs the optional `ddgs` package and a network)."""
    try:
        from ddgs import DDGS
    except ImportError:
        raise ToolError("web search backend 'web' needs the 'ddgs' package (pip install ddgs)") from None
    return DDGS(timeout=int(timeout)).text(query, max_results=max_results)


def parse_results(rows: Any) -> list[Hit]:
    """Hits from ddgs text results."""
    if not isinstance(rows, list):
        raise ToolError("unexpected response from web search")
    return [Hit(r.get("title", ""), r.get("body", ""), r.get("href", "")) for r in rows if isinstance(r, dict)]


def web_backend(search: TextSearch = ddgs_text_search, timeout_s: float = DEFAULTS["timeout_s"]) -> Backend:
    """A search backend over the web."""

    def run(query: str, k: int) -> list[Hit]:
        # ddgs errors (rate limits, timeouts) propagate; Tool.run turns them into an observation
        return parse_results(search(query, k, timeout_s))[:k]

    return run
