"""A bare client, as a user would write one: start llama.cpp's server, send the prompts one at a
time through the OpenAI client, stop the server. bench/run_vs_bare_client.py times it as a process
of its own against the workflow.

    python bench/bare_client.py WORK.json WEIGHTS.gguf

WORK.json: {"messages": [...one chat per request...], "sampling": {...}, "extra_body": {...}, "context_length": N}.
"""

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import openai


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(work_file: str, weights: str) -> None:
    with open(work_file) as f:
        work = json.load(f)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", weights, "--host", "127.0.0.1",
                               "--port", str(port), "--n_threads", "1", "--n_ctx", str(work["context_length"])],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        while True:
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=5) as reply:
                    if reply.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if server.poll() is not None:
                sys.exit("the bare llama.cpp server exited")
            time.sleep(0.05)
        client = openai.OpenAI(base_url=url, api_key="none", timeout=120)
        for messages in work["messages"]:
            client.chat.completions.create(model="m", messages=messages, extra_body=work["extra_body"], **work["sampling"])
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main(*sys.argv[1:3])
