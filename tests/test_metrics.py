"""FinBen metrics on small examples whose values are worked out by hand in the comments."""

import math
import random

import pytest

from slmbench.metrics import (
    answers_match,
    entities_to_bio,
    f1_score,
    lcs_length,
    matthews_corrcoef,
    rouge_scores,
    sample_scores,
    score_dataset,
    subset_scorer,
)
from slmbench.registry import DATASETS

FPB = DATASETS["fpb"]


def _cls_samples(golds):
    return [{"gold": g, "choices": ["positive", "negative", "neutral"]} for g in golds]


def test_classification_metrics_with_a_missing_answer():
    golds = ["positive", "positive", "positive", "negative"]
    answers = ["positive", "negative", "negative", None]
    result = score_dataset(FPB, _cls_samples(golds), answers)
    # positive: TP 1, predicted 1, support 3 -> F1 = 2*1/(1+3) = 0.5; negative: TP 0 -> 0.
    # weighted = 0.5*3/4 = 0.375; macro = (0.5+0)/2 = 0.25; accuracy = 1/4.
    assert result["accuracy"] == pytest.approx(0.25)
    assert result["f1_weighted"] == pytest.approx(0.375)
    assert result["f1_macro"] == pytest.approx(0.25)
    # MCC classes pos/neg/other: true (3,1,0), predicted (1,2,1), correct 1, n 4:
    # (1*4 - (3*1+1*2)) / sqrt((16-(1+4+1)) * (16-(9+1))) = -1/sqrt(60)
    assert result["mcc"] == pytest.approx(-1 / math.sqrt(60))
    assert result["n"] == 4 and result["n_missing"] == 1
    assert sample_scores(FPB, _cls_samples(golds), answers) == [1.0, 0.0, 0.0, 0.0]


def test_labels_compare_case_insensitively():
    assert score_dataset(FPB, _cls_samples(["Positive"]), ["positive"])["accuracy"] == 1.0


def test_predictions_outside_the_gold_labels_are_no_false_positives():
    # golds only "a": the "b" prediction is a false negative of "a" and not scored as its own class.
    # a: TP 1, predicted 1, support 2 -> 2/3.
    assert f1_score(["a", "b"], ["a", "a"], "weighted") == pytest.approx(2 / 3)
    assert f1_score(["a", "b"], ["a", "a"], "macro") == pytest.approx(2 / 3)


def test_mcc_is_zero_when_undefined_and_one_when_perfect():
    assert matthews_corrcoef(["a", "a"], ["a", "b"]) == 0.0  # constant prediction
    assert matthews_corrcoef(["a", "b", "b"], ["a", "b", "b"]) == pytest.approx(1.0)


def test_headlines_avg_f1_is_mean_over_label_types():
    samples = [
        {"gold": "Yes", "label_type": "t1"},
        {"gold": "No", "label_type": "t1"},
        {"gold": "No", "label_type": "t2"},
        {"gold": "No", "label_type": "t2"},
    ]
    answers = ["Yes", "Yes", "No", None]
    # t1: Yes F1 = 2*1/(2+1) = 2/3 (support 1), No F1 = 0 (support 1) -> weighted 1/3.
    # t2: No F1 = 2*1/(1+2) = 2/3 -> weighted 2/3.  avg_f1 = (1/3 + 2/3) / 2 = 0.5
    result = score_dataset(DATASETS["headlines"], samples, answers)
    assert result["avg_f1"] == pytest.approx(0.5)
    assert result["accuracy"] == pytest.approx(0.5)


def test_tsa_rmse_excludes_missing_answers_and_is_lower_is_better():
    spec = DATASETS["tsa"]
    samples = [{"gold": 0.5}, {"gold": -0.5}, {"gold": 0.0}]
    answers = [0.7, None, -0.4]
    # squared errors 0.04 and 0.16 -> RMSE = sqrt(0.10); one of three answers missing.
    result = score_dataset(spec, samples, answers)
    assert spec.higher_is_better is False
    assert result["rmse"] == pytest.approx(math.sqrt(0.1))
    assert result["missing"] == pytest.approx(1 / 3)
    assert result["n_missing"] == 1
    assert sample_scores(spec, samples, answers) == pytest.approx([0.04, None, 0.16])
    assert math.isnan(score_dataset(spec, samples[:1], [None])["rmse"])


