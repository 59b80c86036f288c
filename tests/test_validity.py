"""Validity marks: an answer read from an echoed prompt, a reply cut at max_tokens, a reading that
FinBen's disagrees with; a configuration whose lead rests on them is never best without its mark."""

import json

from conftest import MIRROR
from slmbench.results.cells import cells_table
from slmbench.results.headline import best_configuration
from slmbench.results.stats import composite_z, config_flags
from slmbench.score import score_cell
from slmbench.validity import echoed

FPB = [json.loads(line) for line in (MIRROR / "fpb.jsonl").read_text().splitlines()]


def record(sample, output, model, finish="stop"):
    """A base-paradigm generation record whose one call saw the sample's FinBen prompt."""
    messages = [{"role": "user", "content": sample["query"]}]
    call = {"type": "llm", "agent": "base", "messages": messages, "output": output, "prompt_tokens": 60,
            "completion_tokens": 64, "cache_hit": False, "latency_s": 1.0, "finish_reason": finish}
    return {"id": sample["id"], "model": model, "paradigm": "base", "dataset": "fpb", "output": output, "failure": "",
            "messages": messages, "usage": {"prompt_tokens": 60, "completion_tokens": 64, "total_tokens": 124},
            "llm_calls": 1, "cache_hits": 0, "latency_s": 1.0, "trace": [call]}  # fmt: skip


def echo(sample):
    """What the demo's pretrained Gemma does: the prompt copied back until max_tokens."""
    return (sample["query"] + " " + sample["query"])[:400]


def test_an_echoed_prompt_is_marked_and_a_real_answer_is_not(tmp_path):
    samples = FPB[:4]
    echoes = [record(s, echo(s), "pretrained", finish="length") for s in samples]
    answers = [record(s, s["gold"], "instruct") for s in samples]
    assert all(echoed(r, "negative") for r in echoes)  # "either negative, positive, or neutral" read as a label
    assert not any(echoed(r, r["output"]) for r in answers)

    paths = []
    for name, gens in (("pretrained", echoes), ("instruct", answers)):
        summary, rows = score_cell(gens, FPB, n_boot=20)
        assert all(r["cut"] for r in rows) == (name == "pretrained")
        assert summary["flagged"] == (name == "pretrained")
        if name == "pretrained":
            assert summary["echo_share"] == 1.0 and summary["cut_share"] == 1.0
            assert summary["disagree_share"] > 0
        else:
            assert summary["echo_share"] == 0.0 and summary["disagree_share"] == 0.0
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({**summary, "n": len(gens)}))
        paths.append(str(path))
    cells = cells_table(paths)
    flags = config_flags(cells).set_index("model")
    assert flags.loc["pretrained", "flagged"] and not flags.loc["instruct", "flagged"]
    ranked = composite_z(cells).merge(config_flags(cells), on=["model", "paradigm"])
    best = best_configuration(ranked)
    # Whichever ranks first, a flagged one carries its mark and the best unflagged one is named beside it.
    assert best["unflagged"]["model"] == "instruct"
    if best["model"] == "pretrained":
        assert best["flagged"] is True
