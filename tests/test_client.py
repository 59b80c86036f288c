"""Fault injection the real server cannot produce: 5xx bursts, hangs, dead ports, context errors.

The server here is a small local HTTP server that answers in the OpenAI format (allowed for fault
injection only); real replies are covered by the llama.cpp tests.
"""

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from slmbench.cache import RequestCache
from slmbench.client import ChatClient, ServerFailure
from slmbench.config import schema_defaults
from slmbench.engines.base import Endpoint, SamplingFields
from slmbench.engines.managed import free_port
from slmbench.trace import ChatError

SAMPLING = {**schema_defaults("sampling"), "max_tokens": 8}
MESSAGES = [{"role": "user", "content": "Sentiment of 'profits rose'?"}]


class FaultyServer:
    """Replies with the scripted statuses in order (("reply", text) for a 200 with that text; a dict for a
    200 whose choice and usage take its "message", "finish_reason" and "usage"), then 200s."""

    def __init__(self, script):
        self.script, self.requests = list(script), []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                outer.requests.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                step = outer.script.pop(0) if outer.script else 200
                if step == "hang":
                    threading.Event().wait(3)
                    step = 200
                content, shape = "positive", {}
                if isinstance(step, dict):
                    status, shape = 200, step
                elif isinstance(step, tuple) and step[0] == "reply":
                    status, content = 200, step[1]
                elif isinstance(step, tuple):
                    status, message = step
                else:
                    status, message = step, "boom"
                if status == 200:
                    body = {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                            "choices": [{"index": 0, "message": {"role": "assistant", "content": content, **shape.get("message", {})},
                                         "finish_reason": shape.get("finish_reason", "stop")}],
                            "usage": shape.get("usage", {"prompt_tokens": 11, "completion_tokens": 1, "total_tokens": 12})}
                else:
                    body = {"error": {"message": message, "type": "error"}}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def endpoint(self):
        return Endpoint(f"http://127.0.0.1:{self.httpd.server_address[1]}/v1", "m")


def chat(tmp_path, endpoint, **kwargs):
    opened = []

    def open_endpoint():
        opened.append(1)
        return endpoint

    client = ChatClient(open_endpoint, {"engine": "test"}, RequestCache(tmp_path), SAMPLING, backoff_s=0.01,
                        sampling_fields=SamplingFields(), **kwargs)
    return client, opened


def test_5xx_is_retried_and_sampling_is_sent_explicitly(tmp_path):
    server = FaultyServer([500, 503])
    client, _ = chat(tmp_path, server.endpoint, retries=3)
    call = asyncio.run(client.chat(MESSAGES, "base"))
    assert call.output == "positive" and call.prompt_tokens == 11 and not call.cache_hit
    assert len(server.requests) == 3 and client.stats.retries == 2
    sent = server.requests[-1]
    # Temperature 0 is plain greedy: every parameter a server would otherwise fill is stated as "off".
    assert {k: sent[k] for k in ("temperature", "top_p", "max_tokens", "seed")} == {"temperature": 0.0, "top_p": 0.9, "max_tokens": 8, "seed": 0}
    assert {k: sent[k] for k in ("top_k", "min_p", "repetition_penalty", "presence_penalty", "frequency_penalty")} == {
        "top_k": -1, "min_p": 0.0, "repetition_penalty": 1.0, "presence_penalty": 0.0, "frequency_penalty": 0.0}


def test_a_cache_hit_opens_no_endpoint(tmp_path):
    server = FaultyServer([])
    client, _ = chat(tmp_path, server.endpoint)
    asyncio.run(client.chat(MESSAGES, "base"))
    replay, opened = chat(tmp_path, Endpoint("http://127.0.0.1:9/v1", "m"))
    call = asyncio.run(replay.chat(MESSAGES, "base"))
    assert call.cache_hit and call.output == "positive" and opened == [] and replay.stats.sent == 0


def test_persistent_5xx_fails_the_job_not_the_sample(tmp_path):
    server = FaultyServer([500, 500, 500])
    client, opened = chat(tmp_path, server.endpoint, retries=2)
    with pytest.raises(ServerFailure, match="no reply to one request in 3 attempts(.|\n)*InternalServerError"):
        asyncio.run(client.chat(MESSAGES, "base"))
    assert len(server.requests) == 3 and len(opened) == 3  # opened, then the engine asked to recover before each retry


