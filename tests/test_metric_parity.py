"""The metrics re-implemented for speed (slmbench.metrics) against the libraries they claim to match,
on generated data: weighted and macro F1 and MCC against scikit-learn, entity chunking and
entity F1 against seqeval, ROUGE-1/2/L against rouge-score (the `test` extra installs all three)."""

import random

import pytest
import seqeval.metrics as seqeval_metrics
import seqeval.metrics.sequence_labeling as seqeval_labeling
import sklearn.metrics as sklearn_metrics
from rouge_score import rouge_scorer

from slmbench.entities import bio_entities
from slmbench.metrics import f1_score, matthews_corrcoef, ner_metrics, rouge_scores

LABELS = ["positive", "negative", "neutral", "other"]
SEEDS = range(200)


def _labels(rng: random.Random):
    """Golds from a few labels, predictions that are sometimes outside them or missing (None)."""
    n = rng.randint(1, 30)
    golds = [rng.choice(LABELS[: rng.randint(1, 3)]) for _ in range(n)]
    preds = [rng.choice([*LABELS, None, "nonsense"]) for _ in range(n)]
    return golds, preds


@pytest.mark.parametrize("average", ["weighted", "macro"])
def test_f1_matches_sklearn(average):
    for seed in SEEDS:
        golds, preds = _labels(random.Random(seed))
        shown = ["<missing>" if p is None else p for p in preds]  # sklearn needs one label type
        expected = sklearn_metrics.f1_score(golds, shown, labels=sorted(set(golds)), average=average, zero_division=0)
        assert f1_score(preds, golds, average) == pytest.approx(expected, abs=1e-12), seed


@pytest.mark.filterwarnings("ignore:A single label was found")
def test_mcc_matches_sklearn_with_predictions_outside_the_gold_labels_merged():
    for seed in SEEDS:
        golds, preds = _labels(random.Random(seed))
        merged = [p if p in set(golds) else "<not a gold label>" for p in preds]  # FinBen's mapping
        assert matthews_corrcoef(preds, golds) == pytest.approx(sklearn_metrics.matthews_corrcoef(golds, merged), abs=1e-12), seed


def _tags(rng: random.Random, n: int) -> list[str]:
    """BIO tags including ill-formed ones (I- after O, I- of another type) that seqeval still chunks."""
    return [rng.choice(["O", "O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]) for _ in range(n)]


def test_bio_chunks_match_seqeval():
    for seed in SEEDS:
        tags = _tags(random.Random(seed), random.Random(seed).randint(0, 25))
        expected = [(kind, start, end + 1) for kind, start, end in seqeval_labeling.get_entities(tags)]
        assert sorted(bio_entities(tags)) == sorted(expected), (seed, tags)


def test_entity_f1_matches_seqeval():
    for seed in SEEDS:
        rng = random.Random(seed)
        lengths = [rng.randint(1, 12) for _ in range(rng.randint(1, 6))]
        gold = [_tags(rng, n) for n in lengths]
        pred = [_tags(rng, n) for n in lengths]
        items = []
        for g, p in zip(gold, pred):
            g_chunks, p_chunks = set(bio_entities(g)), set(bio_entities(p))
            items.append((len(g_chunks & p_chunks), len(p_chunks), len(g_chunks)))
        ours = ner_metrics(None, items)
        assert ours["entity_f1"] == pytest.approx(seqeval_metrics.f1_score(gold, pred, zero_division=0), abs=1e-12), seed
        assert ours["entity_precision"] == pytest.approx(seqeval_metrics.precision_score(gold, pred, zero_division=0), abs=1e-12)
        assert ours["entity_recall"] == pytest.approx(seqeval_metrics.recall_score(gold, pred, zero_division=0), abs=1e-12)


WORDS = ["revenue", "Profit", "rose", "fell", "12%", "Q3", "the", "company's", "guidance", "EPS", "$1.2bn", "net", "income", "—", "and", "ÉCU"]


def _text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 30))) + rng.choice(["", ".", "!\n"])


def test_rouge_matches_rouge_score():
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False)  # FinBen's setting
    for seed in SEEDS:
        rng = random.Random(seed)
        prediction, reference = _text(rng), _text(rng)
        expected = scorer.score(reference, prediction)
        ours = rouge_scores(prediction, reference)
        for key in ("rouge1", "rouge2", "rougeL"):
            assert ours[key] == pytest.approx(expected[key].fmeasure, abs=1e-12), (seed, key, prediction, reference)
