"""Getting a FinBen dataset onto local disk in one normalized shape, and sampling it.

Normalized records follow the offline mirror's schema (see README, "Datasets"):
`id`, `query` (FinBen's prompt), `choices` (labels or null), `gold` (label string,
number, entity list or text) and, for classification, `gold_index`; other fields pass
through. A mirror folder holds `<dataset>.jsonl` files already in this shape. Every row is
checked when a dataset is read (`slmbench.records`), so what `download` stores is usable.
"""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path
from typing import Any, Collection, Iterable, Iterator

from .files import atomic_write_text, open_regular
from .entities import bio_entities
from .records import InvalidRecord, as_list, check_record
from .registry import DatasetSpec, get
from .text import has_lone_surrogate


class DatasetUnavailable(RuntimeError):
    """Neither the mirror nor the hub could provide a dataset."""


def normalize_hub_row(spec: DatasetSpec, row: dict[str, Any], index: int) -> dict[str, Any]:
    """Map a FLARE/FinBen hub row (gold = label index, answer = target text) onto the mirror schema.

    A value that does not convert (an index outside the choices, a score that is not a number)
    is kept as it is, for `check_record` to report with the row and id.
    """
    from .tasks import task_of  # the table of task types binds this module's hub mappings (so it imports it)

    record = dict(row)
    record["id"] = str(row.get("id", f"{spec.name}{index}"))
    record["choices"] = row.get("choices") or list(spec.choices) or None
    record.update(task_of(spec).hub_gold(row, record["choices"]))
    return record


# --- per task type: a hub row's gold in the mirror schema (slmbench.tasks) ------------------------------


def hub_label(row: dict[str, Any], choices: list[str] | None) -> dict[str, Any]:
    """Classification: the hub's gold is the label's index into the choices (kept as gold_index)."""
    gold = row.get("gold")
    if isinstance(gold, int) and choices:
        return {"gold_index": gold, "gold": choices[gold] if 0 <= gold < len(choices) else row.get("answer")}
    return {"gold": row.get("answer")} if gold is None else {}


def hub_score(row: dict[str, Any], choices: list[str] | None) -> dict[str, Any]:
    """TSA: the sentiment score, given as text or a number."""
    return {"gold": _as_number(row.get("answer", row.get("gold")))}


def hub_entities(row: dict[str, Any], choices: list[str] | None) -> dict[str, Any]:
    """NER: `entity, TYPE` lines of the hub's answer as [entity, type] pairs; for rows with BIO
    `label` tags and FinBen's `token` field (FiNER-ORD, whose answer is `token:label` lines) the
    gold entities are the tags' chunks, and `token` becomes the mirror schema's `tokens`."""
    tokens = row.get("tokens", row.get("token"))
    if tokens is not None and row.get("label") is not None:
        tokens, tags = as_list(tokens), as_list(row["label"])
        return {"tokens": tokens, "gold": [[" ".join(tokens[s:e]), kind] for kind, s, e in bio_entities(tags)]}
    lines = str(row.get("answer", "")).splitlines()
    return {"gold": [[e.strip(), t.strip()] for e, t in (line.rsplit(",", 1) for line in lines if "," in line)]}


def hub_answer(row: dict[str, Any], choices: list[str] | None) -> dict[str, Any]:
    """QA and summaries: the hub's answer text."""
    return {"gold": row.get("answer", row.get("gold"))}


def _as_number(value: Any) -> Any:
    """A TSA score given as text ("0.25") as a float; anything else is left for the check to report."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def read_mirror(spec: DatasetSpec, path: Path) -> list[dict[str, Any]]:
    """A mirror file's records, every line checked; raises InvalidRecord naming the file, line and id."""
    return _checked_records(spec, _mirror_rows(path), str(path))


def read_dataset(path: Path | str, ids: Collection[str] | None = None) -> list[dict[str, Any]]:
    """A stored `resources/datasets/<name>.jsonl`, checked again: a file left by an older slmbench
    or put there by hand cannot skip the checks that `download` makes.

    With `ids` (what scoring reads: a cell's 50 of a dataset's thousands of rows), only the rows with
    those ids (as text) are returned and checked row by row; the ids of all rows are still checked
    unique, and a line that is not a JSON object reads the whole file, so the error is the same.
    """
    path = Path(path)
    spec = get(path.name.removesuffix(".jsonl"))
    if ids is None:
        return read_mirror(spec, path)
    wanted, seen, picked = set(ids), set(), []
    with open_regular(path) as f:
        for n, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                key = str(json.loads(raw)["id"])
            except (ValueError, TypeError, KeyError, RecursionError):
                return [r for r in read_mirror(spec, path) if str(r["id"]) in wanted]  # raises, naming the line
            if key in seen:
                return read_mirror(spec, path)  # raises: duplicate id
            seen.add(key)
            if key in wanted:
                picked.append((f"line {n}", _parse_line(raw, f"{path}, line {n}")))
    return _checked_records(spec, picked, str(path))


def _mirror_rows(path: Path) -> Iterator[tuple[str, Any]]:
    with open_regular(path) as f:  # bytes: a non-UTF-8 line is reported with its number
        for n, raw in enumerate(f, 1):
            if raw.strip():
                yield f"line {n}", _parse_line(raw, f"{path}, line {n}")


class _NotFinite(ValueError):
    pass


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(f"the number {text[:40]} is out of range")
    return value


def _no_constant(name: str) -> None:
    raise _NotFinite(f"{name} is not a JSON number")


