"""FinBen's metric for each dataset, computed from per-sample answers (see slmbench.answers).

Every task type is scored in two steps: one item per sample (the work that touches text), then an
aggregate over any list of items. The split lets the bootstrap in slmbench.results.stats rescore
resampled subsets without re-reading text. Unextractable answers (None) are counted in `n_missing`
and score as wrong: an all-O tagging for NER, an empty summary, a label matching no gold class;
TSA excludes them from the RMSE, as FinBen does.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence

from slmbench.entities import bio_entities
from slmbench.records import as_list
from slmbench.registry import DatasetSpec

NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"  # a number as answers and golds write it, exponent included
# "1,758" and "12,345,678.5" hold thousands separators; "1,2,3", "1.234,5" and "1.234,567" do not.
_GROUPED_INTEGER = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d,])")
_SCALE_WORDS = re.compile(r"\b(?:thousand|million|billion|trillion|percent|usd|eur)\b")
_NOT_A_GOLD_LABEL = "\0not-a-gold-label"  # MCC: FinBen maps every prediction outside the gold labels to one class


def task_of(spec: DatasetSpec):
    """The dataset's task type (slmbench.tasks binds this module's per-type functions, so it imports it)."""
    from slmbench.tasks import task_of as lookup

    return lookup(spec)


def score_dataset(spec: DatasetSpec, samples: list[dict], answers: list[object | None]) -> dict[str, float]:
    """FinBen's metrics for one dataset: `spec.metric` plus extras, `n` and `n_missing`."""
    items = _items(spec, samples, answers)
    result = task_of(spec).aggregate(spec, items)
    result["n"] = len(samples)
    result["n_missing"] = sum(a is None for a in answers)
    return result


def sample_scores(spec: DatasetSpec, samples: list[dict], answers: list[object | None]) -> list[float | None]:
    """Per-sample scores: 1/0 correctness (classification, QA), squared error (TSA; None when missing),
    entity F1 (NER; 1 when neither side has an entity) or the primary ROUGE F-measure (summarization)."""
    items = _items(spec, samples, answers)
    item_score = task_of(spec).item_score
    return [item_score(spec, item) for item in items]


def subset_scorer(spec: DatasetSpec, samples: list[dict], answers: list[object | None]) -> Callable[[Sequence[int]], float]:
    """A function giving the primary metric on any (re)sample of row indices; text is parsed once."""
    from slmbench import resampled  # numpy: not for the download jobs, which check rows with this module's tasks

    items = _items(spec, samples, answers)
    aggregate = task_of(spec).aggregate
    scorer = lambda indices: aggregate(spec, [items[i] for i in indices])[spec.metric]  # noqa: E731
    scorer.many = lambda draws: resampled.many(spec, items, draws)  # every row of draws at once (or None)
    return scorer


def finben_score(spec: DatasetSpec, samples: list[dict], outputs: list[str | None]) -> float:
    """The primary metric with every output read by FinBen's own rules (`slmbench.finben`; None = empty)."""
    from slmbench import finben

    if len(samples) != len(outputs):
        raise ValueError(f"{spec.name}: {len(samples)} samples but {len(outputs)} outputs")
    items = [finben.item(spec, output, sample) for sample, output in zip(samples, outputs)]
    return task_of(spec).aggregate(spec, items)[spec.metric]


def _items(spec: DatasetSpec, samples: list[dict], answers: list[object | None]) -> list:
    if len(samples) != len(answers):
        raise ValueError(f"{spec.name}: {len(samples)} samples but {len(answers)} answers")
    item = task_of(spec).item
    return [item(sample, answer) for sample, answer in zip(samples, answers)]


# --- classification -------------------------------------------------------------------------------


def classification_item(sample: dict, answer):
    prediction = None if answer is None else str(answer).lower()
    return prediction, str(sample["gold"]).lower(), sample.get("label_type")


def classification_metrics(spec: DatasetSpec, items: list) -> dict[str, float]:
    preds = [p for p, _, _ in items]
    golds = [g for _, g, _ in items]
    result = {
        "accuracy": sum(p == g for p, g in zip(preds, golds)) / len(items) if items else math.nan,
        "f1_weighted": f1_score(preds, golds, average="weighted"),
        "f1_macro": f1_score(preds, golds, average="macro"),
        "mcc": matthews_corrcoef(preds, golds),
    }
    if spec.metric == "avg_f1":
        result["avg_f1"] = average_f1_by_type(items)
    return result


