"""The annotation template model: every preset accepts a valid answer and rejects bad ones
with the topic, the field path and the reason; definitions, label sets and JSON Schemas."""

from __future__ import annotations

import math
from typing import Any

import jsonschema
import pytest

from labelops_shared.annotations import (
    PRESETS,
    AnnotationError,
    TemplateError,
    answer_json_schema,
    build_template,
    compile_topics,
    json_schema,
    parse_template,
    parse_topic,
    validate_annotation,
    validate_label_set,
)

pytestmark = pytest.mark.unit

ANIMALS = [
    {"name": "cat", "color": "#ff8800", "shortcut": "1",
     "attributes": [{"name": "colour", "values": ["yellow", "black"]}]},
    {"name": "dog", "color": "#0088ff", "shortcut": "2"},
]
ENTITIES = [
    {"name": "PER", "color": "#ff0000", "shortcut": "p"},
    {"name": "ORG", "color": "#00ff00", "shortcut": "o"},
    {"name": "LOC", "color": "#0000ff", "shortcut": "l"},
    {"name": "works_for", "kind": "relation", "source": ["PER"], "target": ["ORG"]},
    {"name": "located_in", "kind": "relation", "source": ["ORG"], "target": ["LOC"]},
]
SOUNDS = [{"name": "speech"}, {"name": "music"}, {"name": "noise"}]
CLASSED = [{"name": "speech", "class": "sound"}, {"name": "noise", "class": "sound"},
           {"name": "male", "class": "voice"}, {"name": "female", "class": "voice"}]

TEXT = "Alice works for Acme in Paris."  # Alice 0-5, Acme 16-20, Paris 24-29
IMAGE = {"source": "s3://b/a.jpg", "width": 640, "height": 480}
VIDEO = {"source": "s3://b/a.mp4", "width": 1280, "height": 720, "duration": 30.0}
AUDIO = {"source": "s3://b/a.wav", "duration": 60.0}
PDF = {"source": "s3://b/a.pdf", "pages": 3}

BOX = {"type": "rectangle", "label": "cat", "x": 10, "y": 20, "width": 100, "height": 50}
TRIANGLE = {"type": "polygon", "label": "dog", "points": [[0, 0], [100, 0], [50, 80]]}
SPANS = [{"id": "e1", "label": "PER", "start": 0, "end": 5, "text": "Alice"},
         {"id": "e2", "label": "ORG", "start": 16, "end": 20},
         {"id": "e3", "label": "LOC", "start": 24, "end": 29}]
TABLE = {"rows": 2, "cols": 3, "cells": [
    {"row": 0, "col": 0, "col_span": 3, "text": "Total"},
    {"row": 1, "col": 0, "text": "a"}, {"row": 1, "col": 1, "text": "b"},
    {"row": 1, "col": 2, "text": "c", "x": 10, "y": 10, "width": 20, "height": 10}]}


CUSTOM = {
    "content": [{"kind": "image", "field": "photo"}, {"kind": "text", "field": "caption"}],
    "topics": [
        {"name": "quality", "kind": "single_choice", "options": ["good", "bad"]},
        {"name": "boxes", "kind": "shape", "field": "photo", "labels": ["face"],
         "shapes": ["rectangle"], "inside": True},
        {"name": "mentions", "kind": "span", "field": "caption", "labels": ["PER"]},
        {"name": "note", "kind": "free_text", "required": False},
    ],
}
CUSTOM_ITEM = {"photo": "s3://b/p.jpg", "caption": "Bob smiles",
               "media": {"photo": {"width": 100, "height": 100}}}

def _segments(*bounds: tuple[float, float]) -> list[dict[str, Any]]:
    return [{"start": s, "end": e, "label": "speech"} for s, e in bounds]


