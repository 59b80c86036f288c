"""What a dataset record must hold for generation and scoring to use it, one check per task type.

`slmbench.data` checks every row when a dataset is read, so a bad row stops the download with a
message naming its file, line and id, instead of failing deep in scoring without the id or, worse,
being scored against a gold value scoring reads differently. The checks follow what
`slmbench.answers` and `slmbench.metrics` read from a record.
"""

from __future__ import annotations

import ast
import json
import math
import reprlib
from typing import Any

from .registry import ENTITY_TYPES, DatasetSpec

REQUIRED_FIELDS = ("id", "query", "gold")
BIO_TAGS = frozenset({"O", *(f"{prefix}-{kind}" for kind in ENTITY_TYPES for prefix in "BI")})


class InvalidRecord(ValueError):
    """A dataset row the workflow cannot use; the message names the file, the line (or row) and the id."""


class _Problem(Exception):
    """What is wrong with one field; check_record adds where the record is."""


def check_record(spec: DatasetSpec, record: Any, where: str) -> dict[str, Any]:
    """The record as generation and scoring read it (list fields given as text parsed); raises InvalidRecord."""
    from .tasks import task_of  # the table of task types binds this module's gold checks (so it imports it)

    if not isinstance(record, dict):
        raise InvalidRecord(f"{where}: expected a JSON object, got {_shown(record)}")
    missing = [key for key in REQUIRED_FIELDS if key not in record]
    if missing:
        raise InvalidRecord(f"{where}: missing field(s) {', '.join(missing)}; see README, 'Datasets' for the schema")
    sample_id = record["id"]
    if isinstance(sample_id, bool) or not isinstance(sample_id, (str, int)) or not str(sample_id).strip():
        raise InvalidRecord(f"{where}: id must be a non-empty string or an integer, got {_shown(sample_id)}")
    try:
        if not isinstance(record["query"], str) or not record["query"].strip():
            raise _Problem(f"query (the prompt) must be non-empty text, got {_shown(record['query'])}")
        return task_of(spec).check_gold(spec, dict(record))
    except _Problem as problem:
        raise InvalidRecord(f"{where}, id {sample_id!r}: {problem}") from None


# --- per task type: what its gold must be (slmbench.tasks) ------------------------------------------


def check_classification_gold(spec: DatasetSpec, record: dict[str, Any]) -> dict[str, Any]:
    """Gold is one of the choices (the record's, else the registry's), compared case-insensitively as scoring does."""
    choices = record.get("choices") or list(spec.choices)
    if not isinstance(choices, list) or not all(isinstance(c, str) and c.strip() for c in choices):
        raise _Problem(f"choices must be a list of labels, got {_shown(choices)}")
    # The dataset's labels, and the other label set its rows may carry (answer_words: Polish good/bad for no/yes).
    known = {k.lower() for k in spec.choices} | {row.lower() for row, _ in spec.answer_words}
    outside = sorted({c for c in choices if c.lower() not in known}) if spec.choices else []
    if outside:  # the answer grammar (constrain: answer) and the prompt list only the dataset's labels
        raise _Problem(f"choices hold {_shown(outside)}, outside the dataset's labels {list(spec.choices)}")
    index = record.get("gold_index")
    if index is not None and not (_is_int(index) and 0 <= index < len(choices)):
        raise _Problem(f"gold_index {_shown(index)} is not an index of choices {choices}")
    gold = record["gold"]
    labels = [c.lower() for c in choices]
    if not isinstance(gold, str) or gold.lower() not in labels:
        raise _Problem(f"gold must be one of the labels {choices}, got {_shown(gold)}")
    if index is not None and labels[index] != gold.lower():
        raise _Problem(f"gold_index {index} points at {choices[index]!r}, not at gold {gold!r}")
    return record


def check_regression_gold(spec: DatasetSpec, record: dict[str, Any]) -> dict[str, Any]:
    """TSA: gold is a sentiment score in [-1, 1] (NaN fails the range test too)."""
    gold = record["gold"]
    if not (_is_number(gold) and -1 <= gold <= 1):
        raise _Problem(f"gold must be a sentiment score, a number from -1 to 1, got {_shown(gold)}")
    return record


