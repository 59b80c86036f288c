"""The frame every HTML page of the results shares: the style, the caption, the document around a body.

Apart from the table pages (`slmbench.results.html`, which need pandas) so that a score job, which
writes trace pages, starts without pandas.
"""

from __future__ import annotations

import html
import re
from typing import Any

import jinja2

from . import catalog

STYLE = (
    "body{font-family:sans-serif;margin:1em;color:#222}h2{font-size:1.1em;margin-top:1.5em}p{max-width:60em}"
    "table{border-collapse:collapse;font-size:13px}td,th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}"
    "th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}"
    ".sample{border:1px solid #ccc;border-radius:4px;margin:1em 0;padding:.5em 1em;max-width:70em}"
    "pre{white-space:pre-wrap;background:#f6f6f6;padding:.4em;margin:.2em 0;font-size:12px}"
    ".llm{margin:.4em 0 .4em 1em}.tool{margin:.4em 0 .4em 2em;color:#333}.meta{color:#666;font-size:12px}"
)


def caption_html(caption: str, design: dict[str, Any] | None = None) -> str:
    """The caption `report/<caption>.rst` as HTML paragraphs: its Jinja rendered as the report does
    (`snakemake.config` is the run's design), its inline markup (**bold**, ``code``) kept."""
    text = jinja2.Template(catalog.caption_path(caption).read_text()).render(snakemake={"config": design or {}})
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]
    marked = []
    for paragraph in paragraphs:
        escaped = html.escape(paragraph, quote=False)
        escaped = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", escaped)
        marked.append("<p>" + re.sub(r"``(.+?)``", r"<code>\1</code>", escaped) + "</p>")
    return "".join(marked)


def page(title: str, body: str, style: str = "", script: str = "") -> str:
    """A whole HTML document: the shared style (and the page's own), the title as heading, then `body`
    (and the page's own inline script: the report must work offline, so nothing is fetched)."""
    script_tag = f"<script>{script}</script>" if script else ""
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{STYLE}{style}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}{script_tag}</body></html>"
    )
