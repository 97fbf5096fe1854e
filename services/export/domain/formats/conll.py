"""CoNLL-2003 style BIO for named entities.

Layout (as the CoNLL-2003 shared task files): every item is a document opened by the line
``-DOCSTART- -X- -X- O`` and a blank line, then its text as one sentence, one token per line
with four space-separated columns ``token _ _ tag`` (part of speech and chunk are not
labelled here, so ``_``), and a blank line. Documents follow the export order (the labeled
view's item order), the same order as every other format of the same export.

Tokenisation: the text is split at whitespace (Unicode ``str.split`` rules), then a token is
split again wherever an entity starts or ends inside it, so every entity boundary falls on a
token boundary and no character offset is lost ("Alice's" with an entity on "Alice" gives
the tokens "Alice" and "'s"). Tags: ``B-<label>`` on an entity's first token, ``I-<label>`` on
the following ones, ``O`` elsewhere (IOB2). A span with several labels is written with its
first. BIO cannot nest: where entities overlap, the one starting first (the longer on a tie)
is kept and the others are counted as skipped. Entities covering only whitespace have no
token and are counted too."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from services.export.domain.formats.model import (
    AcceptedItem,
    Chunks,
    ExportJob,
    ExportStats,
    object_labels,
    objects,
    text_of,
)

DOCSTART = "-DOCSTART- -X- -X- O\n\n"
_WORD = re.compile(r"\S+")


def check_conll(job: ExportJob) -> str | None:
    if not job.span_topics():
        return ("CoNLL BIO needs a span topic (labelled entities over a text field); this "
                f"job's topics are: {job.describe_topics()}")
    return None


def tokens(text: str, cuts: Sequence[int] = ()) -> list[tuple[int, int]]:
    """(start, end) of each token: whitespace-separated words, split at the given offsets."""
    found: list[tuple[int, int]] = []
    ordered = sorted(set(cuts))
    for match in _WORD.finditer(text):
        start, end = match.span()
        for cut in ordered:
            if start < cut < end:
                found.append((start, cut))
                start = cut
        found.append((start, end))
    return found


def kept_entities(spans: Sequence[Mapping[str, Any]],
                  stats: ExportStats) -> list[tuple[int, int, str]]:
    """Non-overlapping (start, end, label): earlier start first, then the longer."""
    ordered = sorted(((int(s["start"]), int(s["end"]), object_labels(s)) for s in spans),
                     key=lambda e: (e[0], -e[1], e[2]))
    kept: list[tuple[int, int, str]] = []
    for start, end, labels in ordered:
        if not labels:
            stats.skip("entities without a label")
        elif kept and start < kept[-1][1]:
            stats.skip("overlapping entities (BIO cannot nest)")
        else:
            kept.append((start, end, labels[0]))
    return kept


def bio(text: str, entities: Sequence[tuple[int, int, str]],
        stats: ExportStats) -> list[tuple[str, str]]:
    """(token, tag) for a text and its non-overlapping entities."""
    cuts = [offset for start, end, _ in entities for offset in (start, end)]
    tagged: list[tuple[str, str]] = []
    pending = iter(entities)
    current = next(pending, None)
    inside = False
    for start, end in tokens(text, cuts):
        while current is not None and current[1] <= start:
            if not inside:
                stats.skip("entities covering no token")
            else:
                stats.objects += 1
            current, inside = next(pending, None), False
        if current is not None and current[0] <= start and end <= current[1]:
            tagged.append((text[start:end], f"{'I' if inside else 'B'}-{current[2]}"))
            inside = True
        else:
            tagged.append((text[start:end], "O"))
    while current is not None:
        if inside:
            stats.objects += 1
        else:
            stats.skip("entities covering no token")
        current, inside = next(pending, None), False
    return tagged


def write_conll(items: Iterator[AcceptedItem], job: ExportJob,
                stats: ExportStats) -> Iterator[bytes]:
    topic = job.span_topics()[0]  # the first span topic: one tag column per file
    chunks = Chunks()
    for item in items:
        stats.items += 1
        text = text_of(item, topic.field)
        entities = kept_entities(objects(item.answer, topic.name), stats)
        tagged = bio(text, entities, stats)
        lines = [DOCSTART, *(f"{token} _ _ {tag}\n" for token, tag in tagged)]
        if tagged:
            lines.append("\n")
        out = chunks.add("".join(lines))
        if out:
            yield out
    last = chunks.take()
    if last:
        yield last
