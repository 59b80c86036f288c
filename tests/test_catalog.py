"""The catalog of tables and figures: every entry resolves to its builder, view, drawing and caption,
and the trace page shows the answer the scorer extracted."""

from slmbench.results import catalog, figures, html, page, tables
from slmbench.results.trace_page import render_trace_page


def test_every_entry_has_its_builder_view_and_caption():
    for table in catalog.TABLES:
        assert callable(getattr(tables, table.builder)), table.name
        assert table.view in html.VIEWS, table.name
        assert set(table.formats) <= {"csv", "parquet", "html"} and table.formats, table.name
    for figure in catalog.FIGURES:
        assert callable(getattr(figures, figure.draw)), figure.name
        assert set(figure.inputs) <= {"cells", *(t.name for t in catalog.TABLES if "parquet" in t.formats)}, figure.name
    for item in [*catalog.TABLES, *catalog.FIGURES, catalog.CELLS, catalog.TRACES]:
        assert catalog.caption_path(item.caption).is_file(), item.caption
        assert item.category in catalog.CATEGORIES
    # the report's menu sorts categories by name: their names put them in reading order, Summary first
    named = [catalog.report_category(c) for c in catalog.CATEGORIES]
    assert sorted(named) == named and named[0].endswith("Summary")


def test_names_and_outputs_are_unique():
    assert len({t.name for t in catalog.TABLES}) == len(catalog.TABLES)
    assert len({f.name for f in catalog.FIGURES}) == len(catalog.FIGURES)
    labels = [item.label for item in (*catalog.TABLES, *catalog.FIGURES, catalog.CELLS)]
    assert len(set(labels)) == len(labels)  # no two items of the report's menu share a name


def test_no_caption_text_in_the_pages_code():
    """Captions live in report/*.rst: the page carries the caption file's text."""
    text = page.caption_html("composite_z")
    assert "Composite effectiveness" in text and text.startswith("<p>")


def _record(sample_id, output, failure="", finish="stop"):
    call = {
        "type": "llm", "agent": "model", "messages": [{"role": "user", "content": "Classify: profits rose."}], "output": output,
        "prompt_tokens": 2, "completion_tokens": 1, "latency_s": 0.1, "cache_hit": False, "finish_reason": finish,
    }  # fmt: skip
    return {
        "id": sample_id, "model": "m", "paradigm": "base", "dataset": "fpb", "output": output, "gold": "positive",
        "failure": failure, "error": "", "usage": {"total_tokens": 3}, "llm_calls": 1, "latency_s": 0.0,
        "messages": call["messages"], "trace": [call],
    }  # fmt: skip


def _rows(page_text):
    import re

    body = page_text.split("<table class='samples'>", 1)[1].split("</table>", 1)[0]
    return re.findall(r"<tr class='(\w+)'>(.*?)</tr>", body)


def test_the_trace_page_shows_the_scored_answer():
    records = [
        _record("s1", "Answer: Positive, not negative"),
        _record("s2", "", "no_final_answer"),
        _record("s3", "{0} {1} {14} {1", finish="length"),
        _record("s4", "negative"),
        _record("s5", "Classify: profits rose. Answer positive, negative or neutral.", finish="length"),
    ]
    scored = [
        {"id": "s1", "answer": "positive", "sample_score": 1.0},
        {"id": "s2", "answer": None, "sample_score": 0.0},
        {"id": "s3", "answer": None, "sample_score": 0.0},
        {"id": "s4", "answer": "negative", "sample_score": 0.0},
        {"id": "s5", "answer": "positive", "sample_score": 1.0, "echo": True},  # scored right, read from the prompt
    ]
    page = render_trace_page(records, scored)
    assert "scored as: positive, sample score 1.000" in page
    assert "Answer: <mark>Positive</mark>, not negative" in page  # the span the scorer read
    assert "Every sample of one cell" in page  # the caption, from report/trace.rst
    rows = _rows(page)  # one row per sample, coloured by how it ended
    assert [kind for kind, _ in rows] == ["right", "failed", "unreadable", "wrong", "echo"]  # an echo is never green
    assert "Classify: profits rose." in rows[0][1] and ">length<" in rows[2][1] and ">stop<" in rows[0][1]
    assert ">unreadable<" in rows[2][1] and "protocol failure: no_final_answer" in rows[1][1]
    assert "None" not in page and "null" not in page
    assert "finish reason: length" in page and "model output" in page and "prompt: the last message in" in page
    assert "5 samples: 1 right, 1 read from an echoed prompt, 1 wrong, 1 unreadable, 1 protocol failure" in page
    assert "<script>" in page and "src=" not in page  # sorting and filtering work offline
