import json
import os
import subprocess
import sys
import time
import types

import pytest

from conftest import MIRROR, REPO
from slmbench import registry
from slmbench.data import DatasetUnavailable, fetch_dataset, load_from_hub, normalize_hub_row, read_dataset, read_mirror, sample_records, write_jsonl
from slmbench.records import InvalidRecord
from slmbench.tasks import TASKS, task_of


def test_the_mirror_is_read_first(mirror):
    records, source = fetch_dataset(registry.get("fpb"), str(mirror))
    assert source.endswith("fpb.jsonl") and len(records) == 6
    assert {r["gold"] for r in records} == {"positive", "negative", "neutral"}


def test_a_broken_line_names_file_and_line(tmp_path):
    path = tmp_path / "fpb.jsonl"
    path.write_text('{"id": 1, "query": "q", "gold": "positive"}\n{"id": 2, "query": \n')
    with pytest.raises(InvalidRecord, match=r"fpb\.jsonl, line 2"):
        read_mirror(registry.get("fpb"), path)
    path.write_text('{"id": 1, "query": "q"}\n')
    with pytest.raises(InvalidRecord, match=r"line 1: missing field\(s\) gold"):
        read_mirror(registry.get("fpb"), path)


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


# --- rows checked when a dataset is read ----------------------------------------------------------

GOOD = {
    "fpb": {"query": "Sentiment?", "choices": ["positive", "negative", "neutral"], "gold": "negative", "gold_index": 1},
    "tsa": {"query": "Score?", "gold": -0.25},
    "ner": {"query": "Entities?", "text": "Acme Corp hired John Smith", "gold": [["Acme Corp", "ORG"], ["John Smith", "PER"]]},
    "finqa": {"query": "How much?", "gold": "0.935"},
    "ectsum": {"query": "Which sentences?", "text": "Revenue rose.\nWeather was fine.\nEPS beat.", "gold": "1\n0\n1"},
    "edtsum": {"query": "Summarize.", "gold": "Acme beats estimates."},
}


def write_mirror(tmp_path, dataset, *lines):
    """A mirror file of `lines` (dicts as JSON, bytes and str as they are); returns its path."""
    path = tmp_path / f"{dataset}.jsonl"
    encoded = [line if isinstance(line, bytes) else (line if isinstance(line, str) else json.dumps(line)).encode() for line in lines]
    path.write_bytes(b"\n".join(encoded) + b"\n")
    return path


def row(dataset, sample_id="s1", **fields):
    return {"id": sample_id, **GOOD[dataset], **fields}


def assert_refused(tmp_path, dataset, bad_line, *fragments, where=", line 2, id 's2': "):
    """The bad row, as line 2 after a good one, stops the read with file, line, id and `fragments`."""
    path = write_mirror(tmp_path, dataset, row(dataset), bad_line)
    started = time.monotonic()
    with pytest.raises(InvalidRecord) as err:
        read_mirror(registry.get(dataset), path)
    assert time.monotonic() - started < 2
    message = str(err.value)
    assert message.startswith(f"{path}{where}"), message
    for fragment in fragments:
        assert fragment in message, message


def test_every_dataset_has_a_known_task_type_and_every_task_type_a_dataset():
    assert {task_of(spec).name for spec in registry.DATASETS.values()} == set(TASKS)


@pytest.mark.parametrize("dataset", sorted(GOOD))
def test_good_rows_of_every_task_type_are_read(tmp_path, dataset):
    records = read_mirror(registry.get(dataset), write_mirror(tmp_path, dataset, row(dataset), row(dataset, "s2")))
    assert [r["id"] for r in records] == ["s1", "s2"]


