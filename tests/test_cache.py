from concurrent.futures import ThreadPoolExecutor

from slmbench.cache import RequestCache, request_key

FP = {"engine": "llamacpp", "weights_sha256": "abc"}
MSG = [{"role": "user", "content": "hi"}]
SAMPLING = {"temperature": 0.0, "top_p": 0.9, "max_tokens": 8, "seed": 0}


def test_the_key_changes_with_everything_that_decides_a_reply():
    base = request_key(FP, MSG, SAMPLING)
    assert request_key(dict(FP), list(MSG), dict(SAMPLING)) == base
    assert request_key({**FP, "weights_sha256": "abd"}, MSG, SAMPLING) != base
    assert request_key(FP, [{"role": "user", "content": "hi!"}], SAMPLING) != base
    assert request_key(FP, MSG, {**SAMPLING, "max_tokens": 9}) != base
    assert request_key(FP, MSG, SAMPLING, tools=["calculator"]) != base


def test_entries_survive_concurrent_writers(tmp_path):
    cache = RequestCache(tmp_path)
    key = request_key(FP, MSG, SAMPLING)
    assert cache.get(key) is None
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: cache.put(key, {"output": "x" * 10000, "i": i}), range(64)))
    entry = cache.get(key)
    assert entry["output"] == "x" * 10000
    assert not list(tmp_path.rglob("*.tmp"))
