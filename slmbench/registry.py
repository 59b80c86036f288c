"""The FinBen/FLARE datasets the study evaluates, with the facts scoring needs.

Each entry says where a dataset lives on the hub, which split FinBen evaluates,
what kind of answer the model must give, and which metric FinBen reports for it.
"""

from __future__ import annotations

from dataclasses import dataclass

CATEGORIES = (
    "sentiment",
    "classification",
    "ner",
    "qa",
    "stock_movement",
    "credit_scoring",
    "fraud_bankruptcy",
    "summarization",
)

# The entity types of the NER datasets (gold pairs, BIO tags and the answers models give).
ENTITY_TYPES = ("PER", "ORG", "LOC")


@dataclass(frozen=True)
class DatasetSpec:
    """One FinBen dataset: hub location, task kind and FinBen's primary metric."""

    name: str
    hub_id: str
    category: str
    task_type: str  # a task type of slmbench.tasks (how to prompt for, read and score its answers)
    metric: str
    higher_is_better: bool = True
    split: str = "test"
    choices: tuple[str, ...] = ()
    # (row label, the word the prompt asks for) where a hub's label set differs from the prompt's
    # answer words: the extraction reads that word as the row's label.
    answer_words: tuple[tuple[str, str], ...] = ()
    # Why slmbench cannot yet run the dataset as FinBen does; a config that names it is refused with this.
    unsupported: str = ""

    def __post_init__(self):
        if self.category not in CATEGORIES:
            raise ValueError(f"{self.name}: unknown category {self.category!r}")


_SENTIMENT = ("positive", "negative", "neutral")
_MOVE = ("Rise", "Fall")
_CREDIT = ("good", "bad")
_BANKRUPT_WORDS = (("good", "no"), ("bad", "yes"))  # good: will not go bankrupt ("no"); bad: will ("yes")

DATASETS: dict[str, DatasetSpec] = {
    s.name: s
    for s in [
        DatasetSpec("fpb", "TheFinAI/flare-fpb", "sentiment", "classification", "f1_weighted", choices=_SENTIMENT),
        DatasetSpec("fiqasa", "TheFinAI/flare-fiqasa", "sentiment", "classification", "f1_weighted", choices=_SENTIMENT),
        DatasetSpec("tsa", "TheFinAI/flare-tsa", "sentiment", "regression", "rmse", higher_is_better=False),
        DatasetSpec("fomc", "TheFinAI/finben-fomc", "classification", "classification", "f1_weighted", choices=("dovish", "hawkish", "neutral")),
        DatasetSpec("headlines", "TheFinAI/flare-headlines", "classification", "classification", "avg_f1", choices=("Yes", "No")),
        DatasetSpec(
            "multifin_en",
            "TheFinAI/flare-multifin-en",
            "classification",
            "classification",
            "f1_weighted",
            choices=("Finance", "Technology", "Tax & Accounting", "Business & Management", "Government & Controls", "Industry"),
        ),
        DatasetSpec("ner", "TheFinAI/flare-ner", "ner", "ner", "entity_f1"),
        DatasetSpec("finer_ord", "TheFinAI/finben-finer-ord", "ner", "ner", "entity_f1"),
        DatasetSpec("finqa", "TheFinAI/flare-finqa", "qa", "qa", "exact_match"),
        DatasetSpec("convfinqa", "TheFinAI/flare-convfinqa", "qa", "qa", "exact_match", unsupported=(
            "FinBen fills the {answer0}, {answer1}... placeholders of a dialogue's later turns with the model's own "
            "earlier answers, turn by turn, and a cell here runs its samples independently, so the placeholders would "
            "reach the model as written (README, 'Fidelity': ConvFinQA)")),
        DatasetSpec("tatqa", "TheFinAI/flare-tatqa", "qa", "qa", "exact_match"),
        DatasetSpec("acl18", "TheFinAI/flare-sm-acl", "stock_movement", "classification", "accuracy", choices=_MOVE),
        DatasetSpec("bigdata22", "TheFinAI/flare-sm-bigdata", "stock_movement", "classification", "accuracy", choices=_MOVE),
        DatasetSpec("cikm18", "TheFinAI/flare-sm-cikm", "stock_movement", "classification", "accuracy", choices=_MOVE),
        DatasetSpec("german", "TheFinAI/flare-german", "credit_scoring", "classification", "f1_weighted", choices=_CREDIT),
        DatasetSpec("australian", "TheFinAI/flare-australian", "credit_scoring", "classification", "f1_weighted", choices=_CREDIT),
        # FinBen's prompts for Polish and Taiwan ask "Respond with only 'no' or 'yes'" (bankruptcy);
        # Taiwan's rows are labelled no/yes (FinBen's own evaluation log); one third-party loader
        # reports Polish rows labelled good/bad, so those labels also accept the prompt's words.
        DatasetSpec("polish", "TheFinAI/cra-polish", "fraud_bankruptcy", "classification", "f1_weighted", choices=("no", "yes"), answer_words=_BANKRUPT_WORDS),
        DatasetSpec("taiwan", "TheFinAI/cra-taiwan", "fraud_bankruptcy", "classification", "f1_weighted", choices=("no", "yes"), answer_words=_BANKRUPT_WORDS),
        DatasetSpec("ccfraud", "TheFinAI/cra-ccfraud", "fraud_bankruptcy", "classification", "f1_weighted", choices=_CREDIT),
        DatasetSpec("travelinsurance", "TheFinAI/cra-travelinsurace", "fraud_bankruptcy", "classification", "f1_weighted", choices=("yes", "no")),
        DatasetSpec("ectsum", "TheFinAI/flare-ectsum", "summarization", "extractive_summarization", "rouge1"),
        DatasetSpec("edtsum", "TheFinAI/flare-edtsum", "summarization", "abstractive_summarization", "rouge1"),
    ]
}


def get(name: str) -> DatasetSpec:
    """Look a dataset up by its short name, with an error that lists the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}") from None