@pytest.mark.parametrize(
    "line, fragment",
    [
        (b'{"id": "s2", "query": "q", "gold": "caf\xe9"}', "not UTF-8 text (byte 0xe9"),
        ('{"id": "s2", "query": ', "not valid JSON (Expecting value"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"id": "s2", "query": "q", "gold": "positive", "n": ' + "7" * 5000 + "}", "an integer with more than 4300 digits"),
        ('{"id": "s2", "query": "q", "gold": NaN}', "NaN is not a JSON number; numbers must be finite"),
        ('{"id": "s2", "query": "q", "gold": "positive", "x": -Infinity}', "-Infinity is not a JSON number"),
        ('{"id": "s2", "query": "q", "gold": "positive", "x": 1e999}', "the number 1e999 is out of range"),
        ("[1, 2]", "expected a JSON object, got [1, 2]"),
        ('"positive"', "expected a JSON object"),
        ('{"id": "s2", "gold": "positive"}', "missing field(s) query"),
    ],
)
def test_an_unreadable_line_is_refused_naming_file_and_line(tmp_path, line, fragment):
    assert_refused(tmp_path, "fpb", line, fragment, where=", line 2: ")


@pytest.mark.parametrize("sample_id", [None, True, 1.5, ["s2"], {"a": 1}, "", "  "])
def test_an_id_that_is_not_a_string_or_integer_is_refused(tmp_path, sample_id):
    assert_refused(tmp_path, "fpb", row("fpb", sample_id), "id must be a non-empty string or an integer", where=", line 2: ")


@pytest.mark.parametrize("query", ["", "   ", None, 5, ["q"]])
def test_an_empty_query_is_refused(tmp_path, query):
    assert_refused(tmp_path, "fpb", row("fpb", "s2", query=query), "query (the prompt) must be non-empty text")


@pytest.mark.parametrize(
    "dataset, fields, fragment",
    [
        ("fpb", {"gold": "very positive"}, "gold must be one of the labels ['positive', 'negative', 'neutral'], got 'very positive'"),
        ("fpb", {"gold": None}, "gold must be one of the labels"),
        ("fpb", {"gold": 1, "gold_index": None}, "gold must be one of the labels"),
        ("fpb", {"gold_index": 0}, "gold_index 0 points at 'positive', not at gold 'negative'"),
        ("fpb", {"gold_index": 7}, "gold_index 7 is not an index of choices"),
        ("fpb", {"gold_index": "1"}, "gold_index '1' is not an index of choices"),
        ("fpb", {"choices": "positive, negative"}, "choices must be a list of labels"),
        ("fpb", {"choices": ["up", "down"], "gold": "negative"}, "choices hold ['down', 'up'], outside the dataset's labels"),
        ("tsa", {"gold": "very positive"}, "gold must be a sentiment score, a number from -1 to 1, got 'very positive'"),
        ("tsa", {"gold": None}, "gold must be a sentiment score"),
        ("tsa", {"gold": "0.25"}, "gold must be a sentiment score"),
        ("tsa", {"gold": 1.5}, "got 1.5"),
        ("tsa", {"gold": True}, "got True"),
        ("ner", {"gold": "Acme Corp, ORG"}, "gold must be a list of [entity, type] pairs with type one of PER, ORG, LOC, got the text 'Acme Corp, ORG'"),
        ("ner", {"gold": {"Acme Corp": "ORG"}}, "gold must be a list of [entity, type] pairs"),
        ("ner", {"gold": [["Acme Corp", "COMPANY"]]}, "gold entity ['Acme Corp', 'COMPANY'] is not an [entity, type] pair"),
        ("ner", {"gold": [["Acme Corp"]]}, "is not an [entity, type] pair"),
        ("ner", {"text": None}, "needs tokens (a list) or text (a string)"),
        ("ner", {"tokens": ["Acme", "Corp"], "label": ["B-ORG"]}, "label has 1 tags but there are 2 tokens"),
        ("ner", {"label": ["B-ORG", "I-ORG", "O", "B-XYZ", "I-PER"]}, "label holds 'B-XYZ', not a BIO tag"),
        ("ner", {"tokens": "Acme Corp"}, "tokens must be a list of token strings, got the text 'Acme Corp'"),
        ("finqa", {"gold": None}, "gold must be the answer, non-empty text or a finite number, got None"),
        ("finqa", {"gold": "  "}, "gold must be the answer"),
        ("finqa", {"gold": [0.9]}, "gold must be the answer"),
        ("ectsum", {"gold": "1\n0"}, "gold has 2 labels but text has 3 sentences (lines)"),
        ("ectsum", {"gold": "1\n2\n0"}, "gold must hold only 0 and 1, one per sentence"),
        ("ectsum", {"label": [1, 0]}, "label has 2 labels but text has 3 sentences"),
        ("ectsum", {"label": [1, 0, "yes"]}, "label must hold only 0 and 1"),
        ("ectsum", {"text": None}, "text (the sentences, one per line) must be a string"),
        ("ectsum", {"gold": None}, "gold must be the summary, non-empty text, got None"),
        ("edtsum", {"gold": ["Acme beats estimates."]}, "gold must be the summary, non-empty text"),
    ],
)
def test_a_gold_value_scoring_cannot_read_is_refused_naming_the_sample(tmp_path, dataset, fields, fragment):
    assert_refused(tmp_path, dataset, row(dataset, "s2", **fields), fragment)


def test_gold_forms_that_scoring_reads_are_accepted(tmp_path):
    spec = registry.get("ner")
    text_gold = row("ner", gold='[["Acme Corp", "ORG"]]', tokens='["Acme", "Corp"]', label="['B-ORG', 'I-ORG']")
    (record,) = read_mirror(spec, write_mirror(tmp_path, "ner", text_gold))
    assert record["gold"] == [["Acme Corp", "ORG"]] and record["tokens"] == ["Acme", "Corp"] and record["label"] == ["B-ORG", "I-ORG"]
    (record,) = read_mirror(registry.get("fpb"), write_mirror(tmp_path, "fpb", row("fpb", gold="Negative", choices=None, gold_index=None)))
    assert record["gold"] == "Negative"  # scoring compares labels case-insensitively, with the registry's choices
    (record,) = read_mirror(registry.get("finqa"), write_mirror(tmp_path, "finqa", row("finqa", gold=0.935)))
    assert record["gold"] == 0.935
    (record,) = read_mirror(registry.get("ectsum"), write_mirror(tmp_path, "ectsum", row("ectsum", label=[1, 0, 1])))
    assert record["label"] == [1, 0, 1]


def test_a_duplicate_id_is_refused_naming_both_lines(tmp_path):
    path = write_mirror(tmp_path, "fpb", row("fpb", "a"), row("fpb", "b"), "", row("fpb", "a", gold="positive", gold_index=0))
    with pytest.raises(InvalidRecord) as err:
        read_mirror(registry.get("fpb"), path)
    assert str(err.value).startswith(f"{path}, line 4: duplicate id 'a', first at line 1; ids must be unique")
    path = write_mirror(tmp_path, "fpb", row("fpb", 7), row("fpb", "7"))  # scoring keys records by str(id)
    with pytest.raises(InvalidRecord, match=r"line 2: duplicate id '7', first at line 1"):
        read_mirror(registry.get("fpb"), path)


def test_an_empty_mirror_file_is_refused(tmp_path):
    path = write_mirror(tmp_path, "fpb", "", "  ")
    with pytest.raises(InvalidRecord, match=r"fpb\.jsonl: no records"):
        read_mirror(registry.get("fpb"), path)


def test_the_fixture_mirror_passes_the_checks(mirror):
    for path in sorted(mirror.glob("*.jsonl")):
        assert read_mirror(registry.get(path.stem), path)


@pytest.fixture
def hub(monkeypatch):
    """A stand-in for the `datasets` package that serves the rows put into it."""
    rows = []
    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=lambda hub_id, split, revision=None: rows))
    return rows


