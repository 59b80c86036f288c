"""The agent paradigms' config, read from the paradigm's mapping with defaults for missing keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from slmbench.agents.grammar import check_mode
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
    constrain           "none" (free text, the paper's protocol), "protocol" or "answer": constrained
                        decoding (slmbench.agents.grammar) ["none"]
    max_tokens          the requests' max_tokens, which bounds a grammar's <think>; the generation step
                        sets the cell's effective value [None: required when constrain is not "none"]
    """

    max_turns: int = DEFAULTS["max_turns"]
    max_delegations: int = DEFAULTS["max_delegations"]
    tool_output_tokens: int = DEFAULTS["tool_output_tokens"]
    tool_timeout_s: float = float(DEFAULTS["tool_timeout_s"])
    tools: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    constrain: str = DEFAULTS["constrain"]
    max_tokens: int | None = None

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
            constrain=check_mode(str(settings.get("constrain", defaults.constrain))),
            max_tokens=int(settings["max_tokens"]) if settings.get("max_tokens") else None,
        )
        if values.max_turns < 1 or values.max_delegations < 1 or values.tool_output_tokens < 1 or values.tool_timeout_s <= 0:
            raise ValueError(f"agent settings must be positive: {values}")
        if values.constrain != "none" and values.max_tokens is None:
            raise ValueError("constrained agents need max_tokens: it bounds the grammar's <think>")
        return values
