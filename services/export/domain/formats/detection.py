"""What COCO, YOLO and Pascal VOC share: the image shape topics of a job, their categories,
and each item's region shapes with their category. Pure."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from labelops_shared.annotations import ShapeTopic
from services.export.domain.formats.geometry import AREA_SHAPES
from services.export.domain.formats.model import (
    AcceptedItem,
    ExportJob,
    ExportStats,
    object_labels,
    objects,
)


def check_detection(fmt: str, job: ExportJob) -> str | None:
    """A detection format needs a shape topic on still images that can hold a region."""
    topics = job.image_shape_topics()
    if not topics:
        return (f"{fmt} needs a shape topic on an image; this job's topics are: "
                f"{job.describe_topics()}")
    if not any(set(t.shapes) & set(AREA_SHAPES) for t in topics):
        allowed = ", ".join(f"{t.name}: {'/'.join(t.shapes)}" for t in topics)
        return (f"{fmt} needs shapes with an area (rectangle, polygon or circle); this job's "
                f"shape topics allow only {allowed}")
    return None


@dataclass(frozen=True, slots=True)
class Detection:
    topic: ShapeTopic
    shape: Mapping[str, Any]
    category: int  # 0-based index into Categories.names
    label: str


class Categories:
    """The label names of the job's image shape topics, in template order, each once; a topic
    without labels (OCR regions) contributes its own name as its one category."""

    def __init__(self, job: ExportJob) -> None:
        self.topics = [t for t in job.image_shape_topics() if set(t.shapes) & set(AREA_SHAPES)]
        self.names: list[str] = []
        index: dict[str, int] = {}
        for topic in self.topics:
            for name in topic.labels or [topic.name]:
                if name not in index:
                    index[name] = len(self.names)
                    self.names.append(name)
        self._index = index

    def fields(self) -> list[str]:
        """The image fields shapes are drawn on, each once (one image per item and field)."""
        return list(dict.fromkeys(t.field for t in self.topics))

    def detections(self, item: AcceptedItem, field_name: str,
                   stats: ExportStats) -> Iterator[Detection]:
        """Region shapes on one image field; a shape with several labels gives one detection
        per label; lines and points (no area) and labels outside the job's set are skipped and
        counted."""
        for topic in self.topics:
            if topic.field != field_name:
                continue
            for shape in objects(item.answer, topic.name):
                if shape.get("type") not in AREA_SHAPES:
                    stats.skip(f"{shape.get('type')} shapes (no area)")
                    continue
                for label in object_labels(shape) or [topic.name]:
                    category = self._index.get(label)
                    if category is None:
                        stats.skip("labels not in the job's label set")
                        continue
                    stats.objects += 1
                    yield Detection(topic, shape, category, label)
