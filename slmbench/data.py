"""Getting a FinBen dataset onto local disk in one normalized shape, and sampling it.

Normalized records follow the offline mirror's schema (see README, "Datasets"):
`id`, `query` (FinBen's prompt), `choices` (labels or null), `gold` (label string,
number, entity list or text) and, for classification, `gold_index`; other fields pass
through. A mirror folder holds `<dataset>.jsonl` files already in this shape.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, Iterable

from .files import atomic_write_text
from .registry import DatasetSpec


class DatasetUnavailable(RuntimeError):
    """Neither the mirror nor the hub could provide a dataset."""


def normalize_hub_row(spec: DatasetSpec, row: dict[str, Any], index: int) -> dict[str, Any]:
    """Map a FLARE/FinBen hub row (gold = label index, answer = target text) onto the mirror schema."""
    record = dict(row)
    record["id"] = str(row.get("id", f"{spec.name}{index}"))
    choices = row.get("choices") or list(spec.choices) or None
    record["choices"] = choices
    gold = row.get("gold")
    if spec.task_type == "classification":
        if isinstance(gold, int) and choices:
            record["gold_index"], record["gold"] = gold, choices[gold]
        elif gold is None:
            record["gold"] = row.get("answer")
    elif spec.task_type == "regression":
        record["gold"] = float(row.get("answer", gold))
    elif spec.task_type == "ner":
        record["gold"] = [[e.strip(), t.strip()] for e, t in (line.rsplit(",", 1) for line in str(row.get("answer", "")).splitlines() if "," in line)]
    else:
        record["gold"] = row.get("answer", gold)
    return record


def check_record(record: dict[str, Any], where: str) -> dict[str, Any]:
    missing = [k for k in ("id", "query", "gold") if k not in record]
    if missing:
        raise ValueError(f"{where}: missing field(s) {', '.join(missing)}; see README, 'Datasets' for the schema")
    return record


def read_mirror(path: Path) -> list[dict[str, Any]]:
    records = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}, line {n}: not valid JSON ({e.msg})") from None
            if not isinstance(record, dict):
                raise ValueError(f"{path}, line {n}: expected a JSON object")
            records.append(check_record(record, f"{path}, line {n}"))
    if not records:
        raise ValueError(f"{path}: no records")
    return records


def load_from_hub(spec: DatasetSpec, hub_id: str, split: str) -> list[dict[str, Any]]:
    import datasets  # heavy; only needed off-mirror

    try:
        rows = datasets.load_dataset(hub_id, split=split)
    except Exception as e:  # the hub raises many kinds: offline, gated, missing
        raise DatasetUnavailable(str(e)) from e
    return [check_record(normalize_hub_row(spec, row, i), f"{hub_id}[{split}] row {i}") for i, row in enumerate(rows)]


def fetch_dataset(spec: DatasetSpec, mirror: str | None, hub_id: str | None = None, split: str | None = None) -> tuple[list[dict[str, Any]], str]:
    """The dataset's records and where they came from: the mirror first, then the hub."""
    hub_id, split = hub_id or spec.hub_id, split or spec.split
    if mirror:
        path = Path(mirror) / f"{spec.name}.jsonl"
        if path.exists():
            return read_mirror(path), str(path)
    try:
        return load_from_hub(spec, hub_id, split), f"hub:{hub_id}[{split}]"
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
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def sample_records(records: list[dict[str, Any]], n: int, seed: int) -> list[dict[str, Any]]:
    """A seeded sample that is prefix-stable: the first 10 of n=20 are the sample for n=10."""
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    return [records[i] for i in order[:n]]
