"""A content-addressed cache of chat completions on disk.

A request's key hashes everything that decides its reply: the model fingerprint
(weights, engine, server flags), the messages, the sampling parameters and the tools.
One file per entry, written atomically, so concurrent jobs (and NFS) are safe; a hit
never contacts a server, which is what lets a killed job resume for free.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .files import atomic_write_text


def request_key(fingerprint: dict[str, Any], messages: list[dict[str, str]], sampling: dict[str, Any], tools: Any = None) -> str:
    blob = json.dumps({"model": fingerprint, "messages": messages, "sampling": sampling, "tools": tools}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


class RequestCache:
    def __init__(self, root: Path | str):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._path(key).read_text())
        except FileNotFoundError:
            return None
        except ValueError:  # a torn entry from a crash before os.replace: treat as a miss
            return None

    def put(self, key: str, value: dict[str, Any]) -> None:
        atomic_write_text(self._path(key), json.dumps(value, ensure_ascii=False))
