"""Answer extraction: what FinBen's parsers would read from a model's output."""

import pytest

from slmbench.answers import answer_format, extract_answer
from slmbench.entities import bio_entities
from slmbench.metrics import parse_number
from slmbench.records import as_list
from slmbench.registry import DATASETS

FPB, BIGDATA, GERMAN, CCFRAUD, MULTIFIN, HEADLINES = (
    DATASETS[n] for n in ("fpb", "bigdata22", "german", "ccfraud", "multifin_en", "headlines")
)


@pytest.mark.parametrize(
    "output, expected",
    [
        ("Neutral.", "neutral"),
        ("The sentiment is negative, not positive.", "negative"),  # earliest choice wins, not choice order
        ("I would say NEUTRAL rather than negative", "neutral"),
        ("positively toned", "positive"),  # substring fallback, as FinBen's `choice in output`
        ("Answer: positive", "positive"),
        ("I cannot tell", None),
        ("", None),
        ("   ", None),
    ],
)
def test_classification_takes_the_earliest_choice(output, expected):
    assert extract_answer(FPB, output, {"choices": ["positive", "negative", "neutral"]}) == expected


def test_multiword_choices_are_matched_whole():
    assert extract_answer(MULTIFIN, "Category: Tax & Accounting, maybe Finance", {}) == "Tax & Accounting"
    assert extract_answer(MULTIFIN, "business & management", {}) == "Business & Management"


def test_yes_no_do_not_match_inside_words():
    # "no" inside "not"/"know" must not count; with no whole word, Yes/No (< 4 letters) have no fallback.
    assert extract_answer(HEADLINES, "I do not know", {}) is None
    assert extract_answer(HEADLINES, "No, it does not.", {}) == "No"
    assert extract_answer(HEADLINES, "yes", {}) == "Yes"


@pytest.mark.parametrize(
    "output, expected",
    [
        ("Yes", "Rise"),  # FinBen CHOICE_DICT: yes/positive -> rise
        ("positive outlook", "Rise"),
        ("neutral", "Fall"),  # no/negative/neutral -> fall
        ("The price will fall, not rise", "Fall"),
        ("no clear signal", "Fall"),
        ("uncertain", None),  # no answer, no credit: FinBen's default Fall is FinBen-exact's alone
        ("", None),
    ],
)
def test_stock_movement_synonyms_without_a_default(output, expected):
    assert extract_answer(BIGDATA, output, {}) == expected


def test_credit_scoring_has_synonyms_but_no_default_label():
    assert extract_answer(GERMAN, "hard to say", {}) is None  # FinBen: "good" (FinBen-exact only)
    assert extract_answer(GERMAN, "negative", {}) == "bad"
    # ccFraud is a plain FinBen Classification: "yes" is not a label and there is no default.
    assert extract_answer(CCFRAUD, "yes", {}) is None
    assert extract_answer(CCFRAUD, "Bad.", {}) == "bad"


def test_sample_choices_take_precedence_over_spec_spelling():
    assert extract_answer(FPB, "POSITIVE", {"choices": ["Positive", "Negative", "Neutral"]}) == "Positive"


@pytest.mark.parametrize(
    "output, expected",
    [
        ("0.45\nThe headline is upbeat.", 0.45),
        ("Score: -0.3 (bearish)", -0.3),
        ("1.7", 1.0),  # clipped to [-1, 1]
        ("−2", -1.0),  # unicode minus, clipped
        (".5", 0.5),
        ("Bullish.\n0.6", None),  # FinBen reads the first line only
    ],
)
def test_regression_reads_first_number_of_first_line(output, expected):
    assert extract_answer(DATASETS["tsa"], output, {}) == expected


def test_ner_reads_entity_type_lines():
    output = "- Apple Inc., ORG\n2. Tim Cook, person\nCupertino, LOC.\nFoo, MISC\nnot an entity line"
    assert extract_answer(DATASETS["ner"], output, {}) == [["Apple Inc.", "ORG"], ["Tim Cook", "PER"], ["Cupertino", "LOC"]]


def test_ner_without_entity_lines_means_no_entities():
    assert extract_answer(DATASETS["ner"], "None", {}) == []
    assert extract_answer(DATASETS["ner"], "", {}) is None


def test_ner_reads_token_label_lines_as_entities():
    output = "Tim:B-PER\nCook:I-PER\nof:O\nApple:B-ORG\nin:O\nNew:B-LOC\nYork:I-LOC"
    assert extract_answer(DATASETS["finer_ord"], output, {}) == [["Tim Cook", "PER"], ["Apple", "ORG"], ["New York", "LOC"]]


def test_bio_entities_follow_seqeval_default_mode():
    tags = ["B-PER", "I-PER", "O", "I-ORG", "B-LOC", "B-LOC", "I-PER", "I-ORG"]
    # I-ORG after O starts a chunk; B-LOC B-LOC are two chunks; a type change starts a new chunk.
    assert bio_entities(tags) == [("PER", 0, 2), ("ORG", 3, 4), ("LOC", 4, 5), ("LOC", 5, 6), ("PER", 6, 7), ("ORG", 7, 8)]
    assert bio_entities(["O", "O"]) == []
    assert bio_entities(["I-PER", "I-PER"]) == [("PER", 0, 2)]


@pytest.mark.parametrize(
    "output, expected",
    [
        ("0\n1\n0", [0, 1, 0]),
        ("0, 1, 1", [0, 1, 1]),  # one line of labels
        ("1.\nsomething else\n0", [1, 0, 0]),  # unreadable lines keep their position as 0
        ("no labels here", None),
    ],
)
def test_extractive_summary_reads_one_label_per_line(output, expected):
    assert extract_answer(DATASETS["ectsum"], output, {}) == expected


def test_qa_and_abstractive_keep_the_text():
    assert extract_answer(DATASETS["finqa"], "Answer: 25.1% \n", {}) == "25.1%"
    assert extract_answer(DATASETS["edtsum"], "  Shares rose.  ", {}) == "Shares rose."
    assert extract_answer(DATASETS["finqa"], "Answer:", {}) is None


@pytest.mark.parametrize(
    "text, expected",
    [("$1,758 million", 1758.0), ("(3.2)", -3.2), ("25.1%", 25.1), ("-0.52485", -0.52485), ("2018.", 2018.0), ("about 5 units", None), ("", None)],
)
def test_parse_number(text, expected):
    assert parse_number(text) == expected


def test_as_list_reads_lists_json_and_python_reprs():
    assert as_list(["B-PER", "O"]) == ["B-PER", "O"]
    assert as_list('["B-PER", "O"]') == ["B-PER", "O"]
    assert as_list("['B-PER', 'O']") == ["B-PER", "O"]
    assert as_list((1, 0)) == [1, 0]


def test_answer_format_names_what_the_parser_reads():
    assert answer_format(FPB) == "Answer with exactly one of: positive, negative, neutral."
    assert "Tax & Accounting" in answer_format(MULTIFIN)
    assert "-1 and 1" in answer_format(DATASETS["tsa"])
    assert "'entity name, TYPE'" in answer_format(DATASETS["ner"])
    assert "token:label" in answer_format(DATASETS["finer_ord"])
    assert "1" in answer_format(DATASETS["ectsum"]) and "0" in answer_format(DATASETS["ectsum"])
    for spec in DATASETS.values():
        assert answer_format(spec).endswith(".")
