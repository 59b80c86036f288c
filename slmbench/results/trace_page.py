"""A readable HTML page of one cell's samples: a table of every sample (filter and sort it), then
every agent turn, tool call and the final answer, the answer the scorer extracted from it (its
first occurrence in the output marked) and the gold answer."""

from __future__ import annotations

import html
import json
from typing import Any

from .. import registry
from . import catalog
from ..text import show_bidi
from .page import caption_html, page

SNIPPET = 90  # characters of the input shown in the sample table

# How a sample ended, by the class of its box and table row: (label, colour). One home for both.
OUTCOMES = {
    "right": ("right", "#2a2"),
    "echo": ("read from an echoed prompt", "#a5c"),
    "wrong": ("wrong", "#d90"),
    "unreadable": ("unreadable", "#d90"),
    "failed": ("protocol failure", "#c33"),
}

STYLE = (
    "".join(f".{k}{{border-left:6px solid {c}}}tr.{k} td:first-child{{box-shadow:inset 6px 0 {c}}}" for k, (_, c) in OUTCOMES.items())
    + ".role{font-size:12px;font-weight:bold;color:#555;margin-top:.4em}"
    "pre.out{background:#eef4ff;border-left:3px solid #58c}mark{background:#ffe066}"
    "table.samples th{cursor:pointer}table.samples td{vertical-align:top}table.samples td.snip,table.samples th{text-align:left}table.samples td.snip{max-width:28em}"
    ".filters{margin:.5em 0}.filters label{margin-right:1em}"
)

# Sorts a column on a header click (numbers as numbers) and shows only the rows whose outcome is ticked.
SCRIPT = """
document.querySelectorAll('table.samples th').forEach(function(th, col) {
  th.addEventListener('click', function() {
    var body = th.closest('table').tBodies[0], rows = Array.from(body.rows);
    var dir = th.dataset.dir === 'asc' ? -1 : 1; th.dataset.dir = dir === 1 ? 'asc' : 'desc';
    rows.sort(function(a, b) {
      var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v, nx = parseFloat(x), ny = parseFloat(y);
      return dir * ((isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny);
    });
    rows.forEach(function(r) { body.appendChild(r); });
  });
});
document.querySelectorAll('.filters input').forEach(function(box) {
  box.addEventListener('change', function() {
    document.querySelectorAll('table.samples tbody tr.' + box.value).forEach(function(r) { r.hidden = !box.checked; });
  });
});
"""


def _esc(value: Any) -> str:
    """Every value a model, a dataset or a file wrote goes through here before it enters the page:
    escaped, and bidirectional controls shown (a tampered file is hostile too)."""
    return html.escape(show_bidi(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)))


def _num(value: Any, spec: str) -> str:
    return format(value, spec) if isinstance(value, (int, float)) and not isinstance(value, bool) else _esc(value)


def _pre(text: Any, cls: str = "") -> str:
    return f"<pre{f' class={cls!r}' if cls else ''}>{_esc(text)}</pre>"


def _marked(output: str, answer: Any) -> str:
    """The output with the first occurrence of the extracted answer marked: where the scorer's reading
    most likely came from (the readers take the earliest label named)."""
    needle = answer if isinstance(answer, str) else None if answer is None else json.dumps(answer, ensure_ascii=False)
    at = output.lower().find(needle.lower()) if needle else -1
    if at < 0:
        return f"<pre class='out'>{_esc(output)}</pre>"
    end = at + len(needle)
    return f"<pre class='out'>{_esc(output[:at])}<mark>{_esc(output[at:end])}</mark>{_esc(output[end:])}</pre>"


def _call(call: dict[str, Any]) -> str:
    if call["type"] == "tool":
        error = f" <b>error:</b> {_esc(call['error'])}" if call["error"] else ""
        return (
            f"<div class='tool'><b>{_esc(call['agent'])} → tool {_esc(call['tool'])}</b>"
            f" <span class='meta'>{_num(call['duration_s'], '.3f')} s</span>{error}"
            f"<div class='role'>tool input</div>{_pre(call['input'])}<div class='role'>tool output</div>{_pre(call['output'])}</div>"
        )
    cached = ", cache hit" if call["cache_hit"] else ""
    prompt = call["messages"][-1]["content"] if call["messages"] else ""
    finish = f", finish reason: {_esc(call['finish_reason'])}" if call.get("finish_reason") else ""
    return (
        f"<div class='llm'><b>{_esc(call['agent'])}</b> <span class='meta'>{_esc(call['prompt_tokens'])} prompt + "
        f"{_esc(call['completion_tokens'])} completion tokens, {_num(call['latency_s'], '.2f')} s{cached}{finish}</span>"
        f"<details><summary>prompt: the last message in ({len(call['messages'])} in all)</summary>{_pre(prompt)}</details>"
        f"<div class='role'>model output</div>{_pre(call['output'], 'out')}</div>"
    )


def finish_reason(record: dict[str, Any]) -> str:
    """The finish reason of the sample's last LLM call ("length": cut at max_tokens); "" if none was recorded."""
    calls = [c for c in record["trace"] if c["type"] == "llm"]
    return calls[-1].get("finish_reason", "") if calls else ""