def f1_score(preds: Sequence, golds: Sequence, average: str) -> float:
    """sklearn's `f1_score(golds, preds, labels=set(golds), average=...)` for "weighted" or "macro".

    Predictions outside the gold labels (including None = unextractable) are false negatives of
    their gold label and false positives of nothing, exactly as sklearn treats labels not listed.
    """
    labels = sorted(set(golds))
    if not labels:
        return math.nan
    support = Counter(golds)
    predicted = Counter(preds)
    correct = Counter(g for p, g in zip(preds, golds) if p == g)
    scores = []
    for label in labels:
        tp = correct[label]
        denominator = predicted[label] + support[label]
        scores.append(2 * tp / denominator if denominator else 0.0)
    if average == "macro":
        return sum(scores) / len(scores)
    return sum(s * support[label] for s, label in zip(scores, labels)) / len(golds)


def matthews_corrcoef(preds: Sequence, golds: Sequence) -> float:
    """Multiclass MCC (sklearn/Gorodkin) with predictions outside the gold labels merged into one class, as FinBen does."""
    gold_labels = set(golds)
    preds = [p if p in gold_labels else _NOT_A_GOLD_LABEL for p in preds]
    n = len(golds)
    true_counts, pred_counts = Counter(golds), Counter(preds)
    correct = sum(p == g for p, g in zip(preds, golds))
    classes = set(true_counts) | set(pred_counts)
    cov_tp = correct * n - sum(true_counts[c] * pred_counts[c] for c in classes)
    cov_pp = n * n - sum(v * v for v in pred_counts.values())
    cov_tt = n * n - sum(v * v for v in true_counts.values())
    if cov_pp * cov_tt == 0:
        return 0.0
    return cov_tp / math.sqrt(cov_pp * cov_tt)


def average_f1_by_type(items: list) -> float:
    """FinBen Headlines `avg_f1`: the mean over label types of the weighted F1 within each type."""
    by_type: dict[str, tuple[list, list]] = {}
    for pred, gold, label_type in items:
        preds, golds = by_type.setdefault(label_type, ([], []))
        preds.append(pred)
        golds.append(gold)
    if not by_type:
        return math.nan
    return sum(f1_score(p, g, average="weighted") for p, g in by_type.values()) / len(by_type)


def classification_item_score(spec: DatasetSpec, item) -> float:
    return float(item[0] == item[1])


# --- regression (TSA) -----------------------------------------------------------------------------


def regression_item(sample: dict, answer):
    return None if answer is None else float(answer), float(sample["gold"])


def regression_metrics(spec: DatasetSpec, items: list) -> dict[str, float]:
    """FinBen TSA: RMSE over the parsed answers only; unparsable ones are reported as `missing`."""
    errors = [(p - g) ** 2 for p, g in items if p is not None]
    rmse = math.sqrt(sum(errors) / len(errors)) if errors else math.nan
    return {"rmse": rmse, "missing": (len(items) - len(errors)) / len(items) if items else math.nan}


def regression_item_score(spec: DatasetSpec, item) -> float | None:
    pred, gold = item
    return None if pred is None else (pred - gold) ** 2


# --- named entities -------------------------------------------------------------------------------


def entities_to_bio(entities: list, tokens: list[str]) -> list[str]:
    """Tag every occurrence of each entity's whitespace tokens in `tokens` as B-/I-TYPE.

    This is FinBen's `process_text` (case-sensitive, every occurrence, later entities overwrite
    earlier ones) done on token sequences instead of characters, so an entity cannot match part
    of a word and an entity at the very end of the text is tagged too. Matching spans (rather than
    comparing entity-string sets) keeps seqeval's semantics: repeated mentions count separately.
    """
    tags = ["O"] * len(tokens)
    for name, kind in entities:
        words = str(name).split()
        if not words:
            continue
        for start in range(len(tokens) - len(words) + 1):
            if tokens[start : start + len(words)] == words:
                tags[start] = f"B-{kind}"
                tags[start + 1 : start + len(words)] = [f"I-{kind}"] * (len(words) - 1)
    return tags


