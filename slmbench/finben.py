"""FinBen's own reading of a model's output, rule for rule: the FinBen-exact score.

slmbench's primary score reads answers with `slmbench.answers` (the label named earliest, whole
words first; a signed TSA score; FiNER-ORD and NER entities matched on tokens; lenient QA; ECTSum
lines read as integers). FinBen's evaluation code (the-FinAI/PIXIU, `src/tasks/flare.py` and
`utils.py`) reads the same outputs differently; this module reproduces its rules so that every
cell also carries the score FinBen's code would give (`score_finben`):

- classification: the first label *in choice-list order* that is a substring of the lower-cased,
  stripped output, else "missing"; stock movement and German/Australian credit also accept
  FinBen's synonyms for a label (CHOICE_DICT) and fall back to its default label (DEFAULT);
- Headlines: "Yes" only when the stripped output is exactly "Yes", every other output is "No";
- TSA: the first unsigned number (`[0-9]+(?:\\.[0-9]+)?`) on the first line, so -0.5 reads as 0.5,
  clipped to [-1, 1]; outputs without one are left out of the RMSE;
- NER: FinBen's `process_text`: `entity, TYPE` lines found as character substrings of the text
  and mapped to its whitespace words;
- FiNER-ORD (`token:label` lines): positional, line i counts only if it is exactly
  `tokens[i]:label` with a known tag, else token i is O;
- QA: `output.strip() == gold`;
- ECTSum: FinBen compares its output lines (strings) with the integer 1, which never holds, so
  its predicted summaries are empty and its ROUGE is 0; EDTSum: ROUGE of the whole output.

A sample that failed (no final answer) is read as an empty output. Each function returns the
sample's scoring item in the shape its task type's aggregate in `slmbench.metrics` reads.
"""

from __future__ import annotations

import bisect
import re
from typing import Any

from .entities import bio_entities
from .metrics import abstractive_item, classification_item, ner_gold_tags, regression_item, rouge_scores, selected_sentences
from .answers import CATEGORY_SYNONYMS, TOKEN_LABEL_DATASETS
from .records import as_list
from .registry import DatasetSpec

_UNSIGNED_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_BIO_TAGS = {"O", *(f"{p}-{t}" for p in "BI" for t in ("PER", "LOC", "ORG"))}


def choice(spec: DatasetSpec, output: str, sample: dict) -> str | None:
    """The label FinBen's Classification/StockMovement/Headlines parser reads (None: its "missing")."""
    choices = list(sample.get("choices") or spec.choices)
    if spec.metric == "avg_f1":  # Headlines: int(output.strip() != "Yes")
        wanted = "yes" if output.strip() == "Yes" else "no"
        return next((c for c in choices if c.lower() == wanted), None)
    synonyms, default = CATEGORY_SYNONYMS.get(spec.category, ({}, None))
    lowered = output.strip().lower()
    for label in choices:
        if label.lower() in lowered or any(word in lowered for word in synonyms.get(label.lower(), ())):
            return label
    return next((c for c in choices if c.lower() == default), None)


def classification(spec: DatasetSpec, output: str, sample: dict):
    return classification_item(sample, choice(spec, output, sample))


def regression(spec: DatasetSpec, output: str, sample: dict):
    numbers = _UNSIGNED_NUMBER.findall(output.split("\n")[0])
    return regression_item(sample, min(1.0, max(-1.0, float(numbers[0]))) if numbers else None)


def entity_tags(output: str, text: str) -> list[str]:
    """FinBen's `process_text`: each `entity, TYPE` line tagged at every character occurrence in `text`.

    A match covers the words whose start offset (words joined by single spaces) lies from the
    match's first character up to its last; a match that ends inside the last word is dropped.
    """
    words = text.split()
    tags = ["O"] * len(words)
    offsets, position = [], 0
    for word in words:
        offsets.append(position)
        position += len(word) + 1
    # A repeated line tags exactly what its last copy tags again, so only the last copy matters
    # (keeps a model that repeats one line a thousand times from costing a thousand scans).
    for line in list(dict.fromkeys(reversed(output.split("\n"))))[::-1]:
        parts = line.split(", ")
        entity, kind = ", ".join(parts[:-1]), parts[-1]
        start = 0
        while entity:
            start = text.find(entity, start)
            if start == -1:
                break
            end = start + len(entity) - 1
            first = bisect.bisect_left(offsets, start)  # the first word starting at or after the match
            after = bisect.bisect_right(offsets, end)  # the first word starting after its last character
            if after < len(offsets):
                tags[first] = f"B-{kind}"
                tags[first + 1 : after] = [f"I-{kind}"] * max(0, after - first - 1)
            start = end + 1
    return tags


def token_label_tags(output: str, tokens: list[str]) -> list[str]:
    """FinBen's SequentialLabeling: line i sets token i's tag only when it is exactly `tokens[i]:TAG`."""
    tags = ["O"] * len(tokens)
    for index, line in enumerate(output.split("\n")[: len(tokens)]):
        parts = line.split(":")
        if len(parts) == 2 and parts[0] == tokens[index] and parts[1] in _BIO_TAGS:
            tags[index] = parts[1]
    return tags


def ner(spec: DatasetSpec, output: str, sample: dict):
    """(true positives, predicted, gold) entity counts (seqeval) of FinBen's predicted tags."""
    tokens, gold_tags = ner_gold_tags(sample)
    if spec.name in TOKEN_LABEL_DATASETS:
        predicted = token_label_tags(output, tokens)
    else:
        predicted = entity_tags(output, sample.get("text") or " ".join(tokens))
        predicted = (predicted + ["O"] * len(gold_tags))[: len(gold_tags)]
    gold, pred = set(bio_entities(gold_tags)), set(bio_entities(predicted))
    return len(gold & pred), len(pred), len(gold)


def qa(spec: DatasetSpec, output: str, sample: dict):
    strict = float(output.strip() == str(sample["gold"]))
    return strict, strict


def extractive_summary(spec: DatasetSpec, output: str, sample: dict):
    """FinBen keeps the text lines whose output line equals the integer 1; output lines are strings,
    so it keeps none and scores an empty summary."""
    gold_labels = as_list(sample["label"]) if sample.get("label") is not None else str(sample["gold"]).split("\n")
    reference = selected_sentences(sample["text"], gold_labels)
    lines = sample["text"].split("\n")
    kept = [line for line, label in zip(lines, output.split("\n")) if label == 1]  # a str is never 1: as FinBen, nothing
    return rouge_scores("\n".join(kept), reference)


def abstractive_summary(spec: DatasetSpec, output: str, sample: dict):
    return abstractive_item(sample, output)


def item(spec: DatasetSpec, output: str | None, sample: dict) -> Any:
    """The FinBen-exact scoring item of one output (None, a failed sample, reads as empty)."""
    from .tasks import task_of

    return task_of(spec).finben(spec, output or "", sample)
