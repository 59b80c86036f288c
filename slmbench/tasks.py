"""The task types of FinBen, one entry each: the one place that says, for a kind of task, how a
prompt states the answer format, how the answer is read from a model's output, how a hub row's
gold is mapped, what a dataset row's gold must be, and how answers are scored.

Each dataset of `slmbench.registry` names its task type. The functions an entry binds live next
to their kind of work (`answers`: format and extraction; `data`: the hub's gold; `records`: gold
checks; `metrics`: per-sample items, the aggregate metrics, per-sample scores); their common entry
points (`answers.extract_answer`, `metrics.score_dataset`, `records.check_record`...) look the
task type up here. Adding a task type is one entry here plus its functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from . import answers, data, finben, metrics, records
from .registry import DatasetSpec


@dataclass(frozen=True)
class TaskType:
    name: str
    answer: str  # what an answer is (documentation)
    answer_format: Callable[[DatasetSpec], str]  # the sentence a prompt states
    extract: Callable[[DatasetSpec, str, dict], Any]  # the answer in an output (cleaned text), None when none
    hub_gold: Callable[[dict, list | None], dict]  # a hub row's gold fields in the mirror schema
    check_gold: Callable[[DatasetSpec, dict], dict]  # the record's gold checked (raises records' problem)
    item: Callable[[dict, Any], Any]  # one sample's scoring item (the work that touches text)
    aggregate: Callable[[DatasetSpec, list], dict[str, float]]  # the metrics over any list of items
    item_score: Callable[[DatasetSpec, Any], float | None]  # one sample's score (samples.parquet)
    finben: Callable[[DatasetSpec, str, dict], Any]  # the item of a raw output read by FinBen's own rules (FinBen-exact)


TASKS: dict[str, TaskType] = {
    t.name: t
    for t in [
        TaskType(
            "classification", "one label out of `choices`",
            answers.choice_format, answers.extract_choice, data.hub_label, records.check_classification_gold,
            metrics.classification_item, metrics.classification_metrics, metrics.classification_item_score, finben.classification,
        ),
        TaskType(
            "regression", "a number in [-1, 1] (TSA)",
            answers.score_format, answers.extract_score, data.hub_score, records.check_regression_gold,
            metrics.regression_item, metrics.regression_metrics, metrics.regression_item_score, finben.regression,
        ),
        TaskType(
            "ner", "a list of [entity, type]",
            answers.entities_format, answers.extract_entities, data.hub_entities, records.check_ner_gold,
            metrics.ner_item, metrics.ner_metrics, metrics.ner_item_score, finben.ner,
        ),
        TaskType(
            "qa", "a short answer string or number",
            answers.short_answer_format, answers.extract_text, data.hub_answer, records.check_qa_gold,
            metrics.qa_item, metrics.qa_metrics, metrics.qa_item_score, finben.qa,
        ),
        TaskType(
            "extractive_summarization", "one 0/1 per source sentence (ECTSum)",
            answers.sentence_labels_format, answers.extract_sentence_labels, data.hub_answer, records.check_extractive_summary_gold,
            metrics.extractive_item, metrics.summarization_metrics, metrics.summarization_item_score, finben.extractive_summary,
        ),
        TaskType(
            "abstractive_summarization", "free text (EDTSum)",
            answers.summary_format, answers.extract_text, data.hub_answer, records.check_abstractive_summary_gold,
            metrics.abstractive_item, metrics.summarization_metrics, metrics.summarization_item_score, finben.abstractive_summary,
        ),
    ]
}  # fmt: skip


def task_of(spec: DatasetSpec) -> TaskType:
    """The dataset's task type, with an error that lists the known ones."""
    try:
        return TASKS[spec.task_type]
    except KeyError:
        raise KeyError(f"{spec.name}: unknown task type {spec.task_type!r}; known: {', '.join(TASKS)}") from None
