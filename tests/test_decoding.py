"""Temperature 0 is plain greedy decoding on the demo's real llama.cpp servers: what the workflow's
client gets equals an argmax loop over the model's own logits, in process, with nothing added.
Left to its defaults, llama-cpp-python's server would apply repeat_penalty 1.1 before the greedy step
(and top_k 40, min_p 0.05), which changes the reply (README, "Fidelity": sampling)."""

import asyncio
import json
import sys
import urllib.request

import numpy as np
import pytest
import yaml

from slmbench.cache import RequestCache
from slmbench.client import ChatClient, fold_system_prompt
from slmbench.config import ROOT, validate_config
from slmbench.engines.llamacpp import LlamaCppEngine

llama_cpp = pytest.importorskip("llama_cpp")

DEMO = validate_config(yaml.safe_load((ROOT / "config.yaml").read_text()))
MAX_TOKENS = 40
# A repetition task, where a repetition penalty shows, and a FinBen-like question.
PROMPTS = ["Write the word 'yes' ten times.", "Is the sentence 'profits rose sharply' positive, negative or neutral? Explain."]


def chat_prompt(llm, model: dict, messages: list[dict]) -> str:
    """The prompt text the server builds: the named chat format, else the GGUF's own template."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    if model.get("chat_format"):
        return getattr(llama_cpp.llama_chat_format, f"format_{model['chat_format']}")(messages=messages).prompt
    text = llm._model.token_get_text
    return Jinja2ChatFormatter(llm.metadata["tokenizer.chat_template"], eos_token=text(llm.token_eos()),
                               bos_token=text(llm.token_bos()))(messages=messages).prompt


def plain_greedy(llm, prompt: str) -> str:
    """The argmax of the model's logits, token by token, until an end-of-generation token."""
    llm.reset()
    llm.eval(llm.tokenize(prompt.encode(), add_bos=True, special=True))
    out = []
    for _ in range(MAX_TOKENS):
        token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        if llama_cpp.llama_vocab_is_eog(llm._model.vocab, token):
            break
        out.append(token)
        llm.eval([token])
    return llm.detokenize(out).decode("utf-8", errors="replace")


def server_default_reply(endpoint, messages: list[dict]) -> str:
    """The same request with only the parameters the paper states: the server fills in the rest."""
    body = {"model": endpoint.model, "messages": messages, "temperature": 0.0, "top_p": 0.9, "max_tokens": MAX_TOKENS, "seed": 0}
    request = urllib.request.Request(endpoint.base_url + "/chat/completions", json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as r:
        return json.load(r)["choices"][0]["message"]["content"]


@pytest.mark.parametrize("name", sorted(DEMO["models"]))
def test_temperature_0_is_plain_greedy_on_the_demos_models(tmp_path, name):
    model = DEMO["models"][name]
    engine = LlamaCppEngine(name, model, models_dir=ROOT / DEMO["models_dir"], ready_timeout_s=120, idle_timeout_s=0,
                            state_dir=tmp_path / "servers", log=sys.stderr)
    llm = llama_cpp.Llama(str(engine.weights_path), n_ctx=model["context_length"], logits_all=True, verbose=False)
    endpoint = engine.open()
    try:
        client = ChatClient(lambda: endpoint, engine.fingerprint(), RequestCache(tmp_path / "cache"),
                            {**model["sampling"], "max_tokens": MAX_TOKENS}, system_role=model["system_role"],
                            sampling_fields=engine.sampling_fields)
        conversations = [[{"role": "user", "content": text}] for text in PROMPTS]

        async def replies():  # one event loop for the client's connections
            return [(await client.chat(messages, "base")).output for messages in conversations]

        differs = 0
        for messages, reply in zip(conversations, asyncio.run(replies())):
            sent = messages if model["system_role"] else fold_system_prompt(messages)
            reference = plain_greedy(llm, chat_prompt(llm, model, sent))
            assert reply == reference, messages
            differs += server_default_reply(endpoint, sent) != reference
    finally:
        engine.close()
    assert differs >= 1  # the server's own defaults would have changed a reply: what the explicit fields prevent
