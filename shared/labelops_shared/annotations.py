"""Annotation templates: one model, many presets. A contract shared by jobs (builds and
publishes templates), assignment (validates every saved answer), prelabel (maps predictions
to topics) and export (writes formats from answers). Pure: values in, values or errors out.

A template is ``{"content": [...], "topics": [...]}``:

- a **content component** shows one item field: ``{"kind": "image", "field": "source"}``
  with kind ``text | image | video | audio | pdf``;
- a **topic component** is a question answered about the item, a plain JSON dict (topics
  travel inside events, ``JobSpec.topics``) with a ``name`` (``[A-Za-z_][A-Za-z0-9_]*``, at
  most 64 characters: it is the key of the answer), a ``kind``, ``required`` (default true) and
  the settings of its kind. :func:`parse_topic` / :func:`parse_template` validate definitions;
  defaults are omitted from the dicts, so a default is part of the contract and never changes.

An **answer** is a JSON object ``{topic name: value}``. A required topic must be present;
an optional one may be absent or null. Every object below accepts only the keys listed:
any other key, ``$``-prefixed ones included, is an error and never has a special meaning.
Numbers are finite JSON numbers (NaN and infinities are refused); pixel coordinates have
their origin at the top-left corner of the image (x to the right, y down); times are
seconds from the start of the media; text offsets count Unicode code points (Python ``str``
indices, not UTF-16 units or bytes), ``end`` exclusive. Where a shape below says ``label``, a
topic with ``multi_label: true`` takes ``"labels": [..]`` (non-empty, unique) instead, and a
topic without labels takes neither. Every labelled object may carry ``"attributes":
{name: value}`` (string values) as declared for its label, and ``"score"`` in [0, 1] (a
prediction's confidence; relations too). Optional ``"id"`` strings are unique in a topic.

=================  ===========================================================================
topic kind         answer value
=================  ===========================================================================
single_choice      ``"cat"`` (one of ``options``)
multiple_choice    ``["cat", "dog"]`` (unique, between ``min_choices`` and ``max_choices``)
free_text          ``"any text"`` (``min_length`` to ``max_length`` characters)
span               ``[{"id": "e1", "label": "PER", "start": 0, "end": 5, "text": "Alice"}]`` over
                   the text field ``field``; ``text`` optional and, when the item is known,
                   equal to ``item[field][start:end]``; spans overlap only with
                   ``allow_overlap``; ids are unique strings
relation           ``[{"label": "works_for", "from": "e1", "to": "e2"}]`` between span ids of
                   the span topic ``spans_topic``; the source span's label must be one of the
                   relation label's ``source`` labels, the target's one of its ``target``;
                   two different spans; the same (label, from, to) once
shape              ``[shape, ..]`` on the image or video field ``field``, each shape one of
                   ``{"type": "rectangle", "label", "x", "y", "width", "height"}`` (top-left
                   corner, positive size), ``{"type": "polygon", "label", "points": [[x, y],
                   ..]}`` (3 or more points, implicitly closed, some area), ``{"type":
                   "circle", "label", "cx", "cy", "r"}`` (r > 0), ``{"type": "line" |
                   "dashed_line", "label", "points"}`` (2 or more points, open),
                   ``{"type": "point", "label", "x", "y"}``; plus
                   ``"time"`` (seconds, required when ``timed``: video frames), ``"text"``
                   (required when ``with_text``: OCR), optional ``"id"`` and ``"track"`` (an
                   object followed across video frames). With ``inside`` every coordinate lies
                   within ``[0, width] x [0, height]``
table              ``[{"rows": 3, "cols": 2, "cells": [{"row": 0, "col": 0, "row_span": 1,
                   "col_span": 2, "text": "Total"}], "x", "y", "width", "height"}]``: rows and
                   columns count from 0, spans default to 1, cells never overlap nor leave the
                   grid; the table and each cell may carry a box (all four keys or none); at
                   most 1000 rows or columns, and 250,000 grid positions per answer
time_segment       ``[{"start": 1.5, "end": 3.0, "label": "speech", "text": "hello",
                   "speaker": "A"}]`` on the audio or video field ``field``; with label
                   ``classes`` a segment has ``"classes": {class: label}`` (at least one) instead
                   of ``label``; ``text`` is required when ``with_text``, ``speaker`` when
                   ``with_speaker``; segments overlap only with ``allow_overlap``
page               ``[{"page": 1, "label": "invoice", "text": "..."}]`` for a PDF field: pages
                   count from 1, each at most once; ``text`` required when ``with_text``
=================  ===========================================================================

``item`` (the item's data) gives context when it is known: the text of a span topic's field;
``width`` and ``height`` (pixels) of images and video frames, ``duration`` (seconds) of audio
and video, ``pages`` of a PDF, read from ``item["media"][field]`` when the item holds several
media, else from the item itself. Bounds that need an unknown size are not checked (with
``inside``, negative coordinates still are).

:func:`validate_annotation` compiles the topics on every call; a service checking many
answers of one job keeps ``compile_topics(topics)`` (an :class:`AnswerChecker`) instead.

Presets (:data:`PRESETS`) build a template from a label set; :func:`validate_label_set` holds
the label rules. :func:`json_schema` publishes a topic's answer schema (JSON Schema 2020-12);
it cannot say everything (bounds from the item, overlaps, relation typing, NaN), which is why
:func:`validate_annotation` is the rule and the schema a description of it.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeGuard, cast

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

CONTENT_KINDS = ("text", "image", "video", "audio", "pdf")
TOPIC_KINDS = ("single_choice", "multiple_choice", "free_text", "span", "relation", "shape",
               "table", "time_segment", "page")
ShapeType = Literal["rectangle", "polygon", "circle", "line", "dashed_line", "point"]
SHAPE_TYPES: tuple[ShapeType, ...] = ("rectangle", "polygon", "circle", "line", "dashed_line",
                                      "point")
DATASET_KINDS = frozenset({"text", "image", "video", "audio", "multi"})

MAX_LABEL_NAME = 1024
MAX_TABLE_SIZE = 1000  # rows or columns of one table
# Grid positions over all tables of one answer: the overlap check marks each position once,
# so this bounds its cost whatever a client sends.
MAX_GRID_CELLS = 250_000
MAX_FREE_TEXT = 100_000
_SHOWN_OPTIONS = 8  # an error lists at most this many allowed values
_FLOAT_MAX = sys.float_info.max

_TOPIC_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
_CLASS_NAME = re.compile(r"^[A-Za-z0-9._-]{1,256}$")
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
# One key, optionally with modifiers: "1", "q", "ctrl+1", "shift+alt+f2".
_SHORTCUT = re.compile(r"^(?:(?:ctrl|alt|shift|meta)\+)*(?:[a-z0-9]|f(?:[1-9]|1[0-2]))$",
                       re.IGNORECASE)


# -- errors ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AnnotationError:
    """One thing wrong with an answer: the topic ("" for the answer as a whole), the path
    from the answer's root (``objects[2].points[1]``) and the reason."""

    topic: str
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path or 'answer'}: {self.reason}"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One thing wrong with a definition (template, topic, label set): path and reason."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path or 'template'}: {self.reason}"


