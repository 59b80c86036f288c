"""The generation job's sidecar (`results/generations/M/P/D.meta.json`): what the job measured and saw.

The energy meter's result (energy, source, hardware) plus the job's request and server statistics
(requests sent and resent, cache hits, server restarts, SGLang metrics); scoring reads it back.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .files import atomic_write_text


def meta_path(generations_path: str | os.PathLike) -> Path:
    """results/generations/M/P/D.jsonl -> results/generations/M/P/D.meta.json"""
    path = Path(generations_path)
    return path.with_name(path.name.removesuffix(".jsonl") + ".meta.json")


def write_meta(path: str | os.PathLike, result: dict[str, Any], **extra: Any) -> None:
    """Write a meter's result (plus any extra keys) as the cell's sidecar JSON, atomically."""
    atomic_write_text(path, json.dumps({**result, **extra}, indent=2, allow_nan=False))


def read_meta(path: str | os.PathLike) -> dict[str, Any] | None:
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else None