# preset, labels, options, item, answer, expected errors: (topic, path, words of the reason)
CASES: list[tuple[str, list[dict[str, Any]], dict[str, Any], dict[str, Any], Any,
                  list[tuple[str, str, str]]]] = [
    # -- image classification
    ("image_classification", ANIMALS, {}, IMAGE, {"label": "cat"}, []),
    ("image_classification", ANIMALS, {}, IMAGE, {"label": ["cat", "dog"]},
     [("label", "label", "single choice: expected one label, got a list of 2")]),
    ("image_classification", ANIMALS, {}, IMAGE, {"label": "cow"},
     [("label", "label", "'cow' is not one of 'cat', 'dog'")]),
    ("image_classification", ANIMALS, {}, IMAGE, {}, [("label", "label", "required topic")]),
    ("image_classification", ANIMALS, {}, IMAGE, {"label": "cat", "colour": "red"},
     [("colour", "colour", "not a topic of this template")]),
    # -- image multi classification
    ("image_multi_classification", ANIMALS, {}, IMAGE, {"label": ["cat", "dog"]}, []),
    ("image_multi_classification", ANIMALS, {}, IMAGE, {"label": ["cat", "cat"]},
     [("label", "label[1]", "'cat' appears twice")]),
    ("image_multi_classification", ANIMALS, {}, IMAGE, {"label": []},
     [("label", "label", "expected 1 to 2 labels, got 0")]),
    ("image_multi_classification", ANIMALS, {}, IMAGE, {"label": "cat"},
     [("label", "label", "expected a list of labels")]),
    ("image_multi_classification", ANIMALS, {}, IMAGE, {"label": ["cat", 3]},
     [("label", "label[1]", "3 is not one of")]),
    # -- object detection
    ("object_detection", ANIMALS, {}, IMAGE, {"objects": [
        {**BOX, "attributes": {"colour": "yellow"}}, TRIANGLE,
        {"type": "circle", "label": "cat", "cx": 320, "cy": 240, "r": 30},
        {"type": "line", "label": "dog", "points": [[0, 0], [640, 480]]},
        {"type": "dashed_line", "label": "dog", "points": [[1, 1], [2, 2], [3, 1]]},
        {"type": "point", "label": "cat", "x": 640, "y": 480}]}, []),
    ("object_detection", ANIMALS, {}, IMAGE, {"objects": [BOX, {**BOX, "x": 600}]},
     [("objects", "objects[1]", "the rectangle leaves the image")]),
    ("object_detection", ANIMALS, {}, IMAGE, {"objects": [{**BOX, "width": math.nan},
                                                          {**BOX, "y": math.inf}]},
     [("objects", "objects[0].width", "expected a finite number, got nan"),
      ("objects", "objects[1].y", "expected a finite number, got inf")]),
    ("object_detection", ANIMALS, {}, IMAGE, {"objects": [{**BOX, "label": "cow"},
                                                          {**BOX, "height": -5}]},
     [("objects", "objects[0].label", "unknown label 'cow'"),
      ("objects", "objects[1].height", "must be positive, got -5")]),
    ("object_detection", ANIMALS, {}, IMAGE, {"objects": [
        {**BOX, "attributes": {"colour": "green"}}, {**TRIANGLE, "attributes": {"colour": "x"}}]},
     [("objects", "objects[0].attributes.colour", "'green' is not one of 'yellow', 'black'"),
      ("objects", "objects[1].attributes.colour", "not an attribute of 'dog'")]),
    ("object_detection", ANIMALS, {}, IMAGE, {"objects": [{**BOX, "type": "ellipse"},
                                                          {**BOX, "widht": 3}]},
     [("objects", "objects[0].type", "'ellipse' is not a shape of this topic"),
      ("objects", "objects[1].widht", "unknown field")]),
    ("object_detection", ANIMALS, {}, IMAGE, {"objects": [
        {"type": "circle", "label": "cat", "cx": 10, "cy": 240, "r": 30},
        {"type": "point", "label": "cat", "x": -1, "y": 3}, {**BOX, "x": True}]},
     [("objects", "objects[0]", "the circle leaves the image"),
      ("objects", "objects[1]", "(-1, 3) is outside the image (negative)"),
      ("objects", "objects[2].x", "expected a finite number, got bool")]),
    ("object_detection", ANIMALS, {}, IMAGE, {"objects": {"type": "rectangle"}},
     [("objects", "objects", "expected a list of objects, got an object")]),
    # -- image segmentation: polygons only, inside the image
    ("image_segmentation", ANIMALS, {}, IMAGE, {"objects": [TRIANGLE]}, []),
    ("image_segmentation", ANIMALS, {}, IMAGE,
     {"objects": [TRIANGLE, {**TRIANGLE, "points": [[0, 0], [700, 0], [50, 80]]}]},
     [("objects", "objects[1].points[1]", "(700, 0) is outside the image (640 x 480)")]),
    ("image_segmentation", ANIMALS, {}, IMAGE, {"objects": [BOX]},
     [("objects", "objects[0].type", "'rectangle' is not a shape of this topic")]),
    ("image_segmentation", ANIMALS, {}, IMAGE, {"objects": [
        {**TRIANGLE, "points": [[0, 0], [1, 1]]},
        {**TRIANGLE, "points": [[0, 0], [1, 1], [2, 2]]},
        {**TRIANGLE, "points": [[0, 0], [1, math.nan], [2, 5]]}]},
     [("objects", "objects[0].points", "at least 3 [x, y] points, got a list of 2"),
      ("objects", "objects[1].points", "no area"),
      ("objects", "objects[2].points[1]", "expected [x, y] finite numbers")]),
    # -- OCR: regions with their text
    ("ocr", [], {}, IMAGE, {"regions": [
        {"type": "rectangle", "x": 0, "y": 0, "width": 50, "height": 10, "text": "STOP"}]}, []),
    ("ocr", [], {}, IMAGE, {"regions": [
        {"type": "rectangle", "x": 0, "y": 0, "width": 50, "height": 10}]},
     [("regions", "regions[0].text", "missing")]),
    ("ocr", [], {}, IMAGE, {"regions": [
        {"type": "rectangle", "x": 0, "y": 0, "width": 50, "height": 10, "text": 7}]},
     [("regions", "regions[0].text", "expected a string, got 7")]),
    ("ocr", [], {}, IMAGE, {"regions": [
        {"type": "polygon", "points": [[0, 0], [5, 0], [5, 500]], "text": "x", "label": "cat"}]},
     [("regions", "regions[0].label", "unknown field"),
      ("regions", "regions[0].points[2]", "(5, 500) is outside the image")]),
    # -- table recognition
    ("table_recognition", [], {}, IMAGE, {"tables": [TABLE]}, []),
    ("table_recognition", [], {}, IMAGE, {"tables": [{**TABLE, "cells": [
        {"row": 2, "col": 0, "text": "x"}, {"row": 0, "col": 1, "col_span": 3, "text": "y"}]}]},
     [("tables", "tables[0].cells[0].row", "covers rows 2-2; the table has 2 rows"),
      ("tables", "tables[0].cells[1].col_span", "covers columns 1-3; the table has 3")]),
    ("table_recognition", [], {}, IMAGE, {"tables": [{**TABLE, "cells": [
        {"row": 0, "col": 0, "row_span": 2, "text": "x"}, {"row": 1, "col": 0, "text": "y"}]}]},
     [("tables", "tables[0].cells[1]", "overlaps cells[0] at row 1, column 0")]),
    ("table_recognition", [], {}, IMAGE, {"tables": [{**TABLE, "rows": 0, "cells": [
        {"row": -1, "col": 0, "text": "x"}]}, {"rows": 1, "cols": 1, "cells": [
            {"row": 0, "col": 0, "text": "x", "x": 600, "y": 0, "width": 100, "height": 5},
            {"row": 0, "col": 0, "row_span": 0, "text": "x"}]}]},
     [("tables", "tables[0].rows", "expected an integer 1-1000, got 0"),
      ("tables", "tables[1].cells[0]", "the rectangle leaves the image"),
      ("tables", "tables[1].cells[1].row_span", "expected an integer >= 1, got 0")]),
    # -- PDF: per page, text and class
    ("pdf", [{"name": "invoice"}, {"name": "receipt"}], {}, PDF,
     {"pages": [{"page": 1, "label": "invoice", "text": "Total 3 EUR"},
                {"page": 3, "label": "receipt", "text": ""}]}, []),
    ("pdf", [{"name": "invoice"}], {}, PDF,
     {"pages": [{"page": 4, "label": "invoice", "text": ""},
                {"page": 0, "label": "invoice", "text": ""}]},
     [("pages", "pages[0].page", "page 4 is past the last page (3)"),
      ("pages", "pages[1].page", "expected a page number from 1, got 0")]),
    ("pdf", [{"name": "invoice"}], {}, PDF,
     {"pages": [{"page": 1, "label": "invoice", "text": ""},
                {"page": 1, "label": "memo", "text": ""}]},
     [("pages", "pages[1].label", "unknown label 'memo'"),
      ("pages", "pages[1].page", "page 1 appears twice")]),
    ("pdf", [{"name": "invoice"}], {}, PDF, {"pages": [{"page": 2, "label": "invoice"}]},
     [("pages", "pages[0].text", "missing")]),
    # -- image moderation: flags, none when the image passes
    ("image_moderation", [{"name": "violence"}, {"name": "nudity"}], {}, IMAGE, {"flags": []},
     []),
    ("image_moderation", [{"name": "violence"}], {}, IMAGE, {"flags": ["spam"]},
     [("flags", "flags[0]", "'spam' is not one of 'violence'")]),
    ("image_moderation", [{"name": "violence"}], {}, IMAGE, {"flags": "violence"},
     [("flags", "flags", "expected a list of labels")]),
    ("image_moderation", [{"name": "violence"}], {}, IMAGE, {"flags": None},
     [("flags", "flags", "required topic has no answer")]),
    # -- image matting: polygon masks inside the image
    ("image_matting", [{"name": "person"}], {}, IMAGE,
     {"masks": [{"type": "polygon", "label": "person", "points": [[0, 0], [640, 0], [0, 480]]}]},
     []),
    ("image_matting", [{"name": "person"}], {}, IMAGE,
     {"masks": [{"type": "polygon", "label": "person", "points": [[0, 0], [641, 0], [0, 1]]}]},
     [("masks", "masks[0].points[1]", "outside the image (640 x 480)")]),
    ("image_matting", [{"name": "person"}], {}, IMAGE,
     {"masks": [{"type": "polygon", "points": [[0, 0], [1, 0], [0, 1]]}]},
     [("masks", "masks[0].label", "missing")]),
    ("image_matting", [{"name": "person"}], {}, IMAGE,
     {"masks": [{"type": "polygon", "label": "person", "points": "0,0 1,0 0,1"}]},
     [("masks", "masks[0].points", "expected a list of at least 3")]),
    # -- text classification (the shape services already use)
    ("text_classification", [{"name": "pos"}, {"name": "neg"}], {}, {"source": TEXT},
     {"label": "pos"}, []),
    ("text_classification", [{"name": "pos"}, {"name": "neg"}], {}, {"source": TEXT},
     {"label": ["pos", "neg"]}, [("label", "label", "expected one label")]),
    ("text_classification", [{"name": "pos"}], {}, {"source": TEXT}, {"label": 1},
     [("label", "label", "1 is not one of 'pos'")]),
    ("text_classification", [{"name": "pos"}], {}, {"source": TEXT}, ["pos"],
     [("", "", "expected an object {topic name: answer}")]),
    # -- text multi classification
    ("text_multi_classification", [{"name": "a"}, {"name": "b"}], {}, {"source": TEXT},
     {"label": ["a", "b"]}, []),
    ("text_multi_classification", [{"name": "a"}], {}, {"source": TEXT}, {"label": ["c"]},
     [("label", "label[0]", "'c' is not one of 'a'")]),
    ("text_multi_classification", [{"name": "a"}], {}, {"source": TEXT}, {"label": ["a", "a"]},
     [("label", "label[1]", "appears twice")]),
    ("text_multi_classification", [{"name": "a"}], {}, {"source": TEXT}, {"labels": ["a"]},
     [("labels", "labels", "not a topic"), ("label", "label", "required topic has no answer")]),
    # -- named entities
    ("named_entities", ENTITIES[:3], {}, {"source": TEXT}, {"entities": SPANS}, []),
    ("named_entities", ENTITIES[:3], {}, {"source": TEXT},
     {"entities": [*SPANS[:2], {"id": "e3", "label": "LOC", "start": 24, "end": 31}]},
     [("entities", "entities[2].end", "31 is past the end of the text (30 characters)")]),
    ("named_entities", ENTITIES[:3], {}, {"source": TEXT},
     {"entities": [SPANS[0], {"id": "e2", "label": "ORG", "start": 3, "end": 8}]},
     [("entities", "entities[1].start", "overlaps entities[0] [0, 5)")]),
    ("named_entities", ENTITIES[:3], {}, {"source": TEXT},
     {"entities": [{**SPANS[0], "text": "Alic"}, {**SPANS[1], "start": 20},
                   {**SPANS[2], "id": "e1", "start": -1}, {**SPANS[2], "id": "e4", "end": 1.5}]},
     [("entities", "entities[0].text", "differs from the text at [0, 5): 'Alice'"),
      ("entities", "entities[1].end", "must be greater than start (20)"),
      ("entities", "entities[2].id", "'e1' appears twice"),
      ("entities", "entities[2].start", "must be >= 0, got -1"),
      ("entities", "entities[3].end", "expected a character offset (an integer), got 1.5")]),
    ("named_entities", ENTITIES[:3], {}, {"source": TEXT},
     {"entities": [{"label": "TIME", "start": 0, "end": 5}]},
     [("entities", "entities[0].id", "missing"),
      ("entities", "entities[0].label", "unknown label 'TIME'")]),
    # -- entity relations (triplets)
    ("entity_relations", ENTITIES, {}, {"source": TEXT},
     {"entities": SPANS, "relations": [{"label": "works_for", "from": "e1", "to": "e2"},
                                       {"label": "located_in", "from": "e2", "to": "e3"}]}, []),
    ("entity_relations", ENTITIES, {}, {"source": TEXT},
     {"entities": SPANS, "relations": [{"label": "works_for", "from": "e1", "to": "e3"}]},
     [("relations", "relations[0].to", "span 'e3' is LOC; 'works_for' needs a target "
                                       "labelled 'ORG'")]),
    ("entity_relations", ENTITIES, {}, {"source": TEXT},
     {"entities": SPANS, "relations": [{"label": "located_in", "from": "e1", "to": "e2"}]},
     [("relations", "relations[0].from", "span 'e1' is PER; 'located_in' needs a source "
                                         "labelled 'ORG'"),
      ("relations", "relations[0].to", "span 'e2' is ORG; 'located_in' needs a target "
                                       "labelled 'LOC'")]),
    ("entity_relations", ENTITIES, {}, {"source": TEXT},
     {"entities": SPANS, "relations": [{"label": "born_in", "from": "e1", "to": "e9"},
                                       {"label": "works_for", "from": "e1", "to": "e1"}]},
     [("relations", "relations[0].label", "unknown relation 'born_in'"),
      ("relations", "relations[0].to", "'e9' is not a span id of 'entities'"),
      ("relations", "relations[1].to", "a relation links two different spans")]),
    ("entity_relations", ENTITIES, {}, {"source": TEXT},
     {"entities": SPANS, "relations": [{"label": "works_for", "from": "e1", "to": "e2"}] * 2},
     [("relations", "relations[1]", "the same relation appears twice")]),
    # -- video classification
    ("video_classification", ANIMALS, {}, VIDEO, {"label": "dog"}, []),
    ("video_classification", ANIMALS, {}, VIDEO, {"label": ["dog", "cat"]},
     [("label", "label", "expected one label")]),
    ("video_classification", ANIMALS, {}, VIDEO, {"label": ""},
     [("label", "label", "'' is not one of")]),
    ("video_classification", ANIMALS, {}, VIDEO, {"label": None},
     [("label", "label", "required topic has no answer")]),
    # -- video multi classification
    ("video_multi_classification", ANIMALS, {}, VIDEO, {"label": ["dog"]}, []),
    ("video_multi_classification", ANIMALS, {}, VIDEO, {"label": ["dog", "dog"]},
     [("label", "label[1]", "appears twice")]),
    ("video_multi_classification", ANIMALS, {}, VIDEO, {"label": [None]},
     [("label", "label[0]", "null is not one of")]),
    ("video_multi_classification", ANIMALS, {}, VIDEO, {"label": {"dog": True}},
     [("label", "label", "expected a list of labels, got an object")]),
    # -- video frame labeling: shapes at time stamps
    ("video_frame_labeling", ANIMALS, {}, VIDEO,
     {"objects": [{**BOX, "time": 1.5, "track": "t1"}, {**BOX, "time": 2.0, "track": "t1"}]},
     []),
    ("video_frame_labeling", ANIMALS, {}, VIDEO, {"objects": [BOX]},
     [("objects", "objects[0].time", "missing")]),
    ("video_frame_labeling", ANIMALS, {}, VIDEO, {"objects": [{**BOX, "time": 31},
                                                              {**BOX, "time": -0.5}]},
     [("objects", "objects[0].time", "31 s is outside the video (0 to 30 s)"),
      ("objects", "objects[1].time", "-0.5 s is outside the video")]),
    ("video_frame_labeling", ANIMALS, {}, VIDEO, {"objects": [{**BOX, "time": 1, "x": 1200}]},
     [("objects", "objects[0]", "the rectangle leaves the image: corner (1300, 70) is "
                                "outside the image (1280 x 720)")]),
    # -- audio classification
    ("audio_classification", SOUNDS, {}, AUDIO, {"label": "music"}, []),
    ("audio_classification", SOUNDS, {}, AUDIO, {"label": ["music", "noise"]},
     [("label", "label", "expected one label")]),
    ("audio_classification", SOUNDS, {}, AUDIO, {"label": "MUSIC"},
     [("label", "label", "'MUSIC' is not one of")]),
    ("audio_classification", SOUNDS, {}, AUDIO, {"label": "music", "$where": "1"},
     [("$where", "$where", "not a topic of this template")]),
    # -- audio multi classification
    ("audio_multi_classification", SOUNDS, {}, AUDIO, {"label": ["music", "noise"]}, []),
    ("audio_multi_classification", SOUNDS, {}, AUDIO, {"label": ["music", "birds"]},
     [("label", "label[1]", "'birds' is not one of")]),
    ("audio_multi_classification", SOUNDS, {}, AUDIO, {"label": []},
     [("label", "label", "expected 1 to 3 labels, got 0")]),
    ("audio_multi_classification", SOUNDS, {}, AUDIO, {"label": [["music"]]},
     [("label", "label[0]", "a list of 1 is not one of")]),
    # -- audio segmentation
    ("audio_segmentation", SOUNDS, {}, AUDIO,
     {"segments": _segments((0, 1.5), (1.5, 4), (10, 60))}, []),
    ("audio_segmentation", SOUNDS, {}, AUDIO, {"segments": _segments((0, 5), (4, 6))},
     [("segments", "segments[1].start", "[4, 6) s overlaps segments[0] [0, 5) s")]),
    ("audio_segmentation", SOUNDS, {}, AUDIO,
     {"segments": _segments((-1, 2), (5, 3), (59, 61), (3, 3))},
     [("segments", "segments[0].start", "must be >= 0, got -1"),
      ("segments", "segments[1].end", "must be after start (5 s), got 3"),
      ("segments", "segments[2].end", "61 s is past the end of the media (60 s)"),
      ("segments", "segments[3].end", "must be after start (3 s), got 3")]),
    ("audio_segmentation", SOUNDS, {}, AUDIO,
     {"segments": [{"start": 0, "end": math.inf, "label": "speech"},
                   {"start": 1, "end": 2, "label": "bird"}, {"start": 2, "end": 3}]},
     [("segments", "segments[0].end", "expected a finite number, got inf"),
      ("segments", "segments[1].label", "unknown label 'bird'"),
      ("segments", "segments[2].label", "missing")]),
    ("audio_segmentation", CLASSED, {}, AUDIO,
     {"segments": [{"start": 0, "end": 2, "classes": {"sound": "speech", "voice": "male"}},
                   {"start": 2, "end": 3, "classes": {"sound": "noise"}}]}, []),
    ("audio_segmentation", CLASSED, {}, AUDIO,
     {"segments": [{"start": 0, "end": 2, "classes": {"sound": "male", "mood": "sad"}},
                   {"start": 2, "end": 3, "classes": {}}]},
     [("segments", "segments[0].classes.sound", "'male' is not a label of class 'sound'"),
      ("segments", "segments[0].classes.mood", "unknown label class"),
      ("segments", "segments[1].classes", "with at least one class")]),
    # -- custom: several content fields, any topics
    ("custom", [], CUSTOM, CUSTOM_ITEM,
     {"quality": "good", "mentions": [{"id": "m", "label": "PER", "start": 0, "end": 3}],
      "boxes": [{"type": "rectangle", "label": "face", "x": 0, "y": 0, "width": 10,
                 "height": 10}]}, []),
    ("custom", [], CUSTOM, CUSTOM_ITEM,
     {"quality": "good", "mentions": [{"id": "m", "label": "PER", "start": 0, "end": 11}],
      "boxes": [{"type": "rectangle", "label": "face", "x": 95, "y": 0, "width": 10,
                 "height": 10}]},
     [("boxes", "boxes[0]", "the rectangle leaves the image: corner (105, 10) is outside the "
                            "image (100 x 100)"),
      ("mentions", "mentions[0].end", "11 is past the end of the text (10 characters)")]),
    ("custom", [], CUSTOM, CUSTOM_ITEM, {"quality": "good"},
     [("boxes", "boxes", "required topic has no answer"),
      ("mentions", "mentions", "required topic has no answer")]),
    ("custom", [], CUSTOM, CUSTOM_ITEM,
     {"quality": "fine", "boxes": [], "mentions": [], "note": 42},
     [("quality", "quality", "'fine' is not one of 'good', 'bad'"),
      ("note", "note", "expected a string, got 42")]),
    # -- audio transcription
    ("audio_transcription", [], {}, AUDIO, {"transcript": "hello world"}, []),
    ("audio_transcription", [], {}, AUDIO, {"transcript": ["hello"]},
     [("transcript", "transcript", "expected a string, got a list of 1")]),
    ("audio_transcription", [], {"segmented": True}, AUDIO,
     {"segments": [{"start": 0, "end": 2, "text": "hi", "speaker": "A"},
                   {"start": 2, "end": 3.5, "text": "hello", "speaker": "B"}]}, []),
    ("audio_transcription", [], {"segmented": True, "speakers": ["A", "B"]}, AUDIO,
     {"segments": [{"start": 0, "end": 2, "speaker": "C"},
                   {"start": 2, "end": 3, "text": "x", "speaker": "A", "label": "speech"}]},
     [("segments", "segments[0].text", "missing"),
      ("segments", "segments[0].speaker", "unknown speaker 'C'"),
      ("segments", "segments[1].label", "unknown field")]),
    ("audio_transcription", [], {"segmented": True}, AUDIO,
     {"segments": [{"start": 0, "end": 2, "text": "hi", "speaker": ""},
                   {"start": 1, "end": 3, "text": "yo", "speaker": "B", "$set": 1}]},
     [("segments", "segments[0].speaker", "must not be empty"),
      ("segments", "segments[1].$set", "unknown field"),
      ("segments", "segments[1].start", "[1, 3) s overlaps segments[0] [0, 2) s")]),
]


