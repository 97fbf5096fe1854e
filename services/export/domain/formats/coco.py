"""COCO object detection JSON: one document ``{info, licenses, categories, images,
annotations}`` written as a stream.

Memory stays bounded by one pass with a spool: the header and categories (known from the
topics) go out first, each image entry as its item arrives, and each item's annotations are
appended to a spool (in memory up to 8 MB, then a temporary file); once the items end, the
spool is copied out as the ``annotations`` array. One pass means each image and its
annotations come from the same read of the labeled view, even while acceptances continue.

Ids count from 1 in the order items arrive (the labeled view sorts by item id), so the same
view gives the same file. ``file_name`` is the item's source (an ``s3://`` URI for folder
scans) and ``labelops_item_id`` joins back to the item. Rectangles, polygons and circles
become annotations with a ``bbox`` ``[x, y, width, height]``, a ``segmentation`` polygon
(a circle as a 32-sided polygon) and an ``area`` (exact: w·h, the shoelace, π r²); lines and
points are left out and counted. Image sizes come from the item data (see image_size)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from services.export.domain.formats.detection import Categories, check_detection
from services.export.domain.formats.geometry import area, box, polygon
from services.export.domain.formats.model import (
    CHUNK_BYTES,
    AcceptedItem,
    Chunks,
    ExportJob,
    ExportStats,
    SpoolFactory,
    dumps,
    image_size,
    memory_spool,
    source_of,
)


def check_coco(job: ExportJob) -> str | None:
    return check_detection("COCO", job)


def write_coco(items: Iterator[AcceptedItem], job: ExportJob, stats: ExportStats,
               spool_factory: SpoolFactory = memory_spool) -> Iterator[bytes]:
    categories = Categories(job)
    fields = categories.fields()
    head = {"info": {"description": job.name or "LabelOps export", "version": "1.0",
                     "contributor": "LabelOps"},
            "licenses": [],
            "categories": [{"id": i + 1, "name": name, "supercategory": ""}
                           for i, name in enumerate(categories.names)]}
    chunks = Chunks()
    chunks.add(dumps(head)[:-1] + ',"images":[')
    image_id = annotation_id = 0
    with spool_factory() as spool:
        for item in items:
            stats.items += 1
            for field_name in fields:
                width, height = image_size(item, field_name, "COCO")
                image_id += 1
                image: dict[str, Any] = {"id": image_id,
                                         "file_name": source_of(item, field_name),
                                         "width": width, "height": height,
                                         "labelops_item_id": item.item_id}
                out = chunks.add(("," if image_id > 1 else "") + dumps(image))
                if out:
                    yield out
                for found in categories.detections(item, field_name, stats):
                    annotation_id += 1
                    x0, y0, x1, y1 = box(found.shape) or (0.0, 0.0, 0.0, 0.0)
                    outline = polygon(found.shape) or []
                    annotation: dict[str, Any] = {
                        "id": annotation_id, "image_id": image_id,
                        "category_id": found.category + 1,
                        "segmentation": [[c for point in outline for c in point]],
                        "area": area(found.shape), "bbox": [x0, y0, x1 - x0, y1 - y0],
                        "iscrowd": 0,
                    }
                    for key in ("text", "attributes"):
                        if key in found.shape:
                            annotation[key] = found.shape[key]
                    spool.write((("," if annotation_id > 1 else "") + dumps(annotation))
                                .encode())
        chunks.add('],"annotations":[')
        yield chunks.take()
        spool.seek(0)
        while piece := spool.read(CHUNK_BYTES):
            yield piece
    yield b"]}"

