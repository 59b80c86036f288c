"""The generation job's sidecar (`results/generations/M/P/D.meta.json`): what the job measured and saw.

The energy meter's result (energy, source, hardware) plus the job's request and server statistics
(requests sent and resent, cache hits, server restarts, SGLang metrics); scoring reads it back.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from .files import atomic_write_text, read_regular


def meta_path(generations_path: str | os.PathLike) -> Path:
    """results/generations/M/P/D.jsonl -> results/generations/M/P/D.meta.json"""
    path = Path(generations_path)
    return path.with_name(path.name.removesuffix(".jsonl") + ".meta.json")


def write_meta(path: str | os.PathLike, result: dict[str, Any], **extra: Any) -> None:
    """Write a meter's result (plus any extra keys) as the cell's sidecar JSON, atomically."""
    atomic_write_text(path, json.dumps({**result, **extra}, indent=2, allow_nan=False))


class SidecarError(ValueError):
    """A sidecar that is not what write_meta writes; the message names the file and the key."""


# Numbers a sidecar must hold as finite and non-negative, when present (a measured amount).
AMOUNTS = ("energy_j", "duration_s")


def read_meta(path: str | os.PathLike) -> dict[str, Any] | None:
    """The sidecar, checked: a JSON object whose amounts are finite, non-negative numbers (or null)."""
    path = Path(path)
    try:
        meta = json.loads(read_regular(path, 1 << 20))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError) as e:
        raise SidecarError(f"the sidecar {path} cannot be read ({e}); rerun its generation job") from None
    if not isinstance(meta, dict):
        raise SidecarError(f"the sidecar {path} is not a JSON object; rerun its generation job")
    for key in AMOUNTS:
        value = meta.get(key)
        if value is not None and not (isinstance(value, (int, float)) and not isinstance(value, bool)
                                      and math.isfinite(value) and value >= 0):
            raise SidecarError(f"the sidecar {path}: {key} is {value!r}, not a finite, non-negative number; "
                               f"rerun its generation job")
    return meta