def _expect(preset: str, labels: list[dict[str, Any]], options: dict[str, Any],
            item: dict[str, Any], answer: Any) -> list[AnnotationError]:
    template = PRESETS[preset](labels, options).to_dict()
    return validate_annotation(template["topics"], answer, item)


@pytest.mark.parametrize(("preset", "labels", "options", "item", "answer", "expected"), CASES)
def test_each_preset_accepts_valid_answers_and_names_every_error(
        preset: str, labels: list[dict[str, Any]], options: dict[str, Any],
        item: dict[str, Any], answer: Any, expected: list[tuple[str, str, str]]) -> None:
    errors = _expect(preset, labels, options, item, answer)
    assert [(e.topic, e.path) for e in errors] == [(t, p) for t, p, _ in expected], errors
    for error, (_, _, words) in zip(errors, expected, strict=True):
        assert words in error.reason, error


def test_every_preset_has_a_valid_case_and_at_least_three_invalid_ones() -> None:
    valid = {case[0] for case in CASES if not case[5]}
    invalid = {name: sum(1 for case in CASES if case[0] == name and case[5]) for name in PRESETS}
    assert valid == set(PRESETS)
    assert {name for name, count in invalid.items() if count < 3} == set()


def test_the_issue_presets_all_exist_and_declare_dataset_kinds() -> None:
    assert set(PRESETS) >= {
        "image_classification", "image_multi_classification", "object_detection",
        "image_segmentation", "ocr", "table_recognition", "pdf", "image_moderation",
        "image_matting", "text_classification", "text_multi_classification", "named_entities",
        "entity_relations", "video_classification", "video_multi_classification",
        "video_frame_labeling", "audio_classification", "audio_segmentation",
        "audio_transcription", "custom"}
    assert PRESETS["named_entities"].dataset_kinds == {"text"}
    assert PRESETS["video_frame_labeling"].dataset_kinds == {"video"}
    assert PRESETS["custom"].dataset_kinds == {"text", "image", "video", "audio", "multi"}


