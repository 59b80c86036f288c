"""A readable HTML page of one cell's samples: every agent turn, tool call and the final answer, the
answer the scorer extracted from it, and the gold answer."""

from __future__ import annotations

import html
import json
from typing import Any

from . import catalog
from ..text import show_bidi
from .page import caption_html, page


def _esc(value: Any) -> str:
    """Any value as HTML text: escaped, and bidirectional controls shown (a tampered file is hostile too)."""
    return html.escape(show_bidi(value if isinstance(value, str) else str(value)))


def _num(value: Any, spec: str) -> str:
    return format(value, spec) if isinstance(value, (int, float)) and not isinstance(value, bool) else _esc(value)


def _pre(text: Any) -> str:
    return f"<pre>{_esc(text if isinstance(text, str) else json.dumps(text, ensure_ascii=False))}</pre>"


def _call(call: dict[str, Any]) -> str:
    if call["type"] == "tool":
        error = f" <b>error:</b> {_esc(call['error'])}" if call["error"] else ""
        return (
            f"<div class='tool'><b>{_esc(call['agent'])} → tool {_esc(call['tool'])}</b>"
            f" <span class='meta'>{_num(call['duration_s'], '.3f')} s</span>{error}{_pre(call['input'])}{_pre(call['output'])}</div>"
        )
    cached = ", cache hit" if call["cache_hit"] else ""
    prompt = call["messages"][-1]["content"] if call["messages"] else ""
    return (
        f"<div class='llm'><b>{_esc(call['agent'])}</b> <span class='meta'>{_esc(call['prompt_tokens'])} prompt + "
        f"{_esc(call['completion_tokens'])} completion tokens, {_num(call['latency_s'], '.2f')} s{cached}</span>"
        f"<details><summary>last message in ({len(call['messages'])} in all)</summary>{_pre(prompt)}</details>"
        f"{_pre(call['output'])}</div>"
    )


def render_trace_page(records: list[dict[str, Any]], scored: list[dict[str, Any]]) -> str:
    """`records`: the cell's generations; `scored`: its per-sample score rows (the answer the scorer
    extracted and the sample's score), matched by id."""
    first = records[0] if records else {"model": "?", "paradigm": "?", "dataset": "?"}
    title = f"Traces: {first['model']} / {first['paradigm']} / {first['dataset']}"
    by_id = {str(row["id"]): row for row in scored}
    failed = sum(bool(r["failure"]) for r in records)
    parts = [caption_html(catalog.TRACES.caption), f"<p>{len(records)} samples, {failed} failed.</p>"]
    for r in records:
        row = by_id.get(str(r["id"]), {})
        status = f"failed: {_esc(r['failure'])}" if r["failure"] else "completed"
        error = f"<p class='meta'>{_esc(r['error'])}</p>" if r["error"] else ""
        score = row.get("sample_score")
        scored_as = f", sample score {score:.3f}" if isinstance(score, (int, float)) else ""
        parts.append(
            f"<div class='sample {'failed' if r['failure'] else 'ok'}'><h3>{_esc(r['id'])} "
            f"<span class='meta'>{status}, {_esc(r['llm_calls'])} LLM calls, {_esc(r['usage']['total_tokens'])} tokens, {_num(r['latency_s'], '.2f')} s</span></h3>"
            f"{error}{''.join(_call(c) for c in r['trace'])}"
            f"<p><b>final answer</b> (scored as: {_esc(json.dumps(row.get('answer'), ensure_ascii=False))}{scored_as}){_pre(r['output'])}"
            f"<b>gold</b>{_pre(r['gold'])}</p></div>"
        )
    return page(title, "".join(parts))
