"""The install's last step: one real generation through the llama.cpp engine on this machine.

A llama.cpp build can install cleanly and still die on its first matrix product (a build for
CPU features this machine lacks or does not fully support: SIGILL). `make install` runs this,
so such an engine fails the install, with the cause and what to do, instead of a run that
records every sample as a failure.

    python -m slmbench.engines.check
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from ..cache import RequestCache
from ..client import ChatClient, ServerFailure
from ..config import DEFAULT_CONFIG, validate_config
from ..yamlfile import load_yaml
from .base import EngineError
from .llamacpp import LlamaCppEngine

WHAT_TO_DO = """\
What to do: the llama.cpp engine was built by `make install` with ENGINE_CMAKE_ARGS (default
-DGGML_NATIVE=OFF: AVX2, FMA and F16C, no AVX-512 or AMX). If the log above says SIGILL, this CPU
lacks even those: rebuild with fewer features, for example
    make install ENGINE_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=OFF -DGGML_FMA=OFF"
(README, 'Install'). Otherwise the log above names the problem (weights, memory, flags)."""


def check(log=sys.stdout) -> str:
    """The reply of the demo's first llama.cpp model to one short prompt; raises EngineError or ServerFailure."""
    config = validate_config(load_yaml(DEFAULT_CONFIG))
    name, model = next((n, m) for n, m in config["models"].items() if m["engine"] == "llamacpp")
    with tempfile.TemporaryDirectory(prefix="slmbench-check-") as tmp:
        engine = LlamaCppEngine(name, model, models_dir=Path(config["models_dir"]), ready_timeout_s=120,
                                idle_timeout_s=0, state_dir=Path(tmp) / "servers", max_restarts=0, log=log)
        sampling = {**model["sampling"], "max_tokens": 8}
        client = ChatClient(engine.open, engine.fingerprint(), RequestCache(Path(tmp) / "cache"), sampling,
                            retries=0, recover_endpoint=engine.recover, sampling_fields=engine.sampling_fields)
        try:
            call = asyncio.run(client.chat([{"role": "user", "content": "Is 'profits rose' positive or negative?"}], "check"))
        finally:
            engine.close()
            engine.wait_stopped()  # its supervisor writes into the temporary folder until it has stopped
    if call.completion_tokens < 1:
        raise EngineError(f"the {name} server answered without generating a token")
    return f"{name}: {call.output.strip()!r} ({call.completion_tokens} tokens)"


def main() -> int:
    with tempfile.TemporaryFile("w+") as log:  # the engine's own lines; its error already quotes the server log
        try:
            reply = check(log)
        except (EngineError, ServerFailure) as e:
            print(f"The llama.cpp engine does not generate on this machine: {e}\n\n{WHAT_TO_DO}", file=sys.stderr)
            return 1
    print(f"llama.cpp engine check: one real generation works ({reply})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
