"""An already-running OpenAI-compatible endpoint (a hosted API, a server someone else started)."""

from __future__ import annotations

import os
from typing import Any

from .base import SERVER_SAMPLING_FIELDS, Endpoint, Engine


class OpenAIEndpointEngine(Engine):
    """Talks to `base_url` as `model`; starts and stops nothing."""

    def __init__(self, base_url: str, model: str, revision: str = "", api_key_env: str = "OPENAI_API_KEY",
                 grammar_field: str | None = None, server: str = "vllm"):
        self.base_url = base_url.rstrip("/")
        self.sampling_fields = SERVER_SAMPLING_FIELDS[server]  # how that server names top_k, min_p, penalties
        self.model = model
        self.revision = revision
        self.api_key_env = api_key_env
        # Which body field the server reads a GBNF grammar from: only the config can say (grammar, ebnf...).
        self.grammar_field = grammar_field

    def fingerprint(self) -> dict[str, Any]:
        # The URL is where the model runs, not what it is: moving a server keeps its cache.
        return {"engine": "openai", "model": self.model, "revision": self.revision}

    def open(self) -> Endpoint:
        return Endpoint(self.base_url, self.model)

    @property
    def api_key(self) -> str:
        return os.environ.get(self.api_key_env, "none")
