"""llama.cpp's OpenAI-compatible server (llama-cpp-python), the engine that needs no GPU."""

from __future__ import annotations

import sys
from functools import cached_property
from pathlib import Path
from typing import Any

from .base import SERVER_SAMPLING_FIELDS, package_version
from .managed import ManagedServerEngine
from .weights import file_sha256, resolve_weights


class LlamaCppEngine(ManagedServerEngine):
    """`python -m llama_cpp.server` serving one GGUF file on loopback."""

    grammar_field = "grammar"  # llama-cpp-python's chat completion request: a GBNF grammar
    sampling_fields = SERVER_SAMPLING_FIELDS["llamacpp"]
    server_module = "llama_cpp.server"
    # The demo's engine is an extra (pyproject.toml): an environment made for SGLang leaves it out.
    install_hint = "it is llama-cpp-python[server], the demo extra: `make install`, or pip install -e '.[demo]'"
    # Its probe lists the models, or meets a refused connection while the model loads: about a millisecond.
    ready_poll_s = 0.02

    def __init__(self, name: str, cfg: dict[str, Any], *, models_dir: Path, **kwargs):
        super().__init__(name, **kwargs)
        self.cfg = cfg
        self.models_dir = models_dir

    @cached_property
    def weights_path(self) -> Path:
        return resolve_weights(self.name, self.cfg["weights"], self.models_dir)

    def answer_flags(self) -> list[str]:
        """Server flags that can change the model's answers (thread count cannot)."""
        flags = ["--n_ctx", str(self.cfg["context_length"])]
        if self.cfg.get("chat_format"):
            flags += ["--chat_format", self.cfg["chat_format"]]
        return flags + [str(a) for a in self.cfg.get("server", {}).get("extra_args", [])]

    def fingerprint(self) -> dict[str, Any]:
        return {
            "engine": "llamacpp",
            "weights_sha256": file_sha256(self.weights_path, self.state_dir / "hashes"),
            "llama_cpp_python": package_version("llama-cpp-python"),
            "flags": self.answer_flags(),
        }

    def launch_command(self, port: int, served_model: str) -> list[str]:
        return [
            sys.executable, "-m", self.server_module,
            "--model", str(self.weights_path), "--model_alias", served_model,
            "--host", "127.0.0.1", "--port", str(port),
            "--n_threads", str(self.cfg["server"]["threads"]),
            *self.answer_flags(),
        ]