class TemplateError(ValueError):
    """A template, topic or label set that breaks a rule; ``errors`` name every field."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(str(e) for e in self.errors))


# -- definitions: structure by pydantic, cross-field rules in plain functions below -------

TopicName = Annotated[str, Field(pattern=_TOPIC_NAME)]
LabelName = Annotated[str, Field(min_length=1, max_length=MAX_LABEL_NAME)]
FieldName = Annotated[str, Field(min_length=1, max_length=256)]


class _Definition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_dict(self) -> dict[str, Any]:
        # Defaults are left out: the dicts stay small and the four original presets keep
        # exactly the topics they always had.
        return self.model_dump(mode="json", exclude_defaults=True)


class Content(_Definition):
    kind: Literal["text", "image", "video", "audio", "pdf"]
    field: FieldName
    title: str = ""


class Attribute(_Definition):
    """A label attribute (colour=yellow): ``values`` empty means any text."""

    name: Annotated[str, Field(min_length=1, max_length=256)]
    values: list[LabelName] = []
    required: bool = False


class _Topic(_Definition):
    name: TopicName
    title: str = ""
    required: bool = True

    def to_dict(self) -> dict[str, Any]:
        # Name and kind first, for people reading events and stored jobs.
        found = super().to_dict()
        return {"name": found.pop("name"), "kind": found.pop("kind"), **found}


class SingleChoice(_Topic):
    kind: Literal["single_choice"]
    options: Annotated[list[LabelName], Field(min_length=1)]


class MultipleChoice(_Topic):
    kind: Literal["multiple_choice"]
    options: Annotated[list[LabelName], Field(min_length=1)]
    min_choices: Annotated[int, Field(ge=0)] = 1
    max_choices: Annotated[int, Field(ge=1)] | None = None


class FreeText(_Topic):
    kind: Literal["free_text"]
    min_length: Annotated[int, Field(ge=0)] = 0
    max_length: Annotated[int, Field(ge=1, le=MAX_FREE_TEXT)] = MAX_FREE_TEXT
    multiline: bool = False


class _Labelled(_Topic):
    """A topic whose answer is a list of labelled objects."""

    labels: list[LabelName] = []
    multi_label: bool = False  # one label per object, or several ("labels": [..])
    attributes: dict[LabelName, list[Attribute]] = {}


class SpanTopic(_Labelled):
    kind: Literal["span"]
    field: FieldName
    allow_overlap: bool = False


class RelationLabel(_Definition):
    name: LabelName
    source: Annotated[list[LabelName], Field(min_length=1)]
    target: Annotated[list[LabelName], Field(min_length=1)]


class RelationTopic(_Topic):
    kind: Literal["relation"]
    spans_topic: TopicName
    relations: Annotated[list[RelationLabel], Field(min_length=1)]


class ShapeTopic(_Labelled):
    kind: Literal["shape"]
    field: FieldName
    shapes: Annotated[list[ShapeType], Field(min_length=1)] = list(SHAPE_TYPES)
    inside: bool = False
    timed: bool = False
    with_text: bool = False


class TableTopic(_Topic):
    kind: Literal["table"]
    field: FieldName
    inside: bool = False


class LabelClass(_Definition):
    name: Annotated[str, Field(pattern=_CLASS_NAME.pattern)]
    labels: Annotated[list[LabelName], Field(min_length=1)]


class TimeSegmentTopic(_Labelled):
    kind: Literal["time_segment"]
    field: FieldName
    classes: list[LabelClass] = []
    with_text: bool = False
    with_speaker: bool = False
    speakers: list[LabelName] = []  # empty: any speaker name
    allow_overlap: bool = False


class PageTopic(_Labelled):
    kind: Literal["page"]
    field: FieldName
    with_text: bool = False


Topic = Annotated[
    SingleChoice | MultipleChoice | FreeText | SpanTopic | RelationTopic | ShapeTopic
    | TableTopic | TimeSegmentTopic | PageTopic,
    Field(discriminator="kind"),
]


class Template(_Definition):
    content: Annotated[list[Content], Field(min_length=1)]
    topics: Annotated[list[Topic], Field(min_length=1)]

    def to_dict(self) -> dict[str, Any]:
        return {"content": [c.to_dict() for c in self.content],
                "topics": [t.to_dict() for t in self.topics]}


_TOPIC_ADAPTER: TypeAdapter[Topic] = TypeAdapter(Topic)


def parse_topic(topic: Mapping[str, Any]) -> Topic:
    """A topic definition, or TemplateError naming each bad field (``labels[3]``)."""
    try:
        parsed = _TOPIC_ADAPTER.validate_python(topic)
    except ValidationError as exc:
        raise TemplateError(_pydantic_errors(exc)) from None
    errors = _topic_errors(parsed, "")
    if errors:
        raise TemplateError(errors)
    return parsed


def parse_template(template: Mapping[str, Any]) -> Template:
    """A whole template (content and topics, their references checked), or TemplateError."""
    try:
        parsed = Template.model_validate(template)
    except ValidationError as exc:
        raise TemplateError(_pydantic_errors(exc)) from None
    errors = _template_errors(parsed)
    if errors:
        raise TemplateError(errors)
    return parsed


def _pydantic_errors(exc: ValidationError) -> list[FieldError]:
    errors = []
    for err in exc.errors():
        loc = list(err["loc"])
        # A discriminated union puts the tag ("shape") in the location: not a field.
        loc = [part for i, part in enumerate(loc)
               if not (part in TOPIC_KINDS and (i == 0 or isinstance(loc[i - 1], int)))]
        path = _join_path(loc)
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            path = f"{path}.kind" if path else "kind"
            reason = f"must be one of {', '.join(TOPIC_KINDS)}"
        else:
            reason = err["msg"]
        errors.append(FieldError(path, reason))
    return errors


def _join_path(loc: Iterable[int | str]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path


def _duplicates(values: Sequence[str], path: str, suffix: str = "") -> list[FieldError]:
    seen: set[str] = set()
    errors = []
    for i, value in enumerate(values):
        if value in seen:
            errors.append(FieldError(f"{path}[{i}]{suffix}", f"{value!r} appears twice"))
        seen.add(value)
    return errors


def _at(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _topic_errors(topic: Topic, prefix: str) -> list[FieldError]:
    """Rules within one topic that the field types cannot say."""
    errors: list[FieldError] = []
    if isinstance(topic, SingleChoice | MultipleChoice):
        errors += _duplicates(topic.options, _at(prefix, "options"))
    if isinstance(topic, MultipleChoice):
        top = topic.max_choices if topic.max_choices is not None else len(topic.options)
        if topic.min_choices > top or top > len(topic.options):
            errors.append(FieldError(_at(prefix, "max_choices"),
                                     f"choices must satisfy min_choices <= max_choices <= "
                                     f"{len(topic.options)} options"))
    if isinstance(topic, FreeText) and topic.min_length > topic.max_length:
        errors.append(FieldError(_at(prefix, "min_length"), "exceeds max_length"))
    if isinstance(topic, _Labelled):
        errors += _labelled_errors(topic, prefix)
    if isinstance(topic, RelationTopic):
        errors += _duplicates([r.name for r in topic.relations], _at(prefix, "relations"))
    if isinstance(topic, ShapeTopic):
        errors += _duplicates(topic.shapes, _at(prefix, "shapes"))
    if isinstance(topic, TimeSegmentTopic):
        errors += _segment_topic_errors(topic, prefix)
    if isinstance(topic, PageTopic) and not topic.labels and not topic.with_text:
        errors.append(FieldError(_at(prefix, "labels"),
                                 "a page topic needs labels, with_text or both"))
    return errors


def _labelled_errors(topic: _Labelled, prefix: str) -> list[FieldError]:
    errors = _duplicates(topic.labels, _at(prefix, "labels"))
    if isinstance(topic, SpanTopic) and not topic.labels:
        errors.append(FieldError(_at(prefix, "labels"), "a span topic needs at least one label"))
    known = set(topic.labels)
    for label, attributes in topic.attributes.items():
        path = f"{_at(prefix, 'attributes')}.{label}"
        if label not in known:
            errors.append(FieldError(path, f"{label!r} is not a label of this topic"))
        errors += _duplicates([a.name for a in attributes], path)
        for i, attribute in enumerate(attributes):
            errors += _duplicates(attribute.values, f"{path}[{i}].values")
    return errors


def _segment_topic_errors(topic: TimeSegmentTopic, prefix: str) -> list[FieldError]:
    errors = _duplicates(topic.speakers, _at(prefix, "speakers"))
    if topic.classes and (topic.labels or topic.multi_label):
        errors.append(FieldError(_at(prefix, "classes"),
                                 "use labels (one class) or classes (several), not both"))
    errors += _duplicates([c.name for c in topic.classes], _at(prefix, "classes"))
    for i, label_class in enumerate(topic.classes):
        errors += _duplicates(label_class.labels, f"{_at(prefix, 'classes')}[{i}].labels")
    if topic.speakers and not topic.with_speaker:
        errors.append(FieldError(_at(prefix, "speakers"), "needs with_speaker"))
    return errors


# Which content kinds each field-bound topic kind can be drawn on.
_TOPIC_CONTENT: dict[str, tuple[str, ...]] = {
    "span": ("text",),
    "shape": ("image", "video"),
    "table": ("image", "pdf"),
    "time_segment": ("audio", "video"),
    "page": ("pdf",),
}


def _template_errors(template: Template) -> list[FieldError]:
    errors = _duplicates([c.field for c in template.content], "content", ".field")
    errors += _duplicates([t.name for t in template.topics], "topics", ".name")
    content = {c.field: c.kind for c in template.content}
    topics = {t.name: t for t in template.topics}
    for i, topic in enumerate(template.topics):
        prefix = f"topics[{i}]"
        errors += _topic_errors(topic, prefix)
        errors += _field_errors(topic, content, prefix)
        if isinstance(topic, RelationTopic):
            errors += _relation_errors(topic, topics, prefix)
    return errors


def _field_errors(topic: Topic, content: Mapping[str, str], prefix: str) -> list[FieldError]:
    allowed = _TOPIC_CONTENT.get(topic.kind)
    field = getattr(topic, "field", None)
    if allowed is None or field is None:
        return []
    kind = content.get(field)
    path = f"{prefix}.field"
    if kind is None:
        return [FieldError(path, f"{field!r} is not a content field of this template")]
    if kind not in allowed:
        return [FieldError(path, f"{topic.kind} needs {' or '.join(allowed)} content; "
                                 f"{field!r} is {kind}")]
    if isinstance(topic, ShapeTopic) and topic.timed != (kind == "video"):
        return [FieldError(f"{prefix}.timed", "shapes on a video need timed: true (a time "
                                              "stamp per shape), shapes on an image timed: false")]
    return []


def _relation_errors(topic: RelationTopic, topics: Mapping[str, Topic],
                     prefix: str) -> list[FieldError]:
    spans = topics.get(topic.spans_topic)
    if not isinstance(spans, SpanTopic):
        return [FieldError(f"{prefix}.spans_topic",
                           f"{topic.spans_topic!r} is not a span topic of this template")]
    known = set(spans.labels)
    errors = []
    for i, relation in enumerate(topic.relations):
        for end in ("source", "target"):
            for j, label in enumerate(getattr(relation, end)):
                if label not in known:
                    errors.append(FieldError(f"{prefix}.relations[{i}].{end}[{j}]",
                                             f"{label!r} is not an entity label of "
                                             f"{topic.spans_topic!r}"))
    return errors


# -- answers: plain Python over dicts, since this runs for every saved annotation ---------


class _Errors:
    """Collects the errors of one answer; paths are built only when something is wrong."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[AnnotationError] = []

    def add(self, topic: str, path: str, reason: str) -> None:
        self.items.append(AnnotationError(topic, path, reason))


def _is_number(value: Any) -> TypeGuard[int | float]:
    # bool is an int in Python but not a number in JSON; NaN and infinities are not finite,
    # nor is an integer past the largest float (10**400 is valid JSON, and no coordinate).
    kind = type(value)
    if kind is int:
        return bool(-_FLOAT_MAX <= value <= _FLOAT_MAX)
    return kind is float and math.isfinite(value)


def _is_int(value: Any) -> TypeGuard[int]:
    return type(value) is int


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f"{value[:60]!r}" + ("…" if len(value) > 60 else "")
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, Mapping):
        return "an object"
    if value is None:
        return "null"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return type(value).__name__ if isinstance(value, bool) else repr(value)


def _listing(values: Iterable[str]) -> str:
    values = list(values)
    shown = ", ".join(repr(v) for v in values[:_SHOWN_OPTIONS])
    return shown + (f" … ({len(values)} in all)" if len(values) > _SHOWN_OPTIONS else "")


def _media(item: Mapping[str, Any] | None, field: str) -> Mapping[str, Any]:
    if item is None:
        return {}
    media = item.get("media")
    if isinstance(media, Mapping) and isinstance(media.get(field), Mapping):
        found: Mapping[str, Any] = media[field]
        return found
    return item


def _positive(media: Mapping[str, Any], key: str) -> float | None:
    value = media.get(key)
    return float(value) if _is_number(value) and value > 0 else None