def _ner_samples():
    return [
        {
            "tokens": ["Apple", "Inc", "hired", "Tim", "Cook", "in", "Cupertino"],
            "label": ["B-ORG", "I-ORG", "O", "B-PER", "I-PER", "O", "B-LOC"],
        },
        # labels stored as a Python-repr string, as in some mirror files
        {"tokens": ["Apple", "sued", "Apple"], "label": "['B-ORG', 'O', 'B-ORG']"},
    ]


def test_ner_entity_f1_maps_entities_onto_tokens():
    answers = [[["Apple Inc", "ORG"], ["Tim Cook", "ORG"], ["Cupertino", "LOC"], ["Nowhere", "LOC"]], None]
    # sentence 1: predicted ORG(0-2) ok, ORG(3-5) wrong type, LOC(6) ok -> tp 2, predicted 3, gold 3.
    # sentence 2: missing -> tp 0, predicted 0, gold 2.
    # P = 2/3, R = 2/5, F1 = 2PR/(P+R) = 0.5
    result = score_dataset(DATASETS["ner"], _ner_samples(), answers)
    assert result["entity_precision"] == pytest.approx(2 / 3)
    assert result["entity_recall"] == pytest.approx(2 / 5)
    assert result["entity_f1"] == pytest.approx(0.5)
    assert result["n_missing"] == 1
    # per sentence: 2*2/(3+3) = 2/3 and 0
    assert sample_scores(DATASETS["ner"], _ner_samples(), answers) == pytest.approx([2 / 3, 0.0])


def test_ner_tags_every_occurrence_and_scores_empty_agreement_as_one():
    assert entities_to_bio([["Apple", "ORG"]], ["Apple", "sued", "Apple"]) == ["B-ORG", "O", "B-ORG"]
    assert score_dataset(DATASETS["ner"], _ner_samples()[1:], [[["Apple", "ORG"]]])["entity_f1"] == 1.0
    no_entities = [{"tokens": ["a", "b"], "label": ["O", "O"]}]
    assert sample_scores(DATASETS["finer_ord"], no_entities, [[]]) == [1.0]


def test_ner_gold_can_come_from_entity_list():
    sample = {"text": "Tim Cook runs Apple", "gold": [["Tim Cook", "PER"], ["Apple", "ORG"]]}
    assert score_dataset(DATASETS["ner"], [sample], [[["Apple", "ORG"]]])["entity_recall"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    "prediction, gold, expected",
    [
        ("0.935", "0.935", True),
        ("93.5%", "0.935", True),  # percent written for a FinQA fraction
        ("-22.22%", "-22.22", True),  # TAT-QA percent-scale gold
        ("0.73", "0.72825", True),  # equal after rounding to 2 decimals
        ("0.72", "0.72825", False),
        ("22556579533.35", "22556579533.35", True),
        ("22556579533", "22556579533.35", False),  # no relative tolerance
        ("2057", "2100", False),
        ("$36.5 million", "36.5", True),
        ("(15.01)", "-15.01", True),
        ("The write-off of certain spare parts.", "the write-off of certain spare parts", True),
        ("cost-plus type\nfixed-price type", "fixed-price type\ncost-plus type", True),  # spans in any order
        ("fixed-price type", "fixed-price type\ncost-plus type", False),
        ("fixed-price type\nfixed-price type", "fixed-price type\ncost-plus type", False),
        ("2019", "2018", False),
    ],
)
def test_qa_answers_match(prediction, gold, expected):
    assert answers_match(prediction, gold) is expected