def outcome(record: dict[str, Any], row: dict[str, Any]) -> str:
    """right, echo (an answer read from text the model copied from its prompt: slmbench/validity.py,
    never shown as right), wrong, unreadable (completed, but no answer could be read) or failed (the
    protocol broke)."""
    if record["failure"]:
        return "failed"
    if row.get("answer") is None:
        return "unreadable"
    if row.get("echo"):
        return "echo"
    score = row.get("sample_score")
    perfect = 1.0 if registry.get(record["dataset"]).higher_is_better else 0.0
    return "right" if isinstance(score, (int, float)) and score == perfect else "wrong"


def outcome_counts(rows: list[dict[str, Any]]) -> str:
    """How a cell's samples ended, from its per-sample score rows, e.g. "2 right, 1 wrong, 0 unreadable,
    3 protocol failure" (the report's menu shows it beside each trace page)."""
    kinds = [outcome(row, row) for row in rows]
    return ", ".join(f"{kinds.count(k)} {label}" for k, (label, _) in OUTCOMES.items())


def _input(record: dict[str, Any]) -> str:
    messages = record.get("messages") or []
    text = " ".join(str(messages[-1].get("content", "")).split()) if messages else ""
    return text if len(text) <= SNIPPET else text[: SNIPPET - 1] + "…"


def _shown(value: Any) -> str:
    """A value as a reader sees it: no answer is "unreadable", never None or null."""
    if value is None:
        return "unreadable"
    if isinstance(value, float):
        return f"{value:.3f}"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _cell(text: Any, sort: Any = None, cls: str = "") -> str:
    key = text if sort is None else sort
    return f"<td{f' class={cls!r}' if cls else ''} data-v='{_esc(str(key))}'>{_esc(text)}</td>"


def sample_table(records: list[dict[str, Any]], by_id: dict[str, dict[str, Any]]) -> str:
    """One row per sample: what went in, the gold, what the scorer read, and how it ended."""
    head = ["id", "input", "gold", "extracted answer", "sample score", "outcome", "finish reason", "LLM calls", "tokens"]
    rows = []
    for r in records:
        row = by_id.get(str(r["id"]), {})
        kind = outcome(r, row)
        score = row.get("sample_score")
        rows.append(
            f"<tr class='{kind}'>"
            + _cell(r["id"])
            + _cell(_input(r), cls="snip")
            + _cell(_shown(r["gold"]))
            + _cell("—" if r["failure"] else _shown(row.get("answer")))
            + _cell("—" if score is None else _shown(float(score)), sort=-1 if score is None else score)
            + _cell(OUTCOMES[kind][0] + (f": {r['failure']}" if r["failure"] else ""))
            + _cell(finish_reason(r) or "—")
            + _cell(r["llm_calls"], sort=r["llm_calls"])
            + _cell(r["usage"]["total_tokens"], sort=r["usage"]["total_tokens"])
            + "</tr>"
        )
    boxes = "".join(f"<label><input type='checkbox' value='{k}' checked> {label}</label>" for k, (label, _) in OUTCOMES.items())
    return (
        f"<div class='filters'>show: {boxes}</div><table class='samples'><thead><tr>"
        + "".join(f"<th>{h}</th>" for h in head)
        + f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def render_trace_page(records: list[dict[str, Any]], scored: list[dict[str, Any]]) -> str:
    """`records`: the cell's generations; `scored`: its per-sample score rows (the answer the scorer
    extracted and the sample's score), matched by id."""
    first = records[0] if records else {"model": "?", "paradigm": "?", "dataset": "?"}
    title = f"Traces: {first['model']} / {first['paradigm']} / {first['dataset']}"
    by_id = {str(row["id"]): row for row in scored}
    kinds = [outcome(r, by_id.get(str(r["id"]), {})) for r in records]
    counts = outcome_counts([{**by_id.get(str(r["id"]), {}), "failure": r["failure"], "dataset": r["dataset"]} for r in records])
    parts = [caption_html(catalog.TRACES.caption), f"<p>{len(records)} samples: {counts}.</p>", sample_table(records, by_id)]
    for r, kind in zip(records, kinds):
        row = by_id.get(str(r["id"]), {})
        status = f"{OUTCOMES[kind][0]}: {_esc(r['failure'])}" if r["failure"] else OUTCOMES[kind][0]
        error = f"<p class='meta'>{_esc(r['error'])}</p>" if r["error"] else ""
        score = row.get("sample_score")
        scored_as = f", sample score {score:.3f}" if isinstance(score, (int, float)) else ""
        reason = finish_reason(r)
        parts.append(
            f"<div class='sample {kind}' id='s-{_esc(str(r['id']))}'><h3>{_esc(str(r['id']))} "
            f"<span class='meta'>{status}, {_esc(r['llm_calls'])} LLM calls, {_esc(r['usage']['total_tokens'])} tokens, {_num(r['latency_s'], '.2f')} s"
            f"{', finish reason: ' + _esc(reason) if reason else ''}</span></h3>"
            f"{error}{''.join(_call(c) for c in r['trace'])}"
            f"<div class='role'>final answer (scored as: {_esc(_shown(row.get('answer')) if not r['failure'] else '—')}{scored_as})</div>"
            f"{_marked(r['output'], row.get('answer'))}"
            f"<div class='role'>gold</div>{_pre(r['gold'])}</div>"
        )
    return page(title, "".join(parts), style=STYLE, script=SCRIPT)
