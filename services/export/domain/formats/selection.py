"""Which accepted items an export writes: filters (labels, labelers, hard examples, accepted
between two times) and incremental selection (accepted after the previous export's
watermark), as pure predicates; and the fold that turns accepted events, duplicated or out of
order, into one latest revision per item. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from labelops_shared.annotations import (
    MultipleChoice,
    PageTopic,
    RelationTopic,
    ShapeTopic,
    SingleChoice,
    SpanTopic,
    TimeSegmentTopic,
)
from services.export.domain.formats.model import AcceptedItem, ExportJob, object_labels, objects
from services.export.domain.view import should_replace


def answer_labels(job: ExportJob, answer: Mapping[str, Any]) -> set[str]:
    """Every label an answer uses: chosen options, object labels (spans, shapes, pages,
    segments and their classes) and relation labels."""
    found: set[str] = set()
    for topic in job.parsed:
        value = answer.get(topic.name)
        if value is None:
            continue
        if isinstance(topic, SingleChoice):
            found.add(str(value))
        elif isinstance(topic, MultipleChoice) and isinstance(value, list):
            found.update(str(v) for v in value)
        elif isinstance(topic, RelationTopic):
            found.update(str(r.get("label")) for r in objects(answer, topic.name))
        elif isinstance(topic, SpanTopic | ShapeTopic | PageTopic | TimeSegmentTopic):
            for obj in objects(answer, topic.name):
                found.update(object_labels(obj))
                classes = obj.get("classes")
                if isinstance(classes, Mapping):
                    found.update(str(v) for v in classes.values())
    return found


@dataclass(frozen=True)
class ExportFilter:
    """Empty sets and None mean "any". Times: ``accepted_from <= accepted_at < accepted_to``;
    ``accepted_after`` (the incremental watermark) keeps ``accepted_at > accepted_after``.
    An item without an acceptance time passes no time bound."""

    labels: frozenset[str] = frozenset()
    labelers: frozenset[str] = frozenset()
    hard_only: bool = False
    accepted_from: datetime | None = None
    accepted_to: datetime | None = None
    accepted_after: datetime | None = None

    def problems(self) -> list[str]:
        """What makes the filter unusable, named by field (an empty list when it is fine)."""
        errors = []
        times = {"accepted_from": self.accepted_from, "accepted_to": self.accepted_to,
                 "accepted_after": self.accepted_after}
        for name, value in times.items():
            if value is not None and value.tzinfo is None:
                errors.append(f"{name}: needs a time zone (UTC offset)")
        if (self.accepted_from and self.accepted_to and not errors
                and self.accepted_from >= self.accepted_to):
            errors.append("accepted_to: must be after accepted_from")
        return errors

    @property
    def empty(self) -> bool:
        return self == ExportFilter()

    def keeps(self, item: AcceptedItem, job: ExportJob) -> bool:
        if self.labelers and item.labeler not in self.labelers:
            return False
        if self.hard_only and not item.hard:
            return False
        bounded = self.accepted_from or self.accepted_to or self.accepted_after
        if bounded:
            at = item.accepted_at
            if at is None:
                return False
            if self.accepted_from is not None and at < self.accepted_from:
                return False
            if self.accepted_to is not None and at >= self.accepted_to:
                return False
            if self.accepted_after is not None and at <= self.accepted_after:
                return False
        return not self.labels or bool(self.labels & answer_labels(job, item.answer))


class Selection:
    """The items a filter keeps, counted as they pass, with the watermark of what was
    written (the latest acceptance time), for the next incremental export."""

    def __init__(self, items: Iterable[AcceptedItem], job: ExportJob,
                 where: ExportFilter = ExportFilter()) -> None:
        self._items = items
        self._job = job
        self._where = where
        self.read = 0
        self.kept = 0
        self.watermark: datetime | None = where.accepted_after

    def __iter__(self) -> Iterator[AcceptedItem]:
        where, job = self._where, self._job
        for item in self._items:
            self.read += 1
            if where.empty or where.keeps(item, job):
                self.kept += 1
                at = item.accepted_at
                if at is not None and (self.watermark is None or at > self.watermark):
                    self.watermark = at
                yield item


def fold_accepted(events: Iterable[AcceptedItem]) -> list[AcceptedItem]:
    """The labeled view of a stream of accepted items (redelivered, reordered): each item's
    highest revision, sorted by item id as the view is read. The same set of events in any
    order and multiplicity gives the same list."""
    latest: dict[str, AcceptedItem] = {}
    for item in events:
        current = latest.get(item.item_id)
        if should_replace(current.revision if current else None, item.revision):
            latest[item.item_id] = item
    return [latest[k] for k in sorted(latest)]
