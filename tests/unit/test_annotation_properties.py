"""Properties of the answer validators of every preset and topic kind: any JSON answer (and
any item) is either accepted or refused with errors naming the topic, the field and the
reason — the validator never raises — and generated valid answers are accepted."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labelops_shared.annotations import (
    PRESETS,
    SHAPE_TYPES,
    AnnotationError,
    build_template,
    compile_topics,
)

pytestmark = pytest.mark.unit

FUZZ = settings(max_examples=30, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# -- templates: every preset, and a custom one with every topic kind and setting --------------

ANIMALS = [{"name": "cat", "attributes": [{"name": "colour", "values": ["yellow", "black"]},
                                          {"name": "mood", "required": True}]},
           {"name": "dog"}, {"name": "a.b $x"}]
ENTITIES = [{"name": "PER"}, {"name": "ORG"}, {"name": "LOC"},
            {"name": "works_for", "kind": "relation", "source": ["PER"], "target": ["ORG"]},
            {"name": "in", "kind": "relation", "source": ["ORG", "PER"], "target": ["LOC"]}]
SOUNDS = [{"name": "speech"}, {"name": "music"}]
CLASSED = [{"name": "speech", "class": "sound"}, {"name": "noise", "class": "sound"},
           {"name": "male", "class": "voice"}, {"name": "female", "class": "voice"}]
TEXT = "Alice works for Acme in Paris, naïve 😀 text."
IMAGE = {"source": "s3://b/a.jpg", "width": 640, "height": 480}
VIDEO = {"source": "s3://b/a.mp4", "width": 320, "height": 240, "duration": 30.0}
AUDIO = {"source": "s3://b/a.wav", "duration": 60.0}
PDF = {"source": "s3://b/a.pdf", "pages": 5}
ITEMS = {"text": {"source": TEXT}, "image": IMAGE, "video": VIDEO, "audio": AUDIO, "pdf": PDF}

CUSTOM = {
    "content": [{"kind": "image", "field": "photo"}, {"kind": "text", "field": "caption"},
                {"kind": "audio", "field": "voice"}, {"kind": "pdf", "field": "doc"}],
    "topics": [
        {"name": "quality", "kind": "single_choice", "options": ["good", "bad", "$where"]},
        {"name": "tags", "kind": "multiple_choice", "options": ["a", "b", "c", "d"],
         "min_choices": 2, "max_choices": 3},
        {"name": "note", "kind": "free_text", "min_length": 2, "max_length": 30,
         "required": False},
        {"name": "boxes", "kind": "shape", "field": "photo", "labels": ["face", "hand"],
         "multi_label": True, "inside": True, "with_text": True},
        {"name": "mentions", "kind": "span", "field": "caption", "labels": ["PER", "ORG"],
         "allow_overlap": True},
        {"name": "links", "kind": "relation", "spans_topic": "mentions", "required": False,
         "relations": [{"name": "knows", "source": ["PER"], "target": ["PER", "ORG"]}]},
        {"name": "tables", "kind": "table", "field": "photo", "inside": True,
         "required": False},
        {"name": "turns", "kind": "time_segment", "field": "voice", "labels": ["speech"],
         "with_speaker": True, "speakers": ["A", "B"], "with_text": True},
        {"name": "pages", "kind": "page", "field": "doc", "labels": ["cover", "body"]},
    ],
}
CUSTOM_ITEM = {"photo": "s3://b/p.jpg", "caption": TEXT, "voice": "s3://b/v.wav",
               "doc": "s3://b/d.pdf",
               "media": {"photo": {"width": 100, "height": 80}, "voice": {"duration": 20},
                         "doc": {"pages": 3}}}

# preset -> the (labels, options) it is built with; every preset is here (checked below).
BUILDS: dict[str, list[tuple[list[dict[str, Any]], dict[str, Any]]]] = {
    "image_classification": [(ANIMALS, {})],
    "image_multi_classification": [(ANIMALS, {})],
    "object_detection": [(ANIMALS, {}), (ANIMALS, {"multi_label": True})],
    "image_segmentation": [(ANIMALS, {})],
    "ocr": [([], {}), (SOUNDS, {"shapes": ["rectangle"]})],
    "table_recognition": [([], {})],
    "pdf": [([], {}), (SOUNDS, {"multi_label": True})],
    "image_moderation": [(ANIMALS, {})],
    "image_matting": [(ANIMALS, {})],
    "text_classification": [(ANIMALS, {})],
    "text_multi_classification": [(ANIMALS, {})],
    "named_entities": [(ENTITIES[:3], {}), (ENTITIES[:3], {"allow_overlap": True,
                                                           "multi_label": True})],
    "entity_relations": [(ENTITIES, {})],
    "video_classification": [(ANIMALS, {})],
    "video_multi_classification": [(ANIMALS, {})],
    "video_frame_labeling": [(ANIMALS, {})],
    "audio_classification": [(SOUNDS, {})],
    "audio_multi_classification": [(SOUNDS, {})],
    "audio_segmentation": [(SOUNDS, {}), (CLASSED, {"allow_overlap": True}),
                           (SOUNDS, {"with_text": True, "with_speaker": True,
                                     "speakers": ["A"]})],
    "audio_transcription": [([], {}), (SOUNDS, {"segmented": True})],
    "custom": [([], CUSTOM)],
}


def _templates() -> list[tuple[str, list[dict[str, Any]], dict[str, Any]]]:
    found = []
    for preset, builds in BUILDS.items():
        for labels, options in builds:
            template = build_template(preset, labels, options).to_dict()
            kind = template["content"][0]["kind"]
            item = CUSTOM_ITEM if preset == "custom" else ITEMS[kind]
            found.append((preset, template["topics"], item))
    return found


TEMPLATES = _templates()
TEMPLATE_IDS = [f"{t[0]}-{i}" for i, t in enumerate(TEMPLATES)]


def test_every_preset_and_topic_kind_is_covered() -> None:
    from labelops_shared.annotations import TOPIC_KINDS

    assert set(BUILDS) == set(PRESETS)
    kinds = {topic["kind"] for _, topics, _ in TEMPLATES for topic in topics}
    assert kinds == set(TOPIC_KINDS)


# -- valid answers ---------------------------------------------------------------------------

TEXTS = st.text(max_size=8)


def _media(item: Mapping[str, Any], field: str) -> Mapping[str, Any]:
    media = item.get("media", {})
    return media.get(field, item) if isinstance(media, Mapping) else item


def _labels(draw: st.DrawFn, topic: Mapping[str, Any]) -> dict[str, Any]:
    """The label keys of one labelled object, with its declared attributes."""
    names = topic.get("labels") or []
    if not names:
        return {}
    if topic.get("multi_label"):
        chosen = draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
        found: dict[str, Any] = {"labels": chosen}
    else:
        chosen = [draw(st.sampled_from(names))]
        found = {"label": chosen[0]}
    attributes: dict[str, str] = {}
    for label in chosen:
        for attribute in (topic.get("attributes") or {}).get(label, []):
            if attribute.get("required") or draw(st.booleans()):
                values = attribute.get("values")
                attributes[attribute["name"]] = draw(st.sampled_from(values) if values
                                                     else TEXTS)
    if attributes:
        found["attributes"] = attributes
    if draw(st.booleans()):
        found["score"] = draw(st.floats(0, 1))
    return found


def _cuts(draw: st.DrawFn, low: float, high: float, count: int, whole: bool) -> list[float]:
    """Increasing distinct points in [low, high]."""
    values = (st.integers(int(low), int(high)) if whole
              else st.floats(low, high, allow_nan=False))
    return sorted(set(draw(st.lists(values, min_size=count, max_size=count))))


def _intervals(draw: st.DrawFn, low: float, high: float, whole: bool,
               overlap: bool) -> list[tuple[Any, Any]]:
    points = _cuts(draw, low, high, draw(st.integers(0, 8)), whole)
    if overlap:
        pairs = [(a, b) for a in points for b in points if a < b]
        return draw(st.lists(st.sampled_from(pairs), unique=True, max_size=5)) if pairs else []
    return list(zip(points[::2], points[1::2], strict=False))


def _span_answer(draw: st.DrawFn, topic: Mapping[str, Any],
                 item: Mapping[str, Any]) -> list[dict[str, Any]]:
    text = item[topic["field"]]
    overlap = bool(topic.get("allow_overlap"))
    spans = []
    for i, (start, end) in enumerate(_intervals(draw, 0, len(text), True, overlap)):
        span = {"id": f"e{i}", "start": start, "end": end, **_labels(draw, topic)}
        if draw(st.booleans()):
            span["text"] = text[start:end]
        spans.append(span)
    if overlap:  # the same interval twice needs different labels: keep one of each
        seen: set[tuple[Any, ...]] = set()
        spans = [s for s in spans if (key := (s["start"], s["end"], tuple(
            s.get("labels") or [s.get("label")]))) not in seen and not seen.add(key)]
    return spans


def _relation_answer(draw: st.DrawFn, topic: Mapping[str, Any],
                     spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    possible = []
    for rule in topic["relations"]:
        for a in spans:
            for b in spans:
                labels_a = set(a.get("labels") or [a.get("label")])
                labels_b = set(b.get("labels") or [b.get("label")])
                if (a["id"] != b["id"] and labels_a & set(rule["source"])
                        and labels_b & set(rule["target"])):
                    possible.append({"label": rule["name"], "from": a["id"], "to": b["id"]})
    if not possible:
        return []
    return draw(st.lists(st.sampled_from(possible), max_size=4,
                         unique_by=lambda r: (r["label"], r["from"], r["to"])))


def _box(draw: st.DrawFn, width: float, height: float) -> dict[str, float]:
    x, y = draw(st.floats(0, width / 2)), draw(st.floats(0, height / 2))
    return {"x": x, "y": y, "width": draw(st.floats(0.5, width / 2)),
            "height": draw(st.floats(0.5, height / 2))}


def _shape(draw: st.DrawFn, topic: Mapping[str, Any], item: Mapping[str, Any]) -> dict[str, Any]:
    media = _media(item, topic["field"])
    width, height = media.get("width", 100), media.get("height", 100)
    kind = draw(st.sampled_from(topic.get("shapes") or list(SHAPE_TYPES)))
    x, y = st.floats(0, width), st.floats(0, height)
    shape: dict[str, Any] = {"type": kind, **_labels(draw, topic)}
    if kind == "rectangle":
        shape |= _box(draw, width, height)
    elif kind == "circle":
        r = draw(st.floats(0.5, min(width, height) / 4))
        shape |= {"cx": draw(st.floats(r, width - r)), "cy": draw(st.floats(r, height - r)),
                  "r": r}
    elif kind == "point":
        shape |= {"x": draw(x), "y": draw(y)}
    elif kind == "polygon":  # a triangle with a right angle: always some area
        a, b = draw(st.floats(0, width - 1)), draw(st.floats(0, height - 1))
        shape["points"] = [[a, b], [width, b], [a, height]]
    else:
        shape["points"] = draw(st.lists(st.tuples(x, y).map(list), min_size=2, max_size=5))
    if topic.get("timed"):
        shape["time"] = draw(st.floats(0, media.get("duration", 10)))
        if draw(st.booleans()):
            shape["track"] = draw(TEXTS)
    if topic.get("with_text"):
        shape["text"] = draw(TEXTS)
    return shape


def _table(draw: st.DrawFn, topic: Mapping[str, Any], item: Mapping[str, Any]) -> dict[str, Any]:
    media = _media(item, topic["field"])
    rows, cols = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    positions = [(r, c) for r in range(rows) for c in range(cols)]
    cells = []
    for r, c in draw(st.lists(st.sampled_from(positions), unique=True)):
        cell: dict[str, Any] = {"row": r, "col": c, "text": draw(TEXTS)}
        if draw(st.booleans()):
            cell |= _box(draw, media["width"], media["height"])
        cells.append(cell)
    table: dict[str, Any] = {"rows": rows, "cols": cols, "cells": cells}
    if draw(st.booleans()):
        table |= _box(draw, media["width"], media["height"])
    return table


def _segment(draw: st.DrawFn, topic: Mapping[str, Any], start: float,
             end: float) -> dict[str, Any]:
    segment: dict[str, Any] = {"start": start, "end": end}
    if topic.get("classes"):
        chosen = draw(st.lists(st.sampled_from(topic["classes"]), min_size=1,
                               unique_by=lambda c: c["name"]))
        segment["classes"] = {c["name"]: draw(st.sampled_from(c["labels"])) for c in chosen}
    else:
        segment |= _labels(draw, topic)
    if topic.get("with_text"):
        segment["text"] = draw(TEXTS)
    if topic.get("with_speaker"):
        speakers = topic.get("speakers")
        segment["speaker"] = draw(st.sampled_from(speakers) if speakers
                                  else TEXTS.filter(bool))
    return segment


@st.composite
def valid_answers(draw: st.DrawFn, topics: list[dict[str, Any]],
                  item: Mapping[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = {}
    for topic in topics:
        kind, name = topic["kind"], topic["name"]
        if not topic.get("required", True) and draw(st.booleans()):
            if draw(st.booleans()):
                answer[name] = None
            continue
        if kind == "single_choice":
            answer[name] = draw(st.sampled_from(topic["options"]))
        elif kind == "multiple_choice":
            options = topic["options"]
            low = topic.get("min_choices", 1)
            high = topic.get("max_choices") or len(options)
            answer[name] = draw(st.lists(st.sampled_from(options), min_size=low, max_size=high,
                                         unique=True))
        elif kind == "free_text":
            answer[name] = draw(st.text(min_size=topic.get("min_length", 0),
                                        max_size=min(topic.get("max_length", 40), 40)))
        elif kind == "span":
            answer[name] = _span_answer(draw, topic, item)
        elif kind == "relation":
            answer[name] = _relation_answer(draw, topic, answer.get(topic["spans_topic"]) or [])
        elif kind == "shape":
            answer[name] = [_shape(draw, topic, item) for _ in range(draw(st.integers(0, 4)))]
        elif kind == "table":
            answer[name] = [_table(draw, topic, item) for _ in range(draw(st.integers(0, 2)))]
        elif kind == "time_segment":
            duration = _media(item, topic["field"])["duration"]
            answer[name] = [_segment(draw, topic, a, b) for a, b in _intervals(
                draw, 0, duration, False, bool(topic.get("allow_overlap")))]
        elif kind == "page":
            pages = _media(item, topic["field"])["pages"]
            numbers = draw(st.lists(st.integers(1, pages), unique=True))
            answer[name] = [{"page": n, **_labels(draw, topic),
                             **({"text": draw(TEXTS)} if topic.get("with_text") else {})}
                            for n in numbers]
        else:
            raise AssertionError(f"no generator for topic kind {kind}")
    return answer


@pytest.mark.parametrize(("preset", "topics", "item"), TEMPLATES, ids=TEMPLATE_IDS)
@FUZZ
@given(data=st.data())
def test_valid_answers_are_accepted(preset: str, topics: list[dict[str, Any]],
                                    item: dict[str, Any], data: st.DataObject) -> None:
    answer = data.draw(valid_answers(topics, item))
    checker = compile_topics(topics)
    # As a service receives it: JSON text, decoded.
    assert checker.validate(json.loads(json.dumps(answer)), item) == []
    assert checker.validate(answer, None) == []  # no item: no bounds, still valid


# -- any answer ------------------------------------------------------------------------------

HOSTILE_KEYS = st.sampled_from(["$where", "$gt", "$set", "a.b", "_id", "__proto__", "",
                                "label", "labels", "type", "points", "start", "end", "x",
                                "rows", "cells", "row", "col", "page", "attributes",
                                "classes", "speaker", "from", "to", "id", "text", "score"])
LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(),
    st.sampled_from([10**400, -(10**400), 2**63, -1, 0, 1e308, -1e308, 5e-324, math.nan,
                     math.inf, -math.inf, "", "$where", '{"$gt": ""}', "cat", "e1", "PER",
                     "rectangle", "polygon", "\ud800", "x" * 2000]),
    st.text(max_size=10))
ANY_JSON = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=5)
                        | st.dictionaries(HOSTILE_KEYS | st.text(max_size=5), inner,
                                          max_size=5), max_leaves=25)


@st.composite
def mutated(draw: st.DrawFn, value: Any) -> Any:
    """The value with one node replaced, removed or given a hostile key."""
    if isinstance(value, dict) and value and draw(st.integers(0, 3)):
        key = draw(st.sampled_from(sorted(value)))
        choice = draw(st.integers(0, 3))
        copy = dict(value)
        if choice == 0:
            del copy[key]
        elif choice == 1:
            copy[draw(HOSTILE_KEYS)] = draw(ANY_JSON)
        else:
            copy[key] = draw(mutated(value[key]))
        return copy
    if isinstance(value, list) and value and draw(st.integers(0, 3)):
        i = draw(st.integers(0, len(value) - 1))
        copy_list = list(value)
        if draw(st.booleans()):
            copy_list[i] = draw(mutated(value[i]))
        else:
            copy_list.insert(i, draw(ANY_JSON))
        return copy_list
    return draw(ANY_JSON)


HOSTILE_ITEMS = st.fixed_dictionaries({}, optional={
    "source": LEAVES, "caption": LEAVES, "width": LEAVES, "height": LEAVES,
    "duration": LEAVES, "pages": LEAVES,
    "media": st.dictionaries(st.sampled_from(["photo", "voice", "doc", "source"]),
                             st.dictionaries(st.sampled_from(["width", "height", "duration",
                                                              "pages"]), LEAVES) | LEAVES)
    | LEAVES})


def check_errors(errors: list[AnnotationError], names: set[str], answer: Any) -> None:
    """Each error names its topic (or none, for the answer as a whole), the field path from
    that topic and the reason."""
    keys = set(answer) if isinstance(answer, Mapping) else set()
    for error in errors:
        assert isinstance(error, AnnotationError)
        assert error.reason and isinstance(error.reason, str)
        assert error.topic in names | keys | {""}
        if error.topic:
            assert error.path == error.topic or error.path.startswith(
                (f"{error.topic}.", f"{error.topic}[")), error
        str(error)


@pytest.mark.parametrize(("preset", "topics", "item"), TEMPLATES, ids=TEMPLATE_IDS)
@FUZZ
@given(data=st.data())
def test_any_answer_is_accepted_or_refused_naming_topic_field_and_reason(
        preset: str, topics: list[dict[str, Any]], item: dict[str, Any],
        data: st.DataObject) -> None:
    checker = compile_topics(topics)
    names = {t["name"] for t in topics}
    valid = data.draw(valid_answers(topics, item))
    answer = data.draw(st.one_of(mutated(valid), ANY_JSON,
                                 st.dictionaries(st.sampled_from(sorted(names)) | HOSTILE_KEYS,
                                                 ANY_JSON)))
    check_errors(checker.validate(answer, item), names, answer)
    check_errors(checker.validate(answer, data.draw(HOSTILE_ITEMS)), names, answer)


@pytest.mark.parametrize(("preset", "topics", "item"), TEMPLATES, ids=TEMPLATE_IDS)
@FUZZ
@given(data=st.data())
def test_operator_keys_in_an_answer_are_refused_never_obeyed(
        preset: str, topics: list[dict[str, Any]], item: dict[str, Any],
        data: st.DataObject) -> None:
    """A ``$`` key anywhere an answer has an object is an unknown field, not an operator."""
    answer = data.draw(valid_answers(topics, item))
    objects: list[dict[str, Any]] = [answer]
    for value in answer.values():
        if isinstance(value, list):
            objects += [v for v in value if isinstance(v, dict)]
            objects += [v[k] for v in value if isinstance(v, dict) for k in ("attributes",
                        "classes") if isinstance(v.get(k), dict)]
    target = data.draw(st.sampled_from(objects))
    key = data.draw(st.sampled_from(["$where", "$gt", "$set", "$ne"]))
    target[key] = data.draw(st.sampled_from([{"$gt": ""}, "1 == 1", 1, None, [], {}]))
    errors = compile_topics(topics).validate(answer, item)
    assert any(e.path.endswith(key) for e in errors), errors


@FUZZ
@given(st.sampled_from([10**400, -(10**400), 2**1024]))
def test_integers_past_the_largest_float_are_refused_as_numbers(huge: int) -> None:
    """JSON integers have no size limit; a coordinate, time or size past the largest float
    is refused by name, and an item's size past it is an unknown size."""
    checker = compile_topics([{"name": "objects", "kind": "shape", "field": "source",
                               "inside": True, "timed": True}])
    box = {"type": "rectangle", "x": huge, "y": 0, "width": 5, "height": huge, "time": huge}
    errors = checker.validate({"objects": [box]}, {"width": huge, "height": 10, "duration": 9})
    assert {e.path for e in errors} == {"objects[0].x", "objects[0].height", "objects[0].time"}
    assert all("expected a finite number" in e.reason for e in errors)
    segments = compile_topics([{"name": "s", "kind": "time_segment", "field": "source"}])
    assert segments.validate({"s": [{"start": 0, "end": 1}]}, {"duration": huge}) == []
