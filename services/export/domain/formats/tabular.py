"""CSV formats (RFC 4180: quoted where needed, CRLF line ends, a header row): classification
and audio segments. Several labels in one cell are joined by LABEL_SEPARATOR."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from typing import Any

from labelops_shared.annotations import MultipleChoice, SingleChoice
from services.export.domain.formats.jsonl import segment_rows
from services.export.domain.formats.model import (
    AcceptedItem,
    Chunks,
    ExportJob,
    ExportStats,
    source_of,
)

LABEL_SEPARATOR = ";"


class _Rows:
    """CSV rows into text pieces, through one reused buffer."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer)

    def row(self, values: Sequence[Any]) -> str:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerow(values)
        return self._buffer.getvalue()


def _emit(rows: Iterator[str]) -> Iterator[bytes]:
    chunks = Chunks()
    for row in rows:
        out = chunks.add(row)
        if out:
            yield out
    last = chunks.take()
    if last:
        yield last


def check_classification(job: ExportJob) -> str | None:
    if not job.of_kind(SingleChoice, MultipleChoice):
        return ("classification CSV needs a single_choice or multiple_choice topic; this "
                f"job's topics are: {job.describe_topics()}")
    return None


def write_classification(items: Iterator[AcceptedItem], job: ExportJob,
                         stats: ExportStats) -> Iterator[bytes]:
    """``id,source,<topic>,…``: one column per choice topic holding its label, or its labels
    joined by ``;`` (empty when the item has no answer for the topic)."""
    topics = job.of_kind(SingleChoice, MultipleChoice)
    out = _Rows()

    def rows() -> Iterator[str]:
        yield out.row(["id", "source", *(t.name for t in topics)])
        for item in items:
            cells: list[str] = []
            for topic in topics:
                value = item.answer.get(topic.name)
                if isinstance(value, list):
                    cells.append(LABEL_SEPARATOR.join(str(v) for v in value))
                else:
                    cells.append("" if value is None else str(value))
            stats.items += 1
            yield out.row([item.item_id, source_of(item), *cells])
    return _emit(rows())


SEGMENT_COLUMNS = ("id", "source", "topic", "start", "end", "labels", "text", "speaker")


def write_segments_csv(items: Iterator[AcceptedItem], job: ExportJob,
                       stats: ExportStats) -> Iterator[bytes]:
    """One row per segment: ``id,source,topic,start,end,labels,text,speaker``; segments
    labelled per class write ``class=label`` pairs joined by ``;``."""
    out = _Rows()

    def rows() -> Iterator[str]:
        yield out.row(SEGMENT_COLUMNS)
        for item in items:
            stats.items += 1
            for row in segment_rows(item, job, stats):
                classes = row.get("classes")
                labels = ([f"{k}={v}" for k, v in classes.items()] if classes
                          else row["labels"])
                yield out.row([row["id"], row["source"], row["topic"], row["start"],
                               row["end"], LABEL_SEPARATOR.join(labels), row["text"],
                               row["speaker"]])
    return _emit(rows())

