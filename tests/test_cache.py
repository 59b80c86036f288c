from concurrent.futures import ThreadPoolExecutor

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


def test_entries_whose_numbers_make_no_sense_are_misses_even_with_a_matching_checksum(tmp_path):
    """Costs are read from cached replies: a NaN, infinite or negative latency or count is no hit."""
    import io

    log = io.StringIO()
    cache = RequestCache(tmp_path, log=log)
    for i, bad in enumerate([{"latency_s": float("nan")}, {"latency_s": float("inf")}, {"latency_s": -1.0},
                             {"completion_tokens": -3}, {"prompt_tokens": -1}, {"reasoning_tokens": 5}]):
        key = request_key(FP, [{"role": "user", "content": str(i)}], SAMPLING)
        cache.put(key, reply(**bad))
        assert cache.get(key) is None
    assert log.getvalue().count("not a finite, non-negative number") == 6


def test_a_hit_is_scrubbed_as_a_fresh_reply_is(tmp_path):
    """A lone surrogate in a cached output would make every rerun's cell unwritable."""
    import json

    from slmbench.cache import _digest

    cache = RequestCache(tmp_path)
    key = request_key(FP, MSG, SAMPLING)
    stored = reply("pos\udc80itive", reasoning="\ud800")  # as JSON escapes, with a matching checksum
    cache._path(key).parent.mkdir(parents=True)
    cache._path(key).write_text(json.dumps({"key": key, "sha256": _digest(stored), "reply": stored}))
    hit = cache.get(key)
    assert hit["output"] == "pos\ufffditive" and hit["reasoning"] == "\ufffd"
    hit["output"].encode("utf-8")  # writable
