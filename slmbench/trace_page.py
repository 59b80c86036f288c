"""A readable HTML page of one cell's samples: every agent turn, tool call and the final answer vs gold."""

from __future__ import annotations

import html
import json
from typing import Any

STYLE = """
body{font-family:sans-serif;margin:1em;max-width:70em}
.sample{border:1px solid #ccc;border-radius:4px;margin:1em 0;padding:.5em 1em}
.ok{border-left:6px solid #2a2}.failed{border-left:6px solid #c33}
pre{white-space:pre-wrap;background:#f6f6f6;padding:.4em;margin:.2em 0;font-size:12px}
.llm{margin:.4em 0 .4em 1em}.tool{margin:.4em 0 .4em 2em;color:#333}
.meta{color:#666;font-size:12px}
"""


def _pre(text: Any) -> str:
    return f"<pre>{html.escape(text if isinstance(text, str) else json.dumps(text, ensure_ascii=False))}</pre>"


def _call(call: dict[str, Any]) -> str:
    if call["type"] == "tool":
        error = f" <b>error:</b> {html.escape(call['error'])}" if call["error"] else ""
        return (
            f"<div class='tool'><b>{html.escape(call['agent'])} → tool {html.escape(call['tool'])}</b>"
            f" <span class='meta'>{call['duration_s']:.3f} s</span>{error}{_pre(call['input'])}{_pre(call['output'])}</div>"
        )
    cached = ", cache hit" if call["cache_hit"] else ""
    prompt = call["messages"][-1]["content"] if call["messages"] else ""
    return (
        f"<div class='llm'><b>{html.escape(call['agent'])}</b> <span class='meta'>{call['prompt_tokens']} prompt + "
        f"{call['completion_tokens']} completion tokens, {call['latency_s']:.2f} s{cached}</span>"
        f"<details><summary>last message in ({len(call['messages'])} in all)</summary>{_pre(prompt)}</details>"
        f"{_pre(call['output'])}</div>"
    )


def render_trace_page(records: list[dict[str, Any]]) -> str:
    first = records[0] if records else {"model": "?", "paradigm": "?", "dataset": "?"}
    title = f"{first['model']} / {first['paradigm']} / {first['dataset']}"
    failed = sum(bool(r["failure"]) for r in records)
    parts = [f"<h1>Traces: {html.escape(title)}</h1><p>{len(records)} samples, {failed} failed. "
             "Each box is one sample: its LLM calls (agent, tokens, latency) and tool calls in order, then the final answer against the gold answer.</p>"]
    for r in records:
        status = f"failed: {r['failure']}" if r["failure"] else "completed"
        error = f"<p class='meta'>{html.escape(r['error'])}</p>" if r["error"] else ""
        parts.append(
            f"<div class='sample {'failed' if r['failure'] else 'ok'}'><h3>{html.escape(str(r['id']))} "
            f"<span class='meta'>{status}, {r['llm_calls']} LLM calls, {r['usage']['total_tokens']} tokens, {r['latency_s']:.2f} s</span></h3>"
            f"{error}{''.join(_call(c) for c in r['trace'])}"
            f"<p><b>final answer</b> (extracted: {html.escape(json.dumps(r['answer'], ensure_ascii=False))}){_pre(r['output'])}"
            f"<b>gold</b>{_pre(r['gold'])}</p></div>"
        )
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{STYLE}</style></head><body>{''.join(parts)}</body></html>"
