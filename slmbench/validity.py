"""Whether a score rests on a real answer: per sample, an answer read from text the model copied
from its prompt (`echo`), a final reply cut at max_tokens (`cut`), and the project's reading
disagreeing with FinBen's (`disagree`); per cell, the share of each and `flagged`.

A pretrained checkpoint often echoes its prompt until max_tokens; "Classify it as HAWKISH if..."
then reads as the label "hawkish". Such a score is the prompt's, not the model's, and is marked
wherever it is shown (tables, figures, the best configuration).
"""

from __future__ import annotations

import re
from typing import Any

from .registry import DatasetSpec

ECHO_OVERLAP = 0.5  # share of the output's word trigrams found in the prompt above which it copies the prompt
FLAG_SHARE = 0.5  # a cell is flagged when at least this share of its samples is cut or disputed
_WORD = re.compile(r"\w+")


def _trigrams(text: str) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return {tuple(words[i : i + 3]) for i in range(len(words) - 2)}


def prompt_overlap(output: str, prompt: str) -> float:
    """Share of the output's word trigrams that occur in the prompt (0 for an output under 3 words)."""
    grams = _trigrams(output)
    return len(grams & _trigrams(prompt)) / len(grams) if grams else 0.0


def _final_call(record: dict[str, Any]) -> dict[str, Any]:
    calls = [c for c in record.get("trace", []) if c.get("type") == "llm"]
    return calls[-1] if calls else {}


def _prompt_text(record: dict[str, Any]) -> str:
    messages = _final_call(record).get("messages") or record.get("messages") or []
    return "\n".join(str(m.get("content", "")) for m in messages if m.get("role") != "assistant")


def _answer_words(answer: Any) -> list[str]:
    if isinstance(answer, (list, tuple)):
        return [w for a in answer for w in _answer_words(a)]
    return [str(answer).lower()] if answer is not None else []


def echoed(record: dict[str, Any], answer: Any) -> bool:
    """The answer was read from copied prompt text: every part of it occurs in the prompt and most
    of the output's word trigrams are the prompt's. A short real answer ("negative") has no trigram."""
    if answer is None or record.get("failure"):
        return False
    prompt = _prompt_text(record)
    lowered = prompt.lower()
    words = _answer_words(answer)
    return bool(words) and all(w in lowered for w in words) and prompt_overlap(record.get("output", ""), prompt) >= ECHO_OVERLAP


def cut(record: dict[str, Any]) -> bool:
    """The final answer's call stopped at max_tokens (finish_reason "length")."""
    return _final_call(record).get("finish_reason") == "length"


def sample_validity(spec: DatasetSpec, record: dict[str, Any], sample: dict, answer: Any, sample_score: Any) -> dict[str, bool]:
    """The per-sample columns `echo`, `cut` (only where an answer was read: a failed sample's score
    rests on no reply) and `disagree` (FinBen-exact's per-sample score differs)."""
    from . import finben
    from .metrics import task_of

    task = task_of(spec)
    exact = task.item_score(spec, finben.item(spec, None if record.get("failure") else record.get("output"), sample))
    return {"echo": echoed(record, answer), "cut": answer is not None and cut(record), "disagree": _differ(sample_score, exact)}


def _differ(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return (a is None) != (b is None)
    return abs(float(a) - float(b)) > 1e-9


def cell_validity(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The per-cell columns: `echo_share`, `cut_share`, `disagree_share` and `flagged` (any answer
    read from an echoed prompt, or at least FLAG_SHARE of the samples cut or disputed)."""
    n = len(rows) or 1
    shares = {f"{k}_share": sum(bool(r[k]) for r in rows) / n for k in ("echo", "cut", "disagree")}
    flagged = shares["echo_share"] > 0 or max(shares["cut_share"], shares["disagree_share"]) >= FLAG_SHARE
    return {**shares, "flagged": bool(flagged)}