@pytest.mark.parametrize(("preset", "kind", "content"), [
    ("text_classification", "text", "text"),
    ("text_multi_classification", "text", "text"),
    ("image_classification", "image", "image"),
    ("image_multi_classification", "image", "image"),
])
def test_the_original_presets_keep_their_topics(preset: str, kind: str, content: str) -> None:
    template = build_template(preset, [{"name": "a"}, {"name": "b", "color": "#000000"}],
                              dataset_kind=kind).to_dict()
    topic_kind = "multiple_choice" if "multi" in preset else "single_choice"
    assert template == {"content": [{"kind": content, "field": "source"}],
                        "topics": [{"name": "label", "kind": topic_kind, "options": ["a", "b"]}]}


def test_a_preset_refuses_a_dataset_of_another_kind() -> None:
    with pytest.raises(TemplateError) as raised:
        build_template("named_entities", [{"name": "PER"}], dataset_kind="image")
    assert [(e.path, e.reason) for e in raised.value.errors] == [
        ("template", "named_entities needs a text dataset; this one is image")]


def test_unknown_preset_and_unknown_option_are_named() -> None:
    with pytest.raises(TemplateError, match=r"template: unknown preset 'sentiment'"):
        build_template("sentiment", [{"name": "a"}])
    with pytest.raises(TemplateError) as raised:
        PRESETS["named_entities"]([{"name": "PER"}], {"multilabel": True})
    assert [e.path for e in raised.value.errors] == ["options.multilabel"]