class _LabelRule:
    """The label(s) and attributes of one labelled object, as a topic declares them."""

    __slots__ = ("names", "multi", "attributes", "required", "keys")

    def __init__(self, topic: Mapping[str, Any]) -> None:
        self.names = frozenset(topic.get("labels") or ())
        self.multi = bool(topic.get("multi_label", False))
        self.attributes: dict[str, dict[str, Mapping[str, Any]]] = {
            label: {a["name"]: a for a in attributes}
            for label, attributes in (topic.get("attributes") or {}).items()}
        # Labels with a required attribute: their objects are checked even without any.
        self.required = frozenset(label for label, attributes in self.attributes.items()
                                  if any(a.get("required") for a in attributes.values()))
        keys = {"score"}
        if self.names:
            keys.add("labels" if self.multi else "label")
        if self.attributes:
            keys.add("attributes")
        self.keys = frozenset(keys)

    def check(self, obj: Mapping[str, Any], topic: str, path: str, errors: _Errors) -> list[str]:
        """The object's valid labels; errors for the rest."""
        if "score" in obj:
            score = obj["score"]
            if not _is_number(score) or not 0 <= score <= 1:
                errors.add(topic, f"{path}.score", f"must be a number in [0, 1], got "
                                                   f"{_describe(score)}")
        if not self.names:
            return []
        labels = self._labels(obj, topic, path, errors)
        if "attributes" in obj or not self.required.isdisjoint(labels):
            self._check_attributes(obj, labels, topic, path, errors)
        return labels

    def _labels(self, obj: Mapping[str, Any], topic: str, path: str,
                errors: _Errors) -> list[str]:
        if not self.multi:
            label = obj.get("label")
            if label is None:
                errors.add(topic, f"{path}.label", "missing")
            elif not isinstance(label, str):
                errors.add(topic, f"{path}.label",
                           f"expected one label (a string), got {_describe(label)}")
            elif label not in self.names:
                errors.add(topic, f"{path}.label", f"unknown label {_describe(label)}; one of "
                                                   f"{_listing(sorted(self.names))}")
            else:
                return [label]
            return []
        labels = obj.get("labels")
        if not isinstance(labels, list) or not labels:
            errors.add(topic, f"{path}.labels",
                       f"expected a non-empty list of labels, got {_describe(labels)}")
            return []
        good: list[str] = []
        for i, label in enumerate(labels):
            if not isinstance(label, str) or label not in self.names:
                errors.add(topic, f"{path}.labels[{i}]", f"unknown label {_describe(label)}")
            elif label in good:
                errors.add(topic, f"{path}.labels[{i}]", f"{label!r} appears twice")
            else:
                good.append(label)
        return good

    def _check_attributes(self, obj: Mapping[str, Any], labels: list[str], topic: str,
                          path: str, errors: _Errors) -> None:
        declared: dict[str, Mapping[str, Any]] = {}
        for label in labels:
            declared.update(self.attributes.get(label, {}))
        given = obj.get("attributes", {})
        if not isinstance(given, Mapping):
            errors.add(topic, f"{path}.attributes",
                       f"expected an object {{name: value}}, got {_describe(given)}")
            return
        for name, value in given.items():
            attribute = declared.get(name)
            at = f"{path}.attributes.{name}"
            if attribute is None:
                errors.add(topic, at, f"not an attribute of {_listing(labels) or 'this label'}")
            elif not isinstance(value, str):
                errors.add(topic, at, f"expected a string, got {_describe(value)}")
            elif attribute.get("values") and value not in attribute["values"]:
                errors.add(topic, at, f"{_describe(value)} is not one of "
                                      f"{_listing(attribute['values'])}")
        for name, attribute in declared.items():
            if attribute.get("required") and name not in given:
                errors.add(topic, f"{path}.attributes.{name}", "required attribute is missing")


def _unknown_keys(obj: Mapping[str, Any], allowed: frozenset[str], topic: str, path: str,
                  errors: _Errors) -> None:
    # Keys are plain data: "$where" is as unknown as "widht", and never interpreted.
    extra = obj.keys() - allowed
    for key in sorted(extra, key=str):
        errors.add(topic, f"{path}.{key}", f"unknown field; allowed: {_listing(sorted(allowed))}")


def _objects(value: Any, topic: str, errors: _Errors) -> list[Mapping[str, Any]] | None:
    """The list of objects a list-valued topic answers with, or None (an error added)."""
    if not isinstance(value, list):
        errors.add(topic, topic, f"expected a list of objects, got {_describe(value)}")
        return None
    for i, obj in enumerate(value):
        if not isinstance(obj, Mapping):
            errors.add(topic, f"{topic}[{i}]", f"expected an object, got {_describe(obj)}")
    return value


def _numbers(obj: Mapping[str, Any], keys: Sequence[str], topic: str, path: str,
             errors: _Errors) -> list[float] | None:
    """The values of these keys when all are finite numbers; else None, each bad one named."""
    values = [obj.get(key) for key in keys]
    if all(_is_number(v) for v in values):
        return cast("list[float]", values)  # ints stand for floats: JSON has one number
    for key in keys:
        _number(obj, key, topic, path, errors)
    return None


def _number(obj: Mapping[str, Any], key: str, topic: str, path: str,
            errors: _Errors) -> float | None:
    value = obj.get(key)
    if _is_number(value):
        return float(value)
    reason = "missing" if key not in obj else f"expected a finite number, got {_describe(value)}"
    errors.add(topic, f"{path}.{key}", reason)
    return None


def _text(obj: Mapping[str, Any], key: str, topic: str, path: str, errors: _Errors,
          required: bool = True) -> str | None:
    if key not in obj:
        if required:
            errors.add(topic, f"{path}.{key}", "missing")
        return None
    value = obj[key]
    if not isinstance(value, str):
        errors.add(topic, f"{path}.{key}", f"expected a string, got {_describe(value)}")
        return None
    return value


def _unique_id(obj: Mapping[str, Any], key: str, seen: set[str], topic: str, path: str,
               errors: _Errors, required: bool) -> str | None:
    value = _text(obj, key, topic, path, errors, required)
    if value is None:
        return None
    if not value:
        errors.add(topic, f"{path}.{key}", "must not be empty")
        return None
    if value in seen:
        errors.add(topic, f"{path}.{key}", f"{value!r} appears twice")
        return None
    seen.add(value)
    return value


class _Check:
    """The compiled rule of one topic."""

    __slots__ = ("name", "required")

    def __init__(self, topic: Mapping[str, Any]) -> None:
        self.name: str = topic["name"]
        self.required = bool(topic.get("required", True))

    def check(self, value: Any, answer: Mapping[str, Any], item: Mapping[str, Any] | None,
              errors: _Errors) -> None:
        raise NotImplementedError


class _SingleChoice(_Check):
    __slots__ = ("options",)

    def __init__(self, topic: Mapping[str, Any]) -> None:
        super().__init__(topic)
        self.options: list[str] = list(topic["options"])

    def check(self, value: Any, answer: Mapping[str, Any], item: Mapping[str, Any] | None,
              errors: _Errors) -> None:
        if isinstance(value, list):
            errors.add(self.name, self.name, f"single choice: expected one label, got "
                                             f"{_describe(value)}")
        elif not isinstance(value, str) or value not in self.options:
            errors.add(self.name, self.name, f"{_describe(value)} is not one of "
                                             f"{_listing(self.options)}")


class _MultipleChoice(_Check):
    __slots__ = ("options", "low", "high")

    def __init__(self, topic: Mapping[str, Any]) -> None:
        super().__init__(topic)
        self.options = frozenset(topic["options"])
        self.low = int(topic.get("min_choices", 1))
        high = topic.get("max_choices")
        self.high = len(self.options) if high is None else int(high)

    def check(self, value: Any, answer: Mapping[str, Any], item: Mapping[str, Any] | None,
              errors: _Errors) -> None:
        name = self.name
        if not isinstance(value, list):
            errors.add(name, name, f"expected a list of labels, got {_describe(value)}")
            return
        seen: set[str] = set()
        wrong = len(errors.items)
        for i, label in enumerate(value):
            if not isinstance(label, str) or label not in self.options:
                errors.add(name, f"{name}[{i}]", f"{_describe(label)} is not one of "
                                                 f"{_listing(sorted(self.options))}")
            elif label in seen:
                errors.add(name, f"{name}[{i}]", f"{label!r} appears twice")
            else:
                seen.add(label)
        # The count matters once every label is right: else it only repeats those errors.
        if wrong == len(errors.items) and not self.low <= len(value) <= self.high:
            errors.add(name, name, f"expected {self.low} to {self.high} labels, "
                                   f"got {len(value)}")


class _FreeText(_Check):
    __slots__ = ("low", "high")

    def __init__(self, topic: Mapping[str, Any]) -> None:
        super().__init__(topic)
        self.low = int(topic.get("min_length", 0))
        self.high = int(topic.get("max_length", MAX_FREE_TEXT))

    def check(self, value: Any, answer: Mapping[str, Any], item: Mapping[str, Any] | None,
              errors: _Errors) -> None:
        if not isinstance(value, str):
            errors.add(self.name, self.name, f"expected a string, got {_describe(value)}")
        elif not self.low <= len(value) <= self.high:
            errors.add(self.name, self.name, f"expected {self.low} to {self.high} characters, "
                                             f"got {len(value)}")