def test_hub_rows_are_checked_naming_row_and_id(hub):
    hub += [{"id": "t1", "query": "q", "answer": "0.5"}, {"id": "t2", "query": "q", "answer": "very positive"}]
    with pytest.raises(InvalidRecord) as err:
        load_from_hub(registry.get("tsa"), "TheFinAI/flare-tsa", "test")
    assert str(err.value) == "TheFinAI/flare-tsa[test], row 1, id 't2': gold must be a sentiment score, a number from -1 to 1, got 'very positive'"
    hub[:] = [{"id": "f1", "query": "q", "choices": ["positive", "negative"], "gold": 5}]
    with pytest.raises(InvalidRecord, match=r"row 0, id 'f1': gold_index 5 is not an index of choices \['positive', 'negative'\]"):
        load_from_hub(registry.get("fpb"), "TheFinAI/flare-fpb", "test")
    hub[:] = [{"id": "f1", "query": "q", "gold": 0}, {"id": "f1", "query": "q", "gold": 1}]
    with pytest.raises(InvalidRecord, match=r"row 1: duplicate id 'f1', first at row 0"):
        load_from_hub(registry.get("fpb"), "TheFinAI/flare-fpb", "test")


def test_a_bad_row_fails_the_download_job_and_writes_nothing(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    write_mirror(mirror, "fpb", row("fpb"), row("fpb", "s2", gold="very positive"))
    work = tmp_path / "work"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(work), "--cores", "1"]
    done = subprocess.run([*command, "--config", f"data_mirror={mirror}", "--", "resources/datasets/fpb.jsonl"], capture_output=True, text=True, env=env)
    expected = f"[download] fpb: {mirror / 'fpb.jsonl'}, line 2, id 's2': gold must be one of the labels"
    assert done.returncode != 0 and expected in done.stderr
    assert expected in (work / "logs" / "download" / "fpb.log").read_text()
    assert not (work / "resources" / "datasets" / "fpb.jsonl").exists()


