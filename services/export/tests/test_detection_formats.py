"""COCO, YOLO and Pascal VOC read back by their readers: pycocotools, and the YOLO and VOC
layouts parsed as their trainers read them; boxes map back to the original pixels."""

from __future__ import annotations

import csv
import io
import json
import math
import tarfile
import zipfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from pycocotools.coco import COCO

from services.export.domain.formats import (
    AcceptedItem,
    ExportItemError,
    ExportStats,
    write_export,
)
from services.export.domain.formats.boxes import write_yolo
from services.export.domain.formats.geometry import box
from services.export.tests.samples import DETECTION, detection_items, item, job

JOB = job("object_detection", DETECTION)
# pycocotools' mask decoding predates numpy 2's copy keyword; not this project's warning.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _export(fmt: str, items: list[AcceptedItem]) -> tuple[bytes, ExportStats]:
    stats = ExportStats()
    return b"".join(write_export(fmt, items, JOB, stats)), stats


def _region_shapes(items: list[AcceptedItem]) -> list[tuple[str, dict[str, Any]]]:
    return [(it.item_id, shape) for it in items for shape in it.answer["objects"]
            if shape["type"] in ("rectangle", "polygon", "circle")]


def test_pycocotools_loads_the_file_and_its_counts_match(tmp_path: Path) -> None:
    items = detection_items()
    data, stats = _export("coco", items)
    path = tmp_path / "coco.json"
    path.write_bytes(data)
    coco = COCO(str(path))
    assert len(coco.getImgIds()) == len(items)
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == DETECTION
    expected = _region_shapes(items)
    assert len(coco.getAnnIds()) == len(expected) == stats.objects
    assert stats.skipped == {"line shapes (no area)": 1, "point shapes (no area)": 1}
    by_item = {img["labelops_item_id"]: img for img in coco.loadImgs(coco.getImgIds())}
    for it in items:
        image = by_item[it.item_id]
        assert (image["width"], image["height"]) == (it.data["width"], it.data["height"])
        assert image["file_name"] == it.data["source"]
    for (item_id, shape), ann in zip(expected, coco.loadAnns(coco.getAnnIds()), strict=True):
        image = by_item[item_id]
        assert ann["image_id"] == image["id"]
        assert coco.loadCats(ann["category_id"])[0]["name"] == shape["label"]
        x0, y0, x1, y1 = box(shape) or (0, 0, 0, 0)
        assert ann["bbox"] == pytest.approx([x0, y0, x1 - x0, y1 - y0])
        mask = coco.annToMask(ann)  # the segmentation rasterises to the image size
        assert mask.shape == (image["height"], image["width"])
        # The rasterised outline covers the stated area but for its edge pixels.
        assert abs(int(mask.sum()) - ann["area"]) <= 4 * math.sqrt(ann["area"]) + 4
    polygon_ann = coco.loadAnns(coco.getAnnIds(catIds=[2]))[0]
    assert polygon_ann["area"] == pytest.approx(0.5 * abs(100 * 120 - 10 * 60))
    circle_ann = coco.loadAnns(coco.getAnnIds(catIds=[3]))[0]
    assert circle_ann["area"] == pytest.approx(math.pi * 30**2)


def test_coco_streams_in_pieces_and_stays_one_json_document() -> None:
    items = [item(f"i{n:05}", {"source": f"s3://b/{n}.jpg", "width": 100, "height": 100},
                  {"objects": [{"type": "rectangle", "label": "cat", "x": 1, "y": 2,
                                "width": 3, "height": 4}]}) for n in range(3000)]
    pieces = list(write_export("coco", items, JOB))
    assert len(pieces) > 5
    doc = json.loads(b"".join(pieces))
    assert list(doc) == ["info", "licenses", "categories", "images", "annotations"]
    assert len(doc["images"]) == len(doc["annotations"]) == 3000
    assert [a["id"] for a in doc["annotations"]] == list(range(1, 3001))


def test_multi_label_shapes_give_one_annotation_per_label(tmp_path: Path) -> None:
    multi = job("object_detection", DETECTION, {"multi_label": True})
    it = item("m", {"source": "s3://b/m.jpg", "width": 50, "height": 50}, {"objects": [
        {"type": "rectangle", "labels": ["cat", "dog"], "x": 1, "y": 1, "width": 5,
         "height": 5}]})
    path = tmp_path / "coco.json"
    path.write_bytes(b"".join(write_export("coco", [it], multi)))
    coco = COCO(str(path))
    assert sorted(a["category_id"] for a in coco.loadAnns(coco.getAnnIds())) == [1, 2]


@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc", "label_studio"])
def test_an_image_without_a_known_size_fails_naming_the_item(fmt: str) -> None:
    items = [*detection_items(), item("ds:9:9", {"source": "s3://b/nosize.jpg"},
                                      {"objects": [{"type": "rectangle", "label": "cat", "x": 1,
                                                    "y": 1, "width": 2, "height": 2}]})]
    with pytest.raises(ExportItemError, match=r"'ds:9:9' \(s3://b/nosize.jpg\).*width"):
        _export(fmt, items)


def test_the_size_of_one_media_field_comes_from_item_media() -> None:
    it = item("m", {"source": "s3://b/m.jpg", "media": {"source": {"width": 20, "height": 10}}},
              {"objects": [{"type": "rectangle", "label": "cat", "x": 0, "y": 0, "width": 10,
                            "height": 5}]})
    doc = json.loads(b"".join(write_export("coco", [it], JOB)))
    assert (doc["images"][0]["width"], doc["images"][0]["height"]) == (20, 10)


