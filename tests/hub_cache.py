"""A Hugging Face hub cache laid out by hand, as `huggingface_hub` writes it
(models--org--name/{blobs, snapshots/<commit>/..., refs/<branch>}): the hub paths are tested
offline, never against the hub."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"
# What SGLang reads of a model.
FILES = {
    "config.json": b'{"architectures": ["Qwen2ForCausalLM"]}',
    "generation_config.json": b'{"repetition_penalty": 1.05}',
    "tokenizer.json": b"{}",
    "tokenizer_config.json": b"{}",
    "model.safetensors": b"weights",
}


def lay_out(cache: Path, repo: str, commit: str = COMMIT, files: dict[str, bytes] = FILES, ref: str | None = "main") -> Path:
    """`repo` at `commit` in the cache (blobs by SHA-256, the snapshot's files linked to them, `ref`
    naming the commit); returns the snapshot folder."""
    root = Path(cache) / ("models--" + repo.replace("/", "--"))
    snapshot = root / "snapshots" / commit
    for name, data in files.items():
        blob = root / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():  # laid out again: the same file
            link.symlink_to(os.path.relpath(blob, link.parent))
    if ref:
        (root / "refs").mkdir(exist_ok=True)
        (root / "refs" / ref).write_text(commit)
    return snapshot


def offline(monkeypatch) -> None:
    """No request to the hub from this process (the variable is read when huggingface_hub is imported)."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