def test_a_lone_surrogate_escape_in_a_mirror_row_names_the_line(tmp_path):
    from slmbench.data import read_dataset
    from slmbench.records import InvalidRecord

    path = tmp_path / "fpb.jsonl"
    row = '{"id": "a", "query": "x \\ud800 y", "choices": ["positive", "negative", "neutral"], "gold": "positive"}'
    path.write_text(row + "\n")
    with pytest.raises(InvalidRecord, match=r"fpb.jsonl, line 1: not text"):
        read_dataset(path)


def test_n_samples_above_the_dataset_size_is_an_error_naming_both_numbers():
    records = [{"id": i} for i in range(50)]
    with pytest.raises(ValueError, match=r"n_samples is 60 but dataset 'fpb' has only 50 records"):
        sample_records(records, 60, seed=3, dataset="fpb")
    assert sorted(r["id"] for r in sample_records(records, "all", seed=3)) == list(range(50))
    assert sample_records(records, "all", seed=3)[:10] == sample_records(records, 10, seed=3)


def test_reading_some_rows_of_a_dataset_checks_them_and_every_id(tmp_path):
    rows = [json.loads(line) for line in (MIRROR / "fpb.jsonl").read_text().splitlines()]
    path = tmp_path / "fpb.jsonl"
    write_jsonl(path, rows)
    some = {str(rows[1]["id"]), str(rows[3]["id"])}
    assert [r["id"] for r in read_dataset(path, ids=some)] == [rows[1]["id"], rows[3]["id"]]
    write_jsonl(path, rows + [rows[0]])
    with pytest.raises(InvalidRecord, match="duplicate id"):
        read_dataset(path, ids=some)
    write_jsonl(path, [{**rows[1], "gold": "very positive"}, *rows[2:]])
    with pytest.raises(InvalidRecord, match="gold must be one of the labels"):
        read_dataset(path, ids=some)


def test_finben_selection_draws_finbens_own_limit_rows():
    """FinBen's harness (PIXIU evaluator.py) shuffles the test docs themselves with random.Random(42)
    and evaluates the first `--limit`; the `finben` selection draws exactly those rows, in that order."""
    import random

    from slmbench.config import selection_seed

    records = [{"id": i} for i in range(120)]
    finbens = list(records)
    random.Random(42).shuffle(finbens)
    seed = selection_seed("finben", seed=1234)
    assert sample_records(records, 50, seed) == finbens[:50]
    assert sample_records(records, 10, seed) == finbens[:10]  # still prefix-stable
    assert sample_records(records, 50, selection_seed("seeded", seed=1234)) == sample_records(records, 50, 1234)
