"""Annotation validation throughput per template preset (annotations/s).

    .venv/bin/python -m bench.annotations

For every preset a realistic answer (20 shapes per image, 10 spans and 5 relations per text,
30 segments per audio file, ...) is built and checked to be valid, then validated in a loop:

- ``compiled``: one ``compile_topics(topics)`` kept per job, then ``checker.validate(answer,
  item)``: what a service that caches the checker per job pays;
- ``validate_annotation``: the topics compiled again on every call (no cache);
- ``jsonschema``: the published schema of the whole answer with a prepared
  ``Draft202012Validator`` (when jsonschema is installed), for comparison only: it checks less.

Each loop runs for ``BENCH_ANNOTATION_SECONDS`` (default 0.3) per preset and column, on one
core, with no I/O. Prints a table and writes bench/results/annotations.json.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from labelops_shared.annotations import (
    PRESETS,
    answer_json_schema,
    compile_topics,
    validate_annotation,
)

RESULTS = Path(__file__).parent / "results"
SECONDS = float(os.environ.get("BENCH_ANNOTATION_SECONDS", "0.3"))

console = Console(width=None if sys.stdout.isatty() else 120)

ANIMALS = [{"name": name, "color": f"#00{i:02x}00", "shortcut": str(i)}
           for i, name in enumerate(["cat", "dog", "bird", "car", "person", "bike", "tree",
                                     "sign", "bus", "boat"])]
ANIMALS[0]["attributes"] = [{"name": "colour", "values": ["yellow", "black", "white"]}]
ENTITIES = [{"name": n} for n in ("PER", "ORG", "LOC", "DATE")] + [
    {"name": "works_for", "kind": "relation", "source": ["PER"], "target": ["ORG"]},
    {"name": "located_in", "kind": "relation", "source": ["ORG", "PER"], "target": ["LOC"]},
]
IMAGE = {"source": "s3://bench/a.jpg", "width": 1920, "height": 1080}
VIDEO = {"source": "s3://bench/a.mp4", "width": 1280, "height": 720, "duration": 120.0}
AUDIO = {"source": "s3://bench/a.wav", "duration": 600.0}
TEXT = " ".join(f"word{i:04d}" for i in range(110))  # about 1,000 characters


def _box(i: int, **extra: Any) -> dict[str, Any]:
    label = ANIMALS[i % len(ANIMALS)]["name"]
    box = {"type": "rectangle", "label": label, "x": 10 + 80 * (i % 20), "y": 10 + 40 * (i % 20),
           "width": 60, "height": 30, **extra}
    if label == "cat":
        box["attributes"] = {"colour": "black"}
    return box


def _polygon(i: int, points: int, label: str = "dog") -> dict[str, Any]:
    # A ring of points around a centre, inside a 1920 x 1080 image.
    cx, cy, r = 200 + 60 * (i % 25), 200 + 30 * (i % 20), 50
    ring = [[round(cx + r * math.cos(2 * math.pi * k / points), 2),
             round(cy + r * math.sin(2 * math.pi * k / points), 2)] for k in range(points)]
    return {"type": "polygon", "label": label, "points": ring}


def _detections() -> list[dict[str, Any]]:
    shapes = [_box(i) for i in range(14)] + [_polygon(i, 8) for i in range(3)]
    shapes += [{"type": "circle", "label": "sign", "cx": 900, "cy": 500, "r": 20},
               {"type": "line", "label": "car", "points": [[0, 0], [100, 100], [200, 50]]},
               {"type": "point", "label": "person", "x": 5, "y": 5}]
    return shapes


def _spans() -> list[dict[str, Any]]:
    labels = ["PER", "ORG", "LOC", "DATE", "PER", "ORG", "LOC", "PER", "ORG", "LOC"]
    return [{"id": f"e{i}", "label": label, "start": 9 * 10 * i, "end": 9 * 10 * i + 8,
             "text": TEXT[90 * i:90 * i + 8]} for i, label in enumerate(labels)]


def _table() -> dict[str, Any]:
    cells = [{"row": r, "col": c, "text": f"r{r}c{c}", "x": 100 + 100 * c, "y": 100 + 40 * r,
              "width": 100, "height": 40} for r in range(1, 10) for c in range(6)]
    return {"rows": 10, "cols": 6, "x": 100, "y": 100, "width": 600, "height": 400,
            "cells": [{"row": 0, "col": 0, "col_span": 6, "text": "Title"}, *cells]}


def _segments(count: int, **extra: Any) -> list[dict[str, Any]]:
    return [{"start": 10.0 * i, "end": 10.0 * i + 8.5, **extra} for i in range(count)]


SCENARIOS: list[tuple[str, str, list[dict[str, Any]], dict[str, Any], dict[str, Any],
                      dict[str, Any]]] = [
    # preset, what, labels, options, item, answer
    ("image_classification", "1 of 10 labels", ANIMALS, {}, IMAGE, {"label": "dog"}),
    ("image_multi_classification", "3 of 10 labels", ANIMALS, {}, IMAGE,
     {"label": ["dog", "cat", "bus"]}),
    ("object_detection", "20 shapes", ANIMALS, {}, IMAGE, {"objects": _detections()}),
    ("image_segmentation", "10 polygons x 30 points", ANIMALS, {}, IMAGE,
     {"objects": [_polygon(i, 30) for i in range(10)]}),
    ("ocr", "30 regions with text", [], {}, IMAGE,
     {"regions": [{"type": "rectangle", "x": 10 + 60 * i, "y": 20 * i, "width": 50,
                   "height": 18, "text": f"line {i}"} for i in range(30)]}),
    ("table_recognition", "1 table, 55 cells with boxes", [], {}, IMAGE, {"tables": [_table()]}),
    ("pdf", "10 pages x 2,000 chars", [{"name": "invoice"}, {"name": "other"}], {},
     {"source": "s3://bench/a.pdf", "pages": 10},
     {"pages": [{"page": p, "label": "other", "text": "x" * 2000} for p in range(1, 11)]}),
    ("image_moderation", "2 flags", [{"name": n} for n in ("violence", "nudity", "spam")], {},
     IMAGE, {"flags": ["violence", "spam"]}),
    ("image_matting", "2 masks x 100 points", [{"name": "person"}], {}, IMAGE,
     {"masks": [_polygon(i, 100, "person") for i in range(2)]}),
    ("text_classification", "1 of 3 labels", [{"name": n} for n in ("pos", "neg", "neu")], {},
     {"source": TEXT}, {"label": "neu"}),
    ("text_multi_classification", "2 of 5 labels", [{"name": f"t{i}"} for i in range(5)], {},
     {"source": TEXT}, {"label": ["t1", "t3"]}),
    ("named_entities", "10 spans, 1,000 chars", ENTITIES[:4], {}, {"source": TEXT},
     {"entities": _spans()}),
    ("entity_relations", "10 spans + 5 relations", ENTITIES, {}, {"source": TEXT},
     {"entities": _spans(), "relations": [
         {"label": "works_for", "from": "e0", "to": "e1"},
         {"label": "works_for", "from": "e4", "to": "e5"},
         {"label": "located_in", "from": "e1", "to": "e2"},
         {"label": "located_in", "from": "e5", "to": "e6"},
         {"label": "located_in", "from": "e7", "to": "e9"}]}),
    ("video_classification", "1 of 10 labels", ANIMALS, {}, VIDEO, {"label": "car"}),
    ("video_multi_classification", "2 of 10 labels", ANIMALS, {}, VIDEO,
     {"label": ["car", "bus"]}),
    ("video_frame_labeling", "50 boxes on 10 frames", ANIMALS, {}, VIDEO,
     {"objects": [{**_box(i % 10), "time": float(i // 5), "track": f"t{i % 5}"}
                  for i in range(50)]}),
    ("audio_classification", "1 of 3 labels", [{"name": n} for n in ("speech", "music", "noise")],
     {}, AUDIO, {"label": "music"}),
    ("audio_multi_classification", "2 of 3 labels",
     [{"name": n} for n in ("speech", "music", "noise")], {}, AUDIO, {"label": ["music", "noise"]}),
    ("audio_segmentation", "30 segments", [{"name": n} for n in ("speech", "music", "noise")],
     {}, AUDIO, {"segments": _segments(30, label="speech")}),
    ("audio_transcription", "30 segments, text + speaker", [], {"segmented": True}, AUDIO,
     {"segments": _segments(30, text="a sentence of about forty characters ok.",
                            speaker="A")}),
    ("custom", "choice + 5 boxes + 3 spans + note", [], {
        "content": [{"kind": "image", "field": "photo"}, {"kind": "text", "field": "caption"}],
        "topics": [
            {"name": "quality", "kind": "single_choice", "options": ["good", "bad"]},
            {"name": "boxes", "kind": "shape", "field": "photo", "labels": ["face"],
             "shapes": ["rectangle"], "inside": True},
            {"name": "mentions", "kind": "span", "field": "caption", "labels": ["PER"]},
            {"name": "note", "kind": "free_text", "required": False}]},
     {"photo": "s3://bench/p.jpg", "caption": TEXT, "media": {"photo": IMAGE}},
     {"quality": "good", "note": "fine",
      "boxes": [{**_box(i), "label": "face"} for i in range(5) if i != 0]
      + [{**_box(1), "label": "face"}],
      "mentions": [{"id": f"m{i}", "label": "PER", "start": 90 * i, "end": 90 * i + 8}
                   for i in range(3)]}),
]


def _rate(call: Callable[[], Any]) -> float:
    """Calls per second over about SECONDS, timed in batches to keep the clock out."""
    batch, calls, spent = 1, 0, 0.0
    while spent < SECONDS:
        start = time.perf_counter()
        for _ in range(batch):
            call()
        spent += time.perf_counter() - start
        calls += batch
        batch = min(batch * 2, 4096)
    return calls / spent


def _schema_rate(topics: list[dict[str, Any]], answer: dict[str, Any]) -> float | None:
    try:
        import jsonschema
    except ImportError:
        return None
    validator = jsonschema.Draft202012Validator(answer_json_schema(topics))
    assert validator.is_valid(answer)
    return _rate(lambda: validator.is_valid(answer))


def measure() -> list[dict[str, Any]]:
    rows = []
    for preset, what, labels, options, item, answer in SCENARIOS:
        topics = PRESETS[preset](labels, options).to_dict()["topics"]
        errors = validate_annotation(topics, answer, item)
        assert not errors, (preset, errors[:3])  # only valid answers are measured
        checker = compile_topics(topics)
        rows.append({
            "preset": preset, "answer": what,
            "compiled_per_s": _rate(lambda c=checker, a=answer, i=item: c.validate(a, i)),
            "uncompiled_per_s": _rate(
                lambda t=topics, a=answer, i=item: validate_annotation(t, a, i)),
            "jsonschema_per_s": _schema_rate(topics, answer),
        })
    return rows


def _fmt(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:,.0f}"


def main() -> None:
    rows = measure()
    table = Table(title="Annotation validation throughput (annotations/s, one core)")
    for column, justify in (("preset", "left"), ("answer", "left"), ("compiled", "right"),
                            ("µs each", "right"), ("validate_annotation", "right"),
                            ("jsonschema", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(row["preset"], row["answer"], _fmt(row["compiled_per_s"]),
                      f"{1e6 / row['compiled_per_s']:.1f}", _fmt(row["uncompiled_per_s"]),
                      _fmt(row["jsonschema_per_s"]))
    console.print(table)
    RESULTS.mkdir(exist_ok=True)
    report = {"machine": {"python": platform.python_version(), "system": platform.platform(),
                          "cpus": os.cpu_count()},
              "seconds_per_loop": SECONDS, "results": rows}
    (RESULTS / "annotations.json").write_text(json.dumps(report, indent=2))
    console.print(f"written to {RESULTS / 'annotations.json'}")


if __name__ == "__main__":
    main()