def sample_tokens(sample: dict) -> list[str] | None:
    """A NER sample's tokens: `tokens` (the mirror's field) or `token` (FinBen's hub rows), else None."""
    for field in ("tokens", "token"):
        if sample.get(field) is not None:
            return as_list(sample[field])
    return None


def ner_gold_tags(sample: dict) -> tuple[list[str], list[str]]:
    """(tokens, gold BIO tags) of a NER sample: its `label` tags, else its gold entities tagged on the tokens."""
    tokens = sample_tokens(sample)
    source = "tokens" if tokens is not None else "whitespace tokens of text"
    tokens = tokens if tokens is not None else sample["text"].split()
    if sample.get("label") is None:
        return tokens, entities_to_bio(as_list(sample["gold"]), tokens)
    gold_tags = as_list(sample["label"])
    if len(gold_tags) != len(tokens):
        raise ValueError(
            f"NER sample {sample.get('id')!r}: {len(tokens)} {source} but {len(gold_tags)} gold tags in 'label'; "
            "the tags must align one to one with the tokens"
        )
    return tokens, gold_tags


def ner_item(sample: dict, answer):
    """(true positives, predicted, gold) entity chunk counts for one sentence (seqeval, default mode)."""
    tokens, gold_tags = ner_gold_tags(sample)
    gold = set(bio_entities(gold_tags))
    pred = set(bio_entities(entities_to_bio(answer or [], tokens)))
    return len(gold & pred), len(pred), len(gold)


def ner_metrics(spec: DatasetSpec, items: list) -> dict[str, float]:
    """seqeval's micro-averaged entity precision, recall and F1 over all sentences."""
    tp = sum(t for t, _, _ in items)
    predicted = sum(p for _, p, _ in items)
    gold = sum(g for _, _, g in items)
    precision = tp / predicted if predicted else 0.0
    recall = tp / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"entity_f1": f1, "entity_precision": precision, "entity_recall": recall}


def ner_item_score(spec: DatasetSpec, item) -> float:
    tp, predicted, gold = item
    return 1.0 if predicted == gold == 0 else 2 * tp / (predicted + gold)


# --- question answering ---------------------------------------------------------------------------


def answers_match(prediction: str, gold: str) -> bool:
    """Exact match, tolerant of formatting and number rounding.

    FinBen's QA `acc` is `output.strip() == gold`, which small models almost never meet for numbers
    (FinQA golds are unrounded program results such as 0.72825). Here an answer also matches when
    its normalized text is equal, or both are single numbers equal after rounding to 2 decimals
    (TAT-QA's official rule; no relative tolerance, which would equate years such as 2018 and 2019);
    a prediction written with '%' also matches as a fraction (FinQA stores 93.5 % as 0.935).
    Multi-span golds (one span per line) match when every gold line is matched by a different
    predicted line.
    """
    gold_lines = [line for line in gold.splitlines() if line.strip()]
    pred_lines = [line for line in prediction.splitlines() if line.strip()]
    if len(gold_lines) <= 1:
        return _span_matches(prediction, gold)
    if len(pred_lines) != len(gold_lines):
        return False
    unmatched = list(pred_lines)
    for gold_line in gold_lines:
        hit = next((p for p in unmatched if _span_matches(p, gold_line)), None)
        if hit is None:
            return False
        unmatched.remove(hit)
    return True


def _span_matches(prediction: str, gold: str) -> bool:
    if _normalize_text(prediction) == _normalize_text(gold):
        return True
    pred_value, gold_value = parse_number(prediction), parse_number(gold)
    if pred_value is None or gold_value is None:
        return False
    candidates = [pred_value, pred_value / 100] if "%" in prediction else [pred_value]
    return any(round(value, 2) == round(gold_value, 2) for value in candidates)


def parse_number(text: str) -> float | None:
    """A QA answer read as one number ("$1,758 million", "(3.2)", "25.1%"), else None.

    Currency signs, thousands separators, '%' and scale words are dropped (TAT-QA states the
    scale separately), and parentheses mean a negative number, as in financial tables.
    """
    cleaned = text.strip().lower().replace("−", "-").rstrip(".")
    cleaned = _SCALE_WORDS.sub("", cleaned)
    cleaned = re.sub(r"[$€£%\s]", "", _GROUPED_INTEGER.sub(lambda m: m.group().replace(",", ""), cleaned))
    negative = cleaned.startswith("(") and cleaned.endswith(")")
    cleaned = cleaned.strip("()")
    if not re.fullmatch(NUMBER, cleaned):
        return None
    value = float(cleaned)
    return -value if negative else value


