"""YOLO and Pascal VOC: one label file per image inside an archive (ZIP by default, tar on
request), streamed member by member.

File names: the item id percent-encoded (``urllib.parse.quote(id, safe="")``, reversible and
safe on every file system), with ``.<field>`` appended when a template draws on several image
fields. Boxes are the axis-aligned boxes of rectangles, polygons and circles (lines and
points are counted and left out), clipped to the image.

YOLO (the Ultralytics layout): ``classes.txt`` (one name per line, line n = class n),
``data.yaml`` (``nc`` and ``names``), ``labels/<name>.txt`` with ``class cx cy w h`` per box
normalised to [0, 1] (6 decimals; an empty file for an image without boxes), and last
``images.csv`` (label file, source, width, height, item id) since images are not copied.

Pascal VOC: ``labels.txt`` then ``Annotations/<name>.xml`` per image with ``size`` and one
``object`` per box (``bndbox`` in whole pixels, 0-based as torchvision and albumentations read
them; ``truncated`` 1 when clipping changed the box)."""

from __future__ import annotations

import csv
import io
import posixpath
from collections.abc import Iterator
from urllib.parse import quote, urlparse
from xml.sax.saxutils import escape

from services.export.domain.formats.archive import ArchiveKind, StreamingArchive
from services.export.domain.formats.detection import Categories, check_detection
from services.export.domain.formats.geometry import box, clip
from services.export.domain.formats.model import (
    AcceptedItem,
    ExportJob,
    ExportStats,
    SpoolFactory,
    dumps,
    image_size,
    media,
    memory_spool,
    source_of,
)

FLUSH_BYTES = 64 * 1024


def check_yolo(job: ExportJob) -> str | None:
    return check_detection("YOLO", job)


def check_voc(job: ExportJob) -> str | None:
    return check_detection("Pascal VOC", job)


def file_stem(item_id: str, field_name: str, fields: list[str]) -> str:
    stem = quote(item_id, safe="")
    return stem if field_name == fields[0] else f"{stem}.{quote(field_name, safe='')}"


def write_yolo(items: Iterator[AcceptedItem], job: ExportJob, stats: ExportStats,
               archive_kind: ArchiveKind = "zip",
               spool_factory: SpoolFactory = memory_spool) -> Iterator[bytes]:
    categories = Categories(job)
    fields = categories.fields()
    archive = StreamingArchive(archive_kind)
    archive.add("classes.txt", "".join(f"{n}\n" for n in categories.names).encode())
    archive.add("data.yaml", (f"# LabelOps export{': ' + job.name if job.name else ''}\n"
                              f"path: .\ntrain: images\nval: images\n"
                              f"nc: {len(categories.names)}\n"
                              f"names: {dumps(categories.names)}\n").encode())
    text = io.StringIO()
    rows = csv.writer(text)
    rows.writerow(["label_file", "source", "width", "height", "item_id"])
    with spool_factory() as spool:
        for item in items:
            stats.items += 1
            for field_name in fields:
                width, height = image_size(item, field_name, "YOLO")
                lines = []
                for found in categories.detections(item, field_name, stats):
                    x0, y0, x1, y1 = clip(box(found.shape) or (0, 0, 0, 0), width, height)
                    if x1 <= x0 or y1 <= y0:
                        stats.objects -= 1
                        stats.skip("boxes outside the image")
                        continue
                    lines.append(f"{found.category} {(x0 + x1) / 2 / width:.6f} "
                                 f"{(y0 + y1) / 2 / height:.6f} {(x1 - x0) / width:.6f} "
                                 f"{(y1 - y0) / height:.6f}\n")
                name = f"labels/{file_stem(item.item_id, field_name, fields)}.txt"
                archive.add(name, "".join(lines).encode())
                rows.writerow([name, source_of(item, field_name), width, height, item.item_id])
            spool.write(text.getvalue().encode())
            text.seek(0)
            text.truncate()
            out = archive.drain(at_least=FLUSH_BYTES)
            if out:
                yield out
        size = spool.tell()
        spool.seek(0)
        yield from archive.add_file("images.csv", spool, size)
    yield from archive.finish()


def _voc_document(item: AcceptedItem, field_name: str, width: int | float,
                  height: int | float, categories: Categories, stats: ExportStats) -> bytes:
    """One VOC annotation, written from a template (ElementTree costs 4x more per image)."""
    source = source_of(item, field_name)
    path = urlparse(source).path or source
    depth = media(item.data, field_name).get("depth", 3)

    def whole(value: int | float) -> str:
        return str(round(value) if isinstance(value, float) else value)

    parts = ['<?xml version="1.0" encoding="utf-8"?>\n<annotation>\n',
             f"  <folder>{escape(posixpath.basename(posixpath.dirname(path)))}</folder>\n",
             f"  <filename>{escape(posixpath.basename(path))}</filename>\n",
             f"  <path>{escape(source)}</path>\n",
             "  <source>\n    <database>LabelOps</database>\n  </source>\n",
             f"  <size>\n    <width>{whole(width)}</width>\n    <height>{whole(height)}</height>"
             f"\n    <depth>{escape(str(depth))}</depth>\n  </size>\n",
             "  <segmented>0</segmented>\n"]
    for found in categories.detections(item, field_name, stats):
        raw = box(found.shape) or (0.0, 0.0, 0.0, 0.0)
        clipped = clip(raw, width, height)
        x0, y0, x1, y1 = (round(v) for v in clipped)
        if x1 <= x0 or y1 <= y0:
            stats.objects -= 1
            stats.skip("boxes outside the image")
            continue
        parts.append(f"  <object>\n    <name>{escape(found.label)}</name>\n"
                     f"    <pose>Unspecified</pose>\n"
                     f"    <truncated>{1 if clipped != raw else 0}</truncated>\n"
                     f"    <difficult>0</difficult>\n    <bndbox>\n"
                     f"      <xmin>{x0}</xmin>\n      <ymin>{y0}</ymin>\n"
                     f"      <xmax>{x1}</xmax>\n      <ymax>{y1}</ymax>\n"
                     f"    </bndbox>\n  </object>\n")
    parts.append("</annotation>\n")
    return "".join(parts).encode()


def write_voc(items: Iterator[AcceptedItem], job: ExportJob, stats: ExportStats,
              archive_kind: ArchiveKind = "zip") -> Iterator[bytes]:
    categories = Categories(job)
    fields = categories.fields()
    archive = StreamingArchive(archive_kind)
    archive.add("labels.txt", "".join(f"{n}\n" for n in categories.names).encode())
    for item in items:
        stats.items += 1
        for field_name in fields:
            width, height = image_size(item, field_name, "Pascal VOC")
            document = _voc_document(item, field_name, width, height, categories, stats)
            archive.add(f"Annotations/{file_stem(item.item_id, field_name, fields)}.xml",
                        document)
        out = archive.drain(at_least=FLUSH_BYTES)
        if out:
            yield out
    yield from archive.finish()
