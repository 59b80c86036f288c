"""The FinBen-exact score: outputs on which slmbench's reading and FinBen's own code disagree.

Each expected FinBen value is what FinBen's evaluation code (the-FinAI/PIXIU, src/tasks/flare.py
and utils.py) gives: its labels worked out by hand from its rules, its aggregates computed as it
computes them (scikit-learn's weighted F1 over the gold labels, seqeval's entity F1, RMSE of the
clipped parsed scores)."""

import math

import pytest
from seqeval.metrics import f1_score as seqeval_f1
from sklearn.metrics import f1_score

from slmbench import finben
from slmbench.answers import extract_answer
from slmbench.data import normalize_hub_row
from slmbench.metrics import finben_score, score_dataset
from slmbench.records import check_record
from slmbench.registry import DATASETS

SENTIMENT = ["positive", "negative", "neutral"]


@pytest.mark.parametrize(
    "dataset, choices, output, slmbench_label, finben_label",
    [
        # FinBen: the first label in choice-list order that is a substring; slmbench: the earliest whole word
        ("fpb", SENTIMENT, "not negative; it is positive", "negative", "positive"),
        ("fpb", SENTIMENT, "neutral, not negative", "neutral", "negative"),
        ("fpb", SENTIMENT, "The sentiment is Positive.", "positive", "positive"),
        ("fpb", SENTIMENT, "I cannot tell", None, None),
        # stock movement: "rise" inside "surprise"; FinBen's default "fall" when nothing matches
        ("acl18", ["Rise", "Fall"], "A surprise: the stock will fall", "Fall", "Rise"),
        ("acl18", ["Rise", "Fall"], "The price will go down", None, "Fall"),  # FinBen's default
        ("acl18", ["Rise", "Fall"], "It will go up, I know", None, "Fall"),  # FinBen: "no" in "know"
        # Polish: "no" inside "cannot", and "no" comes first in the choice list
        ("polish", ["no", "yes"], "Yes. The company cannot pay its debts.", "yes", "no"),
        # German: FinBen's synonyms; slmbench takes the earliest ("negative" = bad), FinBen the first label ("good")
        ("german", ["good", "bad"], "Negative outlook, good collateral", "bad", "good"),
        ("german", ["good", "bad"], "unclear", None, "good"),  # FinBen's default class: FinBen-exact only
        ("acl18", ["Rise", "Fall"], "uncertain", None, "Fall"),
        ("headlines", ["Yes", "No"], "maybe", None, "No"),
        # Headlines: FinBen counts only an exact "Yes"
        ("headlines", ["Yes", "No"], "Yes.", "Yes", "No"),
        ("headlines", ["Yes", "No"], "yes", "Yes", "No"),
        ("headlines", ["Yes", "No"], "Yes", "Yes", "Yes"),
    ],
)
def test_classification_rules_disagree_where_expected(dataset, choices, output, slmbench_label, finben_label):
    spec = DATASETS[dataset]
    sample = {"choices": choices}
    assert extract_answer(spec, output, sample) == slmbench_label
    assert finben.choice(spec, output, sample) == finben_label


def test_classification_finben_score_equals_finbens_weighted_f1():
    spec = DATASETS["fpb"]
    outputs = ["not negative; it is positive", "neutral, not negative", "Positive.", "I cannot tell", None]
    golds = ["positive", "neutral", "positive", "negative", "neutral"]
    samples = [{"id": i, "choices": SENTIMENT, "gold": g} for i, g in enumerate(golds)]
    # FinBen's labels, by hand: positive, negative, positive, missing, missing (a failed sample reads as empty)
    finben_preds = ["positive", "negative", "positive", "missing", "missing"]
    expected = f1_score(golds, finben_preds, average="weighted", labels=list(set(golds)))
    assert finben_score(spec, samples, outputs) == pytest.approx(expected)
    answers = [None if o is None else extract_answer(spec, o, s) for o, s in zip(outputs, samples)]
    assert score_dataset(spec, samples, answers)["f1_weighted"] != pytest.approx(expected)  # the primary reads them otherwise


def test_headlines_finben_score_is_its_avg_f1():
    spec = DATASETS["headlines"]
    outputs = ["Yes.", "Yes", "No", "yes"]
    golds = ["Yes", "Yes", "No", "Yes"]
    types = ["price up", "price up", "price up", "past news"]
    samples = [{"id": i, "choices": ["Yes", "No"], "gold": g, "label_type": t} for i, (g, t) in enumerate(zip(golds, types))]
    # FinBen: pred = int(output.strip() != "Yes"), gold index (Yes 0, No 1), weighted F1 with labels [0, 1] per type, averaged
    preds = [1, 0, 1, 1]
    gold_ix = [0, 0, 1, 0]
    per_type = []
    for label_type in set(types):
        rows = [i for i, t in enumerate(types) if t == label_type]
        per_type.append(f1_score([gold_ix[i] for i in rows], [preds[i] for i in rows], average="weighted", labels=[0, 1]))
    assert finben_score(spec, samples, outputs) == pytest.approx(sum(per_type) / len(per_type))


