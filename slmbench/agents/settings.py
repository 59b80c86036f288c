"""The agent paradigms' config, read from the paradigm's mapping with defaults for missing keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from slmbench.config import schema_defaults

DEFAULTS = schema_defaults("paradigm")  # schemas/config.schema.yaml, $defs.paradigm


@dataclass(frozen=True)
class AgentSettings:
    """Keys of the `settings` mapping (all optional; other keys are ignored).

    max_turns           model replies per agent episode (each ReAct agent, and the supervisor)
    max_delegations     delegations the supervisor may make per sample
    tool_output_tokens  budget for one observation, in approximate tokens (chars / 4)
    tool_timeout_s      wall-clock limit for one tool call
    tools               per-tool config by tool name, e.g.
                        {"wikipedia_search": {"backend": "local", "index": "<dir>", "top_k": 3}}
                        (keys documented in slmbench.tools.toolbox) [{}: local BM25 over
                        the shipped finance corpus for both search tools]
    """

    max_turns: int = DEFAULTS["max_turns"]
    max_delegations: int = DEFAULTS["max_delegations"]
    tool_output_tokens: int = DEFAULTS["tool_output_tokens"]
    tool_timeout_s: float = float(DEFAULTS["tool_timeout_s"])
    tools: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any] | None) -> "AgentSettings":
        settings = settings or {}
        defaults = cls()
        values = cls(
            max_turns=int(settings.get("max_turns", defaults.max_turns)),
            max_delegations=int(settings.get("max_delegations", defaults.max_delegations)),
            tool_output_tokens=int(settings.get("tool_output_tokens", defaults.tool_output_tokens)),
            tool_timeout_s=float(settings.get("tool_timeout_s", defaults.tool_timeout_s)),
            tools=dict(settings.get("tools") or {}),
        )
        if values.max_turns < 1 or values.max_delegations < 1 or values.tool_output_tokens < 1 or values.tool_timeout_s <= 0:
            raise ValueError(f"agent settings must be positive: {values}")
        return values