def test_single_or_multiple_labels_per_object() -> None:
    topics = PRESETS["object_detection"](ANIMALS, {"multi_label": True}).to_dict()["topics"]
    good = {"objects": [{**BOX, "label": None, "labels": ["cat", "dog"]}]}
    del good["objects"][0]["label"]
    assert validate_annotation(topics, good, IMAGE) == []
    errors = validate_annotation(topics, {"objects": [BOX]}, IMAGE)
    assert [(e.path, e.reason.split(";")[0]) for e in errors] == [
        ("objects[0].label", "unknown field"),
        ("objects[0].labels", "expected a non-empty list of labels, got null")]


def test_required_attributes_and_overlapping_spans_when_allowed() -> None:
    labels = [{"name": "car", "attributes": [{"name": "make", "required": True}]}]
    topics = PRESETS["object_detection"](labels).to_dict()["topics"]
    box = {**BOX, "label": "car"}
    assert validate_annotation(topics, {"objects": [{**box, "attributes": {"make": "any"}}]},
                               IMAGE) == []
    errors = validate_annotation(topics, {"objects": [box]}, IMAGE)
    assert [(e.path, e.reason) for e in errors] == [
        ("objects[0].attributes.make", "required attribute is missing")]
    spans = PRESETS["named_entities"]([{"name": "A"}], {"allow_overlap": True}).to_dict()
    nested = [{"id": "1", "label": "A", "start": 0, "end": 9},
              {"id": "2", "label": "A", "start": 2, "end": 4}]
    assert validate_annotation(spans["topics"], {"entities": nested}, {"source": TEXT}) == []
    twice = [nested[0], {**nested[0], "id": "3"}]
    assert [e.path for e in validate_annotation(spans["topics"], {"entities": twice})] == [
        "entities[1]"]


