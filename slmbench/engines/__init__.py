"""Serving engines behind one OpenAI-compatible interface: llama.cpp, an existing endpoint, SGLang.

The engines are imported by `make_engine`, not here: the server supervisor and the Snakefile import
modules of this package and need none of them (slmbench/engines/server_files.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import Endpoint, Engine, EngineError

__all__ = ["Endpoint", "Engine", "EngineError", "make_engine"]


def make_engine(name: str, cfg: dict[str, Any], *, models_dir: Path, server: dict[str, Any], log=None) -> Engine:
    """The engine a model's config entry asks for; `server` holds the shared-server timeouts."""
    kind = cfg["engine"]
    managed = {"ready_timeout_s": server["ready_timeout_s"], "idle_timeout_s": server["idle_timeout_s"],
               "state_dir": Path(server["state_dir"]) if server.get("state_dir") else None,
               "max_restarts": server["max_restarts"], "log": log}
    if kind == "llamacpp":
        from .llamacpp import LlamaCppEngine

        return LlamaCppEngine(name, cfg, models_dir=models_dir, **managed)
    if kind == "openai":
        from .openai_endpoint import OpenAIEndpointEngine

        endpoint = cfg.get("endpoint", {})
        return OpenAIEndpointEngine(
            endpoint["base_url"], endpoint.get("model", name), endpoint.get("revision", ""),
            endpoint.get("api_key_env", "OPENAI_API_KEY"), endpoint.get("grammar_field"), endpoint["server"],
        )
    if kind == "sglang":
        from .sglang import SGLangEngine

        return SGLangEngine(name, cfg, models_dir=models_dir, **managed)
    raise EngineError(f"models.{name}.engine: unknown engine {kind!r} (known: llamacpp, openai, sglang)")