def check_ner_gold(spec: DatasetSpec, record: dict[str, Any]) -> dict[str, Any]:
    """Gold entities are [entity, type] pairs of known types; BIO `label`, when given, aligns with the tokens."""
    gold = _list_field(record, "gold", f"a list of [entity, type] pairs with type one of {', '.join(ENTITY_TYPES)}")
    for pair in gold:
        named = isinstance(pair, (list, tuple)) and len(pair) == 2 and isinstance(pair[0], str) and pair[0].strip()
        if not (named and pair[1] in ENTITY_TYPES):
            raise _Problem(f"gold entity {_shown(pair)} is not an [entity, type] pair with type one of {', '.join(ENTITY_TYPES)}")
    record["gold"] = [list(pair) for pair in gold]
    if record.get("tokens") is None and record.get("token") is not None:
        record["tokens"] = record["token"]  # FinBen's hub rows name the field `token`
    if record.get("tokens") is not None:
        record["tokens"] = tokens = _list_field(record, "tokens", "a list of token strings")
        if not all(isinstance(t, str) for t in tokens):
            raise _Problem("tokens must be a list of token strings")
    elif isinstance(record.get("text"), str):
        tokens = record["text"].split()
    else:
        raise _Problem("needs tokens (a list) or text (a string): scoring tags gold and predicted entities on its tokens")
    if record.get("label") is not None:
        record["label"] = tags = _list_field(record, "label", "a list of BIO tags")
        unknown = next((t for t in tags if not (isinstance(t, str) and t in BIO_TAGS)), None)
        if unknown is not None:
            raise _Problem(f"label holds {_shown(unknown)}, not a BIO tag of {', '.join(ENTITY_TYPES)} (or O)")
        if len(tags) != len(tokens):
            raise _Problem(f"label has {len(tags)} tags but there are {len(tokens)} tokens; they must align one to one")
    return record


def check_qa_gold(spec: DatasetSpec, record: dict[str, Any]) -> dict[str, Any]:
    """Gold is the answer text or a finite number (scoring compares it as text and as a number)."""
    gold = record["gold"]
    if not (_is_number(gold) or (isinstance(gold, str) and gold.strip())):
        raise _Problem(f"gold must be the answer, non-empty text or a finite number, got {_shown(gold)}")
    return record


def check_extractive_summary_gold(spec: DatasetSpec, record: dict[str, Any]) -> dict[str, Any]:
    """ECTSum: one 0/1 per sentence (line) of `text`, from `label` when given, else from gold's lines."""
    check_abstractive_summary_gold(spec, record)
    if not isinstance(record.get("text"), str):
        raise _Problem(f"text (the sentences, one per line) must be a string, got {_shown(record.get('text'))}")
    if record.get("label") is not None:
        record["label"] = labels = _list_field(record, "label", "a list of 0/1, one per sentence")
        source = "label"
    else:
        labels, source = record["gold"].split("\n"), "gold"
    if not all(v in (0, 1) if _is_int(v) else isinstance(v, str) and v.strip() in ("0", "1") for v in labels):
        raise _Problem(f"{source} must hold only 0 and 1, one per sentence, got {_shown(labels)}")
    sentences = len(record["text"].split("\n"))
    if len(labels) != sentences:
        raise _Problem(f"{source} has {len(labels)} labels but text has {sentences} sentences (lines)")
    return record


def check_abstractive_summary_gold(spec: DatasetSpec, record: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(record["gold"], str) or not record["gold"].strip():
        raise _Problem(f"gold must be the summary, non-empty text, got {_shown(record['gold'])}")
    return record


def as_list(value) -> list:
    """A list field that may be stored as a list, a JSON string or a Python-repr string (mirror files)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return ast.literal_eval(value)
    return list(value)


def _list_field(record: dict[str, Any], key: str, what: str) -> list:
    """A list field, also when stored as JSON or Python-literal text (as `as_list` reads it)."""
    value = record[key]
    if isinstance(value, str):
        try:
            value = as_list(value)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            raise _Problem(f"{key} must be {what}, got the text {_shown(record[key])}") from None
    if not isinstance(value, list):
        raise _Problem(f"{key} must be {what}, got {_shown(record[key])}")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    """A finite JSON number (integers of any size are finite; bool is not a number here)."""
    return _is_int(value) or (isinstance(value, float) and math.isfinite(value))


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother, _SHORT.maxlong = 3, 60, 60, 40


def _shown(value: Any) -> str:
    """A value as a message shows it: a repr cut short in length and depth (a bad row can hold megabytes)."""
    return _SHORT.repr(value)
