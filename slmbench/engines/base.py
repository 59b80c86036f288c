"""The one interface generation needs from a serving engine: an OpenAI-compatible endpoint."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Endpoint:
    """Where to send chat completion requests, and the model name to put in them."""

    base_url: str  # ends in /v1
    model: str


class EngineError(RuntimeError):
    """An engine could not provide an endpoint; the message says why and what to do."""


class Engine(ABC):
    """Provides an endpoint for one model and identifies what answers there."""

    # The request body field that carries a grammar (GBNF) for constrained decoding; None: no grammars.
    grammar_field: str | None = None

    @abstractmethod
    def fingerprint(self) -> dict[str, Any]:
        """What determines the model's answers (weights, engine, server flags): the cache key's model part."""

    @abstractmethod
    def open(self) -> Endpoint:
        """Make the endpoint usable (start or join a server) and return it."""

    def recover(self) -> Endpoint:
        """An endpoint to retry on after a failed request; engines that run their own server restart it."""
        return self.open()

    def close(self) -> None:
        """Release what open() took; a shared server may go on serving other jobs."""


def package_version(distribution: str) -> str:
    """An engine's installed version: a new release may answer differently, so fingerprints name it."""
    from importlib.metadata import PackageNotFoundError, version  # only where a fingerprint is taken

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"
