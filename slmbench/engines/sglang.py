"""SGLang's OpenAI-compatible server, the engine of the paper's grid on a GPU node.

Flag names follow SGLang's server arguments (docs/advanced_features/server_arguments.md in
sgl-project/sglang: --model-path, --tp-size, --mem-fraction-static, --context-length,
--random-seed, --reasoning-parser, --tool-call-parser, --sampling-defaults,
--enable-deterministic-inference, --enable-metrics, --served-model-name).
"""

from __future__ import annotations

import json
import sys
from functools import cached_property
from pathlib import Path
from typing import Any

from .base import EngineError, package_version
from .hub import OFFLINE_ENV, read_record
from .managed import ManagedServerEngine
from .weights import file_sha256


# SGLang gives up on a grammar that is not compiled after SGLANG_GRAMMAR_MAX_POLL_ITERATIONS polls of
# at least 5 ms each (10,000 by default: 50 s), and then answers 400 to every request with that grammar
# until the server restarts (sglang/srt/constrained/grammar_manager.py). xgrammar's compile time grows
# with the vocabulary: 4-10 s for 49k tokens, 33-55 s for 152k, 70-113 s for 262k, measured on 2 busy
# cores; the wait allows three times that, and the largest vocabulary of the paper grid (Gemma-3's
# 262,144) where the model's own is not known before its server starts.
GRAMMAR_POLL_S = 0.005

# With a reasoning parser, SGLang applies a grammar only after the model's own end of thinking
# (srt/constrained/reasoner_grammar_backend.py), so the protocol grammar, which bounds its own <think>,
# would demand a second one inside the whole max_tokens. A request that turns thinking off
# (chat_template_kwargs, read as require_reasoning = False: serving_chat.py, _get_reasoning_from_request)
# is constrained from its first token. By reasoning parser: the request fields that do it. Parsers
# whose models always think (deepseek-r1) have none, and config validation refuses them constrained.
THINKING_OFF = {"qwen3": {"chat_template_kwargs": {"enable_thinking": False}}}
LARGEST_VOCABULARY = 262_144


def grammar_wait_s(vocab_size: int | None) -> float:
    return max(60.0, 1.3e-3 * (vocab_size or LARGEST_VOCABULARY))


