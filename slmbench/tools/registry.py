"""Build the agents' tools by name from a config mapping.

Per-tool config (all keys optional):
  backend    "local" (default; BM25 over a passage corpus, offline),
             "wikipedia" (MediaWiki API over HTTP) or "web" (the `ddgs` package)
  index      local: a directory written by `local_search.build_index`
             (default: the shipped finance corpus, indexed in memory)
  top_k      number of passages returned (default 3)
  timeout_s  HTTP timeout for the wikipedia/web backends (default 10)
  api_url    wikipedia: the MediaWiki endpoint (default English Wikipedia)
The calculator takes no config.
"""

from __future__ import annotations

from typing import Any, Mapping

from slmbench.tools.base import Tool
from slmbench.tools.calculator import calculator_tool
from slmbench.tools.search import Backend, search_tool

TOOL_NAMES = ("calculator", "wikipedia_search", "web_search")
BACKENDS = ("local", "wikipedia", "web")

_DESCRIPTIONS = {
    "wikipedia_search": (
        "Searches an encyclopedia for background knowledge: definitions of financial terms and ratios, "
        "instruments, institutions, economic concepts. Returns short passages."
    ),
    "web_search": (
        "Searches the web for context on companies, markets, news and financial language "
        "(e.g. what a phrase signals). Returns short snippets."
    ),
}


def make_backend(config: Mapping[str, Any]) -> Backend:
    """The search backend a tool's config selects."""
    kind = config.get("backend", "local")
    timeout_s = float(config.get("timeout_s", 10.0))
    if kind == "local":
        from slmbench.tools.local_search import shared_index

        index = config.get("index")
        return shared_index(str(index) if index else None).search
    if kind == "wikipedia":
        from slmbench.tools.wikipedia_api import API_URL, wikipedia_backend

        return wikipedia_backend(api_url=config.get("api_url", API_URL), timeout_s=timeout_s)
    if kind == "web":
        from slmbench.tools.web_ddgs import web_backend

        return web_backend(timeout_s=timeout_s)
    raise ValueError(f"unknown search backend {kind!r}; choose one of {', '.join(BACKENDS)}")


def build_tool(name: str, config: Mapping[str, Any] | None = None, *, backend: Backend | None = None) -> Tool:
    """One tool by name, configured by `config` (a search tool on `backend` when given)."""
    config = config or {}
    if name == "calculator":
        return calculator_tool()
    if name in _DESCRIPTIONS:
        return search_tool(name, _DESCRIPTIONS[name], backend or make_backend(config), int(config.get("top_k", 3)))
    raise ValueError(f"unknown tool {name!r}; choose from {', '.join(TOOL_NAMES)}")


def _no_backend(query: str, k: int) -> list:
    raise RuntimeError("tool_schemas() builds tools to be described, not run")


def tool_schemas(names: list[str] | tuple[str, ...]) -> list[Tool]:
    """The tools as prompts and grammars describe them (name, description, JSON schema), with no search backend loaded."""
    return [build_tool(name, backend=_no_backend) for name in names]


def build_tools(names: list[str] | tuple[str, ...], config: Mapping[str, Mapping[str, Any]] | None = None) -> list[Tool]:
    """Tools by name; `config` maps a tool name to its config."""
    config = config or {}
    return [build_tool(name, config.get(name)) for name in names]
