"""Files and processes on disk treated as hostile (issue 19): FIFOs, symlinks, devices, bombs,
other users' folders and servers. Each case is answered quickly, without an exception escaping."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from slmbench.engines import EngineError
from slmbench.engines.managed import ManagedServerEngine, free_port, stale_reason
from slmbench.engines.server_files import ServerFiles, pid_alive, process_start_time, valid_pid
from slmbench.engines.weights import file_sha256
from slmbench.files import UnsafeFile, private_dir, read_regular

NOBODY = 65534
SYSTEM_PYTHON = "/usr/bin/python3"
can_switch_user = os.getuid() == 0 and shutil.which("setpriv") and os.path.exists(SYSTEM_PYTHON)


def quick(fn, *args, **kwargs):
    start = time.monotonic()
    result = fn(*args, **kwargs)
    assert time.monotonic() - start < 1.0
    return result


def hostile(tmp_path: Path, name: str, kind: str) -> Path:
    """A file where a regular one is expected: a FIFO, a link to a device, to a folder, or out of its folder."""
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "zero":
        path.symlink_to("/dev/zero")
    elif kind == "folder-link":
        (tmp_path / "elsewhere").mkdir(exist_ok=True)
        path.symlink_to(tmp_path / "elsewhere")
    elif kind == "folder":
        path.mkdir()
    elif kind == "outside-link":
        outside = Path(tempfile.mkdtemp()) / "x.json"
        outside.write_text("{}")
        path.symlink_to(outside)
    return path


KINDS = ["fifo", "zero", "folder-link", "folder", "outside-link"]


@pytest.mark.parametrize("kind", KINDS)
def test_read_regular_refuses_what_is_not_a_regular_file_of_ours(tmp_path, kind):
    path = hostile(tmp_path, "f.json", kind)
    with pytest.raises(OSError) as error:
        quick(read_regular, path)
    assert str(path) in str(error.value) or isinstance(error.value, IsADirectoryError) or error.value.filename


def test_read_regular_bounds_the_size(tmp_path):
    path = tmp_path / "big"
    path.write_bytes(b"x" * 2000)
    with pytest.raises(UnsafeFile, match="larger than 1000"):
        read_regular(path, limit=1000)
    assert read_regular(path, limit=2000) == b"x" * 2000


# ---- the server state folder and its files ----

def test_a_state_folder_of_another_user_is_refused(tmp_path):
    folder = tmp_path / "servers"
    folder.mkdir()
    os.chown(folder, NOBODY, NOBODY)
    with pytest.raises(UnsafeFile, match="belongs to another user"):
        private_dir(folder, "the state folder")
    os.chown(folder, os.getuid(), os.getgid())
    folder.chmod(0o777)
    with pytest.raises(UnsafeFile, match="chmod go-w"):
        private_dir(folder, "the state folder")
    parent = tmp_path / "slmbench-x"
    parent.mkdir()
    os.chown(parent, NOBODY, NOBODY)
    with pytest.raises(UnsafeFile, match="another user"):
        private_dir(parent / "servers", "the state folder")


def test_a_new_state_folder_is_private(tmp_path):
    folder = private_dir(tmp_path / "a" / "servers", "the state folder")
    assert folder.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("pid", [0, -1, 1, 10**30, 2**64, True, "12", 1.5])
def test_pids_out_of_range_are_not_processes(pid):
    assert not valid_pid(pid) and not pid_alive(pid)


@pytest.mark.parametrize("pid", [0, 2**64, 10**30, -5])
def test_a_state_file_with_an_impossible_pid_is_stale(pid):
    state = {"supervisor_pid": pid, "pid_start": "1", "token": "t", "port": 8000, "model": "m"}
    assert "not a process id" in quick(stale_reason, state)


@pytest.mark.parametrize("name", ["0-x", "00-x", "1-x", f"{10**30}-x", f"{2**64}-x", "٣-x", "-1-x"])
def test_lease_names_that_no_job_writes_are_not_live(tmp_path, name):
    files = ServerFiles(tmp_path, "k")
    files.leases.mkdir()
    (files.leases / name).touch()
    assert quick(files.live_leases) == 0
    (files.leases / f"{os.getpid()}-abc").touch()
    assert files.live_leases() == 1


@pytest.mark.parametrize("kind", KINDS)
def test_a_hostile_state_file_is_no_state(tmp_path, kind):
    files = ServerFiles(tmp_path, "k")
    hostile(tmp_path, "k.json", kind)
    assert quick(files.read_state) is None


def test_a_state_file_of_another_user_is_no_state(tmp_path):
    files = ServerFiles(tmp_path, "k")
    files.state.write_text(json.dumps({"supervisor_pid": os.getpid()}))
    assert files.read_state() is not None
    os.chown(files.state, NOBODY, NOBODY)
    assert files.read_state() is None


def test_a_process_whose_command_line_contradicts_the_state_is_not_joined(tmp_path):
    """The module name alone is not enough: its own --port, --token and --model must be the state's."""
    token = "a" * 32
    supervisor = subprocess.Popen([sys.executable, "-m", "slmbench.engines.server_supervisor", "--key-prefix", str(tmp_path / "k"),
                                   "--idle-timeout", "60", "--token", token, "--port", "4242", "--model", "m", "--", "sleep", "30"])
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "-m", "slmbench.engines.server_supervisor",
                              "--token", token, "--port", "4242", "--model", "m", "--"])
    try:
        deadline = time.monotonic() + 10
        while not (tmp_path / "k.json").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        state = {"supervisor_pid": supervisor.pid, "pid_start": process_start_time(supervisor.pid), "token": token,
                 "port": 4242, "model": "m"}
        assert quick(stale_reason, state) == ""
        assert "--port contradict" in stale_reason({**state, "port": 4243})
        assert "--token, --model contradict" in stale_reason({**state, "token": "b" * 32, "model": "n"})
        assert "another process" in stale_reason({**state, "supervisor_pid": other.pid, "pid_start": process_start_time(other.pid)})
    finally:
        for process in (supervisor, other):
            process.terminate()
            process.wait()