def _yolo_boxes(names: dict[str, bytes]) -> dict[str, list[tuple[str, tuple[float, ...]]]]:
    classes = names["classes.txt"].decode().splitlines()
    sizes = {row["label_file"]: (float(row["width"]), float(row["height"]), row["item_id"])
             for row in csv.DictReader(io.StringIO(names["images.csv"].decode()))}
    found: dict[str, list[tuple[str, tuple[float, ...]]]] = {}
    for name, (width, height, item_id) in sizes.items():
        rows = []
        for line in names[name].decode().splitlines():
            cls, cx, cy, w, h = line.split()
            cx_, cy_, w_, h_ = float(cx) * width, float(cy) * height, float(w) * width, \
                float(h) * height
            for value in (cx, cy, w, h):
                assert 0 <= float(value) <= 1
            rows.append((classes[int(cls)], (cx_ - w_ / 2, cy_ - h_ / 2, cx_ + w_ / 2,
                                             cy_ + h_ / 2)))
        found[item_id] = rows
    return found


def _expected_boxes(items: list[AcceptedItem]) -> dict[str, list[tuple[str, tuple[float, ...]]]]:
    expected: dict[str, list[tuple[str, tuple[float, ...]]]] = {it.item_id: [] for it in items}
    for item_id, shape in _region_shapes(items):
        expected[item_id].append((shape["label"], box(shape) or ()))
    return expected


def _close(found: dict[str, list[tuple[str, tuple[float, ...]]]],
           expected: dict[str, list[tuple[str, tuple[float, ...]]]], tolerance: float) -> None:
    assert found.keys() == expected.keys()
    for item_id, rows in expected.items():
        assert [label for label, _ in found[item_id]] == [label for label, _ in rows]
        for (_, got), (_, want) in zip(found[item_id], rows, strict=True):
            assert got == pytest.approx(want, abs=tolerance), item_id


def test_yolo_labels_map_back_to_the_pixel_boxes() -> None:
    items = detection_items()
    data, stats = _export("yolo", items)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        names = {n: archive.read(n) for n in archive.namelist()}
    assert names["classes.txt"].decode().splitlines() == DETECTION
    assert "nc: 3" in names["data.yaml"].decode()
    assert names["labels/ds%3A1%3A3.txt"] == b""  # an image without objects: empty file
    # Six decimals of a 1024-pixel side: within a hundredth of a pixel.
    _close(_yolo_boxes(names), _expected_boxes(items), 0.01)
    assert stats.objects == 4


def test_yolo_as_a_tar_stream() -> None:
    items = detection_items()
    data = b"".join(write_yolo(iter(items), JOB, ExportStats(), archive_kind="tar"))
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        names = {m.name: archive.extractfile(m).read()  # type: ignore[union-attr]
                 for m in archive.getmembers()}
    _close(_yolo_boxes(names), _expected_boxes(items), 0.01)


def test_yolo_clips_boxes_to_the_image() -> None:
    it = item("c", {"source": "s3://b/c.jpg", "width": 100, "height": 100}, {"objects": [
        {"type": "circle", "label": "cat", "cx": 95, "cy": 50, "r": 10}]})
    data, _ = _export("yolo", [it])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        line = archive.read("labels/c.txt").decode().split()
    assert [float(v) for v in line[1:]] == pytest.approx([0.925, 0.5, 0.15, 0.2])


def test_voc_annotations_parse_and_map_back_to_the_pixel_boxes() -> None:
    items = detection_items()
    data, _ = _export("voc", items)
    found: dict[str, list[tuple[str, tuple[float, ...]]]] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.read("labels.txt").decode().splitlines() == DETECTION
        for it in items:
            from urllib.parse import quote
            root = ET.fromstring(archive.read(f"Annotations/{quote(it.item_id, safe='')}.xml"))
            assert root.findtext("path") == it.data["source"]
            assert root.findtext("filename") == it.data["source"].rsplit("/", 1)[1]
            assert int(root.findtext("size/width") or 0) == it.data["width"]
            assert int(root.findtext("size/height") or 0) == it.data["height"]
            found[it.item_id] = [
                (obj.findtext("name") or "",
                 tuple(float(obj.findtext(f"bndbox/{k}") or "nan")
                       for k in ("xmin", "ymin", "xmax", "ymax")))
                for obj in root.iter("object")]
    _close(found, _expected_boxes(items), 0.5)  # whole pixels: within rounding


def test_label_names_that_need_escaping_survive_voc_and_yolo() -> None:
    odd = ["a&b <c>", 'say "hi"']
    exported = job("object_detection", odd)
    it = item("x/y", {"source": "s3://b/x&y.jpg", "width": 10, "height": 10}, {"objects": [
        {"type": "rectangle", "label": odd[1], "x": 1, "y": 1, "width": 2, "height": 2}]})
    with zipfile.ZipFile(io.BytesIO(b"".join(write_export("voc", [it], exported)))) as archive:
        root = ET.fromstring(archive.read("Annotations/x%2Fy.xml"))
    assert root.findtext("object/name") == odd[1]
    assert root.findtext("filename") == "x&y.jpg"
    with zipfile.ZipFile(io.BytesIO(b"".join(write_export("yolo", [it], exported)))) as archive:
        yaml_names = archive.read("data.yaml").decode().split("names: ", 1)[1]
        assert json.loads(yaml_names) == odd  # a JSON list is a YAML flow sequence
        assert archive.read("labels/x%2Fy.txt").startswith(b"1 ")
