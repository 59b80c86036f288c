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

    top_k: str | None = "top_k"  # None: the server takes no such parameter (OpenAI's own API)
    top_k_off: int = -1  # SGLang's and vLLM's "whole vocabulary"
    min_p: str | None = "min_p"
    repetition_penalty: str | None = "repetition_penalty"

    def request(self, sampling: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The chat request's OpenAI arguments and extra body fields for the config's `sampling`."""
        if sampling.get("model_defaults"):
            return {k: sampling[k] for k in STATED_SAMPLING}, {}
        extra = {
            self.top_k: sampling["top_k"] or self.top_k_off,
            self.min_p: sampling["min_p"],
            self.repetition_penalty: sampling["repetition_penalty"],
        }
        return {k: sampling[k] for k in OPENAI_SAMPLING}, {field: v for field, v in extra.items() if field}


# By the kind of server behind an endpoint (models.<name>.endpoint.server); the managed engines name theirs.
# llama.cpp's top_k 0 is no truncation (its top-k sampler skips k <= 0); left out, its server would use
# top_k 40, min_p 0.05 and repeat_penalty 1.1 (llama_cpp/server/types.py), the penalty before greedy.
SERVER_SAMPLING_FIELDS = {
    "vllm": SamplingFields(),
    "sglang": SamplingFields(),
    "llamacpp": SamplingFields(top_k_off=0, repetition_penalty="repeat_penalty"),
    "openai": SamplingFields(top_k=None, min_p=None, repetition_penalty=None),
}


class EngineError(RuntimeError):
    """An engine could not provide an endpoint; the message says why and what to do."""


class Engine(ABC):
    """Provides an endpoint for one model and identifies what answers there."""

    # The request body field that carries a grammar (GBNF) for constrained decoding; None: no grammars.
    grammar_field: str | None = None
    sampling_fields = SamplingFields()

    def constrained_extras(self) -> dict[str, Any]:
        """More request body fields for a constrained request (beside the grammar); none by default."""
        return {}

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
