"""Entity chunks of BIO tag sequences: how NER gold labels are read from a dataset's rows and how
NER answers are scored. A module of its own, without numpy, so that a download job stays light."""

from __future__ import annotations


def bio_entities(tags: list[str]) -> list[tuple[str, int, int]]:
    """Entity chunks (type, start, end-exclusive) of a BIO tag sequence, as seqeval's default (conlleval) mode.

    A chunk starts at B-X, or at I-X that does not continue a chunk of type X; it ends at O, B-, or a type change.
    """
    chunks = []
    kind, start = None, 0
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, tag_kind = tag.partition("-")
        continues = prefix == "I" and tag_kind == kind
        if kind is not None and not continues:
            chunks.append((kind, start, i))
            kind = None
        if prefix in ("B", "I") and not continues:
            kind, start = tag_kind, i
    return chunks