class _Spans(_Check):
    __slots__ = ("field", "labels", "overlap", "keys")

    def __init__(self, topic: Mapping[str, Any]) -> None:
        super().__init__(topic)
        self.field: str = topic["field"]
        self.labels = _LabelRule(topic)
        self.overlap = bool(topic.get("allow_overlap", False))
        self.keys = self.labels.keys | {"id", "start", "end", "text"}

    def check(self, value: Any, answer: Mapping[str, Any], item: Mapping[str, Any] | None,
              errors: _Errors) -> None:
        spans = _objects(value, self.name, errors)
        if spans is None:
            return
        text = item.get(self.field) if item is not None else None
        size = len(text) if isinstance(text, str) else None
        ids: set[str] = set()
        placed: list[tuple[int, int, int, tuple[str, ...]]] = []  # start, end, index, labels
        for i, span in enumerate(spans):
            if not isinstance(span, Mapping):
                continue
            path = f"{self.name}[{i}]"
            _unknown_keys(span, self.keys, self.name, path, errors)
            _unique_id(span, "id", ids, self.name, path, errors, required=True)
            labels = self.labels.check(span, self.name, path, errors)
            bounds = self._bounds(span, size, path, errors)
            if bounds is None:
                continue
            start, end = bounds
            covered = _text(span, "text", self.name, path, errors, required=False)
            if covered is not None and isinstance(text, str) and covered != text[start:end]:
                errors.add(self.name, f"{path}.text", f"{_describe(covered)} differs from the "
                                                      f"text at [{start}, {end}): "
                                                      f"{_describe(text[start:end])}")
            placed.append((start, end, i, tuple(labels)))
        self._check_overlaps(placed, errors)

    def _bounds(self, span: Mapping[str, Any], size: int | None, path: str,
                errors: _Errors) -> tuple[int, int] | None:
        start, end = span.get("start"), span.get("end")
        for key, value in (("start", start), ("end", end)):
            if not _is_int(value):
                reason = "missing" if key not in span else (
                    f"expected a character offset (an integer), got {_describe(value)}")
                errors.add(self.name, f"{path}.{key}", reason)
        if not (_is_int(start) and _is_int(end)):
            return None
        if start < 0:
            errors.add(self.name, f"{path}.start", f"must be >= 0, got {start}")
        elif end <= start:
            errors.add(self.name, f"{path}.end", f"must be greater than start ({start}), "
                                                 f"got {end}")
        elif size is not None and end > size:
            errors.add(self.name, f"{path}.end", f"{end} is past the end of the text "
                                                 f"({size} characters)")
        else:
            return start, end
        return None

    def _check_overlaps(self, placed: list[tuple[int, int, int, tuple[str, ...]]],
                        errors: _Errors) -> None:
        placed.sort()
        for (start, end, i, labels), (next_start, next_end, j, next_labels) in zip(
                placed, placed[1:], strict=False):
            if (start, end, labels) == (next_start, next_end, next_labels):
                errors.add(self.name, f"{self.name}[{j}]", f"the same span as {self.name}[{i}]")
            elif not self.overlap and next_start < end:
                errors.add(self.name, f"{self.name}[{j}].start",
                           f"[{next_start}, {next_end}) overlaps {self.name}[{i}] "
                           f"[{start}, {end}); this topic does not allow overlapping spans")


class _Relations(_Check):
    __slots__ = ("spans_topic", "relations")
    _KEYS = frozenset({"label", "from", "to", "score"})

    def __init__(self, topic: Mapping[str, Any]) -> None:
        super().__init__(topic)
        self.spans_topic: str = topic["spans_topic"]
        self.relations = {r["name"]: (frozenset(r["source"]), frozenset(r["target"]))
                          for r in topic["relations"]}

    def check(self, value: Any, answer: Mapping[str, Any], item: Mapping[str, Any] | None,
              errors: _Errors) -> None:
        relations = _objects(value, self.name, errors)
        if relations is None:
            return
        spans = _span_labels(answer.get(self.spans_topic))
        seen: set[tuple[Any, ...]] = set()
        for i, relation in enumerate(relations):
            if not isinstance(relation, Mapping):
                continue
            path = f"{self.name}[{i}]"
            _unknown_keys(relation, self._KEYS, self.name, path, errors)
            score = relation.get("score")
            if "score" in relation and (not _is_number(score) or not 0 <= score <= 1):
                errors.add(self.name, f"{path}.score", "must be a number in [0, 1]")
            self._check_one(relation, spans, path, errors)
            key = (relation.get("label"), relation.get("from"), relation.get("to"))
            if all(isinstance(k, str) for k in key):
                if key in seen:
                    errors.add(self.name, path, "the same relation appears twice")
                seen.add(key)

    def _check_one(self, relation: Mapping[str, Any], spans: Mapping[str, tuple[str, ...]],
                   path: str, errors: _Errors) -> None:
        name = self.name
        label = _text(relation, "label", name, path, errors)
        rule = self.relations.get(label) if label is not None else None
        if label is not None and rule is None:
            errors.add(name, f"{path}.label", f"unknown relation {_describe(label)}; one of "
                                              f"{_listing(self.relations)}")
        ends = {}
        for key in ("from", "to"):
            span_id = _text(relation, key, name, path, errors)
            if span_id is None:
                continue
            if span_id not in spans:
                errors.add(name, f"{path}.{key}", f"{span_id!r} is not a span id of "
                                                  f"{self.spans_topic!r}")
                continue
            ends[key] = span_id
        if ends.get("from") is not None and ends.get("from") == ends.get("to"):
            errors.add(name, f"{path}.to", "a relation links two different spans")
            return
        if rule is None:
            return
        for key, allowed, role in (("from", rule[0], "source"), ("to", rule[1], "target")):
            span_id = ends.get(key)
            if span_id is not None and not allowed.intersection(spans[span_id]):
                errors.add(name, f"{path}.{key}",
                           f"span {span_id!r} is {'/'.join(spans[span_id]) or 'unlabelled'}; "
                           f"{label!r} needs a {role} labelled {_listing(sorted(allowed))}")


def _span_labels(spans: Any) -> dict[str, tuple[str, ...]]:
    """Span id -> its labels, from a span topic's answer (its own errors are its topic's)."""
    found: dict[str, tuple[str, ...]] = {}
    if not isinstance(spans, list):
        return found
    for span in spans:
        if isinstance(span, Mapping) and isinstance(span.get("id"), str):
            labels = span.get("labels")
            if isinstance(labels, list):
                found[span["id"]] = tuple(x for x in labels if isinstance(x, str))
            else:
                label = span.get("label")
                found[span["id"]] = (label,) if isinstance(label, str) else ()
    return found


_SHAPE_KEYS = {
    "rectangle": frozenset({"x", "y", "width", "height"}),
    "polygon": frozenset({"points"}),
    "circle": frozenset({"cx", "cy", "r"}),
    "line": frozenset({"points"}),
    "dashed_line": frozenset({"points"}),
    "point": frozenset({"x", "y"}),
}
_MIN_POINTS = {"polygon": 3, "line": 2, "dashed_line": 2}


class _Bounds:
    """The frame shapes must lie in: [0, width] x [0, height]; an unknown side is open."""

    __slots__ = ("width", "height")

    def __init__(self, width: float | None, height: float | None) -> None:
        self.width, self.height = width, height

    def outside(self, x: float, y: float) -> str | None:
        if x < 0 or y < 0:
            return f"({x:g}, {y:g}) is outside the image (negative)"
        if (self.width is not None and x > self.width) or (
                self.height is not None and y > self.height):
            return (f"({x:g}, {y:g}) is outside the image "
                    f"({_size(self.width)} x {_size(self.height)})")
        return None


