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
        assert item.category in {"Summary", "Quality", "Cost", "Failures", "Traces"}


def test_names_and_outputs_are_unique():
    assert len({t.name for t in catalog.TABLES}) == len(catalog.TABLES)
    assert len({f.name for f in catalog.FIGURES}) == len(catalog.FIGURES)


def test_no_caption_text_in_the_pages_code():
    """Captions live in report/*.rst: the page carries the caption file's text."""
    text = page.caption_html("composite_z")
    assert "Composite effectiveness" in text and text.startswith("<p>")


def _record(sample_id, output, failure=""):
    return {
        "id": sample_id, "model": "m", "paradigm": "base", "dataset": "fpb", "output": output, "gold": "positive",
        "failure": failure, "error": "", "usage": {"total_tokens": 3}, "llm_calls": 0, "latency_s": 0.0, "trace": [],
    }  # fmt: skip


def test_the_trace_page_shows_the_scored_answer():
    records = [_record("s1", "Answer: Positive, not negative"), _record("s2", "", "no_final_answer")]
    scored = [{"id": "s1", "answer": "positive", "sample_score": 1.0}, {"id": "s2", "answer": None, "sample_score": 0.0}]
    page = render_trace_page(records, scored)
    assert "scored as: &quot;positive&quot;, sample score 1.000" in page
    assert "scored as: null, sample score 0.000" in page
    assert "Every sample of one cell" in page  # the caption, from report/trace.rst
