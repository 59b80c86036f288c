"""Build the agents' tools by name from a config mapping.

Per-tool config (all keys optional; defaults: schemas/config.schema.yaml, $defs.search_tool):
  backend    "local" (BM25 over a passage corpus, offline),
             "wikipedia" (MediaWiki API over HTTP) or "web" (the `ddgs` package)
  index      local: a directory written by `local_search.build_index`
             (default: the shipped finance corpus, indexed in memory)
  top_k      number of passages returned
  timeout_s  HTTP timeout for the wikipedia/web backends
  api_url    wikipedia: the MediaWiki endpoint (default English Wikipedia)
  offline_fallback
             "local": when the online backend cannot be reached (a bounded probe, at most
             PROBE_TIMEOUT_S), search the local corpus instead and say so; "none" (default): never
The calculator takes no config. Set SLMBENCH_OFFLINE=1 to treat every online backend as unreachable.
"""

from __future__ import annotations

import os
import socket
import threading
import urllib.parse
from functools import lru_cache
from typing import Any, Mapping

from slmbench.tools.base import Tool
from slmbench.tools.calculator import calculator_tool
from slmbench.tools.search import DEFAULTS, Backend, search_tool

TOOL_NAMES = ("calculator", "wikipedia_search", "web_search")
BACKENDS = ("local", "wikipedia", "web")
ONLINE_BACKENDS = ("wikipedia", "web")
PROBE_TIMEOUT_S = 3.0
WEB_PROBE_HOST = "duckduckgo.com"  # what the `ddgs` package queries first

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


def probe_host(config: Mapping[str, Any]) -> str:
    """The host an online backend needs: the MediaWiki endpoint's, or the web search's."""
    if config.get("backend") == "wikipedia":
        from slmbench.tools.wikipedia_api import API_URL

        return urllib.parse.urlparse(config.get("api_url", API_URL)).hostname or ""
    return WEB_PROBE_HOST


def reachable(host: str, port: int = 443, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """Whether a TCP connection to host:port opens within `timeout_s` (name lookup included); False
    at once under SLMBENCH_OFFLINE=1. Remembered per process, so a job probes each host once."""
    if os.environ.get("SLMBENCH_OFFLINE") == "1":
        return False
    return _reachable(host, port, timeout_s)


@lru_cache(maxsize=None)
def _reachable(host: str, port: int, timeout_s: float) -> bool:
    opened: list[bool] = []

    def connect() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                opened.append(True)
        except (OSError, UnicodeError):
            pass

    thread = threading.Thread(target=connect, daemon=True)  # getaddrinfo has no timeout of its own
    thread.start()
    thread.join(timeout_s)
    return bool(opened)


def effective_backend(config: Mapping[str, Any]) -> tuple[str, str]:
    """(the backend a tool will search, a notice when that is the local corpus instead of the
    configured online backend, "" otherwise). Only `offline_fallback: local` substitutes."""
    kind = config.get("backend", DEFAULTS["backend"])
    if kind not in ONLINE_BACKENDS or config.get("offline_fallback", "none") != "local":
        return kind, ""
    host = probe_host(config)
    if reachable(host, timeout_s=min(PROBE_TIMEOUT_S, float(config.get("timeout_s", DEFAULTS["timeout_s"])))):
        return kind, ""
    why = "SLMBENCH_OFFLINE=1" if os.environ.get("SLMBENCH_OFFLINE") == "1" else f"{host}:443 did not answer within {PROBE_TIMEOUT_S:g} s"
    return "local", (
        f"{kind} search cannot be reached from {socket.gethostname()} ({why}): "
        "substituting the local corpus (offline_fallback: local), not the paper's online search"
    )


def offline_notices(paradigms: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One line per paradigm x search tool that will substitute the local corpus on this machine."""
    lines = []
    for paradigm, settings in paradigms.items():
        for tool, config in (settings.get("tools") or {}).items():
            _, notice = effective_backend(config)
            if notice:
                lines.append(f"[tools] paradigm {paradigm}, {tool}: {notice}")
    return lines


def make_backend(config: Mapping[str, Any]) -> Backend:
    """The search backend a tool's config selects (the local corpus when `effective_backend` substitutes it)."""
    kind, _ = effective_backend(config)
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


def build_tool(name: str, config: Mapping[str, Any] | None = None, *, backend: Backend | None = None) -> Tool:
    """One tool by name, configured by `config` (a search tool on `backend` when given)."""
    config = config or {}
    if name == "calculator":
        return calculator_tool()
    if name in _DESCRIPTIONS:
        return search_tool(name, _DESCRIPTIONS[name], backend or make_backend(config), int(config.get("top_k", DEFAULTS["top_k"])))
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
