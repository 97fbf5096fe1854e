"""Label Studio JSON against the task format Label Studio imports (labelstud.io/guide/
task_format and the tag pages' result parameters): a list of tasks with ``data`` and
``annotations[].result``; per result type the ``value`` keys and their types."""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from services.export.domain.formats import ExportJob, ExportStats, write_export
from services.export.domain.formats.label_studio import label_studio_config
from services.export.tests.samples import DETECTION, NER, detection_items, item, job, ner_items

NUMBER = (int, float)
# type -> value keys with their types, as Label Studio documents each result type.
VALUE_KEYS: dict[str, dict[str, Any]] = {
    "choices": {"choices": list},
    "textarea": {"text": list},
    "labels": {"start": NUMBER, "end": NUMBER, "labels": list},
    "rectanglelabels": {"x": NUMBER, "y": NUMBER, "width": NUMBER, "height": NUMBER,
                        "rotation": NUMBER, "rectanglelabels": list},
    "polygonlabels": {"points": list, "polygonlabels": list},
    "ellipselabels": {"x": NUMBER, "y": NUMBER, "radiusX": NUMBER, "radiusY": NUMBER,
                      "ellipselabels": list},
    "keypointlabels": {"x": NUMBER, "y": NUMBER, "keypointlabels": list},
}
PERCENT_KEYS = ("x", "y", "width", "height", "radiusX", "radiusY")


def _validate(tasks: Any) -> list[dict[str, Any]]:
    """Every result checked against its type; returns all results."""
    assert isinstance(tasks, list)
    results = []
    for task in tasks:
        assert isinstance(task["data"], dict) and task["data"]
        assert isinstance(task["annotations"], list) and len(task["annotations"]) == 1
        annotation = task["annotations"][0]
        assert isinstance(annotation["result"], list)
        region_ids = {r["id"] for r in annotation["result"] if "id" in r}
        for result in annotation["result"]:
            if result["type"] == "relation":
                assert set(result) == {"type", "from_id", "to_id", "direction", "labels"}
                assert result["from_id"] in region_ids and result["to_id"] in region_ids
                assert result["direction"] in ("left", "right", "bi")
                continue
            assert isinstance(result["from_name"], str) and isinstance(result["to_name"], str)
            for key, kind in VALUE_KEYS[result["type"]].items():
                assert isinstance(result["value"][key], kind), (result["type"], key)
            if result["type"].endswith("labels") and result["type"] != "labels":
                assert isinstance(result["original_width"], int)
                assert isinstance(result["original_height"], int)
                for key in PERCENT_KEYS:
                    if key in result["value"]:
                        assert 0 <= result["value"][key] <= 100
                for point in result["value"].get("points", []):
                    assert len(point) == 2 and all(0 <= c <= 100 for c in point)
            results.append(result)
    return results


def _tasks(exported: ExportJob, items: Any, stats: ExportStats | None = None) -> Any:
    return json.loads(b"".join(write_export("label_studio", items, exported, stats)))


def test_detection_tasks_hold_percent_regions_of_each_shape_type() -> None:
    detection = job("object_detection", DETECTION)
    stats = ExportStats()
    results = _validate(_tasks(detection, detection_items(), stats))
    kinds = sorted(r["type"] for r in results)
    assert kinds == ["ellipselabels", "keypointlabels", "polygonlabels", "rectanglelabels",
                     "rectanglelabels"]
    rect = results[0]
    assert rect["value"]["x"] == pytest.approx(10 / 640 * 100)
    assert rect["value"]["height"] == pytest.approx(50 / 480 * 100)
    assert rect["value"]["rectanglelabels"] == ["cat"]
    assert stats.skipped == {"line shapes (no Label Studio type)": 1}


def test_ner_and_relations_with_utf16_offsets() -> None:
    relations = job("entity_relations", [
        {"name": n} for n in NER] + [
        {"name": "near", "kind": "relation", "source": ["PER"], "target": ["LOC"]}])
    items = ner_items()
    items[1] = item("t2", items[1].data, {**items[1].answer, "relations": [
        {"label": "near", "from": "e3", "to": "e2"}]})
    tasks = _tasks(relations, items)
    results = _validate(tasks)
    text = items[1].data["source"]
    carol = next(r for r in tasks[1]["annotations"][0]["result"]
                 if r.get("id") == "entities_e3")
    # 🎉 is two UTF-16 code units: JavaScript's text.slice(start, end) is "Carol".
    utf16 = text.encode("utf-16-le")
    value = carol["value"]
    assert utf16[value["start"] * 2:value["end"] * 2].decode("utf-16-le") == "Carol"
    assert (value["start"], value["end"], value["text"]) == (32, 37, "Carol")
    relation = next(r for r in tasks[1]["annotations"][0]["result"] if r["type"] == "relation")
    assert (relation["from_id"], relation["to_id"], relation["labels"]) == (
        "entities_e3", "entities_e2", ["near"])
    assert all(r["type"] == "labels" for r in results)


def test_choices_text_and_audio_regions() -> None:
    classification = job("text_multi_classification", ["a", "b"])
    [task] = _tasks(classification, [item("c", {"source": "x"}, {"label": ["a", "b"]})])
    assert task["annotations"][0]["result"][0]["value"] == {"choices": ["a", "b"]}
    transcript = job("audio_transcription", [])
    [task] = _tasks(transcript, [item("t", {"source": "s3://b/t.wav"}, {"transcript": "hi"})])
    assert task["annotations"][0]["result"][0]["value"] == {"text": ["hi"]}
    segments = job("audio_transcription", ["speech", "noise"], {"segmented": True})
    [task] = _tasks(segments, [item("s", {"source": "s3://b/s.wav"}, {"segments": [
        {"start": 0.5, "end": 1.5, "label": "speech", "text": "hi", "speaker": "A"}]})])
    results = _validate([task])
    assert [(r["from_name"], r["type"]) for r in results] == [
        ("segments", "labels"), ("segments_text", "textarea"), ("segments_speaker", "labels")]
    assert len({r["id"] for r in results}) == 1  # one region, three controls


def test_the_labeling_config_names_every_control_and_object_of_the_results() -> None:
    detection = job("object_detection", DETECTION)
    config = ET.fromstring(label_studio_config(detection))
    controls = {el.get("name"): el.get("toName") for el in config if el.get("toName")}
    objects = {el.get("name") for el in config if el.get("value", "").startswith("$")}
    for result in _validate(_tasks(detection, detection_items())):
        assert controls[result["from_name"]] == result["to_name"]
        assert result["to_name"] in objects