def _parse_line(raw: bytes, where: str) -> Any:
    """One JSON value, strictly: UTF-8, finite numbers, bounded nesting and digits; else InvalidRecord."""
    try:
        value = json.loads(raw.decode("utf-8"), parse_float=_finite_float, parse_constant=_no_constant)
        if not has_lone_surrogate(json.dumps(value, ensure_ascii=False)):
            return value
        problem = "not text: a \\ud800-\\udfff escape that is not part of a surrogate pair"
    except UnicodeDecodeError as e:
        problem = f"not UTF-8 text (byte 0x{e.object[e.start]:02x} at byte {e.start + 1} of the line)"
    except json.JSONDecodeError as e:
        problem = f"not valid JSON ({e.msg}, column {e.colno})"
    except RecursionError:
        problem = "not usable JSON (nested too deeply)"
    except _NotFinite as e:
        problem = f"not usable JSON ({e}; numbers must be finite)"
    except ValueError:  # Python's limit on the digits of an integer (sys.get_int_max_str_digits)
        problem = f"not usable JSON (an integer with more than {sys.get_int_max_str_digits()} digits)"
    raise InvalidRecord(f"{where}: {problem}")


def _checked_records(spec: DatasetSpec, rows: Iterable[tuple[str, Any]], source: str) -> list[dict[str, Any]]:
    """Every row checked against the dataset's task type, ids unique (scoring matches answers to gold by id)."""
    records: list[dict[str, Any]] = []
    first_at: dict[str, str] = {}
    for at, row in rows:
        record = check_record(spec, row, f"{source}, {at}")
        key = str(record["id"])
        if key in first_at:
            raise InvalidRecord(
                f"{source}, {at}: duplicate id {record['id']!r}, first at {first_at[key]}; "
                "ids must be unique because scoring matches each answer to its gold by id"
            )
        first_at[key] = at
        records.append(record)
    if not records:
        raise InvalidRecord(f"{source}: no records")
    return records


def load_from_hub(spec: DatasetSpec, hub_id: str, split: str, revision: str | None = None) -> list[dict[str, Any]]:
    import datasets  # heavy; only needed off-mirror

    try:
        rows = datasets.load_dataset(hub_id, split=split, revision=revision)
    except Exception as e:  # the hub raises many kinds: offline, gated, missing
        raise DatasetUnavailable(str(e)) from e
    source = f"{hub_id}[{split}]"
    return _checked_records(spec, ((f"row {i}", _hub_record(spec, row, i, source)) for i, row in enumerate(rows)), source)


def _hub_record(spec: DatasetSpec, row: dict[str, Any], index: int, source: str) -> dict[str, Any]:
    """normalize_hub_row, with a row it cannot read (a cut-off `token` text, tags that are not text) named."""
    try:
        return normalize_hub_row(spec, row, index)
    except (ValueError, TypeError, AttributeError, SyntaxError, MemoryError, RecursionError) as e:
        raise InvalidRecord(f"{source}, row {index}, id {row.get('id')!r}: cannot be read ({type(e).__name__}: "
                            f"{str(e)[:200]})") from None


def fetch_dataset(spec: DatasetSpec, mirror: str | None, hub_id: str | None = None, split: str | None = None, revision: str | None = None) -> tuple[list[dict[str, Any]], str]:
    """The dataset's records and where they came from: the mirror first, then the hub."""
    hub_id, split = hub_id or spec.hub_id, split or spec.split
    if mirror:
        if not Path(mirror).is_dir():
            raise DatasetUnavailable(f"data_mirror {mirror} is not a folder; set the config key data_mirror to the "
                                     f"folder that holds {spec.name}.jsonl, or remove it to use the hub")
        path = Path(mirror) / f"{spec.name}.jsonl"
        if path.exists():
            return read_mirror(spec, path), str(path)
    try:
        at = f"@{revision}" if revision else ""
        return load_from_hub(spec, hub_id, split, revision), f"hub:{hub_id}{at}[{split}]"
    except DatasetUnavailable as e:
        where = f"the mirror {mirror} has no {spec.name}.jsonl and " if mirror else "no data_mirror is set and "
        raise DatasetUnavailable(
            f"dataset {spec.name!r}: {where}the hub dataset {hub_id} (split {split}) could not be loaded ({e}). "
            f"Either put {spec.name}.jsonl (schema: README, 'Datasets') into a folder and run with "
            f"`--config data_mirror=/that/folder`, or make the hub reachable (for example `huggingface-cli login` "
            f"for gated sets), or remove {spec.name} from `datasets:` in the config."
        ) from None


def write_jsonl(path: Path | str, records: Iterable[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def read_jsonl(path: Path | str) -> list[dict[str, Any]]:
    with open_regular(path) as f:  # a FIFO in its place is an error naming it, not a wait
        return [json.loads(line) for line in f if line.strip()]


class TooFewRecords(ValueError):
    """`n_samples` asks for more records than a dataset has."""


def sample_records(records: list[dict[str, Any]], n: int | str, seed: int, dataset: str = "the dataset") -> list[dict[str, Any]]:
    """A seeded sample that is prefix-stable: the first 10 of n=20 are the sample for n=10.

    The records are shuffled in their order with `random.Random(seed)`, so with seed 42 the sample
    is the rows FinBen's `--limit n` evaluates (`config.selection_seed`).

    `n="all"` takes every record (in the seeded order); a number above the dataset's size is an
    error rather than a smaller sample than the config says.
    """
    if n == "all":
        n = len(records)
    elif n > len(records):
        raise TooFewRecords(
            f"n_samples is {n} but dataset {dataset!r} has only {len(records)} records: "
            f"set n_samples to at most {len(records)}, or to `all`"
        )
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    return [records[i] for i in order[:n]]
