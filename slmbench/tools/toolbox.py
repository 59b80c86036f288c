"""Build the agents' tools by name from a config mapping.

Per-tool config (all keys optional; defaults: schemas/config.schema.yaml, $defs.search_tool):
  backend    "local" (BM25 over a passage corpus, offline),
             "wikipedia" (MediaWiki API over HTTP) or "web" (the `ddgs` package)
  index      local: a directory written by `local_search.build_index`
             (default: the shipped finance corpus, indexed in memory)
  top_k      number of passages returned
  timeout_s  HTTP timeout for the wikipedia/web backends
  api_url    wikipedia: the MediaWiki endpoint (default English Wikipedia)
The calculator takes no config.
"""

from __future__ import annotations

from typing import Any, Mapping

from slmbench.tools.base import Tool
from slmbench.tools.calculator import calculator_tool
from slmbench.tools.search import DEFAULTS, Backend, search_tool

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
    kind = config.get("backend", DEFAULTS["backend"])
    timeout_s = float(config.get("timeout_s", DEFAULTS["timeout_s"]))
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


def build_tool(name: str, config: Mapping[str, Any] | None = None) -> Tool:
    """One tool by name, configured by `config`."""
    config = config or {}
    if name == "calculator":
        return calculator_tool()
    if name in _DESCRIPTIONS:
        return search_tool(name, _DESCRIPTIONS[name], make_backend(config), int(config.get("top_k", DEFAULTS["top_k"])))
    raise ValueError(f"unknown tool {name!r}; choose from {', '.join(TOOL_NAMES)}")


def build_tools(names: list[str] | tuple[str, ...], config: Mapping[str, Mapping[str, Any]] | None = None) -> list[Tool]:
    """Tools by name; `config` maps a tool name to its config."""
    config = config or {}
    return [build_tool(name, config.get(name)) for name in names]