def test_without_the_item_only_the_bounds_it_gives_are_skipped() -> None:
    topics = PRESETS["image_segmentation"](ANIMALS).to_dict()["topics"]
    far = {**TRIANGLE, "points": [[0, 0], [5000, 0], [0, 5000]]}
    assert validate_annotation(topics, {"objects": [far]}) == []
    negative = {**TRIANGLE, "points": [[0, 0], [-1, 0], [0, 5]]}
    assert [e.path for e in validate_annotation(topics, {"objects": [negative]})] == [
        "objects[0].points[1]"]
    several = {"media": {"source": {"width": 100, "height": 100}}, "width": 9999}
    assert [e.path for e in validate_annotation(topics, {"objects": [far]}, several)] == [
        "objects[0].points[1]", "objects[0].points[2]"]


def test_dollar_keys_are_plain_data() -> None:
    labels = [{"name": "$gt"}, {"name": "$where"}]
    topics = PRESETS["named_entities"](labels).to_dict()["topics"]
    span = {"id": "$id", "label": "$gt", "start": 0, "end": 1, "$ref": "#/x"}
    errors = validate_annotation(topics, {"entities": [span], "$set": {}}, {"source": "$"})
    assert [(e.topic, e.path) for e in errors] == [("$set", "$set"),
                                                   ("entities", "entities[0].$ref")]
    assert validate_annotation(topics, {"entities": [{k: v for k, v in span.items()
                                                      if k != "$ref"}]}, {"source": "$"}) == []


def test_a_compiled_checker_gives_the_same_errors_and_can_be_reused() -> None:
    topics = PRESETS["entity_relations"](ENTITIES).to_dict()["topics"]
    checker = compile_topics(topics)
    bad = {"entities": SPANS, "relations": [{"label": "works_for", "from": "e1", "to": "e3"}]}
    assert checker.validate(bad, {"source": TEXT}) == validate_annotation(
        topics, bad, {"source": TEXT})
    assert checker.validate({"entities": SPANS, "relations": []}, {"source": TEXT}) == []


def test_an_optional_topic_may_be_absent_or_null() -> None:
    topics = [{"name": "label", "kind": "single_choice", "options": ["a"]},
              {"name": "note", "kind": "free_text", "required": False, "max_length": 5}]
    assert validate_annotation(topics, {"label": "a"}) == []
    assert validate_annotation(topics, {"label": "a", "note": None}) == []
    errors = validate_annotation(topics, {"label": "a", "note": "too long"})
    assert [(e.topic, e.path, e.reason) for e in errors] == [
        ("note", "note", "expected 0 to 5 characters, got 8")]


# -- custom templates and topic definitions ------------------------------------------------

def test_custom_template_fits_a_multi_dataset() -> None:
    template = build_template("custom", [], CUSTOM, dataset_kind="multi").to_dict()
    assert template == CUSTOM


def test_custom_media_must_fit_the_dataset_kind() -> None:
    with pytest.raises(TemplateError) as raised:
        build_template("custom", [], CUSTOM, dataset_kind="audio")
    assert [e.path for e in raised.value.errors] == ["content[0].kind"]


@pytest.mark.parametrize(("template", "expected"), [
    ({"content": [], "topics": []}, ["content", "topics"]),
    ({"content": [{"kind": "image", "field": "a"}, {"kind": "text", "field": "a"}],
      "topics": [{"name": "q", "kind": "free_text"}, {"name": "q", "kind": "free_text"}]},
     ["content[1].field", "topics[1].name"]),
    ({"content": [{"kind": "text", "field": "t"}],
      "topics": [{"name": "boxes", "kind": "shape", "field": "t", "labels": ["x"]},
                 {"name": "spans", "kind": "span", "field": "nope", "labels": ["x"]}]},
     ["topics[0].field", "topics[1].field"]),
    ({"content": [{"kind": "video", "field": "v"}],
      "topics": [{"name": "boxes", "kind": "shape", "field": "v", "labels": ["x"]}]},
     ["topics[0].timed"]),
    ({"content": [{"kind": "text", "field": "t"}],
      "topics": [{"name": "ents", "kind": "span", "field": "t", "labels": ["A", "B", "A"]},
                 {"name": "rels", "kind": "relation", "spans_topic": "ents",
                  "relations": [{"name": "r", "source": ["A"], "target": ["C"]}]},
                 {"name": "more", "kind": "relation", "spans_topic": "missing",
                  "relations": [{"name": "r", "source": ["A"], "target": ["A"]}]}]},
     ["topics[0].labels[2]", "topics[1].relations[0].target[0]", "topics[2].spans_topic"]),
    ({"content": [{"kind": "audio", "field": "a"}],
      "topics": [{"name": "segs", "kind": "time_segment", "field": "a", "labels": ["x"],
                  "classes": [{"name": "c", "labels": ["y"]}]},
                 {"name": "m", "kind": "multiple_choice", "options": ["a"], "min_choices": 2}]},
     ["topics[0].classes", "topics[1].max_choices"]),
    ({"content": [{"kind": "image", "field": "i"}],
      "topics": [{"name": "1bad", "kind": "free_text"}, {"name": "ok", "kind": "poll"},
                 {"name": "x", "kind": "shape", "field": "i", "labels": ["a"],
                  "shapes": ["hexagon"], "colour": "red"}]},
     ["topics[0].name", "topics[1].kind", "topics[2].shapes[0]", "topics[2].colour"]),
])
def test_a_bad_template_names_every_field(template: dict[str, Any],
                                          expected: list[str]) -> None:
    with pytest.raises(TemplateError) as raised:
        parse_template(template)
    assert [e.path for e in raised.value.errors] == expected


