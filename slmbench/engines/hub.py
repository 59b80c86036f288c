"""SGLang weights from the Hugging Face hub: fetched by the `weights` job where the internet is (a login
node), served offline from the cache on the GPU nodes.

The job writes a record, `<models_dir>/<model>.hub.json`: hub id, requested revision, the commit it
resolved to and the snapshot folder in `hub_cache`. The SGLang engine serves that folder
(`--model-path`) with the hub switched off (OFFLINE_ENV) and names the model by hub id and commit, so an
unpinned `main` still names exact weights. Which repositories are gated is known from the config
(`sglang.gated`), never from the network: plan time has none guaranteed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..files import atomic_write_text, read_regular
from .base import EngineError

# What SGLang reads: weights (safetensors), config, generation_config, tokenizer and chat template
# files, and the code of trust_remote_code models.
ALLOW_PATTERNS = ["*.safetensors", "*.json", "*.model", "*.tiktoken", "*.txt", "*.py", "*.jinja"]
# The same weights again in another format: Meta's checkpoint (Llama's original/), Mistral's own
# consolidated.safetensors.
IGNORE_PATTERNS = ["original/*", "consolidated*"]
# The server's environment: no request to the hub from a GPU node, whatever the libraries try.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
TOKEN_HELP = "set HF_TOKEN (or run `huggingface-cli login`) with an account that has accepted the model's license"


def hub_id(model_cfg: dict[str, Any]) -> str | None:
    """The hub id an SGLang model is served from; None for a local folder or file, or another engine."""
    if model_cfg["engine"] != "sglang":
        return None
    path = model_cfg["sglang"]["model_path"]
    return None if Path(path).expanduser().exists() else path


def record_path(models_dir: str | Path, model: str) -> str:
    """The `weights` job's output for `model` (a rule output pattern when `model` is '{model}')."""
    return f"{models_dir}/{model}.hub.json"


def weights_slice(model_cfg: dict[str, Any]) -> dict[str, Any]:
    """What decides the fetched weights (the job's params, keys sorted): a new one refetches them."""
    return {"hub_id": model_cfg["sglang"]["model_path"], "revision": model_cfg["sglang"]["revision"]}


def fetch(model: str, params: dict[str, Any], hub_cache: str, record: str, log) -> dict[str, Any]:
    """Download the model's files at its revision into `hub_cache` (the user's token, if any) and write
    the record. With HF_HUB_OFFLINE=1 the cache alone answers."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

    repo, revision = params["hub_id"], params["revision"]
    print(f"[weights] {model}: {repo} at {revision or 'main (unpinned)'} into {hub_cache}", file=log, flush=True)
    try:
        folder = Path(snapshot_download(repo, revision=revision, cache_dir=hub_cache, allow_patterns=ALLOW_PATTERNS,
                                        ignore_patterns=IGNORE_PATTERNS))
    except GatedRepoError:
        raise EngineError(f"models.{model}: {repo} is gated and this account may not read it; {TOKEN_HELP}") from None
    except RepositoryNotFoundError:
        raise EngineError(f"models.{model}.sglang.model_path: no hub repository {repo!r} (or it is private or gated: {TOKEN_HELP})") from None
    except LocalEntryNotFoundError as e:
        raise EngineError(f"models.{model}: {repo} at {revision or 'main'} is not in {hub_cache} and the hub cannot be reached "
                          f"(run this job where the internet is, without HF_HUB_OFFLINE): {e}") from None
    except HfHubHTTPError as e:
        raise EngineError(f"models.{model}: downloading {repo} at {revision or 'main'} failed: {e}") from None
    if not any(folder.glob("*.safetensors")):
        raise EngineError(f"models.{model}: {repo} at {folder.name} has no *.safetensors weights; "
                          "convert them and set sglang.model_path to the local folder")
    found = {"hub_id": repo, "revision": revision, "commit": folder.name, "snapshot": str(folder.absolute())}
    atomic_write_text(Path(record), json.dumps(found, indent=1) + "\n")
    print(f"[weights] {model}: commit {folder.name}, snapshot {found['snapshot']}", file=log, flush=True)
    return found


def read_record(model: str, model_cfg: dict[str, Any], models_dir: str | Path) -> dict[str, Any]:
    """The `weights` job's record, checked against the config and its snapshot against the disk: what the
    engine serves and names the model by."""
    path = Path(record_path(models_dir, model))
    redo = f"run the weights job where the internet is: snakemake --forcerun weights {path}"
    try:
        found = json.loads(read_regular(path))  # a FIFO or a bomb in the models folder is no record
        snapshot = Path(found["snapshot"])
        found["commit"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise EngineError(f"models.{model}: no readable weights record {path} ({e}); {redo}") from None
    wanted = weights_slice(model_cfg)
    if {key: found.get(key) for key in wanted} != wanted:
        raise EngineError(f"models.{model}: the weights record {path} is for {found.get('hub_id')} at {found.get('revision')}, "
                          f"the config asks for {wanted['hub_id']} at {wanted['revision']}; {redo}")
    if not (snapshot / "config.json").is_file():
        raise EngineError(f"models.{model}: the snapshot {snapshot} named by {path} is gone or incomplete; {redo}")
    return found


def require_tokens(config: dict[str, Any]) -> None:
    """At plan time: a gated model (`sglang.gated`) whose weights are not fetched yet needs a token."""
    if os.environ.get("HF_TOKEN"):
        return
    missing = [name for name, m in config["models"].items()
               if hub_id(m) and m["sglang"]["gated"] and not _fetched(name, m, config["models_dir"])]
    if not missing:
        return
    from huggingface_hub import get_token  # the saved login (huggingface-cli login)

    if get_token():
        return
    names = ", ".join(f"{name} ({config['models'][name]['sglang']['model_path']})" for name in missing)
    raise EngineError(f"gated Hugging Face models without a token: {names}; {TOKEN_HELP}, then run again "
                      "(config key models.<name>.sglang.gated)")


def _fetched(model: str, model_cfg: dict[str, Any], models_dir: str) -> bool:
    try:
        read_record(model, model_cfg, models_dir)
    except EngineError:
        return False
    return True
