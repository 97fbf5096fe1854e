"""What every format writer consumes and shares: the accepted item, the job's topics, the
running statistics, and small helpers (chunked output, object labels, image sizes). Pure."""

from __future__ import annotations

import json
import math
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from labelops_shared.annotations import (
    PageTopic,
    RelationTopic,
    ShapeTopic,
    SpanTopic,
    TimeSegmentTopic,
    Topic,
    parse_topic,
)

CHUNK_BYTES = 64 * 1024  # writers yield pieces of about this size
SPOOL_IN_MEMORY = 8 * 1024 * 1024  # a spool rolls over to a temporary file beyond this


@dataclass(frozen=True, slots=True)
class AcceptedItem:
    """One item of the labeled view: its latest accepted revision."""

    item_id: str
    data: Mapping[str, Any]
    answer: Mapping[str, Any]
    labeler: str = ""
    revision: int = 1
    accepted_at: datetime | None = None
    hard: bool = False  # marked a hard example (active learning)


class ExportItemError(ValueError):
    """An item that the chosen format cannot write (an image without a known size): the export
    fails with this message rather than writing a wrong file."""


@dataclass(frozen=True)
class ExportJob:
    """The job as the formats need it: its topics (plain dicts, as carried by JobSpec), the
    template's content components ({kind, field}) when known, and its name."""

    topics: Sequence[Mapping[str, Any]]
    content: Sequence[Mapping[str, Any]] = ()
    name: str = ""
    parsed: tuple[Topic, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parsed", tuple(parse_topic(t) for t in self.topics))

    def of_kind(self, *kinds: type[Any]) -> list[Any]:
        return [t for t in self.parsed if isinstance(t, kinds)]

    def content_kind(self, field_name: str) -> str | None:
        for component in self.content:
            if component.get("field") == field_name:
                return str(component.get("kind"))
        return None

    def shows(self, *kinds: str) -> bool:
        """Whether the content shows one of these media kinds (true when content is unknown)."""
        return not self.content or any(c.get("kind") in kinds for c in self.content)

    def image_shape_topics(self) -> list[ShapeTopic]:
        """Shape topics on still images: not timed (video frames), and not on a field the
        content names as something other than an image."""
        return [t for t in self.of_kind(ShapeTopic) if not t.timed
                and self.content_kind(t.field) in (None, "image")]

    def span_topics(self) -> list[SpanTopic]:
        return self.of_kind(SpanTopic)

    def relation_topics(self) -> list[RelationTopic]:
        return self.of_kind(RelationTopic)

    def segment_topics(self) -> list[TimeSegmentTopic]:
        return self.of_kind(TimeSegmentTopic)

    def page_topics(self) -> list[PageTopic]:
        return self.of_kind(PageTopic)

    def describe_topics(self) -> str:
        return ", ".join(f"{t.name} ({t.kind})" for t in self.parsed) or "none"


@dataclass
class ExportStats:
    """What a writer did: items written, objects written, objects left out and why (a line in
    COCO, an overlapping entity in BIO). The export record keeps it."""

    items: int = 0
    objects: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] += count

    def as_dict(self) -> dict[str, Any]:
        return {"items": self.items, "objects": self.objects,
                "skipped": dict(sorted(self.skipped.items()))}


Writer = Callable[[Iterator[AcceptedItem], ExportJob, ExportStats], Iterator[bytes]]
SpoolFactory = Callable[[], IO[bytes]]


def memory_spool() -> IO[bytes]:
    """A spool for what must be written after the rest (COCO annotations, YOLO's image list):
    in memory up to 8 MB, then a temporary file that disappears on close."""
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)


class Chunks:
    """Collects text pieces and hands them out as bytes of about CHUNK_BYTES."""

    __slots__ = ("_parts", "_size")

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._size = 0

    def add(self, text: str) -> bytes | None:
        self._parts.append(text)
        self._size += len(text)
        if self._size >= CHUNK_BYTES:
            return self.take()
        return None

    def take(self) -> bytes:
        out = "".join(self._parts).encode()
        self._parts.clear()
        self._size = 0
        return out


def dumps(value: Any) -> str:
    """Compact, stable JSON (keys in the order given, non-ASCII kept as is)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def object_labels(obj: Mapping[str, Any]) -> list[str]:
    """The label(s) of a labelled object: ``label``, ``labels`` (multi_label), or none."""
    if isinstance(obj.get("labels"), list):
        return [str(v) for v in obj["labels"]]
    if obj.get("label") is not None:
        return [str(obj["label"])]
    return []


def objects(answer: Mapping[str, Any], topic: str) -> list[Mapping[str, Any]]:
    """A labelled topic's objects in an answer (absent or null: none)."""
    value = answer.get(topic)
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def media(data: Mapping[str, Any], field_name: str) -> Mapping[str, Any]:
    """Where an item describes the media of ``field_name``: ``data["media"][field]`` when the
    item holds several media, else the item itself (the annotations contract)."""
    several = data.get("media")
    if isinstance(several, Mapping) and isinstance(several.get(field_name), Mapping):
        found: Mapping[str, Any] = several[field_name]
        return found
    return data


def _positive(value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) and value > 0 else None


def image_size(item: AcceptedItem, field_name: str, fmt: str) -> tuple[int | float, int | float]:
    """The pixel width and height of an item's image, from its data (folder scans record them;
    a manifest line may carry ``width``/``height``, or ``media.<field>.width``). Formats with
    normalised or per-image sizes cannot guess them: an error names the item."""
    found = media(item.data, field_name)
    width, height = _positive(found.get("width")), _positive(found.get("height"))
    if width is None or height is None:
        raise ExportItemError(
            f"{fmt} needs the size of every image; item {item.item_id!r} "
            f"({source_of(item, field_name)}) has no positive width and height in its data "
            f"(folder scans record them; imported manifests can carry width and height)")
    return width, height


def source_of(item: AcceptedItem, field_name: str = "source") -> str:
    value = item.data.get(field_name, item.data.get("source", ""))
    return value if isinstance(value, str) else dumps(value)


def text_of(item: AcceptedItem, field_name: str) -> str:
    value = item.data.get(field_name)
    return value if isinstance(value, str) else ""


def span_text(span: Mapping[str, Any], text: str) -> str:
    given = span.get("text")
    if isinstance(given, str):
        return given
    return text[int(span["start"]):int(span["end"])]
