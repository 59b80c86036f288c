"""Turn a model's final output into the answer FinBen would score, and tell the model what format to use.

The parsers follow FinBen/PIXIU (`src/tasks/flare.py`, `src/tasks/utils.py`) and deviate only where
FinBen's parser is too brittle for agent outputs; each deviation is stated where it is made.
`extract_answer` returns None when no answer can be read. The primary score's one rule for
such outputs, "no answer, no credit": a failed sample, an empty output and an unreadable output alike
count as wrong (TSA: `missing`), never as a default label the model did not give. FinBen's own
rule (a default label for an unreadable output) is kept in the FinBen-exact score
(`slmbench.finben`).
"""

from __future__ import annotations

import re

from slmbench.entities import bio_entities
from slmbench.metrics import NUMBER
from slmbench.registry import ENTITY_TYPES, DatasetSpec
from slmbench.text import scrub_surrogates

_TYPE_ALIASES = {
    "PER": "PER", "PERSON": "PER",
    "ORG": "ORG", "ORGANIZATION": "ORG", "ORGANISATION": "ORG",
    "LOC": "LOC", "LOCATION": "LOC",
}  # fmt: skip

# FinBen's StockMovement/German/Australian parsers also accept these words for a class
# (CHOICE_DICT) and fall back to a default class when nothing matches (DEFAULT). The primary
# score uses the synonyms only; the default is FinBen-exact's alone ("no answer, no credit").
CATEGORY_SYNONYMS = {
    "stock_movement": ({"rise": ("yes", "positive"), "fall": ("no", "negative", "neutral")}, "fall"),
    "credit_scoring": ({"good": ("yes", "positive"), "bad": ("no", "negative", "neutral")}, "good"),
}

# Datasets whose FinBen prompt asks for one `token:label` line per token instead of `entity, TYPE` lines.
TOKEN_LABEL_DATASETS = ("finer_ord",)