def test_parse_topic_names_fields_relative_to_the_topic() -> None:
    with pytest.raises(TemplateError) as raised:
        parse_topic({"name": "x", "kind": "span", "field": "t", "labels": ["a", "b", "a"],
                     "attributes": {"c": []}})
    assert [str(e) for e in raised.value.errors] == [
        "labels[2]: 'a' appears twice", "attributes.c: 'c' is not a label of this topic"]
    with pytest.raises(TemplateError) as raised:
        parse_topic({"name": "x", "kind": "single_choice", "options": ["a" * 1025]})
    assert [e.path for e in raised.value.errors] == ["options[0]"]


def test_checking_answers_against_a_malformed_topic_fails_loudly() -> None:
    with pytest.raises(TemplateError, match=r"topics\[0\].kind: unknown topic kind 'poll'"):
        validate_annotation([{"name": "x", "kind": "poll"}], {"x": 1})
    with pytest.raises(TemplateError, match=r"topics\[0\]: malformed topic"):
        validate_annotation([{"name": "x", "kind": "single_choice"}], {"x": 1})


# -- label sets ----------------------------------------------------------------------------


def test_a_good_label_set_has_no_errors() -> None:
    assert validate_label_set(ANIMALS) == []
    assert validate_label_set(ENTITIES, relations=True) == []
    assert validate_label_set(CLASSED, classes=True) == []
    assert validate_label_set([{"name": "名前", "shortcut": "ctrl+1"}, {"name": "x" * 1024}]) == []


@pytest.mark.parametrize(("labels", "settings", "expected"), [
    ([], {}, ["labels"]),
    ("cat", {}, ["labels"]),
    ([{"name": ""}, {"name": "x" * 1025}, {"name": 3}], {},
     ["labels[0].name", "labels[1].name", "labels[2].name"]),
    ([{"name": "a"}, {"name": "b"}, {"name": "a"}], {}, ["labels[2].name"]),
    ([{"name": "a", "color": "red"}, {"name": "b", "color": "#12345g"}], {},
     ["labels[0].color", "labels[1].color"]),
    ([{"name": "a", "shortcut": "1"}, {"name": "b", "shortcut": "2"},
      {"name": "c", "shortcut": "1"}, {"name": "d", "shortcut": "A"},
      {"name": "e", "shortcut": "a"}, {"name": "f", "shortcut": "enter"}], {},
     ["labels[2].shortcut", "labels[4].shortcut", "labels[5].shortcut"]),
    ([{"name": "a", "attributes": [{"name": "c", "values": ["y", "y"]}, {"name": "c"},
                                   {"values": "y"}, {"name": "d", "default": "x"}]}], {},
     ["labels[0].attributes[0].values[1]", "labels[0].attributes[1].name",
      "labels[0].attributes[2].name", "labels[0].attributes[2].values",
      "labels[0].attributes[3].default"]),
    ([{"name": "a", "size": 3}], {}, ["labels[0].size"]),
    ([{"name": "PER"}, {"name": "r", "kind": "relation", "source": ["PER"], "target": ["ORG"]},
      {"name": "s", "kind": "relation", "source": []}, {"name": "t", "kind": "link"}],
     {"relations": True},
     ["labels[1].target[0]", "labels[2].source", "labels[2].target", "labels[3].kind"]),
    ([{"name": "PER"}, {"name": "r", "kind": "relation", "source": ["PER"],
                        "target": ["PER"]}], {}, ["labels[1].kind"]),
    ([{"name": "a", "class": "c"}], {}, ["labels[0].class"]),
    ([{"name": "a b", "class": "c"}, {"name": "x", "class": "c d"}], {"classes": True},
     ["labels[0].name", "labels[1].class"]),
])
def test_label_rules_name_the_field(labels: Any, settings: dict[str, Any],
                                    expected: list[str]) -> None:
    assert [e.path for e in validate_label_set(labels, **settings)] == expected


def test_a_label_name_may_repeat_across_classes_but_not_within_one() -> None:
    labels = [{"name": "yes", "class": "speech"}, {"name": "yes", "class": "music"},
              {"name": "yes", "class": "music"}]
    assert [e.path for e in validate_label_set(labels, classes=True)] == ["labels[2].name"]


def test_preset_label_errors_raise_with_every_field() -> None:
    with pytest.raises(TemplateError) as raised:
        PRESETS["object_detection"]([{"name": "a", "shortcut": "1"},
                                     {"name": "b", "shortcut": "1", "color": "blue"}])
    assert [e.path for e in raised.value.errors] == ["labels[1].color", "labels[1].shortcut"]
    with pytest.raises(TemplateError, match="at least one relation label"):
        PRESETS["entity_relations"]([{"name": "PER"}])


# -- JSON Schema ---------------------------------------------------------------------------