def test_tsa_finben_drops_the_minus_sign():
    spec = DATASETS["tsa"]
    outputs = ["-0.5", "Score: −0.3\nbecause", "0.8 (strongly positive)", "no idea", "1.7"]
    golds = [-0.5, -0.3, 0.6, 0.1, 0.9]
    samples = [{"id": i, "gold": g} for i, g in enumerate(golds)]
    # FinBen: 0.5, 0.3, 0.8, missing, 1.7 clipped to 1.0
    parsed = [(0.5, -0.5), (0.3, -0.3), (0.8, 0.6), (1.0, 0.9)]
    expected = math.sqrt(sum((p - g) ** 2 for p, g in parsed) / len(parsed))
    assert finben_score(spec, samples, outputs) == pytest.approx(expected)
    answers = [extract_answer(spec, o, s) for o, s in zip(outputs, samples)]
    assert answers[:2] == [-0.5, -0.3]  # slmbench keeps the sign
    assert score_dataset(spec, samples, answers)["rmse"] == pytest.approx(math.sqrt((0.2**2 + 0.1**2) / 4))


FINER_ORD_ROW = {
    "id": "fo1",
    "query": "In the list of tokens, identify 'Person', 'Location', and 'Organisation' ...",
    "token": ["Apple", "hired", "Tim", "Cook", "in", "Cupertino", "."],
    "label": ["B-ORG", "O", "B-PER", "I-PER", "O", "B-LOC", "O"],
    "answer": "Apple:B-ORG\nhired:O\nTim:B-PER\nCook:I-PER\nin:O\nCupertino:B-LOC\n.:O",
}  # the shape of FinBen's finben-finer-ord rows: `token`, not `tokens`


def test_finer_ord_hub_row_reads_token_and_finben_scores_by_position():
    spec = DATASETS["finer_ord"]
    sample = check_record(spec, normalize_hub_row(spec, FINER_ORD_ROW, 0), "hub row")
    assert sample["tokens"] == FINER_ORD_ROW["token"]
    assert sample["gold"] == [["Apple", "ORG"], ["Tim Cook", "PER"], ["Cupertino", "LOC"]]
    # the model skips the line of "hired": every later line is one token off
    output = "Apple:B-ORG\nTim:B-PER\nCook:I-PER\nin:O\nCupertino:B-LOC\n.:O"
    finben_tags = ["B-ORG", "O", "O", "O", "O", "O", "O"]  # only line 0 is at its position
    expected = seqeval_f1([FINER_ORD_ROW["label"]], [finben_tags])
    assert expected == pytest.approx(0.5)
    assert finben_score(spec, [sample], [output]) == pytest.approx(expected)
    assert score_dataset(spec, [sample], [extract_answer(spec, output, sample)])["entity_f1"] == pytest.approx(1.0)
    # with the "hired" line there, FinBen reads every line
    assert finben_score(spec, [sample], [FINER_ORD_ROW["answer"]]) == pytest.approx(1.0)


def test_ner_finben_matches_entities_as_character_substrings():
    spec = DATASETS["ner"]
    text = "Apple Inc. hired Tim Cook in Cupertino ."
    label = ["B-ORG", "I-ORG", "O", "B-PER", "I-PER", "O", "B-LOC", "O"]
    sample = {"id": "n1", "text": text, "label": label, "gold": [["Apple Inc.", "ORG"], ["Tim Cook", "PER"], ["Cupertino", "LOC"]]}
    output = "Apple Inc, ORG\nCook, PER\nCupertino, LOC"
    # FinBen: "Apple Inc" found at character 0 covers words 0-1 (ORG, right); "Cook" tags word 4 as B-PER (wrong span)
    finben_tags = ["B-ORG", "I-ORG", "O", "O", "B-PER", "O", "B-LOC", "O"]
    assert finben.entity_tags(output, text) == finben_tags
    assert finben_score(spec, [sample], [output]) == pytest.approx(seqeval_f1([label], [finben_tags]))
    # slmbench matches whole tokens: "Apple Inc" is not the token sequence "Apple Inc."
    assert score_dataset(spec, [sample], [extract_answer(spec, output, sample)])["entity_f1"] == pytest.approx(2 * 1 / (2 + 3))


