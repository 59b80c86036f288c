import json

import pytest

from slmbench import registry
from slmbench.data import DatasetUnavailable, fetch_dataset, normalize_hub_row, read_mirror, sample_records


def test_the_mirror_is_read_first(mirror):
    records, source = fetch_dataset(registry.get("fpb"), str(mirror))
    assert source.endswith("fpb.jsonl") and len(records) == 6
    assert {r["gold"] for r in records} == {"positive", "negative", "neutral"}


def test_a_broken_line_names_file_and_line(tmp_path):
    path = tmp_path / "fpb.jsonl"
    path.write_text('{"id": 1, "query": "q", "gold": "positive"}\n{"id": 2, "query": \n')
    with pytest.raises(ValueError, match=r"fpb\.jsonl, line 2"):
        read_mirror(path)
    path.write_text('{"id": 1, "query": "q"}\n')
    with pytest.raises(ValueError, match=r"line 1: missing field\(s\) gold"):
        read_mirror(path)


def test_a_dataset_nowhere_to_be_found_says_how_to_provide_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(DatasetUnavailable) as err:
        fetch_dataset(registry.get("tsa"), str(tmp_path))
    message = str(err.value)
    assert "tsa.jsonl" in message and "data_mirror" in message and "TheFinAI/flare-tsa" in message


def test_sampling_is_seeded_and_prefix_stable():
    records = [{"id": i} for i in range(100)]
    ten, twenty = sample_records(records, 10, seed=3), sample_records(records, 20, seed=3)
    assert twenty[:10] == ten
    assert sample_records(records, 10, seed=3) == ten
    assert sample_records(records, 10, seed=4) != ten
    assert ten != records[:10]  # shuffled: FinBen splits are often sorted by label


def test_hub_rows_are_normalized_to_the_mirror_schema():
    cls = normalize_hub_row(registry.get("fpb"), {"id": "fpb1", "query": "q", "answer": "negative", "choices": ["positive", "negative", "neutral"], "gold": 1}, 0)
    assert cls["gold"] == "negative" and cls["gold_index"] == 1
    ner = normalize_hub_row(registry.get("ner"), {"id": "n", "query": "q", "answer": "Acme Corp, ORG\nJohn Smith, PER"}, 0)
    assert ner["gold"] == [["Acme Corp", "ORG"], ["John Smith", "PER"]]
    tsa = normalize_hub_row(registry.get("tsa"), {"id": "t", "query": "q", "answer": "0.25"}, 0)
    assert tsa["gold"] == 0.25
    json.dumps([cls, ner, tsa])