def _size(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


class _Shapes(_Check):
    __slots__ = ("field", "labels", "types", "inside", "timed", "with_text", "common")

    def __init__(self, topic: Mapping[str, Any]) -> None:
        super().__init__(topic)
        self.field: str = topic["field"]
        self.labels = _LabelRule(topic)
        self.types = frozenset(topic.get("shapes") or SHAPE_TYPES)
        self.inside = bool(topic.get("inside", False))
        self.timed = bool(topic.get("timed", False))
        self.with_text = bool(topic.get("with_text", False))
        common = self.labels.keys | {"type", "id"}
        common |= {"time", "track"} if self.timed else set()
        common |= {"text"} if self.with_text else set()
        self.common = frozenset(common)

    def check(self, value: Any, answer: Mapping[str, Any], item: Mapping[str, Any] | None,
              errors: _Errors) -> None:
        shapes = _objects(value, self.name, errors)
        if shapes is None:
            return
        media = _media(item, self.field)
        bounds = (_Bounds(_positive(media, "width"), _positive(media, "height"))
                  if self.inside else None)
        duration = _positive(media, "duration")
        ids: set[str] = set()
        for i, shape in enumerate(shapes):
            if not isinstance(shape, Mapping):
                continue
            path = f"{self.name}[{i}]"
            kind = shape.get("type")
            if not isinstance(kind, str) or kind not in self.types:
                errors.add(self.name, f"{path}.type", f"{_describe(kind)} is not a shape of "
                                                      f"this topic: {_listing(sorted(self.types))}")
                continue
            _unknown_keys(shape, self.common | _SHAPE_KEYS[kind], self.name, path, errors)
            self.labels.check(shape, self.name, path, errors)
            _unique_id(shape, "id", ids, self.name, path, errors, required=False)
            self._check_extras(shape, duration, path, errors)
            self._check_geometry(shape, kind, bounds, path, errors)

    def _check_extras(self, shape: Mapping[str, Any], duration: float | None, path: str,
                      errors: _Errors) -> None:
        if self.timed:
            time = _number(shape, "time", self.name, path, errors)
            if time is not None and (time < 0 or (duration is not None and time > duration)):
                errors.add(self.name, f"{path}.time", f"{time:g} s is outside the video "
                                                      f"(0 to {_size(duration)} s)")
            _text(shape, "track", self.name, path, errors, required=False)
        if self.with_text:
            _text(shape, "text", self.name, path, errors)

    def _check_geometry(self, shape: Mapping[str, Any], kind: str, bounds: _Bounds | None,
                        path: str, errors: _Errors) -> None:
        if kind in _MIN_POINTS:
            _check_points(shape, _MIN_POINTS[kind], kind == "polygon", bounds, self.name, path,
                          errors)
        elif kind == "rectangle":
            _check_rectangle(shape, bounds, self.name, path, errors)
        elif kind == "circle":
            _check_circle(shape, bounds, self.name, path, errors)
        else:
            point = _numbers(shape, ("x", "y"), self.name, path, errors)
            problem = bounds.outside(*point) if bounds and point is not None else None
            if problem:
                errors.add(self.name, path, problem)


def _check_rectangle(shape: Mapping[str, Any], bounds: _Bounds | None, topic: str, path: str,
                     errors: _Errors) -> None:
    values = _numbers(shape, ("x", "y", "width", "height"), topic, path, errors)
    if values is None:
        return
    x, y, width, height = values
    for key, size in (("width", width), ("height", height)):
        if size <= 0:
            errors.add(topic, f"{path}.{key}", f"must be positive, got {size:g}")
            return
    if bounds is None:
        return
    problem = bounds.outside(x, y) or bounds.outside(x + width, y + height)
    if problem:
        errors.add(topic, path, f"the rectangle leaves the image: corner {problem}")


def _check_circle(shape: Mapping[str, Any], bounds: _Bounds | None, topic: str, path: str,
                  errors: _Errors) -> None:
    values = _numbers(shape, ("cx", "cy", "r"), topic, path, errors)
    if values is None:
        return
    cx, cy, r = values
    if r <= 0:
        errors.add(topic, f"{path}.r", f"must be positive, got {r:g}")
        return
    if bounds is None:
        return
    problem = bounds.outside(cx - r, cy - r) or bounds.outside(cx + r, cy + r)
    if problem:
        errors.add(topic, path, f"the circle leaves the image: its bounding box corner "
                                f"{problem}")


def _check_points(shape: Mapping[str, Any], least: int, closed: bool, bounds: _Bounds | None,
                  topic: str, path: str, errors: _Errors) -> None:
    points = shape.get("points")
    if not isinstance(points, list) or len(points) < least:
        errors.add(topic, f"{path}.points", f"expected a list of at least {least} [x, y] "
                                            f"points, got {_describe(points)}")
        return
    good = True
    for j, point in enumerate(points):
        if (type(point) is not list or len(point) != 2
                or not _is_number(point[0]) or not _is_number(point[1])):
            errors.add(topic, f"{path}.points[{j}]", f"expected [x, y] finite numbers, got "
                                                     f"{_describe(point)}")
            good = False
            continue
        problem = bounds.outside(point[0], point[1]) if bounds is not None else None
        if problem:
            errors.add(topic, f"{path}.points[{j}]", problem)
    if good and closed and _area(points) == 0:
        errors.add(topic, f"{path}.points", "the polygon has no area (its points are collinear)")


def _area(points: Sequence[Sequence[float]]) -> float:
    """Twice the polygon's signed area (shoelace): zero means no inside to label."""
    total = 0.0
    for (x1, y1), (x2, y2) in zip(points, [*points[1:], points[0]], strict=True):
        total += x1 * y2 - x2 * y1
    return total


class _Tables(_Check):
    __slots__ = ("field", "inside")
    _TABLE_KEYS = frozenset({"rows", "cols", "cells", "x", "y", "width", "height", "id"})
    _CELL_KEYS = frozenset({"row", "col", "row_span", "col_span", "text",
                            "x", "y", "width", "height"})

    def __init__(self, topic: Mapping[str, Any]) -> None:
        super().__init__(topic)
        self.field: str = topic["field"]
        self.inside = bool(topic.get("inside", False))

    def check(self, value: Any, answer: Mapping[str, Any], item: Mapping[str, Any] | None,
              errors: _Errors) -> None:
        tables = _objects(value, self.name, errors)
        if tables is None:
            return
        media = _media(item, self.field)
        bounds = (_Bounds(_positive(media, "width"), _positive(media, "height"))
                  if self.inside else None)
        budget = MAX_GRID_CELLS
        for i, table in enumerate(tables):
            if isinstance(table, Mapping):
                budget -= self._check_table(table, bounds, budget, f"{self.name}[{i}]", errors)

    def _check_table(self, table: Mapping[str, Any], bounds: _Bounds | None, budget: int,
                     path: str, errors: _Errors) -> int:
        """Checks one table; returns the grid positions it used of the answer's budget."""
        _unknown_keys(table, self._TABLE_KEYS, self.name, path, errors)
        _check_box(table, bounds, self.name, path, errors)
        rows, cols = self._size(table, "rows", path, errors), self._size(table, "cols", path,
                                                                         errors)
        cells = table.get("cells")
        if not isinstance(cells, list):
            errors.add(self.name, f"{path}.cells", f"expected a list of cells, got "
                                                   f"{_describe(cells)}")
            return 0
        if rows is None or cols is None:
            return 0
        if rows * cols > budget:
            errors.add(self.name, path, f"the tables of one answer have at most "
                                        f"{MAX_GRID_CELLS:,} grid positions in all")
            return 0
        taken: dict[tuple[int, int], int] = {}  # grid position -> the cell covering it
        for j, cell in enumerate(cells):
            at = f"{path}.cells[{j}]"
            if not isinstance(cell, Mapping):
                errors.add(self.name, at, f"expected an object, got {_describe(cell)}")
                continue
            _unknown_keys(cell, self._CELL_KEYS, self.name, at, errors)
            _text(cell, "text", self.name, at, errors)
            _check_box(cell, bounds, self.name, at, errors)
            self._place(cell, j, rows, cols, taken, at, errors)
        return rows * cols

    def _size(self, table: Mapping[str, Any], key: str, path: str, errors: _Errors) -> int | None:
        count = table.get(key)
        if _is_int(count) and 1 <= count <= MAX_TABLE_SIZE:
            return count
        errors.add(self.name, f"{path}.{key}",
                   f"expected an integer 1-{MAX_TABLE_SIZE}, got {_describe(count)}")
        return None

    def _place(self, cell: Mapping[str, Any], index: int, rows: int, cols: int,
               taken: dict[tuple[int, int], int], at: str, errors: _Errors) -> None:
        values = [cell.get("row"), cell.get("col"), cell.get("row_span", 1),
                  cell.get("col_span", 1)]
        for key, value, low in zip(("row", "col", "row_span", "col_span"), values,
                                   (0, 0, 1, 1), strict=True):
            if not _is_int(value) or value < low:
                errors.add(self.name, f"{at}.{key}",
                           f"expected an integer >= {low}, got {_describe(value)}")
                return
        row, col, row_span, col_span = cast("list[int]", values)
        if row + row_span > rows:
            key = "row" if row >= rows else "row_span"
            errors.add(self.name, f"{at}.{key}", f"the cell covers rows {row}-"
                                                 f"{row + row_span - 1}; the table has {rows} "
                                                 f"rows (0-{rows - 1})")
            return
        if col + col_span > cols:
            key = "col" if col >= cols else "col_span"
            errors.add(self.name, f"{at}.{key}", f"the cell covers columns {col}-"
                                                 f"{col + col_span - 1}; the table has {cols} "
                                                 f"columns (0-{cols - 1})")
            return
        for r in range(row, row + row_span):
            for c in range(col, col + col_span):
                other = taken.setdefault((r, c), index)
                if other != index:
                    errors.add(self.name, at, f"overlaps cells[{other}] at row {r}, column {c}")
                    return


def _check_box(obj: Mapping[str, Any], bounds: _Bounds | None, topic: str, path: str,
               errors: _Errors) -> None:
    present = [k for k in ("x", "y", "width", "height") if k in obj]
    if not present:
        return
    if len(present) != 4:
        errors.add(topic, path, "a box needs all of x, y, width, height")
        return
    _check_rectangle(obj, bounds, topic, path, errors)


class _Segments(_Check):
    __slots__ = ("field", "labels", "classes", "with_text", "with_speaker", "speakers",
                 "overlap", "keys")

    def __init__(self, topic: Mapping[str, Any]) -> None:
        super().__init__(topic)
        self.field: str = topic["field"]
        self.labels = _LabelRule(topic)
        self.classes = {c["name"]: frozenset(c["labels"]) for c in topic.get("classes") or ()}
        self.with_text = bool(topic.get("with_text", False))
        self.with_speaker = bool(topic.get("with_speaker", False))
        self.speakers = frozenset(topic.get("speakers") or ())
        self.overlap = bool(topic.get("allow_overlap", False))
        keys = self.labels.keys | {"start", "end", "id"}
        keys |= {"classes"} if self.classes else set()
        keys |= {"text"} if self.with_text else set()
        keys |= {"speaker"} if self.with_speaker else set()
        self.keys = frozenset(keys)

    def check(self, value: Any, answer: Mapping[str, Any], item: Mapping[str, Any] | None,
              errors: _Errors) -> None:
        segments = _objects(value, self.name, errors)
        if segments is None:
            return
        duration = _positive(_media(item, self.field), "duration")
        ids: set[str] = set()
        placed: list[tuple[float, float, int]] = []
        for i, segment in enumerate(segments):
            if not isinstance(segment, Mapping):
                continue
            path = f"{self.name}[{i}]"
            _unknown_keys(segment, self.keys, self.name, path, errors)
            _unique_id(segment, "id", ids, self.name, path, errors, required=False)
            self.labels.check(segment, self.name, path, errors)
            if self.classes:
                self._check_classes(segment, path, errors)
            if self.with_text:
                _text(segment, "text", self.name, path, errors)
            if self.with_speaker:
                self._check_speaker(segment, path, errors)
            span = self._interval(segment, duration, path, errors)
            if span is not None:
                placed.append((span[0], span[1], i))
        if not self.overlap:
            self._check_overlaps(placed, errors)

    def _interval(self, segment: Mapping[str, Any], duration: float | None, path: str,
                  errors: _Errors) -> tuple[float, float] | None:
        start = _number(segment, "start", self.name, path, errors)
        end = _number(segment, "end", self.name, path, errors)
        if start is None or end is None:
            return None
        if start < 0:
            errors.add(self.name, f"{path}.start", f"must be >= 0, got {start:g}")
        elif end <= start:
            errors.add(self.name, f"{path}.end", f"must be after start ({start:g} s), "
                                                 f"got {end:g}")
        elif duration is not None and end > duration:
            errors.add(self.name, f"{path}.end", f"{end:g} s is past the end of the media "
                                                 f"({duration:g} s)")
        else:
            return start, end
        return None

    def _check_classes(self, segment: Mapping[str, Any], path: str, errors: _Errors) -> None:
        given = segment.get("classes")
        if not isinstance(given, Mapping) or not given:
            errors.add(self.name, f"{path}.classes", f"expected an object {{class: label}} "
                                                     f"with at least one class, got "
                                                     f"{_describe(given)}")
            return
        for name, label in given.items():
            labels = self.classes.get(name)
            at = f"{path}.classes.{name}"
            if labels is None:
                errors.add(self.name, at, f"unknown label class; one of "
                                          f"{_listing(self.classes)}")
            elif not isinstance(label, str) or label not in labels:
                errors.add(self.name, at, f"{_describe(label)} is not a label of class "
                                          f"{name!r}: {_listing(sorted(labels))}")

    def _check_speaker(self, segment: Mapping[str, Any], path: str, errors: _Errors) -> None:
        speaker = _text(segment, "speaker", self.name, path, errors)
        if speaker is None:
            return
        if not speaker:
            errors.add(self.name, f"{path}.speaker", "must not be empty")
        elif self.speakers and speaker not in self.speakers:
            errors.add(self.name, f"{path}.speaker", f"unknown speaker {_describe(speaker)}; "
                                                     f"one of {_listing(sorted(self.speakers))}")

    def _check_overlaps(self, placed: list[tuple[float, float, int]], errors: _Errors) -> None:
        placed.sort()
        for (start, end, i), (next_start, next_end, j) in zip(placed, placed[1:], strict=False):
            if next_start < end:
                errors.add(self.name, f"{self.name}[{j}].start",
                           f"[{next_start:g}, {next_end:g}) s overlaps {self.name}[{i}] "
                           f"[{start:g}, {end:g}) s; this topic does not allow overlaps")


class _Pages(_Check):
    __slots__ = ("field", "labels", "with_text", "keys")

    def __init__(self, topic: Mapping[str, Any]) -> None:
        super().__init__(topic)
        self.field: str = topic["field"]
        self.labels = _LabelRule(topic)
        self.with_text = bool(topic.get("with_text", False))
        self.keys = self.labels.keys | {"page"} | ({"text"} if self.with_text else set())

    def check(self, value: Any, answer: Mapping[str, Any], item: Mapping[str, Any] | None,
              errors: _Errors) -> None:
        pages = _objects(value, self.name, errors)
        if pages is None:
            return
        count = _media(item, self.field).get("pages")
        count = count if _is_int(count) else None
        seen: set[int] = set()
        for i, page in enumerate(pages):
            if not isinstance(page, Mapping):
                continue
            path = f"{self.name}[{i}]"
            _unknown_keys(page, self.keys, self.name, path, errors)
            self.labels.check(page, self.name, path, errors)
            if self.with_text:
                _text(page, "text", self.name, path, errors)
            number = page.get("page")
            if not _is_int(number) or number < 1:
                errors.add(self.name, f"{path}.page", f"expected a page number from 1, got "
                                                      f"{_describe(number)}")
            elif count is not None and number > count:
                errors.add(self.name, f"{path}.page", f"page {number} is past the last page "
                                                      f"({count})")
            elif number in seen:
                errors.add(self.name, f"{path}.page", f"page {number} appears twice")
            else:
                seen.add(number)


_CHECKS: dict[str, Callable[[Mapping[str, Any]], _Check]] = {
    "single_choice": _SingleChoice,
    "multiple_choice": _MultipleChoice,
    "free_text": _FreeText,
    "span": _Spans,
    "relation": _Relations,
    "shape": _Shapes,
    "table": _Tables,
    "time_segment": _Segments,
    "page": _Pages,
}


class AnswerChecker:
    """The compiled topics of one template. Compile once per job and keep it: compiling
    reads the topic dicts (already validated when the job was built) and costs about as
    much as checking a small answer."""

    __slots__ = ("checks", "names")

    def __init__(self, topics: Sequence[Mapping[str, Any]]) -> None:
        checks: dict[str, _Check] = {}
        errors: list[FieldError] = []
        for i, topic in enumerate(topics):
            build = _CHECKS.get(topic.get("kind", ""))
            if build is None:
                errors.append(FieldError(f"topics[{i}].kind", f"unknown topic kind "
                                                             f"{topic.get('kind')!r}"))
                continue
            try:
                check = build(topic)
            except (KeyError, TypeError) as exc:
                errors.append(FieldError(f"topics[{i}]", f"malformed topic: {exc!r}"))
                continue
            checks[check.name] = check
        if errors:
            raise TemplateError(errors)
        # Relations read the spans they link, so they are checked after every span topic.
        self.checks = sorted(checks.values(), key=lambda c: isinstance(c, _Relations))
        self.names = frozenset(checks)

    def validate(self, answer: Any, item: Mapping[str, Any] | None = None
                 ) -> list[AnnotationError]:
        errors = _Errors()
        if not isinstance(answer, Mapping):
            errors.add("", "", f"expected an object {{topic name: answer}}, got "
                               f"{_describe(answer)}")
            return errors.items
        for name in sorted(answer.keys() - self.names, key=str):
            errors.add(str(name), str(name), f"not a topic of this template; topics: "
                                             f"{_listing(sorted(self.names))}")
        for check in self.checks:
            value = answer.get(check.name)
            if value is None:
                if check.required:
                    errors.add(check.name, check.name, "required topic has no answer")
                continue
            check.check(value, answer, item, errors)
        return errors.items


def compile_topics(topics: Sequence[Mapping[str, Any]]) -> AnswerChecker:
    return AnswerChecker(topics)


def validate_annotation(topics: Sequence[Mapping[str, Any]], answer: Mapping[str, Any],
                        item: Mapping[str, Any] | None = None) -> list[AnnotationError]:
    """Every error of an answer to these topics (empty when it fits). ``item`` is the
    item's data, for bounds: text length, image size, media duration, page count."""
    return AnswerChecker(topics).validate(answer, item)


# -- JSON Schema ---------------------------------------------------------------------------

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_NUMBER: dict[str, Any] = {"type": "number"}
_POINT: dict[str, Any] = {"type": "array", "prefixItems": [_NUMBER, _NUMBER],
                          "minItems": 2, "maxItems": 2}


def json_schema(topic: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON Schema (2020-12) of one topic's answer. What a schema cannot say (bounds
    from the item, overlaps, relation typing, finite numbers) is left to
    :func:`validate_annotation` and mentioned in ``$comment``."""
    parsed = parse_topic(topic)
    schema = {"$schema": JSON_SCHEMA_DIALECT, "title": parsed.title or parsed.name,
              **_schema_of(parsed)}
    return schema


def answer_json_schema(topics: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The JSON Schema of a whole answer ``{topic name: value}``."""
    properties: dict[str, Any] = {}
    required = []
    for topic in topics:
        parsed = parse_topic(topic)
        schema = _schema_of(parsed)
        if parsed.required:
            required.append(parsed.name)
        else:
            schema = {"anyOf": [schema, {"type": "null"}]}
        properties[parsed.name] = schema
    return {"$schema": JSON_SCHEMA_DIALECT, "type": "object", "properties": properties,
            "required": required, "additionalProperties": False}


def _schema_of(topic: Topic) -> dict[str, Any]:
    if isinstance(topic, SingleChoice):
        return {"type": "string", "enum": list(topic.options)}
    if isinstance(topic, MultipleChoice):
        schema: dict[str, Any] = {"type": "array", "uniqueItems": True,
                                  "items": {"type": "string", "enum": list(topic.options)},
                                  "minItems": topic.min_choices}
        if topic.max_choices is not None:
            schema["maxItems"] = topic.max_choices
        return schema
    if isinstance(topic, FreeText):
        return {"type": "string", "minLength": topic.min_length, "maxLength": topic.max_length}
    builders: dict[type[Any], Callable[[Any], dict[str, Any]]] = {
        SpanTopic: _span_schema, RelationTopic: _relation_schema, ShapeTopic: _shape_schema,
        TableTopic: _table_schema, TimeSegmentTopic: _segment_schema, PageTopic: _page_schema,
    }
    return {"type": "array", "items": builders[type(topic)](topic)}


def _object(properties: dict[str, Any], required: Iterable[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": sorted(set(required)),
            "additionalProperties": False}


def _label_properties(topic: _Labelled) -> tuple[dict[str, Any], list[str]]:
    """The label, labels, attributes and score properties of a labelled object."""
    properties: dict[str, Any] = {"score": {"type": "number", "minimum": 0, "maximum": 1}}
    if not topic.labels:
        return properties, []
    label = {"type": "string", "enum": list(topic.labels)}
    key = "labels" if topic.multi_label else "label"
    properties[key] = ({"type": "array", "items": label, "minItems": 1, "uniqueItems": True}
                       if topic.multi_label else label)
    if topic.attributes:
        # Every declared attribute, whichever label it belongs to: the per-label rule is
        # validate_annotation's.
        values: dict[str, set[str] | None] = {}
        for attributes in topic.attributes.values():
            for attribute in attributes:
                known = values.get(attribute.name, set())
                values[attribute.name] = (None if known is None or not attribute.values
                                          else known | set(attribute.values))
        properties["attributes"] = {
            "type": "object", "additionalProperties": False,
            "properties": {name: ({"type": "string", "enum": sorted(allowed)} if allowed
                                  else {"type": "string"}) for name, allowed in values.items()}}
    return properties, [key]


def _span_schema(topic: SpanTopic) -> dict[str, Any]:
    properties, required = _label_properties(topic)
    properties |= {"id": {"type": "string", "minLength": 1},
                   "start": {"type": "integer", "minimum": 0},
                   "end": {"type": "integer", "minimum": 1},
                   "text": {"type": "string"}}
    schema = _object(properties, [*required, "id", "start", "end"])
    schema["$comment"] = (f"end is exclusive, at most the length of item[{topic.field!r}]; "
                          "start < end; ids unique" +
                          ("" if topic.allow_overlap else "; spans do not overlap"))
    return schema


def _relation_schema(topic: RelationTopic) -> dict[str, Any]:
    schema = _object({"label": {"type": "string", "enum": [r.name for r in topic.relations]},
                      "from": {"type": "string"}, "to": {"type": "string"},
                      "score": {"type": "number", "minimum": 0, "maximum": 1}},
                     ["label", "from", "to"])
    rules = "; ".join(f"{r.name}: {'/'.join(r.source)} -> {'/'.join(r.target)}"
                      for r in topic.relations)
    schema["$comment"] = f"from/to are span ids of {topic.spans_topic!r}; {rules}"
    return schema


_SHAPE_GEOMETRY: dict[str, dict[str, Any]] = {
    "rectangle": {"x": _NUMBER, "y": _NUMBER,
                  "width": {"type": "number", "exclusiveMinimum": 0},
                  "height": {"type": "number", "exclusiveMinimum": 0}},
    "polygon": {"points": {"type": "array", "items": _POINT, "minItems": 3}},
    "circle": {"cx": _NUMBER, "cy": _NUMBER, "r": {"type": "number", "exclusiveMinimum": 0}},
    "line": {"points": {"type": "array", "items": _POINT, "minItems": 2}},
    "dashed_line": {"points": {"type": "array", "items": _POINT, "minItems": 2}},
    "point": {"x": _NUMBER, "y": _NUMBER},
}


def _shape_schema(topic: ShapeTopic) -> dict[str, Any]:
    common, required = _label_properties(topic)
    common["id"] = {"type": "string", "minLength": 1}
    if topic.timed:
        common |= {"time": {"type": "number", "minimum": 0}, "track": {"type": "string"}}
        required.append("time")
    if topic.with_text:
        common["text"] = {"type": "string"}
        required.append("text")
    variants = []
    for kind in topic.shapes:
        geometry = _SHAPE_GEOMETRY[kind]
        variants.append(_object({"type": {"const": kind}, **common, **geometry},
                                ["type", *required, *geometry]))
    schema: dict[str, Any] = {"oneOf": variants}
    if topic.inside:
        schema["$comment"] = "every coordinate lies within the image: [0, width] x [0, height]"
    return schema


def _table_schema(topic: TableTopic) -> dict[str, Any]:
    box = {"x": _NUMBER, "y": _NUMBER, "width": {"type": "number", "exclusiveMinimum": 0},
           "height": {"type": "number", "exclusiveMinimum": 0}}
    counter = {"type": "integer", "minimum": 0}
    span = {"type": "integer", "minimum": 1, "default": 1}
    cell = _object({"row": counter, "col": counter, "row_span": span, "col_span": span,
                    "text": {"type": "string"}, **box}, ["row", "col", "text"])
    cell["dependentRequired"] = {k: sorted(set(box) - {k}) for k in box}
    size = {"type": "integer", "minimum": 1, "maximum": MAX_TABLE_SIZE}
    table = _object({"rows": size, "cols": size, "cells": {"type": "array", "items": cell},
                     "id": {"type": "string"}, **box}, ["rows", "cols", "cells"])
    table["dependentRequired"] = cell["dependentRequired"]
    table["$comment"] = ("cells lie within rows x cols (row + row_span <= rows, col + col_span "
                         "<= cols) and never overlap")
    return table


def _segment_schema(topic: TimeSegmentTopic) -> dict[str, Any]:
    properties, required = _label_properties(topic)
    properties |= {"id": {"type": "string", "minLength": 1},
                   "start": {"type": "number", "minimum": 0},
                   "end": {"type": "number", "exclusiveMinimum": 0}}
    if topic.classes:
        properties["classes"] = {
            "type": "object", "minProperties": 1, "additionalProperties": False,
            "properties": {c.name: {"type": "string", "enum": list(c.labels)}
                           for c in topic.classes}}
        required.append("classes")
    if topic.with_text:
        properties["text"] = {"type": "string"}
        required.append("text")
    if topic.with_speaker:
        properties["speaker"] = ({"type": "string", "enum": list(topic.speakers)}
                                 if topic.speakers else {"type": "string", "minLength": 1})
        required.append("speaker")
    schema = _object(properties, [*required, "start", "end"])
    schema["$comment"] = "start < end <= the media's duration" + (
        "" if topic.allow_overlap else "; segments do not overlap")
    return schema


def _page_schema(topic: PageTopic) -> dict[str, Any]:
    properties, required = _label_properties(topic)
    properties["page"] = {"type": "integer", "minimum": 1}
    if topic.with_text:
        properties["text"] = {"type": "string"}
        required.append("text")
    return _object(properties, [*required, "page"])


# -- label sets ----------------------------------------------------------------------------

_LABEL_KEYS = frozenset({"name", "color", "shortcut", "attributes", "class", "kind", "source",
                         "target", "description"})
_ATTRIBUTE_KEYS = frozenset({"name", "values", "required"})


def validate_label_set(labels: Any, *, relations: bool = False, classes: bool = False,
                       min_labels: int = 1) -> list[FieldError]:
    """Every broken label rule, each naming its field (``labels[3].shortcut``).

    A label is ``{"name", "color": "#rrggbb", "shortcut": "1", "attributes": [{"name",
    "values": [..], "required"}], "class": "speaker", "kind": "entity" | "relation",
    "source": [..], "target": [..], "description"}``, every key but ``name`` optional.
    Names have 1-1024 characters and are unique (within their class, and among relation
    labels); shortcut keys are unique per job; ``class`` (label classes of audio segments)
    and relation labels are allowed only where the template takes them.
    """
    if not isinstance(labels, list):
        return [FieldError("labels", f"expected a list of labels, got {_describe(labels)}")]
    errors: list[FieldError] = []
    entity_count = sum(1 for label in labels
                       if isinstance(label, Mapping) and label.get("kind", "entity") == "entity")
    if entity_count < min_labels:
        errors.append(FieldError("labels", f"at least {min_labels} label(s) needed, "
                                           f"got {entity_count}"))
    names: set[tuple[str, str]] = set()
    shortcuts: dict[str, int] = {}
    entities = {label["name"] for label in labels if isinstance(label, Mapping)
                and label.get("kind", "entity") == "entity" and isinstance(label.get("name"), str)}
    for i, label in enumerate(labels):
        path = f"labels[{i}]"
        if not isinstance(label, Mapping):
            errors.append(FieldError(path, f"expected an object, got {_describe(label)}"))
            continue
        errors += [FieldError(f"{path}.{key}", "unknown field")
                   for key in sorted(label.keys() - _LABEL_KEYS, key=str)]
        errors += _label_name_errors(label, path, names, classes)
        errors += _label_look_errors(label, i, shortcuts)
        errors += _attribute_errors(label.get("attributes", []), f"{path}.attributes")
        errors += _label_kind_errors(label, path, relations, entities)
    return errors


def _label_name_errors(label: Mapping[str, Any], path: str, names: set[tuple[str, str]],
                       classes: bool) -> list[FieldError]:
    name, label_class = label.get("name"), label.get("class")
    errors = []
    if label_class is not None:
        if not classes:
            errors.append(FieldError(f"{path}.class", "this template takes no label classes"))
        elif not isinstance(label_class, str) or not _CLASS_NAME.match(label_class):
            errors.append(FieldError(f"{path}.class", "1-256 letters, digits, '.', '_' or '-'"))
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_LABEL_NAME:
        errors.append(FieldError(f"{path}.name", f"must be a string of 1-{MAX_LABEL_NAME} "
                                                 f"characters, got {_describe(name)}"))
        return errors
    if isinstance(label_class, str) and classes and not _CLASS_NAME.match(name):
        errors.append(FieldError(f"{path}.name", "a label of a class has 1-256 letters, digits, "
                                                 "'.', '_' or '-'"))
    scope = "relation" if label.get("kind") == "relation" else f"class:{label_class or ''}"
    if (scope, name) in names:
        errors.append(FieldError(f"{path}.name", f"{name!r} appears twice"))
    names.add((scope, name))
    return errors


def _label_look_errors(label: Mapping[str, Any], index: int,
                       shortcuts: dict[str, int]) -> list[FieldError]:
    path = f"labels[{index}]"
    errors = []
    color = label.get("color")
    if color is not None and (not isinstance(color, str) or not _COLOUR.match(color)):
        errors.append(FieldError(f"{path}.color", f"expected a hex colour #rrggbb, got "
                                                  f"{_describe(color)}"))
    shortcut = label.get("shortcut")
    if shortcut is None:
        return errors
    if not isinstance(shortcut, str) or not _SHORTCUT.match(shortcut):
        errors.append(FieldError(f"{path}.shortcut", f"expected one key such as '1', 'q' or "
                                                     f"'ctrl+1', got {_describe(shortcut)}"))
        return errors
    key = shortcut.lower()
    if key in shortcuts:
        errors.append(FieldError(f"{path}.shortcut", f"{shortcut!r} is already the shortcut "
                                                     f"of labels[{shortcuts[key]}]"))
    else:
        shortcuts[key] = index
    return errors


def _attribute_errors(attributes: Any, path: str) -> list[FieldError]:
    if not isinstance(attributes, list):
        return [FieldError(path, f"expected a list of attributes, got {_describe(attributes)}")]
    errors = []
    seen: set[str] = set()
    for i, attribute in enumerate(attributes):
        at = f"{path}[{i}]"
        if not isinstance(attribute, Mapping):
            errors.append(FieldError(at, f"expected an object, got {_describe(attribute)}"))
            continue
        errors += [FieldError(f"{at}.{key}", "unknown field")
                   for key in sorted(attribute.keys() - _ATTRIBUTE_KEYS, key=str)]
        name = attribute.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 256:
            errors.append(FieldError(f"{at}.name", "must be a string of 1-256 characters"))
        elif name in seen:
            errors.append(FieldError(f"{at}.name", f"{name!r} appears twice"))
        else:
            seen.add(name)
        values = attribute.get("values", [])
        if not isinstance(values, list) or not all(
                isinstance(v, str) and 1 <= len(v) <= MAX_LABEL_NAME for v in values):
            errors.append(FieldError(f"{at}.values", "expected a list of strings of "
                                                     f"1-{MAX_LABEL_NAME} characters"))
        else:
            errors += _duplicates(values, f"{at}.values")
        if not isinstance(attribute.get("required", False), bool):
            errors.append(FieldError(f"{at}.required", "expected true or false"))
    return errors


def _label_kind_errors(label: Mapping[str, Any], path: str, relations: bool,
                       entities: set[str]) -> list[FieldError]:
    kind = label.get("kind", "entity")
    if kind not in ("entity", "relation"):
        return [FieldError(f"{path}.kind", f"expected 'entity' or 'relation', got "
                                           f"{_describe(kind)}")]
    if kind == "entity":
        return [FieldError(f"{path}.{key}", "only a relation label has a source and a target")
                for key in ("source", "target") if key in label]
    if not relations:
        return [FieldError(f"{path}.kind", "this template takes no relation labels")]
    errors = []
    for key in ("source", "target"):
        ends = label.get(key)
        if not isinstance(ends, list) or not ends:
            errors.append(FieldError(f"{path}.{key}", "expected a non-empty list of entity "
                                                      "label names"))
            continue
        errors += [FieldError(f"{path}.{key}[{j}]", f"{_describe(end)} is not an entity label")
                   for j, end in enumerate(ends) if not isinstance(end, str) or end not in entities]
    return errors


# -- presets -------------------------------------------------------------------------------

Labels = Sequence[Mapping[str, Any]]
Builder = Callable[[Labels, Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Preset:
    """A general template: built from a label set and options, for some dataset kinds.
    Calling it gives the template or raises TemplateError naming every bad field."""

    name: str
    dataset_kinds: frozenset[str]
    build: Builder
    options: frozenset[str]  # the options it understands; any other is an error
    description: str = ""
    relations: bool = False  # takes relation labels
    classes: bool = False    # takes label classes
    min_labels: int = 1

    def __call__(self, labels: Labels, options: Mapping[str, Any] | None = None) -> Template:
        options = options or {}
        errors = validate_label_set(list(labels), relations=self.relations,
                                    classes=self.classes, min_labels=self.min_labels)
        errors += [FieldError(f"options.{key}", f"unknown option of {self.name}; known: "
                                                f"{_listing(sorted(self.options))}")
                   for key in sorted(options.keys() - self.options, key=str)]
        if errors:
            raise TemplateError(errors)
        return parse_template(self.build(labels, options))


def _is_entity(label: Mapping[str, Any]) -> bool:
    return bool(label.get("kind", "entity") == "entity")


def _labelled(labels: Labels, options: Mapping[str, Any]) -> dict[str, Any]:
    """The label settings of a labelled topic: names, attributes, one or several per object."""
    topic: dict[str, Any] = {"labels": [label["name"] for label in labels if _is_entity(label)]}
    attributes = {label["name"]: list(label["attributes"]) for label in labels
                  if _is_entity(label) and label.get("attributes")}
    if attributes:
        topic["attributes"] = attributes
    if options.get("multi_label"):
        topic["multi_label"] = options["multi_label"]
    return topic


def _content(kind: str, options: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"kind": kind, "field": options.get("field", "source")}]


def _choice(content: str, kind: str) -> Builder:
    def build(labels: Labels, options: Mapping[str, Any]) -> dict[str, Any]:
        # Topic "label" with the label names as options: the shape every service already uses.
        return {"content": _content(content, options),
                "topics": [{"name": "label", "kind": kind,
                            "options": _labelled(labels, {})["labels"]}]}
    return build


def _shapes(content: str, shapes: Sequence[str], name: str, with_text: bool = False) -> Builder:
    def build(labels: Labels, options: Mapping[str, Any]) -> dict[str, Any]:
        # Inside the frame always: exports (COCO, YOLO, VOC) expect shapes within the image.
        topic = {"name": name, "kind": "shape", "field": options.get("field", "source"),
                 "shapes": options.get("shapes", list(shapes)), "inside": True,
                 "timed": content == "video", "with_text": with_text,
                 **_labelled(labels, options)}
        return {"content": _content(content, options), "topics": [topic]}
    return build


def _table(labels: Labels, options: Mapping[str, Any]) -> dict[str, Any]:
    return {"content": _content("image", options),
            "topics": [{"name": "tables", "kind": "table",
                        "field": options.get("field", "source"), "inside": True}]}


def _pdf(labels: Labels, options: Mapping[str, Any]) -> dict[str, Any]:
    return {"content": _content("pdf", options),
            "topics": [{"name": "pages", "kind": "page", "field": options.get("field", "source"),
                        "with_text": True, **_labelled(labels, options)}]}


def _moderation(labels: Labels, options: Mapping[str, Any]) -> dict[str, Any]:
    # Any number of flags; none means the image passed.
    return {"content": _content("image", options),
            "topics": [{"name": "flags", "kind": "multiple_choice",
                        "options": _labelled(labels, {})["labels"], "min_choices": 0}]}


def _named_entities(labels: Labels, options: Mapping[str, Any]) -> dict[str, Any]:
    topic = {"name": "entities", "kind": "span", "field": options.get("field", "source"),
             "allow_overlap": options.get("allow_overlap", False), **_labelled(labels, options)}
    return {"content": _content("text", options), "topics": [topic]}


def _entity_relations(labels: Labels, options: Mapping[str, Any]) -> dict[str, Any]:
    relations = [{"name": label["name"], "source": label["source"], "target": label["target"]}
                 for label in labels if label.get("kind") == "relation"]
    if not relations:
        raise TemplateError([FieldError("labels", "at least one relation label (kind "
                                                  "'relation', with source and target) needed")])
    template = _named_entities(labels, options)
    template["topics"].append({"name": "relations", "kind": "relation",
                               "spans_topic": "entities", "relations": relations})
    return template


def _audio_segments(labels: Labels, options: Mapping[str, Any]) -> dict[str, Any]:
    topic: dict[str, Any] = {"name": "segments", "kind": "time_segment",
                             "field": options.get("field", "source")}
    classes: dict[str, list[str]] = {}
    for label in labels:
        if label.get("class"):
            classes.setdefault(label["class"], []).append(label["name"])
    if classes and any(not label.get("class") for label in labels):
        raise TemplateError([FieldError("labels", "give every label a class, or none")])
    if classes:
        topic["classes"] = [{"name": name, "labels": names} for name, names in classes.items()]
    else:
        topic |= _labelled(labels, options)
    for key in ("with_text", "with_speaker", "speakers", "allow_overlap"):
        if key in options:
            topic[key] = options[key]
    return {"content": _content("audio", options), "topics": [topic]}


def _audio_transcription(labels: Labels, options: Mapping[str, Any]) -> dict[str, Any]:
    if options.get("segmented"):
        # Per segment: the text and who speaks it.
        rest = {k: v for k, v in options.items() if k != "segmented"}
        return _audio_segments(labels, {**rest, "with_text": True, "with_speaker": True})
    return {"content": _content("audio", options),
            "topics": [{"name": "transcript", "kind": "free_text", "multiline": True}]}


def _custom(labels: Labels, options: Mapping[str, Any]) -> dict[str, Any]:
    return {"content": options.get("content", []), "topics": options.get("topics", [])}


_SHAPE_OPTIONS = frozenset({"field", "multi_label", "shapes"})
_CHOICE_OPTIONS = frozenset({"field"})


def _preset(name: str, kind: str, build: Builder, description: str,
            options: frozenset[str] = _CHOICE_OPTIONS, **settings: Any) -> tuple[str, Preset]:
    kinds = DATASET_KINDS if kind == "any" else frozenset({kind})
    return name, Preset(name, kinds, build, options, description, **settings)


PRESETS: dict[str, Preset] = dict([
    _preset("image_classification", "image", _choice("image", "single_choice"),
            "one label per image"),
    _preset("image_multi_classification", "image", _choice("image", "multiple_choice"),
            "one or more labels per image"),
    _preset("object_detection", "image", _shapes("image", SHAPE_TYPES, "objects"),
            "rectangles, polygons, circles, lines, dashed lines, points with labels",
            _SHAPE_OPTIONS),
    _preset("image_segmentation", "image", _shapes("image", ["polygon"], "objects"),
            "labelled polygons inside the image", _SHAPE_OPTIONS),
    _preset("ocr", "image", _shapes("image", ["rectangle", "polygon"], "regions", True),
            "regions with their transcribed text, labelled when labels are given",
            _SHAPE_OPTIONS, min_labels=0),
    _preset("table_recognition", "image", _table,
            "tables: cells with row and column spans and text", min_labels=0),
    # The dataset service has no PDF kind: PDFs come in multi-kind datasets.
    _preset("pdf", "multi", _pdf, "per page: the text, and a class when labels are given",
            frozenset({"field", "multi_label"}), min_labels=0),
    _preset("image_moderation", "image", _moderation,
            "flags raised on an image; none when it passes"),
    _preset("image_matting", "image", _shapes("image", ["polygon"], "masks"),
            "polygon masks of the foreground", _SHAPE_OPTIONS),
    _preset("text_classification", "text", _choice("text", "single_choice"),
            "one label per text"),
    _preset("text_multi_classification", "text", _choice("text", "multiple_choice"),
            "one or more labels per text"),
    _preset("named_entities", "text", _named_entities, "labelled character spans (NER)",
            frozenset({"field", "multi_label", "allow_overlap"})),
    _preset("entity_relations", "text", _entity_relations,
            "entities and typed relations between them (triplets)",
            frozenset({"field", "multi_label", "allow_overlap"}), relations=True),
    _preset("video_classification", "video", _choice("video", "single_choice"),
            "one label per video"),
    _preset("video_multi_classification", "video", _choice("video", "multiple_choice"),
            "one or more labels per video"),
    _preset("video_frame_labeling", "video", _shapes("video", SHAPE_TYPES, "objects"),
            "labelled shapes on frames at time stamps (MP4)", _SHAPE_OPTIONS),
    _preset("audio_classification", "audio", _choice("audio", "single_choice"),
            "one label per audio file"),
    _preset("audio_multi_classification", "audio", _choice("audio", "multiple_choice"),
            "one or more labels per audio file"),
    _preset("audio_segmentation", "audio", _audio_segments,
            "time segments with labels from one or more label classes",
            frozenset({"field", "multi_label", "with_text", "with_speaker", "speakers",
                       "allow_overlap"}), classes=True),
    _preset("audio_transcription", "audio", _audio_transcription,
            "the text; per segment with its speaker when segmented",
            frozenset({"field", "segmented", "multi_label", "speakers", "allow_overlap"}),
            classes=True, min_labels=0),
    _preset("custom", "any", _custom, "any valid composition of content and topic components",
            frozenset({"content", "topics"}), relations=True, classes=True, min_labels=0),
])

_MEDIA_CONTENT = frozenset({"image", "video", "audio", "pdf"})


def build_template(preset: str, labels: Labels, options: Mapping[str, Any] | None = None,
                   dataset_kind: str | None = None) -> Template:
    """A preset's template for a label set, checked against the dataset's kind: a dataset
    of one media kind shows only that media (and text fields of its items)."""
    found = PRESETS.get(preset)
    if found is None:
        raise TemplateError([FieldError("template", f"unknown preset {preset!r}; one of "
                                                    f"{', '.join(sorted(PRESETS))}")])
    if dataset_kind is not None and dataset_kind not in found.dataset_kinds:
        raise TemplateError([FieldError("template", f"{preset} needs a "
                                                    f"{'/'.join(sorted(found.dataset_kinds))} "
                                                    f"dataset; this one is {dataset_kind}")])
    template = found(labels, options)
    if dataset_kind is not None and dataset_kind != "multi":
        errors = [FieldError(f"content[{i}].kind", f"{c.kind} content does not fit a "
                                                   f"{dataset_kind} dataset")
                  for i, c in enumerate(template.content)
                  if c.kind in _MEDIA_CONTENT and c.kind != dataset_kind]
        if errors:
            raise TemplateError(errors)
    return template