def test_qa_exact_match_and_strict_finben_match():
    samples = [{"gold": "0.935"}, {"gold": "2018"}, {"gold": "1.5"}]
    answers = ["93.5%", "2018", None]
    result = score_dataset(DATASETS["finqa"], samples, answers)
    assert result["exact_match"] == pytest.approx(2 / 3)
    assert result["exact_match_strict"] == pytest.approx(1 / 3)  # FinBen: stripped string equality only
    assert result["n_missing"] == 1


def test_rouge_on_a_hand_example():
    scores = rouge_scores("The cat sat.", "the cat sat on the mat")
    # unigrams: 3 of 3 predicted match, 3 of 6 reference -> F = 2*1*0.5/1.5 = 2/3
    # bigrams: 2 of 2 predicted, 2 of 5 reference -> F = 2*1*0.4/1.4 = 4/7
    # LCS = 3 -> same as ROUGE-1
    assert scores["rouge1"] == pytest.approx(2 / 3)
    assert scores["rouge2"] == pytest.approx(4 / 7)
    assert scores["rougeL"] == pytest.approx(2 / 3)
    assert rouge_scores("", "the cat") == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}


def test_lcs_length_matches_dynamic_programming():
    assert lcs_length("ABCBDAB", "BDCABA") == 4

    def dp(a, b):
        row = [0] * (len(b) + 1)
        for x in a:
            prev = 0
            for j, y in enumerate(b):
                prev, row[j + 1] = row[j + 1], prev + 1 if x == y else max(row[j + 1], row[j])
        return row[-1]

    rng = random.Random(0)
    for _ in range(200):
        a = [rng.choice("abcd") for _ in range(rng.randint(0, 15))]
        b = [rng.choice("abcd") for _ in range(rng.randint(0, 15))]
        assert lcs_length(a, b) == dp(a, b)


def test_ectsum_compares_selected_sentences():
    spec = DATASETS["ectsum"]
    samples = [{"text": "s one\ns two\ns three", "label": [1, 0, 1], "gold": "1\n0\n1"}] * 2
    answers = [[1, 0, 0], None]
    # predicted "s one" vs gold "s one\ns three": 2 of 2 predicted unigrams, 2 of 4 gold -> F = 2/3.
    # the missing answer selects nothing -> 0.  Mean over samples = 1/3.
    result = score_dataset(spec, samples, answers)
    assert result["rouge1"] == pytest.approx(1 / 3)
    assert result["n_missing"] == 1
    assert sample_scores(spec, samples, answers) == pytest.approx([2 / 3, 0.0])


def test_edtsum_scores_text_against_gold():
    spec = DATASETS["edtsum"]
    result = score_dataset(spec, [{"gold": "shares rose"}, {"gold": "shares fell"}], ["Shares rose!", None])
    assert result["rouge1"] == pytest.approx(0.5)
    assert result["rougeL"] == pytest.approx(0.5)


def test_subset_scorer_rescores_any_index_sample():
    golds = ["positive", "negative", "neutral"]
    score_on = subset_scorer(FPB, _cls_samples(golds), ["positive", "neutral", "neutral"])
    assert score_on([0, 1, 2]) == pytest.approx(score_dataset(FPB, _cls_samples(golds), ["positive", "neutral", "neutral"])["f1_weighted"])
    assert score_on([0, 0, 2]) == pytest.approx(1.0)  # only correct rows drawn
    assert score_on([1]) == 0.0


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError):
        score_dataset(FPB, _cls_samples(["positive"]), [])


def test_ner_tags_that_do_not_align_with_the_tokens_are_an_error():
    from_text = {"id": "ner7", "text": "Apple Inc hired Tim", "label": ["B-ORG", "I-ORG", "O"], "gold": []}
    with pytest.raises(ValueError, match="ner7.*4 whitespace tokens of text but 3 gold tags"):
        score_dataset(DATASETS["ner"], [from_text], [[["Apple Inc", "ORG"]]])
    from_tokens = {"id": "fo2", "tokens": ["a", "b"], "label": ["O"], "gold": []}
    with pytest.raises(ValueError, match="fo2"):
        sample_scores(DATASETS["finer_ord"], [from_tokens], [[]])