_ANSWER_PREFIX = re.compile(r"^\s*(?:final\s+)?answer\s*[:：]\s*", re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_TOKEN_LABEL_LINE = re.compile(r"^(.+):\s*([BI]-(?:PER|ORG|LOC)|O)\s*$")
_BINARY_SEQUENCE = re.compile(r"[01](?:[\s,;]+[01])*")


def answer_format(spec: DatasetSpec) -> str:
    """One sentence stating the answer format the dataset's scorer can read (used in prompts)."""
    from .tasks import task_of  # the table of task types binds this module's functions (so it imports it)

    return task_of(spec).answer_format(spec)


def extract_answer(spec: DatasetSpec, output: str, sample: dict) -> object | None:
    """The answer in `output` in the shape `slmbench.metrics` scores, or None when there is none.

    Shapes: classification -> a choice string; regression -> float in [-1, 1]; ner -> [[entity, TYPE], ...];
    qa -> answer string; extractive_summarization -> [0/1, ...]; abstractive_summarization -> text.
    A leading "Answer:" is dropped first; an empty output is always None. Surrogates (not text,
    and unstorable) become U+FFFD, so an answer read from any output can be written to a record.
    """
    from .tasks import task_of

    text = _ANSWER_PREFIX.sub("", scrub_surrogates(output or "").strip()).strip()
    if not text:
        return None
    return task_of(spec).extract(spec, text, sample)


# --- per task type: the answer format a prompt states, and how the answer is read (slmbench.tasks) ---


def choice_format(spec: DatasetSpec) -> str:
    return f"Answer with exactly one of: {', '.join(spec.choices)}."


def score_format(spec: DatasetSpec) -> str:
    return "Answer with a single number between -1 and 1 on the first line."


def entities_format(spec: DatasetSpec) -> str:
    if spec.name in TOKEN_LABEL_DATASETS:
        return (
            "Answer with one line per token, in order, formatted 'token:label' with label one of "
            "B-PER, I-PER, B-LOC, I-LOC, B-ORG, I-ORG or O."
        )
    return (
        "Answer with one line per named entity formatted 'entity name, TYPE' with TYPE one of "
        f"{', '.join(ENTITY_TYPES)}, or with 'None' if there is no entity."
    )


def short_answer_format(spec: DatasetSpec) -> str:
    return "Answer with only the final answer: a number without units, or the exact text span(s), one per line."


def sentence_labels_format(spec: DatasetSpec) -> str:
    return (
        "Answer with one line per sentence of the text, in order, each line only 1 (the sentence belongs "
        "in the summary) or 0 (it does not)."
    )


def summary_format(spec: DatasetSpec) -> str:
    return "Answer with a short summary of the text."


def extract_text(spec: DatasetSpec, text: str, sample: dict) -> str:
    """QA and abstractive summaries: the text itself (after the common clean-up)."""
    return text


def extract_choice(spec: DatasetSpec, text: str, sample: dict) -> str | None:
    """The choice named earliest in the output.

    FinBen takes the first choice *in choice order* that is a substring of the lower-cased output.
    Here the choice (or FinBen synonym) that occurs earliest as a whole word wins, so "neutral, not
    negative" is neutral and "no" does not match inside "not"; only when no whole word matches do
    choices of 4+ letters match as substrings ("positively", "falling"), as in FinBen.
    For Headlines FinBen reads every output except exactly "Yes" as No, and for stock movement and
    credit scoring it gives a default label (Fall, good) to an output naming none; here "Yes." is
    Yes and an output naming no label is None, like an empty or failed one ("no answer, no credit"). Where a row's labels are not the words its prompt asks for
    (`spec.answer_words`: Polish rows labelled good/bad under a prompt asking no/yes), the asked
    word reads as its label. FinBen's own rule is `slmbench.finben.choice` (the FinBen-exact score).
    """
    choices = list(sample.get("choices") or spec.choices)
    synonyms, _ = CATEGORY_SYNONYMS.get(spec.category, ({}, None))
    words = dict(spec.answer_words)
    aliases = {}
    for choice in choices:
        asked = (words[choice.lower()],) if choice.lower() in words else ()
        for alias in (choice.lower(), *synonyms.get(choice.lower(), ()), *asked):
            aliases.setdefault(alias, choice)
    lowered = text.lower()
    return _earliest_alias(lowered, aliases, whole_word=True) or _earliest_alias(
        lowered, {a: c for a, c in aliases.items() if len(a) >= 4}, whole_word=False
    )


def _earliest_alias(lowered: str, aliases: dict[str, str], whole_word: bool) -> str | None:
    """The label of the alias found at the smallest position (longest alias on a tie)."""
    best = None
    for alias, label in aliases.items():
        pattern = rf"(?<![a-z0-9]){re.escape(alias)}(?![a-z0-9])" if whole_word else re.escape(alias)
        match = re.search(pattern, lowered)
        if match and (best is None or (match.start(), -len(alias)) < best[0]):
            best = ((match.start(), -len(alias)), label)
    return best[1] if best else None


def extract_score(spec: DatasetSpec, text: str, sample: dict) -> float | None:
    """FinBen TSA: the first number on the first line, clipped to [-1, 1]."""
    first_line = text.replace("−", "-").splitlines()[0]
    match = re.search(NUMBER, first_line)
    return None if match is None else min(1.0, max(-1.0, float(match.group())))


def extract_entities(spec: DatasetSpec, text: str, sample: dict) -> list[list[str]]:
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


def extract_sentence_labels(spec: DatasetSpec, text: str, sample: dict) -> list[int] | None:
    """ECTSum: one 0/1 per output line (or one 0/1 sequence on a single line); non-1 lines count as 0."""
    if _BINARY_SEQUENCE.fullmatch(text) and "\n" not in text:
        return [int(d) for d in re.findall(r"[01]", text)]
    lines = [line for line in text.splitlines() if line.strip()]
    flags = [re.fullmatch(r"\W*([01])\W*", line) for line in lines]
    if not any(flags):
        return None
    return [int(f.group(1)) if f else 0 for f in flags]
