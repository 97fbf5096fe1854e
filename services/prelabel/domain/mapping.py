"""Offline pre-labels: dataset fields holding pre-labeled results, mapped to topics by the
job's configuration, each value checked against its topic's answer schema (the shared
annotation model), and the tally of one run. Pure: values in, values or errors out."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from labelops_shared.annotations import AnswerChecker, TemplateError, compile_topics

# Topic kinds whose answer is a list or an object: a dataset cell may hold it as JSON text
# (a CSV column, say), which is read before checking.
_STRUCTURED = frozenset({"multiple_choice", "span", "relation", "shape", "table",
                         "time_segment", "page"})
MAX_REASON = 500  # characters of one refusal's reason that are kept


class MappingError(ValueError):
    """The job's mapping cannot be used at all (checked once per job); says why."""


@dataclass(frozen=True)
class FieldMapping:
    field: str
    topic: Mapping[str, Any]

    @property
    def topic_name(self) -> str:
        return str(self.topic["name"])


@dataclass(frozen=True)
class Refusal:
    item_id: str
    field: str
    topic: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"item_id": self.item_id, "field": self.field, "topic": self.topic,
                "reason": self.reason}


@dataclass
class MappedItem:
    answers: dict[str, Any]
    refused: list[Refusal]
    missing: list[str]  # mapped fields the item does not have (or holds null)


def resolve(mapping: Sequence[tuple[str, str]], topics: Sequence[Mapping[str, Any]]
            ) -> list[FieldMapping]:
    """(field, topic name) pairs → mappings; topic "" means the template's first topic.
    Raises MappingError naming the bad entry."""
    if not mapping:
        raise MappingError("prelabel.mapping: no dataset field is mapped to a topic")
    by_name = {str(t.get("name")): t for t in topics}
    first = str(topics[0].get("name")) if topics else ""
    found: list[FieldMapping] = []
    seen: set[str] = set()
    for i, (field, name) in enumerate(mapping):
        name = name or first
        if not field:
            raise MappingError(f"prelabel.mapping[{i}].field: required")
        if name not in by_name:
            raise MappingError(f"prelabel.mapping[{i}].topic: {name!r} is not a topic of the "
                               f"template ({', '.join(sorted(by_name)) or 'none'})")
        if name in seen:
            raise MappingError(f"prelabel.mapping[{i}].topic: {name!r} is mapped twice")
        seen.add(name)
        found.append(FieldMapping(field, by_name[name]))
    return found


def coerce(topic: Mapping[str, Any], value: Any) -> Any:
    """The answer a raw dataset value stands for, before checking: a lone label is a list of
    one for a multiple-choice topic, and JSON text is read for a structured topic."""
    kind = topic.get("kind")
    if kind in _STRUCTURED and isinstance(value, str):
        text = value.strip()
        if text.startswith(("[", "{")):
            try:
                value = json.loads(text)
            except ValueError:
                return value  # refused by the checker as the string it is
    if kind == "multiple_choice" and isinstance(value, str):
        return [value]
    return value


class OfflineMapper:
    """The mappings of one job, compiled once; ``map`` does one item."""

    def __init__(self, mappings: Sequence[FieldMapping],
                 topics: Sequence[Mapping[str, Any]]) -> None:
        self.mappings = list(mappings)
        try:
            self.checker: AnswerChecker = compile_topics(topics)
        except TemplateError as exc:
            raise MappingError(f"the job's topics cannot be compiled: {exc}") from None
        self.fields = {m.topic_name: m.field for m in self.mappings}

    def map(self, item_id: str, data: Mapping[str, Any]) -> MappedItem:
        answers: dict[str, Any] = {}
        missing: list[str] = []
        for m in self.mappings:
            value = data.get(m.field)
            if value is None:
                missing.append(m.field)
                continue
            answers[m.topic_name] = coerce(m.topic, value)
        refused = refuse_invalid(self.checker, answers, data, item_id, self.fields)
        return MappedItem(answers, refused, missing)


def refuse_invalid(checker: AnswerChecker, answers: dict[str, Any], item: Mapping[str, Any],
                   item_id: str, fields: Mapping[str, str]) -> list[Refusal]:
    """Check the answers together (a relation reads its spans); every topic with an error is
    removed from ``answers`` and refused with the reasons. Topics not answered are not
    required here: a pre-label may cover some topics only. Checked again after a removal,
    since an answer may lean on a removed one."""
    refused: list[Refusal] = []
    while answers:
        reasons: dict[str, list[str]] = {}
        for error in checker.validate(answers, item):
            if error.topic in answers:
                reasons.setdefault(error.topic, []).append(str(error))
        if not reasons:
            break
        for topic, found in reasons.items():
            del answers[topic]
            reason = "; ".join(found)
            if len(reason) > MAX_REASON:
                reason = reason[:MAX_REASON - 1] + "…"
            refused.append(Refusal(item_id, fields.get(topic, topic), topic, reason))
    return refused


@dataclass
class Tally:
    """Counts of one run; keeps the first `max_reasons` refusals with their reasons (all of
    them are stored apart, see ListInvalidPrelabels)."""

    field: str
    max_reasons: int = 20
    items_seen: int = 0
    predictions: int = 0
    missing: int = 0
    invalid: int = 0
    invalid_values: list[dict[str, str]] = dataclasses.field(default_factory=list)

    def refuse(self, refusal: Refusal) -> None:
        self.invalid += 1
        if len(self.invalid_values) < self.max_reasons:
            self.invalid_values.append(refusal.as_dict())

    def as_fields(self) -> dict[str, Any]:
        return {"field": self.field, "items_seen": self.items_seen,
                "predictions": self.predictions, "missing": self.missing,
                "invalid": self.invalid, "invalid_values": self.invalid_values}

    @classmethod
    def from_fields(cls, doc: Mapping[str, Any], max_reasons: int = 20) -> Tally:
        return cls(field=str(doc.get("field", "")), max_reasons=max_reasons,
                   items_seen=int(doc.get("items_seen", 0)),
                   predictions=int(doc.get("predictions", 0)),
                   missing=int(doc.get("missing", 0)), invalid=int(doc.get("invalid", 0)),
                   invalid_values=list(doc.get("invalid_values", [])))
