"""Turn a model's final output into the answer FinBen would score, and tell the model what format to use.

The parsers follow FinBen/PIXIU (`src/tasks/flare.py`, `src/tasks/utils.py`) and deviate only where
FinBen's parser is too brittle for agent outputs; each deviation is stated where it is made.
`extract_answer` returns None when no answer can be read: such samples count as wrong in
`slmbench.metrics` (and as `missing` for TSA).
"""

from __future__ import annotations

import ast
import json
import re

from slmbench.registry import DatasetSpec
from slmbench.text import scrub_surrogates

ENTITY_TYPES = ("PER", "ORG", "LOC")
_TYPE_ALIASES = {
    "PER": "PER", "PERSON": "PER",
    "ORG": "ORG", "ORGANIZATION": "ORG", "ORGANISATION": "ORG",
    "LOC": "LOC", "LOCATION": "LOC",
}  # fmt: skip

# FinBen's StockMovement/German/Australian parsers also accept these words for a class
# (CHOICE_DICT) and fall back to a default class when nothing matches (DEFAULT).
_CATEGORY_SYNONYMS = {
    "stock_movement": ({"rise": ("yes", "positive"), "fall": ("no", "negative", "neutral")}, "fall"),
    "credit_scoring": ({"good": ("yes", "positive"), "bad": ("no", "negative", "neutral")}, "good"),
}

