"""The sampling every paper-grid request carries, read by SGLang's own request model.

SGLang fills each field a request leaves out from the model's generation_config.json
(`ChatCompletionRequest.to_sampling_params`: request value, then generation_config, then OpenAI's
defaults). These tests hand it a generation_config with penalties and truncation and check that our
request leaves none of them in effect."""

import pytest
import yaml

from sglang_wheel import sglang_module
from slmbench.config import ROOT, validate_config
from slmbench.engines.sglang import SGLangEngine

# What Qwen-style models ship in generation_config.json, made stronger so that any leak shows.
GENERATION_CONFIG = {"repetition_penalty": 1.3, "top_k": 20, "min_p": 0.1, "temperature": 0.7, "top_p": 0.8,
                     "presence_penalty": 0.5, "frequency_penalty": 0.5}
PAPER = validate_config(yaml.safe_load((ROOT / "configs" / "paper.yaml").read_text()))["models"]


def server_params(name: str, model: dict) -> dict:
    request_model = sglang_module("sglang.srt.entrypoints.openai.protocol").ChatCompletionRequest
    engine = SGLangEngine(name, model, models_dir=ROOT / "resources" / "models", ready_timeout_s=1, idle_timeout_s=0)
    args, extra = engine.sampling_fields.request(model["sampling"])
    request = request_model(model=name, messages=[{"role": "user", "content": "Sentiment?"}], **args, **extra)
    return request.to_sampling_params(stop=[], model_generation_config=GENERATION_CONFIG)


@pytest.mark.parametrize("name", sorted(PAPER))
def test_every_paper_model_decodes_as_its_config_states(name):
    model = PAPER[name]
    params = server_params(name, model)
    stated = model["sampling"]
    assert {k: params[k] for k in ("temperature", "top_p", "max_new_tokens", "sampling_seed")} == {
        "temperature": stated["temperature"], "top_p": stated["top_p"], "max_new_tokens": stated["max_tokens"],
        "sampling_seed": stated["seed"]}
    # No penalty and no truncation: -1 is SGLang's "top_k off" (sampling_params.py), min_p 0 keeps every token.
    assert {k: params[k] for k in ("repetition_penalty", "presence_penalty", "frequency_penalty", "top_k", "min_p")} == {
        "repetition_penalty": 1.0, "presence_penalty": 0.0, "frequency_penalty": 0.0, "top_k": -1, "min_p": 0.0}


def test_model_defaults_lets_the_generation_config_fill_the_rest():
    name, model = next(iter(PAPER.items()))
    model = {**model, "sampling": {**model["sampling"], "model_defaults": True}}
    params = server_params(name, model)
    assert params["temperature"] == 0.0 and params["top_p"] == model["sampling"]["top_p"]  # stated: still sent
    assert params["repetition_penalty"] == 1.3 and params["top_k"] == 20 and params["min_p"] == 0.1
