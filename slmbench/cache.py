"""A content-addressed cache of chat completions on disk.

A request's key hashes everything that decides its reply: the model fingerprint
(weights, engine, server flags), the messages, the sampling parameters and the grammar
of a constrained request. One file per
entry, written atomically, so concurrent jobs (and NFS) are safe; a hit never contacts a
server, which is what lets a killed job resume for free.

An entry is trusted only if it proves itself: it names its own key and carries the
SHA-256 of its reply, and the reply has the fields and types a reply has. Anything else
(an edited, truncated or foreign file, a folder in its place) is a miss, said in the job
log, and is overwritten by the fresh reply.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

from .files import UnsafeFile, atomic_write_text, read_regular
from .text import scrub_surrogates

# The fields of a cached reply and their types (see client.reply_record). `reasoning` is the thinking
# a reasoning parser moved out of the output; completion_tokens counts its reasoning_tokens too.
REPLY_FIELDS = {"output": str, "reasoning": str, "prompt_tokens": int, "completion_tokens": int, "reasoning_tokens": int,
                "latency_s": (int, float), "finish_reason": str}
# What a field's value must also be to mean what its name says; a field added to REPLY_FIELDS adds its rule here.
REPLY_SENSE = {
    "prompt_tokens": (lambda v: v >= 0, "a negative count"),
    "completion_tokens": (lambda v: v >= 0, "a negative count"),
    "reasoning_tokens": (lambda v: v >= 0, "a negative count"),
    "latency_s": (lambda v: math.isfinite(v) and v >= 0, "not a finite, non-negative number of seconds"),
}
ENTRY_LIMIT = 16 << 20  # bytes; a reply is bounded by max_tokens, far below this


class CacheUnusable(RuntimeError):
    """The cache folder cannot hold entries; raised before any request is sent."""


def _digest(value: Any) -> str:
    blob = json.dumps(value, sort_keys=True, ensure_ascii=False)
    # surrogatepass: a key exists for any text a model wrote, lone surrogates included
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


def request_key(fingerprint: dict[str, Any], messages: list[dict[str, str]], sampling: dict[str, Any], grammar: str | None = None, prompt: str | None = None) -> str:
    """The key of one request; a grammar (constrained decoding) is part of it, and the key of a
    request without one is what it was before grammars existed, so those entries stay valid.
    A raw completion (`prompt`, /v1/completions) is keyed by its prompt instead of messages."""
    request = {"model": fingerprint, "sampling": sampling, **({"messages": messages} if prompt is None else {"prompt": prompt})}
    return _digest({**request, "grammar": grammar} if grammar is not None else request)


def reply_problem(reply: Any) -> str:
    """Why `reply` is not a reply the client could have stored ("" when it is)."""
    if not isinstance(reply, dict) or set(reply) != set(REPLY_FIELDS):
        return "not a reply object with the fields " + ", ".join(REPLY_FIELDS)
    wrong = [k for k, t in REPLY_FIELDS.items() if not isinstance(reply[k], t) or isinstance(reply[k], bool)]
    if wrong:
        return f"wrong type of {', '.join(wrong)}"
    # A checksum proves the entry is whole, not that it makes sense: costs are read from it.
    senseless = [f"{k} is {why}" for k, (ok, why) in REPLY_SENSE.items() if not ok(reply[k])]
    if reply["reasoning_tokens"] > reply["completion_tokens"]:
        senseless.append("reasoning_tokens is above completion_tokens, which counts them")
    return "; ".join(senseless)


def scrubbed(reply: dict[str, Any]) -> dict[str, Any]:
    """The reply with its text scrubbed exactly as a fresh one is (client.reply_record), so a hit can be written."""
    return {k: scrub_surrogates(v) if isinstance(v, str) else v for k, v in reply.items()}


class RequestCache:
    def __init__(self, root: Path | str, log=None):
        self.root = Path(root)
        self.log = log or sys.stderr

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def check_writable(self) -> None:
        """Fail before the first request, not after paying for it, when entries cannot be written."""
        probe = self.root / f".probe-{uuid.uuid4().hex}"
        try:
            atomic_write_text(probe, "{}")
            probe.unlink()
        except OSError as e:
            raise CacheUnusable(f"the request cache {self.root} (config key cache_dir) cannot be written: {e}") from None

    def get(self, key: str) -> dict[str, Any] | None:
        path = self._path(key)
        try:
            entry = json.loads(read_regular(path, ENTRY_LIMIT))
        except FileNotFoundError:
            return None
        except UnsafeFile as e:  # a FIFO, a device, a link, a bomb
            return self._miss(path, str(e).removeprefix(f"{path} "))
        except (OSError, ValueError, RecursionError) as e:  # a folder, a torn or foreign file
            return self._miss(path, f"unreadable ({type(e).__name__})")
        if not isinstance(entry, dict) or entry.get("key") != key:
            return self._miss(path, "it does not name this request's key")
        reply = entry.get("reply")
        problem = reply_problem(reply) or ("" if entry.get("sha256") == _digest(reply) else "its reply does not match its checksum")
        return self._miss(path, problem) if problem else scrubbed(reply)

    def _miss(self, path: Path, why: str) -> None:
        print(f"[cache] ignoring the entry {path}: {why}; the request is sent again", file=self.log, flush=True)
        return None

    def put(self, key: str, reply: dict[str, Any]) -> None:
        """Store a paid-for reply; a file in the way is replaced, and a failure is said, never raised."""
        path = self._path(key)
        try:
            if os.path.isdir(path) and not os.path.islink(path):  # an invalid entry in the way (get() has said so)
                shutil.rmtree(path)
            atomic_write_text(path, json.dumps({"key": key, "sha256": _digest(reply), "reply": reply}, ensure_ascii=False))
        except (OSError, ValueError) as e:
            print(f"[cache] could not store the entry {path} ({e}); a rerun sends this request again", file=self.log, flush=True)
