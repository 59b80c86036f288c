"""Passage corpora shipped with slmbench for the offline search tools."""

from pathlib import Path

# ~400 short passages on financial terms, ratios, instruments, markets, monetary
# policy, credit, bankruptcy/fraud, sentiment vocabulary and institutions (id, title, text).
FINANCE_PASSAGES = Path(__file__).resolve().parent / "finance_passages.jsonl"
