import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from slmbench.cache import RequestCache, request_key
from slmbench.config import schema_defaults

FP = {"engine": "llamacpp", "weights_sha256": "abc"}
MSG = [{"role": "user", "content": "hi"}]
SAMPLING = {**schema_defaults("sampling"), "max_tokens": 8}


def reply(output="positive", **changes):
    return {"output": output, "reasoning": "", "prompt_tokens": 11, "completion_tokens": 1, "reasoning_tokens": 0, "latency_s": 0.5,
            "finish_reason": "stop", **changes}


def test_the_key_changes_with_everything_that_decides_a_reply():
    base = request_key(FP, MSG, SAMPLING)
    assert request_key(dict(FP), list(MSG), dict(SAMPLING)) == base
    assert request_key({**FP, "weights_sha256": "abd"}, MSG, SAMPLING) != base
    assert request_key(FP, [{"role": "user", "content": "hi!"}], SAMPLING) != base
    assert request_key(FP, MSG, {**SAMPLING, "max_tokens": 9}) != base
    assert request_key(FP, MSG, SAMPLING, 'root ::= "a"') != base != request_key(FP, MSG, SAMPLING, 'root ::= "b"')


def test_a_request_without_a_grammar_keeps_the_key_it_had_before_grammars():
    """The warm demo cache stays valid for unconstrained paradigms: the key of such a request is unchanged."""
    import hashlib
    import json

    before = hashlib.sha256(json.dumps({"model": FP, "messages": MSG, "sampling": SAMPLING}, sort_keys=True).encode()).hexdigest()
    assert request_key(FP, MSG, SAMPLING) == request_key(FP, MSG, SAMPLING, None) == before


def test_entries_survive_concurrent_writers(tmp_path):
    cache = RequestCache(tmp_path)
    key = request_key(FP, MSG, SAMPLING)
    assert cache.get(key) is None
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: cache.put(key, reply("x" * 10000, latency_s=i)), range(64)))
    entry = cache.get(key)
    assert entry["output"] == "x" * 10000
    assert not list(tmp_path.rglob("*.tmp"))


def test_an_edited_entry_is_a_logged_miss(tmp_path):
    import io
    import json

    log = io.StringIO()
    cache = RequestCache(tmp_path, log=log)
    key = request_key(FP, MSG, SAMPLING)
    cache.put(key, reply("positive"))
    path = next(tmp_path.rglob(f"{key}.json"))
    path.write_text(path.read_text().replace('"positive"', '"negative"'))  # right answer flipped to wrong
    assert cache.get(key) is None and "does not match its checksum" in log.getvalue()
    cache.put(key, reply("positive"))
    assert cache.get(key)["output"] == "positive"
    entry = json.loads(path.read_text())
    path.write_text(json.dumps({**entry, "key": request_key(FP, MSG, {**SAMPLING, "seed": 1})}))  # another request's entry
    assert cache.get(key) is None and "does not name this request's key" in log.getvalue()


def test_foreign_entries_are_misses_and_are_replaced(tmp_path):
    cache = RequestCache(tmp_path, log=__import__("io").StringIO())
    for i, make_bad in enumerate([lambda p: p.write_text("[1, 2]"), lambda p: p.mkdir(), lambda p: p.write_text("[" * 100_000),
                                  lambda p: p.write_bytes(b"\xff\xfe"), lambda p: p.write_text('{"key": 1}')]):
        key = request_key(FP, [{"role": "user", "content": str(i)}], SAMPLING)
        path = cache._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        make_bad(path)
        assert cache.get(key) is None
        cache.put(key, reply())
        assert cache.get(key) == reply()


def test_the_key_exists_for_any_text_a_model_writes():
    assert request_key(FP, [{"role": "user", "content": "\ud800 lone"}], SAMPLING) != request_key(FP, MSG, SAMPLING)


def test_an_unusable_cache_folder_fails_before_any_request(tmp_path):
    import pytest

    from slmbench.cache import CacheUnusable

    (tmp_path / "file").write_text("")
    with pytest.raises(CacheUnusable, match="cache_dir"):
        RequestCache(tmp_path / "file" / "cache").check_writable()


@pytest.mark.parametrize("kind", ["fifo", "zero", "folder-link", "outside-link", "big"])
def test_hostile_entries_are_quick_misses_and_put_replaces_them(tmp_path, kind):
    import io
    import os
    import time

    log = io.StringIO()
    cache = RequestCache(tmp_path / "cache", log=log)
    key = request_key(FP, MSG, SAMPLING)
    path = cache._path(key)
    path.parent.mkdir(parents=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "zero":
        path.symlink_to("/dev/zero")
    elif kind == "folder-link":
        (tmp_path / "folder").mkdir()
        path.symlink_to(tmp_path / "folder")
    elif kind == "outside-link":
        (tmp_path / "outside.json").write_text("{}")
        path.symlink_to(tmp_path / "outside.json")
    else:
        path.write_bytes(b" " * (17 << 20))
    start = time.monotonic()
    assert cache.get(key) is None
    assert time.monotonic() - start < 1 and "ignoring the entry" in log.getvalue()
    cache.put(key, reply())  # after the reply was paid for: stored, never raised
    assert cache.get(key) == reply() and not path.is_symlink()
    assert (tmp_path / "outside.json").read_text() == "{}" if kind == "outside-link" else True


@pytest.mark.parametrize("changes", [{"latency_s": float("nan")}, {"latency_s": float("inf")}, {"latency_s": -1.0},
                                     {"prompt_tokens": -1}, {"completion_tokens": -3}, {"reasoning_tokens": -1},
                                     {"reasoning_tokens": 5}])  # more reasoning tokens than completion_tokens holds
def test_entries_with_senseless_numbers_are_misses_though_their_checksum_matches(tmp_path, changes):
    import io

    from slmbench.cache import _digest

    log = io.StringIO()
    cache = RequestCache(tmp_path, log=log)
    key = request_key(FP, MSG, SAMPLING)
    bad = reply(**changes)
    path = cache._path(key)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"key": key, "sha256": _digest(bad), "reply": bad}))  # NaN/Infinity literals included
    assert cache.get(key) is None
    assert next(iter(changes)) in log.getvalue()


def test_a_cached_lone_surrogate_is_scrubbed_as_a_fresh_reply_is(tmp_path):
    from slmbench.cache import _digest
    from slmbench.text import scrub_surrogates

    cache = RequestCache(tmp_path, log=__import__("io").StringIO())
    key, stored = request_key(FP, MSG, SAMPLING), reply("pos\ud800itive", reasoning="\udc80")
    cache._path(key).parent.mkdir(parents=True)
    cache._path(key).write_text(json.dumps({"key": key, "sha256": _digest(stored), "reply": stored}))  # \ud800 escaped
    hit = cache.get(key)
    assert hit["output"] == scrub_surrogates("pos\ud800itive") == "pos\ufffditive" and hit["reasoning"] == "\ufffd"
    hit["output"].encode("utf-8")  # the cell can be written
