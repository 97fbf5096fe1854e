"""Jobs and accepted items for the format tests, built from the shared presets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from labelops_shared.annotations import build_template
from services.export.domain.formats import AcceptedItem, ExportJob

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def job(preset: str, labels: list[dict[str, Any]] | list[str],
        options: dict[str, Any] | None = None, name: str = "job") -> ExportJob:
    label_set = [lb if isinstance(lb, dict) else {"name": lb} for lb in labels]
    template = build_template(preset, label_set, options).to_dict()
    return ExportJob(template["topics"], template["content"], name)


def item(item_id: str, data: dict[str, Any], answer: dict[str, Any], *, revision: int = 1,
         minutes: int = 0, labeler: str = "ann", hard: bool = False) -> AcceptedItem:
    return AcceptedItem(item_id, data, answer, labeler, revision,
                        T0 + timedelta(minutes=minutes), hard)


DETECTION = ["cat", "dog", "bird"]


def detection_items() -> list[AcceptedItem]:
    return [
        item("ds:1:1", {"source": "s3://b/img/a.jpg", "width": 640, "height": 480}, {"objects": [
            {"type": "rectangle", "label": "cat", "x": 10, "y": 20, "width": 100, "height": 50},
            {"type": "polygon", "label": "dog",
             "points": [[200, 200], [300, 210], [260, 320]]},
            {"type": "line", "label": "bird", "points": [[0, 0], [5, 5]]},
        ]}),
        item("ds:1:2", {"source": "s3://b/img/b.png", "width": 1024, "height": 768}, {"objects": [
            {"type": "circle", "label": "bird", "cx": 500, "cy": 400, "r": 30},
            {"type": "rectangle", "label": "cat", "x": 0.5, "y": 1.25, "width": 1023.5,
             "height": 766.75},
            {"type": "point", "label": "dog", "x": 3, "y": 4},
        ]}, labeler="bob"),
        item("ds:1:3", {"source": "s3://b/img/c.jpg", "width": 320, "height": 240},
             {"objects": []}),
    ]


NER = ["PER", "ORG", "LOC"]


def ner_items() -> list[AcceptedItem]:
    text1 = "Alice Smith works at Acme Corp. in Paris."
    text2 = "Bob's friend visited 北京 🎉 with Carol."
    return [
        item("t1", {"source": text1}, {"entities": [
            {"id": "e1", "label": "PER", "start": 0, "end": 11, "text": "Alice Smith"},
            {"id": "e2", "label": "ORG", "start": 21, "end": 30},  # "Acme Corp" cuts "Corp."
            {"id": "e3", "label": "LOC", "start": 35, "end": 40},
        ]}),
        item("t2", {"source": text2}, {"entities": [
            {"id": "e1", "label": "PER", "start": 0, "end": 3},  # "Bob" inside "Bob's"
            {"id": "e2", "label": "LOC", "start": 21, "end": 23},
            {"id": "e3", "label": "PER", "start": 31, "end": 36},
        ]}),
        item("t3", {"source": ""}, {"entities": []}),
    ]