# Datasets whose FinBen prompt asks for one `token:label` line per token instead of `entity, TYPE` lines.
_TOKEN_LABEL_DATASETS = ("finer_ord",)

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
_ANSWER_PREFIX = re.compile(r"^\s*(?:final\s+)?answer\s*[:：]\s*", re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_TOKEN_LABEL_LINE = re.compile(r"^(.+):\s*([BI]-(?:PER|ORG|LOC)|O)\s*$")
_BINARY_SEQUENCE = re.compile(r"[01](?:[\s,;]+[01])*")
_SCALE_WORDS = re.compile(r"\b(?:thousand|million|billion|trillion|percent|usd|eur)\b")


def answer_format(spec: DatasetSpec) -> str:
    """One sentence stating the answer format the dataset's scorer can read (used in prompts)."""
    if spec.task_type == "classification":
        return f"Answer with exactly one of: {', '.join(spec.choices)}."
    if spec.task_type == "regression":
        return "Answer with a single number between -1 and 1 on the first line."
    if spec.task_type == "ner" and spec.name in _TOKEN_LABEL_DATASETS:
        return (
            "Answer with one line per token, in order, formatted 'token:label' with label one of "
            "B-PER, I-PER, B-LOC, I-LOC, B-ORG, I-ORG or O."
        )
    if spec.task_type == "ner":
        return (
            "Answer with one line per named entity formatted 'entity name, TYPE' with TYPE one of "
            f"{', '.join(ENTITY_TYPES)}, or with 'None' if there is no entity."
        )
    if spec.task_type == "qa":
        return "Answer with only the final answer: a number without units, or the exact text span(s), one per line."
    if spec.task_type == "extractive_summarization":
        return (
            "Answer with one line per sentence of the text, in order, each line only 1 (the sentence belongs "
            "in the summary) or 0 (it does not)."
        )
    return "Answer with a short summary of the text."


def extract_answer(spec: DatasetSpec, output: str, sample: dict) -> object | None:
    """The answer in `output` in the shape `slmbench.metrics` scores, or None when there is none.

    Shapes: classification -> a choice string; regression -> float in [-1, 1]; ner -> [[entity, TYPE], ...];
    qa -> answer string; extractive_summarization -> [0/1, ...]; abstractive_summarization -> text.
    A leading "Answer:" is dropped first; an empty output is always None. Surrogates (not text,
    and unstorable) become U+FFFD, so an answer read from any output can be written to a record.
    """
    text = _ANSWER_PREFIX.sub("", scrub_surrogates(output or "").strip()).strip()
    if not text:
        return None
    if spec.task_type == "classification":
        return _extract_choice(spec, text, sample)
    if spec.task_type == "regression":
        return _extract_score(text)
    if spec.task_type == "ner":
        return _extract_entities(text)
    if spec.task_type == "qa":
        return text
    if spec.task_type == "extractive_summarization":
        return _extract_sentence_labels(text)
    return text


def _extract_choice(spec: DatasetSpec, text: str, sample: dict) -> str | None:
    """The choice named earliest in the output.

    FinBen takes the first choice *in choice order* that is a substring of the lower-cased output.
    Here the choice (or FinBen synonym) that occurs earliest as a whole word wins, so "neutral, not
    negative" is neutral and "no" does not match inside "not"; only when no whole word matches do
    choices of 4+ letters match as substrings ("positively", "falling"), as in FinBen.
    For Headlines FinBen reads every output except exactly "Yes" as No; here "Yes." is Yes and an
    output naming neither is None.
    """
    choices = list(sample.get("choices") or spec.choices)
    synonyms, default = _CATEGORY_SYNONYMS.get(spec.category, ({}, None))
    aliases = {}
    for choice in choices:
        for alias in (choice.lower(), *synonyms.get(choice.lower(), ())):
            aliases.setdefault(alias, choice)
    lowered = text.lower()
    found = _earliest_alias(lowered, aliases, whole_word=True) or _earliest_alias(
        lowered, {a: c for a, c in aliases.items() if len(a) >= 4}, whole_word=False
    )
    if found is not None:
        return found
    return next((c for c in choices if c.lower() == default), None)


def _earliest_alias(lowered: str, aliases: dict[str, str], whole_word: bool) -> str | None:
    """The label of the alias found at the smallest position (longest alias on a tie)."""
    best = None
    for alias, label in aliases.items():
        pattern = rf"(?<![a-z0-9]){re.escape(alias)}(?![a-z0-9])" if whole_word else re.escape(alias)
        match = re.search(pattern, lowered)
        if match and (best is None or (match.start(), -len(alias)) < best[0]):
            best = ((match.start(), -len(alias)), label)
    return best[1] if best else None


def _extract_score(text: str) -> float | None:
    """FinBen TSA: the first number on the first line, clipped to [-1, 1]."""
    first_line = text.replace("−", "-").splitlines()[0]
    match = re.search(_NUMBER, first_line)
    return None if match is None else min(1.0, max(-1.0, float(match.group())))


def _extract_entities(text: str) -> list[list[str]]:
    """Entities from `entity, TYPE` lines and/or `token:label` BIO lines.

    A non-empty output without entity lines (e.g. "None") means no entities, as in FinBen,
    where such output leaves every token labelled O.
    """
    entities: list[list[str]] = []
    bio_tokens: list[str] = []
    bio_tags: list[str] = []
    for raw in text.splitlines():
        line = _BULLET.sub("", raw).strip().strip("'\"`")
        token_label = _TOKEN_LABEL_LINE.match(line)
        if token_label:
            bio_tokens.append(token_label.group(1).strip())
            bio_tags.append(token_label.group(2))
        elif "," in line:
            name, kind = line.rsplit(",", 1)
            kind = _TYPE_ALIASES.get(kind.strip().strip(".'\"()[]").upper())
            name = name.strip().strip("'\"")
            if kind and name:
                entities.append([name, kind])
    for kind, start, end in bio_entities(bio_tags):
        entities.append([" ".join(bio_tokens[start:end]), kind])
    return entities


def bio_entities(tags: list[str]) -> list[tuple[str, int, int]]:
    """Entity chunks (type, start, end-exclusive) of a BIO tag sequence, as seqeval's default (conlleval) mode.

    A chunk starts at B-X, or at I-X that does not continue a chunk of type X; it ends at O, B-, or a type change.
    """
    chunks = []
    kind, start = None, 0
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, tag_kind = tag.partition("-")
        continues = prefix == "I" and tag_kind == kind
        if kind is not None and not continues:
            chunks.append((kind, start, i))
            kind = None
        if prefix in ("B", "I") and not continues:
            kind, start = tag_kind, i
    return chunks


def _extract_sentence_labels(text: str) -> list[int] | None:
    """ECTSum: one 0/1 per output line (or one 0/1 sequence on a single line); non-1 lines count as 0."""
    if _BINARY_SEQUENCE.fullmatch(text) and "\n" not in text:
        return [int(d) for d in re.findall(r"[01]", text)]
    lines = [line for line in text.splitlines() if line.strip()]
    flags = [re.fullmatch(r"\W*([01])\W*", line) for line in lines]
    if not any(flags):
        return None
    return [int(f.group(1)) if f else 0 for f in flags]


def parse_number(text: str) -> float | None:
    """A QA answer read as one number ("$1,758 million", "(3.2)", "25.1%"), else None.

    Currency signs, thousands separators, '%' and scale words are dropped (TAT-QA states the
    scale separately), and parentheses mean a negative number, as in financial tables.
    """
    cleaned = text.strip().lower().replace("−", "-").rstrip(".")
    cleaned = _SCALE_WORDS.sub("", cleaned)
    cleaned = re.sub(r"[$€£,%\s]", "", cleaned)
    negative = cleaned.startswith("(") and cleaned.endswith(")")
    cleaned = cleaned.strip("()")
    if not re.fullmatch(_NUMBER, cleaned):
        return None
    value = float(cleaned)
    return -value if negative else value


def as_list(value) -> list:
    """A list field that may be stored as a list, a JSON string or a Python-repr string (mirror files)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return ast.literal_eval(value)
    return list(value)