def test_qa_finben_is_strict_and_ectsum_finben_selects_nothing():
    qa = DATASETS["finqa"]
    samples = [{"id": 1, "gold": "42"}, {"id": 2, "gold": "0.5"}]
    assert finben_score(qa, samples, [" 42 ", "0.50"]) == pytest.approx(0.5)
    assert score_dataset(qa, samples, ["42", "0.50"])["exact_match"] == pytest.approx(1.0)
    ect = DATASETS["ectsum"]
    sample = {"id": 1, "text": "Revenue rose 5%.\nThe CEO spoke.", "gold": "1\n0"}
    assert finben_score(ect, [sample], ["1\n0"]) == 0.0  # FinBen compares "1" with 1: its summaries are empty
    assert score_dataset(ect, [sample], [[1, 0]])["rouge1"] == pytest.approx(1.0)


# Polish: FinBen's prompt asks for 'no' or 'yes'; one third-party loader reports the hub's labels as good/bad.
POLISH_PROMPT = (
    "Predict whether the company will face bankruptcy based on the financial profile attributes provided in the "
    "following text. Respond with only 'no' or 'yes', and do not provide any additional information. \nText: "
    "'The client has attributes: X1: 0.12, X2: 0.48.' \nAnswer:"
)


@pytest.mark.parametrize(
    "row",
    [
        {"id": "polish0", "query": POLISH_PROMPT, "answer": "good", "choices": ["good", "bad"], "gold": 0, "text": "X1: 0.12"},
        {"id": "polish0", "query": POLISH_PROMPT, "answer": "no", "choices": ["no", "yes"], "gold": 0, "text": "X1: 0.12"},
    ],
    ids=["labels-good-bad", "labels-no-yes"],
)
def test_polish_answers_in_the_prompts_words_score_under_either_label_set(row):
    spec = DATASETS["polish"]
    sample = check_record(spec, normalize_hub_row(spec, row, 0), "hub row")
    assert sample["gold"] == row["choices"][0]
    assert "'no' or 'yes'" in sample["query"] and set(spec.choices) == {"no", "yes"}  # agents are told no/yes too
    assert extract_answer(spec, "no", sample) == sample["gold"]
    assert extract_answer(spec, "Yes, it will go bankrupt.", sample) == row["choices"][1]
    assert score_dataset(spec, [sample], [extract_answer(spec, "no", sample)])["n_missing"] == 0


def test_finben_ner_reading_stays_fast_on_a_hostile_output():
    import time

    text = " ".join(["a"] * 3000) + " ."
    start = time.monotonic()
    tags = finben.entity_tags("a, PER\n" * 1000, text)
    assert time.monotonic() - start < 5.0
    assert tags[:2] == ["B-PER", "B-PER"] and tags[-1] == "O"
    # later lines overwrite earlier ones, as in FinBen; a repeated line counts where it last occurs
    assert finben.entity_tags("A B, PER\nA, ORG\nA B, PER", "A B C") == ["B-PER", "I-PER", "O"]
    assert finben.entity_tags("A B, PER\nA, ORG", "A B C") == ["B-ORG", "I-PER", "O"]


@pytest.mark.parametrize(
    "dataset, choices, golds",
    [("bigdata22", ["Rise", "Fall"], ["Fall", "Rise", "Fall", "Rise"]), ("german", ["good", "bad"], ["good", "bad", "good", "bad"])],
)
def test_failed_empty_and_unreadable_samples_are_treated_alike(dataset, choices, golds):
    """The primary score's one rule ("no answer, no credit"): a failed sample (no output), an empty
    output and an unreadable one score the same, as wrong; FinBen-exact keeps FinBen's rule (an
    unreadable or empty output gets its default label)."""
    from slmbench.score import score_cell

    spec = DATASETS[dataset]
    samples = [{"id": str(i), "choices": choices, "gold": g, "query": "q"} for i, g in enumerate(golds)]
    right = golds[-1]

    def generation(i, output, failure):
        return {
            "id": str(i), "model": "m", "paradigm": "p", "dataset": dataset, "output": output, "failure": failure,
            "latency_s": 1.0, "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}, "llm_calls": 1, "trace": [],
        }

    def cell(first):
        outputs = [first, right, right, right]
        return [generation(i, o, "no_final_answer" if o is None else None) for i, o in enumerate(outputs)]

    kinds = {"failed": None, "empty": "", "unreadable": "hard to say"}
    results = {kind: score_cell(cell(first), samples, n_boot=10) for kind, first in kinds.items()}
    for summary, rows in results.values():
        assert rows[0]["answer"] is None and rows[0]["sample_score"] == 0.0
    assert len({summary["score"] for summary, _ in results.values()}) == 1
    # FinBen-exact: empty and unreadable get FinBen's default label (the gold of sample 0 here), as FinBen's code does
    default = {"bigdata22": "Fall", "german": "good"}[dataset]
    assert golds[0] == default
    assert results["empty"][0]["score_finben"] == results["unreadable"][0]["score_finben"] > results["empty"][0]["score"]
    assert results["failed"][0]["completion_rate"] == 0.75 and results["empty"][0]["completion_rate"] == 1.0
