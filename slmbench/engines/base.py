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


# Sampling parameters of OpenAI's own chat API; the others travel in the request's extra body.
OPENAI_SAMPLING = ("temperature", "top_p", "max_tokens", "seed", "presence_penalty", "frequency_penalty")
# Those a request always states, also where the model's own generation defaults fill the rest.
STATED_SAMPLING = ("temperature", "top_p", "max_tokens", "seed")


@dataclass(frozen=True)
class SamplingFields:
    """How a server names the sampling parameters OpenAI's API lacks, and the value that switches
    its top-k off: every request states all of them, because a server fills what a request leaves
    out with its own or the model's defaults (README, "Fidelity": sampling)."""

    top_k: str = "top_k"
    top_k_off: int = -1  # SGLang's and vLLM's "whole vocabulary"
    min_p: str = "min_p"
    repetition_penalty: str = "repetition_penalty"

    def request(self, sampling: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The chat request's OpenAI arguments and extra body fields for the config's `sampling`."""
        if sampling.get("model_defaults"):
            return {k: sampling[k] for k in STATED_SAMPLING}, {}
        extra = {
            self.top_k: sampling["top_k"] or self.top_k_off,
            self.min_p: sampling["min_p"],
            self.repetition_penalty: sampling["repetition_penalty"],
        }
        return {k: sampling[k] for k in OPENAI_SAMPLING}, extra


class EngineError(RuntimeError):
    """An engine could not provide an endpoint; the message says why and what to do."""


class Engine(ABC):
    """Provides an endpoint for one model and identifies what answers there."""

    # The request body field that carries a grammar (GBNF) for constrained decoding; None: no grammars.
    grammar_field: str | None = None
    sampling_fields = SamplingFields()

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