def _normalize_text(text: str) -> str:
    return " ".join(text.lower().split()).strip(" .\"'")


def qa_item(sample: dict, answer):
    gold = str(sample["gold"])
    if answer is None:
        return 0.0, 0.0
    return float(answers_match(str(answer), gold)), float(str(answer).strip() == gold.strip())


def qa_metrics(spec: DatasetSpec, items: list) -> dict[str, float]:
    n = len(items)
    return {
        "exact_match": sum(m for m, _ in items) / n if n else math.nan,
        "exact_match_strict": sum(s for _, s in items) / n if n else math.nan,
    }


def qa_item_score(spec: DatasetSpec, item) -> float:
    return item[0]


# --- summarization --------------------------------------------------------------------------------


def rouge_tokens(text: str) -> list[str]:
    """rouge-score's default tokenizer: lower-case, split on anything not [a-z0-9], no stemming (FinBen's setting)."""
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).split()


def rouge_scores(prediction: str, reference: str) -> dict[str, float]:
    """ROUGE-1, ROUGE-2 and ROUGE-L F-measures of one prediction, as rouge-score computes them."""
    pred, ref = rouge_tokens(prediction), rouge_tokens(reference)
    scores = {f"rouge{n}": _fmeasure(_ngram_overlap(pred, ref, n), len(pred) - n + 1, len(ref) - n + 1) for n in (1, 2)}
    scores["rougeL"] = _fmeasure(lcs_length(pred, ref), len(pred), len(ref)) if pred and ref else 0.0
    return scores


def _ngram_overlap(pred: list[str], ref: list[str], n: int) -> int:
    def grams(tokens: list[str]) -> Counter:
        return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))

    return sum((grams(pred) & grams(ref)).values())


def _fmeasure(overlap: int, n_pred: int, n_ref: int) -> float:
    precision = overlap / max(n_pred, 1)
    recall = overlap / max(n_ref, 1)
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def lcs_length(a: Sequence, b: Sequence) -> int:
    """Longest common subsequence length, bit-parallel (Hyyrö 2004): O(len(a) * len(b) / wordsize)."""
    masks: dict = {}
    for i, token in enumerate(a):
        masks[token] = masks.get(token, 0) | (1 << i)
    full = (1 << len(a)) - 1
    row = full
    for token in b:
        matches = row & masks.get(token, 0)
        row = ((row + matches) | (row - matches)) & full
    return len(a) - row.bit_count()


def selected_sentences(text: str, labels: Sequence[int]) -> str:
    """FinBen ECTSum: the sentences (lines of `text`) whose label is 1, joined by newlines."""
    sentences = text.split("\n")
    return "\n".join(s for s, keep in zip(sentences, labels) if int(keep) == 1)


def extractive_item(sample: dict, answer):
    """ROUGE of the predicted selection against the gold selection (FinBen; the bullet summary is not used).

    FinBen compares its parsed lines to the integer 1 as strings, which never matches, so its own
    predicted summaries are empty; here lines are read as integers, the evident intent.
    """
    gold_labels = as_list(sample["label"]) if sample.get("label") is not None else str(sample["gold"]).split("\n")
    reference = selected_sentences(sample["text"], gold_labels)
    return rouge_scores(selected_sentences(sample["text"], answer or []), reference)


def abstractive_item(sample: dict, answer):
    return rouge_scores(answer or "", str(sample["gold"]))


def summarization_metrics(spec: DatasetSpec, items: list) -> dict[str, float]:
    """Mean per-sample F-measures (FinBen's `evaluate` rouge reports the bootstrap median of this mean)."""
    n = len(items)
    return {key: sum(item[key] for item in items) / n if n else math.nan for key in ("rouge1", "rouge2", "rougeL")}


def summarization_item_score(spec: DatasetSpec, item) -> float:
    return item[spec.metric]