class SGLangEngine(ManagedServerEngine):
    """`python -m sglang.launch_server` serving one model (hub id or local path) on loopback."""

    # /v1/models answers while the model still warms up; /health_generate runs one generation.
    health_path = "/health_generate"
    # SGLang's OpenAI-compatible request takes `ebnf` (xgrammar, its default grammar backend, reads GBNF),
    # `regex` or `json_schema` as extra body fields (docs: advanced_features/structured_outputs).
    grammar_field = "ebnf"
    server_module = "sglang.launch_server"
    install_hint = "it serves on a GPU node: run the workflow with --sdm conda (envs/sglang.yaml) or install it there"

    def __init__(self, name: str, cfg: dict[str, Any], *, models_dir: Path, **kwargs):
        super().__init__(name, **kwargs)
        self.cfg = cfg
        self.settings = cfg["sglang"]
        self.models_dir = models_dir  # where the weights job's record of a hub model lies

    def served_model(self) -> str:
        return self.settings.get("served_model_name") or self.name

    def server_env(self) -> dict[str, str]:
        """The grammar wait sized for the vocabulary, the config's own variables (`sglang.env`), and last,
        so that nothing undoes them, the variables that keep the server off the hub."""
        polls = round(grammar_wait_s(self.vocab_size()) / GRAMMAR_POLL_S)
        return {"SGLANG_GRAMMAR_MAX_POLL_ITERATIONS": str(polls), **self.settings["env"], **OFFLINE_ENV}

    def constrained_extras(self) -> dict[str, Any]:
        return THINKING_OFF.get(self.settings.get("reasoning_parser"), {})

    def model_folder(self) -> Path:
        """What the server loads: the local path, or the snapshot the weights job fetched."""
        return self.local_path or Path(self.hub_weights["snapshot"])

    def vocab_size(self) -> int | None:
        """From the model folder's config.json; None where it cannot be read (a single file, say)."""
        folder = self.model_folder()
        config = folder / "config.json" if folder.is_dir() else None
        try:
            with open(config, "rb") as f:  # a model's config.json is a few kB
                data = json.loads(f.read(1 << 20))
        except (TypeError, OSError, ValueError):
            return None
        for entry in (data, data.get("text_config")) if isinstance(data, dict) else ():
            size = entry.get("vocab_size") if isinstance(entry, dict) else None
            if isinstance(size, int) and size > 0:
                return size
        return None

    @cached_property
    def local_path(self) -> Path | None:
        """The model as a local file or folder, or None when model_path is a hub id."""
        path = Path(self.settings["model_path"]).expanduser()
        return path.resolve() if path.exists() else None

    @cached_property
    def hub_weights(self) -> dict[str, Any]:
        """A hub model's record from the weights job (slmbench/engines/hub.py): commit and snapshot folder."""
        return read_record(self.name, self.cfg, self.models_dir)

    def answer_flags(self) -> list[str]:
        """Flags that can change the answers; port, host, memory fraction, metrics and the served name cannot."""
        s = self.settings
        # What a request leaves unset: the model's generation_config.json only where the config asks for
        # it (sampling.model_defaults); otherwise nothing is left unset anyway (engines/base.py).
        defaults = "model" if self.cfg["sampling"].get("model_defaults") else "openai"
        flags = ["--context-length", str(self.cfg["context_length"]), "--tp-size", str(s["tp_size"]),
                 "--random-seed", str(s["random_seed"]), "--sampling-defaults", defaults]
        for key, flag in (("dtype", "--dtype"), ("reasoning_parser", "--reasoning-parser"),
                          ("tool_call_parser", "--tool-call-parser")):
            if s.get(key):
                flags += [flag, str(s[key])]
        if s.get("deterministic"):
            flags.append("--enable-deterministic-inference")
        if s.get("trust_remote_code"):  # the hub's own tokenizer or model code may replace SGLang's
            flags.append("--trust-remote-code")
        return flags + [str(a) for a in s.get("extra_args", [])]

    def model_identity(self) -> dict[str, Any]:
        """Hub id and the commit the weights job fetched, or the content hash of a local file or folder."""
        if self.local_path is None:
            return {"hub_id": self.hub_weights["hub_id"], "commit": self.hub_weights["commit"]}
        memo = self.state_dir / "hashes"
        if self.local_path.is_file():
            return {"weights_sha256": file_sha256(self.local_path, memo)}
        files = sorted(p for p in self.local_path.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(self.local_path).parts))
        if not files:
            raise EngineError(f"models.{self.name}.sglang.model_path: the folder {self.local_path} holds no files")
        return {"weights_sha256": {str(p.relative_to(self.local_path)): file_sha256(p, memo) for p in files}}

    def fingerprint(self) -> dict[str, Any]:
        identity = {"engine": "sglang", **self.model_identity(), "sglang": package_version("sglang"), "flags": self.answer_flags()}
        if self.settings["env"]:  # like extra_args, the config's own variables count as changing answers
            identity["env"] = self.settings["env"]
        return identity

    def launch_command(self, port: int, served_model: str) -> list[str]:
        s = self.settings
        command = [
            sys.executable, "-m", self.server_module,
            # Never a hub id: a hub model starts from the snapshot the weights job fetched, offline.
            "--model-path", str(self.model_folder()),
            "--host", "127.0.0.1", "--port", str(port),
            "--mem-fraction-static", str(s["mem_fraction_static"]),
            "--served-model-name", served_model,
        ]
        if s.get("enable_metrics"):
            command.append("--enable-metrics")
        return command + self.answer_flags()

