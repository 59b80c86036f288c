"""Offline search: BM25 (the `bm25s` package) over a passage corpus, with a cached on-disk index.

A corpus is a JSONL file of {"id", "title", "text"} records or a `datasets`
dataset saved with `save_to_disk` that has those columns (`id` optional).
`build_index` writes the index once (a workflow rule calls it); `load_index`
reads it back. Titles are indexed together with the text.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any, Iterator

import bm25s
import numpy as np

from slmbench.corpus import FINANCE_PASSAGES
from slmbench.files import read_regular
from slmbench.tools.search import Hit

PASSAGES_FILE = "passages.jsonl"

_TOKEN = re.compile(r"[a-z0-9]+(?:[&/'.-][a-z0-9]+)*")  # P/E, S&P, 10-K, price-to-book
_PART = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset(
    "a an and are as at be by can do does for from has have how i in is it its of on or that the this to was "
    "what when which who why will with".split()
)


def _stem(token: str) -> str:
    """A light plural stemmer so 'ratios' matches 'ratio' and 'companies' matches 'company'."""
    if len(token) > 4 and token.endswith("ies"):
        return token[:-3] + "y"
    if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


def tokenize(text: str) -> list[str]:
    """Lowercased word tokens without stopwords, lightly stemmed.

    A compound such as "P/E" or "price-to-earnings" yields itself and its parts,
    so both "P/E ratio" and "price to earnings" match it.
    """
    tokens = []
    for word in _TOKEN.findall(text.lower()):
        parts = _PART.findall(word)
        tokens += [word, *parts] if len(parts) > 1 else [word]
    return [_stem(t) for t in tokens if t not in _STOPWORDS]


def load_passages(corpus_path: str | Path) -> list[dict[str, str]]:
    """Read passages from a JSONL file or a `datasets.load_from_disk` directory."""
    path = Path(corpus_path)
    if path.is_dir():
        from datasets import DatasetDict, load_from_disk  # only needed for dataset-backed corpora

        rows = load_from_disk(str(path))
        if isinstance(rows, DatasetDict):
            raise ValueError(f"{corpus_path}: expected one dataset split, found a DatasetDict")
    else:
        rows = list(_jsonl_rows(path))
    passages = [
        {"id": str(row.get("id", i)), "title": str(row.get("title", "")), "text": str(row["text"])}
        for i, row in enumerate(rows)
    ]
    if not passages:
        raise ValueError(f"{corpus_path}: the corpus has no passages")
    return passages


CORPUS_LIMIT = 4 << 30  # bytes


def _jsonl_rows(path: Path) -> Iterator[dict[str, Any]]:
    """The rows of a JSONL corpus, each a JSON object with a text `text`; a bad line is named by file and line."""
    for number, line in enumerate(read_regular(path, CORPUS_LIMIT, follow=True).split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line.decode("utf-8"))
        except (ValueError, RecursionError) as e:
            raise ValueError(f"{path}, line {number}: not a JSON line ({type(e).__name__})") from None
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise ValueError(f"{path}, line {number}: a passage is a JSON object with a text field 'text'")
        yield row


class PassageIndex:
    """A BM25 index over passages; `search` returns the best-scoring ones."""

    def __init__(self, retriever: bm25s.BM25, passages: list[dict[str, str]]):
        self.retriever = retriever
        self.passages = passages

    @classmethod
    def from_passages(cls, passages: list[dict[str, str]]) -> "PassageIndex":
        retriever = bm25s.BM25()
        retriever.index([tokenize(f"{p['title']} {p['text']}") for p in passages], show_progress=False)
        return cls(retriever, passages)

    def search(self, query: str, k: int) -> list[Hit]:
        """Up to `k` passages that share at least one term with the query, best first."""
        vocab = self.retriever.vocab_dict
        ids = [vocab[t] for t in tokenize(query) if t in vocab]
        if not ids:
            return []
        scores = self.retriever.get_scores_from_ids(ids)
        best = np.argsort(-scores, kind="stable")[:k]
        return [self._hit(i) for i in best if scores[i] > 0]

    def _hit(self, i: int) -> Hit:
        p = self.passages[int(i)]
        return Hit(p["title"], p["text"], p["id"])


def build_index(corpus_path: str | Path, out_dir: str | Path) -> Path:
    """Index a corpus and save it (BM25 arrays plus the passages) under `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    passages = load_passages(corpus_path)
    PassageIndex.from_passages(passages).retriever.save(str(out), show_progress=False)
    with (out / PASSAGES_FILE).open("w", encoding="utf-8") as f:
        for p in passages:
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
    return out


def load_index(index_dir: str | Path) -> PassageIndex:
    """Load an index written by `build_index`."""
    path = Path(index_dir)
    retriever = bm25s.BM25.load(str(path), show_progress=False, verbosity=0)
    return PassageIndex(retriever, load_passages(path / PASSAGES_FILE))


@functools.lru_cache(maxsize=8)
def shared_index(index_dir: str | None = None) -> PassageIndex:
    """One index per directory per process; None means the shipped finance corpus, built in memory."""
    if index_dir is None:
        return PassageIndex.from_passages(load_passages(FINANCE_PASSAGES))
    return load_index(index_dir)