def test_a_dead_port_fails_the_job(tmp_path):
    client, _ = chat(tmp_path, Endpoint(f"http://127.0.0.1:{free_port()}/v1", "m"), retries=1)
    with pytest.raises(ServerFailure, match="APIConnectionError"):
        asyncio.run(client.chat(MESSAGES, "base"))


def test_a_hanging_request_is_retried_and_then_fails_the_job(tmp_path):
    server = FaultyServer(["hang", "hang"])
    client, _ = chat(tmp_path, server.endpoint, timeout_s=0.5, retries=1)
    with pytest.raises(ServerFailure, match=r"no reply within 0.5 s \(client.timeout_s\)"):
        asyncio.run(client.chat(MESSAGES, "base"))


def test_a_request_that_failed_is_answered_on_the_recovered_endpoint(tmp_path):
    """The engine's recover() replaces a dead endpoint (a restarted server): requests go on there."""
    server = FaultyServer([])
    dead = Endpoint(f"http://127.0.0.1:{free_port()}/v1", "m")
    client = ChatClient(lambda: dead, {"engine": "test"}, RequestCache(tmp_path), SAMPLING, backoff_s=0.01,
                        recover_endpoint=lambda: server.endpoint, sampling_fields=SamplingFields())

    async def four_at_once():
        return await asyncio.gather(*(client.chat([{"role": "user", "content": str(i)}], "base") for i in range(4)))

    calls = asyncio.run(four_at_once())
    assert [c.output for c in calls] == ["positive"] * 4
    assert client.stats.recoveries == 1 and len(server.requests) == 4  # one recovery, however many requests failed


def test_a_recovery_that_fails_fails_the_job_with_its_cause(tmp_path):
    from slmbench.engines import EngineError

    def cannot_restart():
        raise EngineError("the smol server stopped answering, and this job has used 2 of its 2 restarts; the end of its log: SIGILL")

    client = ChatClient(lambda: Endpoint(f"http://127.0.0.1:{free_port()}/v1", "m"), {"engine": "test"},
                        RequestCache(tmp_path), SAMPLING, backoff_s=0.01, recover_endpoint=cannot_restart,
                        sampling_fields=SamplingFields())
    with pytest.raises(ServerFailure, match="SIGILL"):
        asyncio.run(client.chat(MESSAGES, "base"))


def test_a_request_the_server_refuses_fails_the_job(tmp_path):
    server = FaultyServer([(400, "grammar parse error")])
    client, _ = chat(tmp_path, server.endpoint)
    with pytest.raises(ServerFailure, match="refused a request(.|\n)*grammar parse error"):
        asyncio.run(client.chat(MESSAGES, "base"))
    assert len(server.requests) == 1


def test_a_too_long_prompt_is_a_context_failure(tmp_path):
    server = FaultyServer([(400, "Requested tokens (5000) exceed context window of 2048")])
    client, _ = chat(tmp_path, server.endpoint)
    with pytest.raises(ChatError) as err:
        asyncio.run(client.chat(MESSAGES, "base"))
    assert err.value.kind == "context_length_exceeded" and len(server.requests) == 1


def test_a_template_without_system_role_gets_the_system_prompt_in_the_first_user_turn(tmp_path):
    server = FaultyServer([])
    client, _ = chat(tmp_path, server.endpoint, system_role=False)
    system = {"role": "system", "content": "You are an analyst. Tools: calculator."}
    later = [{"role": "assistant", "content": "<think>.</think>"}, {"role": "user", "content": "<observation>1</observation>"}]
    call = asyncio.run(client.chat([system, *MESSAGES, *later], "single_agent"))
    sent = server.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[0]["content"].startswith(system["content"]) and sent[0]["content"].endswith(MESSAGES[0]["content"])
    assert call.messages == sent  # the trace shows what the model really received


def test_a_reply_with_lone_surrogates_is_stored_and_reusable(tmp_path):
    """JSON lets a server send "\\ud800"; the stored reply, its record and the next request's key must survive it."""
    import json as json_module

    server = FaultyServer([("reply", "pos\ud800itive \udfff")])
    client, _ = chat(tmp_path, server.endpoint)
    call = asyncio.run(client.chat(MESSAGES, "base"))
    assert call.output == "pos\ufffditive \ufffd"
    json_module.dumps(call.output, ensure_ascii=False).encode("utf-8")
    assert asyncio.run(client.chat(MESSAGES, "base")).cache_hit