# A fake supervisor: a package that shadows slmbench on PYTHONPATH, so that the process's command line
# is exactly a supervisor's, but it is a plain HTTP server that lists the model and records every request.
FAKE_SUPERVISOR = r"""
import http.server, sys
args = sys.argv[1:]
port, model, record = int(args[args.index("--port") + 1]), args[args.index("--model") + 1], args[-1]
class Handler(http.server.BaseHTTPRequestHandler):
    def note(self):
        with open(record, "a") as f:
            f.write(self.command + " " + self.path + "\n")
    def do_GET(self):
        self.note()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(('{"object": "list", "data": [{"id": "%s"}]}' % model).encode())
    def do_POST(self):
        self.note()
        self.send_response(500)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""

class Recorder(ManagedServerEngine):
    """A real loopback server of this user, listing the served model."""

    def fingerprint(self):
        return {"engine": "recorder"}

    def launch_command(self, port, served_model):
        return [sys.executable, "-c", FAKE_SUPERVISOR, "--port", str(port), "--model", served_model, os.devnull]


def wait_for(url, timeout_s=10):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{url} never answered")


@pytest.mark.skipif(not can_switch_user, reason="needs root and setpriv to run a process as another user")
def test_prompts_never_reach_a_server_of_another_user(tmp_path):
    shadow = Path(tempfile.mkdtemp(prefix="slmbench-shadow-"))
    (shadow / "slmbench" / "engines").mkdir(parents=True)
    (shadow / "slmbench" / "__init__.py").write_text("")
    (shadow / "slmbench" / "engines" / "__init__.py").write_text("")
    (shadow / "slmbench" / "engines" / "server_supervisor.py").write_text(FAKE_SUPERVISOR)
    record = shadow / "requests.log"
    record.write_text("")
    for path in [shadow, *shadow.rglob("*")]:
        os.chown(path, NOBODY, NOBODY)
    shadow.chmod(0o755)
    engine = Recorder("rec", ready_timeout_s=20, idle_timeout_s=1, state_dir=tmp_path / "servers")
    files = ServerFiles(tmp_path / "servers", engine.server_key())
    port, token, model = free_port(), "b" * 32, "rec-bbbbbbbbbbbb"
    theirs = subprocess.Popen(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "env", f"PYTHONPATH={shadow}",
         SYSTEM_PYTHON, "-m", "slmbench.engines.server_supervisor", "--key-prefix", str(files.state.with_suffix("")),
         "--idle-timeout", "60", "--token", token, "--port", str(port), "--model", model, "--", str(record)],
        cwd=shadow)
    try:
        wait_for(f"http://127.0.0.1:{port}/v1/models")
        record.write_text("")
        pid = theirs.pid  # setpriv and env exec: the pid is the python process's
        # The victim's state file names the other user's process, with every field right.
        files.state.parent.mkdir(parents=True, exist_ok=True)
        files.state.write_text(json.dumps({"supervisor_pid": pid, "pid_start": process_start_time(pid), "token": token,
                                           "port": port, "model": model}))
        assert "belongs to another user" in stale_reason(files.read_state())  # root may signal it; the owner decides
        endpoint = engine.open()
        try:
            assert f":{port}/" not in endpoint.base_url  # a server of our own was started instead
        finally:
            engine.close()
        assert record.read_text() == "", "a request reached the other user's server"
    finally:
        theirs.kill()
        theirs.wait()
        shutil.rmtree(shadow, ignore_errors=True)


# ---- the weights-hash memo ----

@pytest.mark.parametrize("memo", ["[1, 2]", "[" * 100000 + "]" * 100000, '{"stamp": STAMP, "sha256": 7}',
                                  '{"stamp": STAMP, "sha256": ["x"]}', '{"stamp": STAMP, "sha256": "not-a-digest"}', "FIFO"])
def test_a_hostile_weights_memo_is_recomputed(tmp_path, memo):
    import hashlib

    weights = tmp_path / "w.gguf"
    weights.write_bytes(b"weights")
    memo_dir = tmp_path / "hashes"
    truth = quick(file_sha256, weights, memo_dir)
    [path] = memo_dir.iterdir()
    stamp = json.loads(path.read_text())["stamp"]
    path.unlink()
    if memo == "FIFO":
        os.mkfifo(path)
    else:
        path.write_text(memo.replace("STAMP", json.dumps(stamp)))
    assert quick(file_sha256, weights, memo_dir) == truth == hashlib.sha256(b"weights").hexdigest()


# ---- YAML ----

BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8))


def test_a_yaml_alias_bomb_is_refused_quickly(tmp_path):
    from slmbench.yamlfile import YamlError, load_yaml

    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS)
    with pytest.raises(YamlError, match=r"bomb.yaml, line \d+: its aliases expand"):
        quick(load_yaml, path)


def test_a_recursive_alias_is_refused(tmp_path):
    from slmbench.yamlfile import YamlError, parse_yaml

    with pytest.raises(YamlError, match="line 1: a recursive alias"):
        quick(parse_yaml, "a: &a [1, *a]\n", "c.yaml")


@pytest.mark.parametrize("text, line", [("paradigms:\n  base: {}\nmodels: {}\nparadigms:\n  single: {}\n", 4),
                                        ("models:\n  smol: {engine: llamacpp}\n  smol: {engine: openai}\n", 3)])
def test_a_duplicate_key_is_refused_with_its_line(text, line):
    from slmbench.yamlfile import YamlError, parse_yaml

    with pytest.raises(YamlError, match=rf"c.yaml, line {line}: the key '\w+' is given twice"):
        parse_yaml(text, "c.yaml")


def test_small_aliases_and_the_shipped_configs_still_load():
    from slmbench.config import DEFAULT_CONFIG, ROOT
    from slmbench.yamlfile import load_yaml, parse_yaml

    assert parse_yaml("a: &a {x: 1}\nb: *a\n", "c") == {"a": {"x": 1}, "b": {"x": 1}}
    assert load_yaml(DEFAULT_CONFIG)["models"] and load_yaml(ROOT / "configs" / "paper.yaml")["models"]


def test_a_configfile_given_to_snakemake_is_reread_for_duplicates(tmp_path):
    from types import SimpleNamespace

    from slmbench.config import ConfigError, load_workflow_config

    path = tmp_path / "c.yaml"
    path.write_text("models: {}\nmodels: {}\n")
    with pytest.raises(ConfigError, match="c.yaml, line 2: the key 'models' is given twice"):
        load_workflow_config({"models": {}}, SimpleNamespace(overwrite_configfiles=[str(path)]))


@pytest.mark.parametrize("kind", ["fifo", "zero", "folder"])
def test_a_yaml_file_that_is_not_a_regular_file_is_named(tmp_path, kind):
    from slmbench.yamlfile import YamlError, load_yaml

    path = hostile(tmp_path, "c.yaml", kind)
    with pytest.raises(YamlError, match="c.yaml cannot be read"):
        quick(load_yaml, path)


# ---- sidecars and the search corpus ----

@pytest.mark.parametrize("meta, says", [('{"energy_j": "12"}', "energy_j is '12'"), ('{"energy_j": -1.0}', "energy_j is -1.0"),
                                        ('{"energy_j": NaN}', "energy_j is nan"), ('{"energy_j": Infinity}', "energy_j is inf"),
                                        ('{"energy_j": true}', "energy_j is True"), ("[1]", "not a JSON object"),
                                        ("{", "cannot be read"), ("FIFO", "cannot be read")])
def test_a_bad_sidecar_is_refused_naming_file_and_key(tmp_path, meta, says):
    from slmbench.sidecar import SidecarError, read_meta

    path = tmp_path / "D.meta.json"
    os.mkfifo(path) if meta == "FIFO" else path.write_text(meta)
    with pytest.raises(SidecarError) as error:
        quick(read_meta, path)
    assert str(path) in str(error.value) and says in str(error.value)


def test_a_good_sidecar_reads(tmp_path):
    from slmbench.sidecar import read_meta

    (tmp_path / "m.json").write_text('{"energy_j": 0, "duration_s": 1.5, "energy_note": ""}')
    assert read_meta(tmp_path / "m.json")["energy_j"] == 0 and read_meta(tmp_path / "none.json") is None


@pytest.mark.parametrize("line, says", [(b'{"text": "ok"', "line 2: not a JSON line"), (b'{"title": "no text"}', "line 2: a passage"),
                                        (b"\xff\xfe", "line 2: not a JSON line"), (b"[" * 100000, "line 2: not a JSON line"),
                                        (b'{"text": 7}', "line 2: a passage")])
def test_a_bad_search_corpus_line_is_named(tmp_path, line, says):
    from slmbench.tools.local_search import load_passages

    path = tmp_path / "passages.jsonl"
    path.write_bytes(b'{"text": "first"}\n' + line + b"\n")
    with pytest.raises(ValueError) as error:
        quick(load_passages, path)
    assert str(path) in str(error.value) and says in str(error.value)


# ---- numbers read as written ----

@pytest.mark.parametrize("text, value", [("1e-5", 1e-5), ("5e-1", 0.5), ("-2.5E-1 is my score", -0.25), ("1e999", 1.0), ("0.3", 0.3)])
def test_tsa_reads_exponents(text, value):
    from slmbench.answers import extract_score

    assert quick(extract_score, None, text, {}) == pytest.approx(value)


@pytest.mark.parametrize("text, value", [("$1,758 million", 1758.0), ("12,345,678.5", 12345678.5), ("-1,000", -1000.0),
                                         ("1.234,5", None), ("1, 2, 3", None), ("1,2345", None), ("1.234,567", None),
                                         ("2.5e3", 2500.0), ("9" * 5000, float("inf"))])
def test_qa_reads_thousands_separators_only_where_they_separate(text, value):
    from slmbench.metrics import parse_number

    assert quick(parse_number, text) == value


# ---- HTML ----

def test_the_trace_page_escapes_every_value_and_shows_bidi_controls():
    from slmbench.results.trace_page import render_trace_page

    evil = "<img src=x onerror=alert(1)>"
    call = {"type": "llm", "agent": "a", "cache_hit": False, "messages": [{"role": "user", "content": "q\u202e"}],
            "output": "neg\u202eevitisop", "prompt_tokens": evil, "completion_tokens": evil, "latency_s": evil}
    record = {"id": "1", "model": "m", "paradigm": "p", "dataset": "fpb", "failure": None, "error": "", "llm_calls": evil,
              "usage": {"total_tokens": evil}, "latency_s": evil, "trace": [call], "output": "a\u2066b\u200f", "gold": "g"}
    page = quick(render_trace_page, [record], [{"id": "1", "answer": "x\u061c", "sample_score": 1.0}])
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert not any(c in page for c in "\u202e\u2066\u200f\u061c")
    assert "⟨U+202E⟩" in page and "⟨U+2066⟩" in page and "⟨U+200F⟩" in page and "⟨U+061C⟩" in page


# ---- data: mirror folders, mirror and hub rows ----

def test_a_data_mirror_that_is_a_file_is_an_error_not_the_hub(tmp_path):
    from slmbench import registry
    from slmbench.data import DatasetUnavailable, fetch_dataset

    (tmp_path / "mirror").write_text("")
    with pytest.raises(DatasetUnavailable, match="data_mirror .*mirror is not a folder"):
        quick(fetch_dataset, registry.get("fpb"), str(tmp_path / "mirror"))


def test_a_fifo_as_a_mirror_file_is_named_not_waited_on(tmp_path):
    from slmbench import registry
    from slmbench.data import fetch_dataset

    os.mkfifo(tmp_path / "fpb.jsonl")
    with pytest.raises(UnsafeFile, match="fpb.jsonl is not a regular file"):
        quick(fetch_dataset, registry.get("fpb"), str(tmp_path))


def test_mirror_rows_whose_choices_leave_the_label_set_are_refused_by_row(tmp_path):
    from slmbench import registry
    from slmbench.data import read_mirror
    from slmbench.records import InvalidRecord

    good = {"id": "a", "query": "q", "choices": ["Positive", "negative"], "gold": "negative"}  # a subset, any case
    bad = {"id": "b", "query": "q", "choices": ["positive", "bullish"], "gold": "bullish"}
    (tmp_path / "fpb.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(InvalidRecord, match=r"fpb.jsonl, line 2, id 'b': choices hold \['bullish'\], outside"):
        quick(read_mirror, registry.get("fpb"), tmp_path / "fpb.jsonl")


def test_a_deeply_nested_line_through_the_stored_dataset_fast_path_names_the_line(tmp_path):
    from slmbench.data import read_dataset
    from slmbench.records import InvalidRecord

    good = {"id": "a", "query": "q", "choices": ["positive", "negative", "neutral"], "gold": "negative"}
    path = tmp_path / "fpb.jsonl"
    path.write_bytes(json.dumps(good).encode() + b"\n" + b'{"id": ' + b"[" * 100_000 + b"\n")
    with pytest.raises(InvalidRecord, match="fpb.jsonl, line 2: not usable JSON"):
        quick(read_dataset, path, ids=["a"])


@pytest.mark.parametrize("row", [{"id": "f1", "query": "q", "token": "['Acme', 'Corp", "label": ["B-ORG", "I-ORG"]},
                                 {"id": "f1", "query": "q", "token": ["Acme", "Corp"], "label": [1, 2]},
                                 {"id": "f1", "query": "q", "token": ["Acme"], "label": "[None]"}])
def test_hub_finer_ord_rows_that_cannot_be_read_are_named(row):
    from slmbench import registry
    from slmbench.data import _hub_record
    from slmbench.records import InvalidRecord

    with pytest.raises(InvalidRecord, match=r"hub\[test\], row 3, id 'f1': cannot be read"):
        quick(_hub_record, registry.get("finer_ord"), row, 3, "hub[test]")


def test_a_weights_memo_folder_of_another_user_is_refused(tmp_path):
    weights = tmp_path / "w.gguf"
    weights.write_bytes(b"weights")
    (tmp_path / "servers" / "hashes").mkdir(parents=True)
    os.chown(tmp_path / "servers", NOBODY, NOBODY)
    with pytest.raises(EngineError, match="another user"):
        quick(file_sha256, weights, tmp_path / "servers" / "hashes")


def test_an_engine_refuses_a_state_folder_of_another_user_before_starting_anything(tmp_path):
    folder = tmp_path / "servers"
    folder.mkdir()
    os.chown(folder, NOBODY, NOBODY)
    engine = Recorder("rec", ready_timeout_s=5, idle_timeout_s=1, state_dir=folder)
    with pytest.raises(EngineError, match="server state folder .* belongs to another user"):
        quick(engine.open)
    assert list(folder.iterdir()) == []