SCHEMA_CASES: list[tuple[str, list[dict[str, Any]], dict[str, Any], Any, Any]] = [
    ("image_classification", ANIMALS, {}, {"label": "cat"}, {"label": "cow"}),
    ("image_multi_classification", ANIMALS, {}, {"label": ["cat"]}, {"label": ["cat", "cat"]}),
    ("object_detection", ANIMALS, {}, {"objects": [{**BOX, "attributes": {"colour": "black"}},
                                                   TRIANGLE]},
     {"objects": [{**BOX, "width": 0}]}),
    ("object_detection", ANIMALS, {}, {"objects": [BOX]}, {"objects": [{**BOX, "$ref": "x"}]}),
    ("image_segmentation", ANIMALS, {}, {"objects": [TRIANGLE]},
     {"objects": [{**TRIANGLE, "points": [[0, 0], [1, 1]]}]}),
    ("ocr", [], {}, {"regions": [{"type": "rectangle", "x": 0, "y": 0, "width": 1, "height": 1,
                                  "text": "A"}]},
     {"regions": [{"type": "rectangle", "x": 0, "y": 0, "width": 1, "height": 1}]}),
    ("table_recognition", [], {}, {"tables": [TABLE]},
     {"tables": [{"rows": 1, "cols": 1, "cells": [{"row": 0, "col": 0, "text": "x", "x": 1}]}]}),
    ("pdf", [{"name": "invoice"}], {}, {"pages": [{"page": 1, "label": "invoice", "text": ""}]},
     {"pages": [{"page": 0, "label": "invoice", "text": ""}]}),
    ("image_moderation", [{"name": "violence"}], {}, {"flags": []}, {"flags": ["spam"]}),
    ("image_matting", [{"name": "p"}], {}, {"masks": [{**TRIANGLE, "label": "p"}]},
     {"masks": [{**TRIANGLE, "label": "q"}]}),
    ("text_classification", [{"name": "pos"}], {}, {"label": "pos"}, {"label": ["pos"]}),
    ("text_multi_classification", [{"name": "a"}], {}, {"label": ["a"]}, {"label": "a"}),
    ("named_entities", ENTITIES[:3], {}, {"entities": SPANS},
     {"entities": [{**SPANS[0], "start": 1.5}]}),
    ("entity_relations", ENTITIES, {},
     {"entities": SPANS, "relations": [{"label": "works_for", "from": "e1", "to": "e2"}]},
     {"entities": SPANS, "relations": [{"label": "knows", "from": "e1", "to": "e2"}]}),
    ("video_classification", ANIMALS, {}, {"label": "cat"}, {"label": 1}),
    ("video_multi_classification", ANIMALS, {}, {"label": ["dog"]}, {}),
    ("video_frame_labeling", ANIMALS, {}, {"objects": [{**BOX, "time": 1}]}, {"objects": [BOX]}),
    ("audio_classification", SOUNDS, {}, {"label": "noise"}, {"label": "noise", "x": 1}),
    ("audio_multi_classification", SOUNDS, {}, {"label": ["noise", "music"]},
     {"label": ["noise", "noise"]}),
    ("audio_segmentation", SOUNDS, {}, {"segments": _segments((0, 1))},
     {"segments": [{"start": -1, "end": 1, "label": "speech"}]}),
    ("audio_segmentation", CLASSED, {},
     {"segments": [{"start": 0, "end": 1, "classes": {"voice": "male"}}]},
     {"segments": [{"start": 0, "end": 1, "classes": {"voice": "speech"}}]}),
    ("audio_transcription", [], {}, {"transcript": "hi"}, {"transcript": None}),
    ("audio_transcription", [], {"segmented": True, "speakers": ["A"]},
     {"segments": [{"start": 0, "end": 1, "text": "hi", "speaker": "A"}]},
     {"segments": [{"start": 0, "end": 1, "text": "hi", "speaker": "B"}]}),
    ("custom", [], CUSTOM,
     {"quality": "bad", "boxes": [], "mentions": [], "note": None},
     {"quality": "bad", "boxes": [], "mentions": [], "note": 3}),
]


@pytest.mark.parametrize(("preset", "labels", "options", "valid", "invalid"), SCHEMA_CASES)
def test_the_published_schema_agrees_with_the_validator(
        preset: str, labels: list[dict[str, Any]], options: dict[str, Any], valid: Any,
        invalid: Any) -> None:
    topics = PRESETS[preset](labels, options).to_dict()["topics"]
    whole = answer_json_schema(topics)
    jsonschema.Draft202012Validator.check_schema(whole)
    for topic in topics:
        schema = json_schema(topic)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        jsonschema.Draft202012Validator.check_schema(schema)
        if topic["name"] in valid and valid[topic["name"]] is not None:
            jsonschema.validate(valid[topic["name"]], schema,
                                cls=jsonschema.Draft202012Validator)
    assert validate_annotation(topics, valid) == []
    jsonschema.validate(valid, whole, cls=jsonschema.Draft202012Validator)
    assert validate_annotation(topics, invalid) != []
    assert not jsonschema.Draft202012Validator(whole).is_valid(invalid)


def test_every_preset_has_a_schema_case() -> None:
    assert {case[0] for case in SCHEMA_CASES} == set(PRESETS)


def test_a_bad_topic_gets_no_schema() -> None:
    with pytest.raises(TemplateError, match=r"options: List should have at least 1 item"):
        json_schema({"name": "x", "kind": "single_choice", "options": []})


# -- robustness ----------------------------------------------------------------------------

JUNK: list[Any] = [None, True, 0, -1, 1.5, math.nan, -math.inf, "", "x", "$ne", [], [1, 2],
                   [[1]], {}, {"$gt": 1}, {"a": [None]}, 10**30, [[math.nan, 1]] * 3]


def _mutations(value: Any, rng: Any) -> Any:
    """A copy of value with one node (chosen at random) replaced by junk."""
    if isinstance(value, dict) and value and rng.random() < 0.8:
        key = rng.choice(list(value))
        return {**value, key: _mutations(value[key], rng)}
    if isinstance(value, list) and value and rng.random() < 0.8:
        i = rng.randrange(len(value))
        return [*value[:i], _mutations(value[i], rng), *value[i + 1:]]
    return rng.choice(JUNK)


@pytest.mark.parametrize("case", [c for c in CASES if not c[5]], ids=lambda c: c[0])
def test_junk_anywhere_in_an_answer_gives_errors_never_an_exception(case: Any) -> None:
    import random

    preset, labels, options, item, answer, _ = case
    topics = PRESETS[preset](labels, options).to_dict()["topics"]
    names = {t["name"] for t in topics}
    rng = random.Random(preset)
    for _ in range(300):
        broken = _mutations(answer, rng)
        for error in validate_annotation(topics, broken, item):
            assert isinstance(error, AnnotationError)
            assert error.topic in names or error.topic == "" or error.topic in broken
            assert error.path.startswith(error.topic)


def test_huge_tables_are_refused_before_any_grid_is_built() -> None:
    topics = PRESETS["table_recognition"]([]).to_dict()["topics"]
    table = {"rows": 1000, "cols": 1000, "cells": [
        {"row": 0, "col": 0, "row_span": 1000, "col_span": 1000, "text": "x"}]}
    errors = validate_annotation(topics, {"tables": [table]})
    assert [(e.path, e.reason) for e in errors] == [
        ("tables[0]", "the tables of one answer have at most 250,000 grid positions in all")]
    small = {"rows": 400, "cols": 400, "cells": []}
    assert [e.path for e in validate_annotation(topics, {"tables": [small, small]})] == [
        "tables[1]"]
    assert [e.path for e in validate_annotation(topics, {"tables": [{**small, "rows": 1001}]})
            ] == ["tables[0].rows"]


def test_label_sets_with_junk_give_errors_never_an_exception() -> None:
    labels = [{"name": ["a"]}, {"name": "r", "kind": "relation", "source": [["a"]],
                                "target": [{}]}, 3, {"name": "b", "attributes": "x"}]
    assert [e.path for e in validate_label_set(labels, relations=True)] == [
        "labels[0].name", "labels[1].source[0]", "labels[1].target[0]", "labels[2]",
        "labels[3].attributes"]
