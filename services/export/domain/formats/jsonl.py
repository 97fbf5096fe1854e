"""JSON lines formats: the reference manifest, relation triplets, audio segments and
transcripts. One line per item (per segment for audio segments), written as it comes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from labelops_shared.annotations import FreeText, TimeSegmentTopic
from services.export.domain.formats.model import (
    AcceptedItem,
    Chunks,
    ExportJob,
    ExportStats,
    dumps,
    object_labels,
    objects,
    source_of,
    span_text,
    text_of,
)
from services.export.domain.view import manifest_line


def _lines(lines: Iterator[str]) -> Iterator[bytes]:
    chunks = Chunks()
    for line in lines:
        out = chunks.add(line)
        if out:
            yield out
    last = chunks.take()
    if last:
        yield last


# -- manifest -----------------------------------------------------------------------------


def check_manifest(job: ExportJob) -> str | None:
    return None  # every answer is JSON


def write_manifest(items: Iterator[AcceptedItem], job: ExportJob,
                   stats: ExportStats) -> Iterator[bytes]:
    def lines() -> Iterator[str]:
        for item in items:
            stats.items += 1
            yield manifest_line(item.item_id, dict(item.data), dict(item.answer))
    return _lines(lines())


# -- triplets -----------------------------------------------------------------------------


def check_triplets(job: ExportJob) -> str | None:
    if not job.relation_topics():
        return ("triplets need a relation topic (head, relation, tail between entity spans); "
                f"this job's topics are: {job.describe_topics()}")
    return None


def _entity(span: Mapping[str, Any], text: str) -> dict[str, Any]:
    labels = object_labels(span)
    entity: dict[str, Any] = {"text": span_text(span, text), "label": labels[0] if labels else "",
                              "start": span["start"], "end": span["end"]}
    if len(labels) > 1:
        entity["labels"] = labels
    return entity


def write_triplets(items: Iterator[AcceptedItem], job: ExportJob,
                   stats: ExportStats) -> Iterator[bytes]:
    """``{"id", "text", "triplets": [{"head", "relation", "tail"}]}`` per item, head and tail
    being entities ``{text, label, start, end}``; items without relations keep an empty list
    (negative examples matter to relation extraction)."""
    spans_of = {t.name: t for t in job.span_topics()}
    relation_topics = job.relation_topics()

    def lines() -> Iterator[str]:
        for item in items:
            triplets = []
            text = ""
            for topic in relation_topics:
                spans_topic = spans_of.get(topic.spans_topic)
                text = text_of(item, spans_topic.field) if spans_topic else ""
                by_id = {str(s["id"]): s for s in objects(item.answer, topic.spans_topic)
                         if "id" in s}
                for relation in objects(item.answer, topic.name):
                    head, tail = by_id.get(str(relation.get("from"))), \
                        by_id.get(str(relation.get("to")))
                    if head is None or tail is None:
                        stats.skip("relation to a missing span")
                        continue
                    triplets.append({"head": _entity(head, text), "relation": relation["label"],
                                     "tail": _entity(tail, text)})
            stats.items += 1
            stats.objects += len(triplets)
            yield dumps({"id": item.item_id, "text": text, "triplets": triplets}) + "\n"
    return _lines(lines())


# -- audio segments -----------------------------------------------------------------------


def check_segments(job: ExportJob) -> str | None:
    if not job.segment_topics():
        return ("audio segments need a time_segment topic (start, end, labels on audio); "
                f"this job's topics are: {job.describe_topics()}")
    return None


def segment_rows(item: AcceptedItem, job: ExportJob,
                 stats: ExportStats) -> Iterator[dict[str, Any]]:
    """Every segment of every time_segment topic, in start order within a topic."""
    for topic in job.segment_topics():
        found = sorted(objects(item.answer, topic.name),
                       key=lambda s: (float(s["start"]), float(s["end"])))
        for segment in found:
            classes = segment.get("classes")
            row: dict[str, Any] = {
                "id": item.item_id, "source": source_of(item, topic.field),
                "topic": topic.name, "start": segment["start"], "end": segment["end"],
                "labels": (list(classes.values()) if isinstance(classes, Mapping)
                           else object_labels(segment)),
            }
            if isinstance(classes, Mapping):
                row["classes"] = dict(classes)
            row["text"] = segment.get("text", "")
            row["speaker"] = segment.get("speaker", "")
            stats.objects += 1
            yield row


def write_segments(items: Iterator[AcceptedItem], job: ExportJob,
                   stats: ExportStats) -> Iterator[bytes]:
    """One line per segment: ``{id, source, topic, start, end, labels, [classes], text,
    speaker}`` (seconds from the start of the media)."""
    def lines() -> Iterator[str]:
        for item in items:
            stats.items += 1
            for row in segment_rows(item, job, stats):
                yield dumps(row) + "\n"
    return _lines(lines())


# -- transcripts --------------------------------------------------------------------------


def _transcribed(job: ExportJob) -> tuple[list[FreeText], list[TimeSegmentTopic]]:
    texts: list[FreeText] = job.of_kind(FreeText) if job.shows("audio", "video") else []
    segments = [t for t in job.segment_topics() if t.with_text]
    return texts, segments


def check_transcripts(job: ExportJob) -> str | None:
    texts, segments = _transcribed(job)
    if not texts and not segments:
        return ("transcripts need a free_text topic on audio or a time_segment topic with "
                f"text; this job's topics are: {job.describe_topics()}")
    return None


def write_transcripts(items: Iterator[AcceptedItem], job: ExportJob,
                      stats: ExportStats) -> Iterator[bytes]:
    """``{id, source, text, [segments]}`` per item: ``text`` is the free-text transcript,
    or else the segments' texts in time order joined by spaces; ``segments`` (start, end,
    text, speaker) when the template has timed text."""
    texts, segment_topics = _transcribed(job)

    def lines() -> Iterator[str]:
        for item in items:
            record: dict[str, Any] = {"id": item.item_id, "source": source_of(item)}
            segments = []
            for topic in segment_topics:
                for segment in sorted(objects(item.answer, topic.name),
                                      key=lambda s: (float(s["start"]), float(s["end"]))):
                    segments.append({"start": segment["start"], "end": segment["end"],
                                     "text": segment.get("text", ""),
                                     "speaker": segment.get("speaker", "")})
            free = [item.answer[t.name] for t in texts
                    if isinstance(item.answer.get(t.name), str)]
            record["text"] = free[0] if free else " ".join(s["text"] for s in segments
                                                           if s["text"])
            if segment_topics:
                record["segments"] = segments
            stats.items += 1
            stats.objects += len(segments)
            yield dumps(record) + "\n"
    return _lines(lines())