# --- constrained requests --------------------------------------------------------------------------

GRAMMAR = 'root ::= "positive" | "negative"\n'


@pytest.mark.parametrize("field", ["grammar", "ebnf"])  # llama.cpp's and SGLang's request field
def test_a_grammar_goes_in_the_engines_field_and_into_the_cache_key(tmp_path, field):
    server = FaultyServer([])
    client, _ = chat(tmp_path, server.endpoint, grammar_field=field)
    asyncio.run(client.chat(MESSAGES, "base"))
    assert field not in server.requests[-1]  # an unconstrained request carries no grammar
    call = asyncio.run(client.chat(MESSAGES, "base", grammar=GRAMMAR))
    assert not call.cache_hit and server.requests[-1][field] == GRAMMAR  # the same messages, another request
    assert server.requests[-1]["repetition_penalty"] == 1.0 and server.requests[-1]["top_k"] == -1  # with the grammar
    assert asyncio.run(client.chat(MESSAGES, "base", grammar=GRAMMAR)).cache_hit and len(server.requests) == 2


def test_a_grammar_for_an_engine_without_a_grammar_field_is_refused_before_sending(tmp_path):
    from slmbench.client import GrammarUnsupported

    server = FaultyServer([])
    client, opened = chat(tmp_path, server.endpoint)
    with pytest.raises(GrammarUnsupported, match="grammar_field"):
        asyncio.run(client.chat(MESSAGES, "base", grammar=GRAMMAR))
    assert server.requests == [] and opened == []


# --- SGLang's replies -------------------------------------------------------------------------------

def test_an_aborted_generation_is_infrastructure_retried_and_never_cached(tmp_path):
    """SGLang answers HTTP 200 with finish_reason "abort" when it aborted a request itself."""
    server = FaultyServer([{"finish_reason": "abort", "message": {"content": ""}}])
    client, _ = chat(tmp_path, server.endpoint, retries=2)
    call = asyncio.run(client.chat(MESSAGES, "base"))
    assert call.finish_reason == "stop" and call.output == "positive" and client.stats.retries == 1
    aborted = FaultyServer([{"finish_reason": "abort"}] * 3)
    client, _ = chat(tmp_path / "other", aborted.endpoint, retries=2)
    with pytest.raises(ServerFailure, match="abort"):
        asyncio.run(client.chat(MESSAGES, "base"))
    assert not list((tmp_path / "other").rglob("*.json"))  # nothing cached


def test_reasoning_content_and_its_tokens_are_kept_in_the_trace_and_the_cache(tmp_path):
    thinking = {"message": {"content": "positive", "reasoning_content": "Profits rose, so \ud800 positive."},
                "usage": {"prompt_tokens": 11, "completion_tokens": 9, "total_tokens": 20, "reasoning_tokens": 7}}
    server = FaultyServer([thinking])
    client, _ = chat(tmp_path, server.endpoint)
    call = asyncio.run(client.chat(MESSAGES, "base"))
    assert call.output == "positive" and call.reasoning == "Profits rose, so \ufffd positive."
    assert (call.completion_tokens, call.reasoning_tokens) == (9, 7)
    replay, _ = chat(tmp_path, Endpoint("http://127.0.0.1:9/v1", "m"))
    hit = asyncio.run(replay.chat(MESSAGES, "base"))
    assert hit.cache_hit and (hit.reasoning, hit.reasoning_tokens) == (call.reasoning, 7)


def test_a_constrained_request_carries_the_engines_extras(tmp_path):
    server = FaultyServer([])
    client, _ = chat(tmp_path, server.endpoint, grammar_field="ebnf", constrained_extras={"chat_template_kwargs": {"enable_thinking": False}})
    asyncio.run(client.chat(MESSAGES, "base", grammar='root ::= "positive"'))
    asyncio.run(client.chat(MESSAGES, "base"))
    constrained, free = server.requests
    assert constrained["ebnf"] == 'root ::= "positive"' and constrained["chat_template_kwargs"] == {"enable_thinking": False}
    assert "chat_template_kwargs" not in free and "ebnf" not in free
