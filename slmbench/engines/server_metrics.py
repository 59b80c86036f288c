"""What the server itself counted during one cell: prompt, generated and prefix-cached tokens.

SGLang started with --enable-metrics serves Prometheus text at /metrics (names from
sglang/srt/metrics/collector.py: sglang:prompt_tokens_total, sglang:generation_tokens_total,
sglang:cached_tokens_total, sglang:num_requests_total, the histograms
sglang:e2e_request_latency_seconds and sglang:time_to_first_token_seconds, the gauges
sglang:cache_hit_rate and sglang:gen_throughput). Counters only grow, so a cell's work is
the difference of a scrape when its endpoint opens and one when it ends (`Window`).
The server is shared by every job of the model on the node: with several such jobs at
once the difference holds their traffic too.
"""

from __future__ import annotations

import math
import re
import time
import urllib.error
import urllib.request
from typing import Any, Callable

from .base import Endpoint

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)(\s+-?\d+)?\s*$")


def parse(text: str) -> dict[str, float]:
    """Prometheus text format -> each sample name's value summed over its label sets.

    Histogram buckets are left out (their sum over `le` means nothing); `_sum` and
    `_count` stay, so means can be derived.
    """
    values: dict[str, float] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if not match or match.group(1).endswith("_bucket"):
            continue
        try:
            value = float(match.group(3))
        except ValueError:
            continue
        if math.isfinite(value):  # NaN and +Inf gauges carry no per-cell information (and break JSON)
            values[match.group(1)] = values.get(match.group(1), 0.0) + value
    return values


def server_root(base_url: str) -> str:
    """http://host:port from an endpoint's base URL (which ends in /v1)."""
    return base_url.rstrip("/").removesuffix("/v1")


def scrape(base_url: str, timeout_s: float = 5.0) -> dict[str, float] | None:
    """The server's metrics now, or None when it serves none (metrics off, not SGLang, down)."""
    try:
        with urllib.request.urlopen(server_root(base_url) + "/metrics", timeout=timeout_s) as reply:
            if reply.status != 200:
                return None
            return parse(reply.read().decode(errors="replace"))
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _increase(before: dict[str, float], after: dict[str, float], name: str) -> float | None:
    """A counter's growth; a counter that fell means the server restarted, so all of `after` is new."""
    if name not in after:
        return None
    start = before.get(name, 0.0)
    return after[name] - start if after[name] >= start else after[name]


def _mean(before, after, histogram: str) -> float | None:
    total, count = _increase(before, after, f"{histogram}_sum"), _increase(before, after, f"{histogram}_count")
    return round(total / count, 4) if total is not None and count else None


def cell_delta(before: dict[str, float], after: dict[str, float], wall_s: float | None = None) -> dict[str, Any]:
    """The server's work between two scrapes, with prefix-cache hit rate and throughput.

    `prefix_cache_hit_rate` is cached / prompt tokens of the window when the server counts
    cached tokens, else SGLang's own gauge (a recent-window rate, not the cell's).
    """
    prompt = _increase(before, after, "sglang:prompt_tokens_total")
    generated = _increase(before, after, "sglang:generation_tokens_total")
    cached = _increase(before, after, "sglang:cached_tokens_total")
    if cached is not None and prompt:
        hit_rate = round(cached / prompt, 4)
    else:
        hit_rate = after.get("sglang:cache_hit_rate")
    restarted = any(after.get(n, 0.0) < before.get(n, 0.0) for n in after if n.endswith("_total"))
    return {
        "requests": _increase(before, after, "sglang:num_requests_total"),
        "prompt_tokens": prompt,
        "generation_tokens": generated,
        "cached_tokens": cached,
        "prefix_cache_hit_rate": hit_rate,
        "mean_request_latency_s": _mean(before, after, "sglang:e2e_request_latency_seconds"),
        "mean_ttft_s": _mean(before, after, "sglang:time_to_first_token_seconds"),
        "wall_s": round(wall_s, 3) if wall_s is not None else None,
        "generation_tokens_per_s": round(generated / wall_s, 2) if generated is not None and wall_s else None,
        "server_gen_throughput": after.get("sglang:gen_throughput"),  # tokens/s of SGLang's last log interval
        "server_restarted": restarted,
    }


class Window:
    """Wraps an engine's open(): scrapes when the endpoint opens and again at finish().

    A fully cached cell never opens the endpoint, so it scrapes nothing and finish() is None.
    """

    def __init__(self, open_endpoint: Callable[[], Endpoint]):
        self._open_endpoint = open_endpoint
        self._endpoint: Endpoint | None = None
        self._before: dict[str, float] | None = None
        self._start = 0.0

    def open(self) -> Endpoint:
        self._endpoint = self._open_endpoint()
        self._before = scrape(self._endpoint.base_url)
        self._start = time.monotonic()
        return self._endpoint

    def recover(self, recover_endpoint: Callable[[], Endpoint]) -> Endpoint:
        """A restarted server counts from zero: cell_delta then reports `server_restarted`."""
        self._endpoint = recover_endpoint()
        return self._endpoint

    def finish(self) -> dict[str, Any] | None:
        """The cell's server statistics; call it before the engine's close()."""
        if self._endpoint is None or self._before is None:
            return None
        after = scrape(self._endpoint.base_url)
        if after is None:
            return None
        return cell_delta(self._before, after, time.monotonic() - self._start)
