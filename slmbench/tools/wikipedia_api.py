"""Wikipedia search over the MediaWiki API (off by default; the offline default is local BM25).

The HTTP fetch is injected so tests run on recorded responses without a network.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Any, Callable

from slmbench.tools.base import ToolError
from slmbench.tools.search import DEFAULTS, Backend, Hit

API_URL = "https://en.wikipedia.org/w/api.php"
USER_AGENT = "slmbench/0.1 (research benchmark; https://github.com/)"

# (url, query parameters, timeout in seconds) -> decoded JSON
FetchJSON = Callable[[str, dict[str, Any], float], Any]


def urllib_fetch_json(url: str, params: dict[str, Any], timeout: float) -> Any:
    """GET `url` with `params` and decode the JSON body."""
    request = urllib.request.Request(f"{url}?{urllib.parse.urlencode(params)}", headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


def search_params(query: str, k: int, sentences: int) -> dict[str, Any]:
    """Parameters for one search that returns the plain-text intro of each hit page."""
    return {
        "action": "query",
        "format": "json",
        "formatversion": 2,
        "generator": "search",
        "gsrsearch": query,
        "gsrlimit": k,
        "prop": "extracts|info",
        "inprop": "url",
        "exintro": 1,
        "explaintext": 1,
        "exsentences": sentences,
        "exlimit": k,
    }


def parse_response(data: Any) -> list[Hit]:
    """Hits from a `generator=search` response, in search-rank order."""
    if not isinstance(data, dict):
        raise ToolError("unexpected response from Wikipedia")
    if "error" in data:
        raise ToolError(f"Wikipedia API error: {data['error'].get('info', data['error'])}")
    pages = data.get("query", {}).get("pages", [])
    if isinstance(pages, dict):  # formatversion=1 keys pages by id
        pages = list(pages.values())
    pages = sorted(pages, key=lambda p: p.get("index", 0))
    return [Hit(p.get("title", ""), p.get("extract", "") or "", p.get("fullurl", "")) for p in pages if p.get("title")]


def wikipedia_backend(
    fetch: FetchJSON = urllib_fetch_json, api_url: str = API_URL, timeout_s: float = DEFAULTS["timeout_s"], sentences: int = 3
) -> Backend:
    """A search backend that queries the MediaWiki API."""

    def search(query: str, k: int) -> list[Hit]:
        # network failures propagate; Tool.run turns them into an "Error: ..." observation
        return parse_response(fetch(api_url, search_params(query, k, sentences), timeout_s))

    return search
