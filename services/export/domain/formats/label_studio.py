"""Label Studio JSON: the task list Label Studio imports (``[{"data", "annotations":
[{"result": [...]}], "meta"}]``), streamed as one JSON array, one task per item.

Results follow Label Studio's documented result format; ``from_name`` is the topic name and
``to_name`` the content field it is drawn on (``label_studio_config`` gives the labeling
config with those names, to paste into the project):

- single/multiple choice: ``choices`` ``{"choices": [...]}``; free text: ``textarea``
  ``{"text": [...]}``;
- spans: ``labels`` ``{"start", "end", "text", "labels"}``; offsets are converted to UTF-16
  code units, as Label Studio's browser side counts them (the same for text without
  characters outside the Basic Multilingual Plane);
- relations: ``{"type": "relation", "from_id", "to_id", "direction": "right", "labels"}``
  between the span results' ids (``<topic>_<span id>``);
- shapes, in percent of the image size with ``original_width``/``original_height``:
  rectangles ``rectanglelabels`` ``{x, y, width, height, rotation}``, polygons
  ``polygonlabels`` ``{points}``, circles ``ellipselabels`` ``{x, y, radiusX, radiusY}``,
  points ``keypointlabels`` ``{x, y, width}``; a topic without labels uses the unlabelled
  types (``rectangle``, ``polygon``, ``ellipse``, ``keypoint``); OCR text is a per-region
  ``textarea`` result with the same id (from ``<topic>_text``); lines have no Label Studio
  result type and are counted as skipped;
- time segments: ``labels`` ``{"start", "end", "channel": 0, "labels"}`` in seconds; label
  classes as one ``labels`` result per class (``<topic>_<class>``), text and speaker as
  per-region ``textarea`` (``<topic>_text``) and ``labels`` (``<topic>_speaker``) results.

Tables, PDF pages and video frame shapes have no Label Studio result here: check_format
refuses templates with them rather than export a partial task."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from xml.sax.saxutils import quoteattr

from labelops_shared.annotations import (
    FreeText,
    MultipleChoice,
    PageTopic,
    RelationTopic,
    ShapeTopic,
    SingleChoice,
    SpanTopic,
    TableTopic,
    TimeSegmentTopic,
    Topic,
)
from services.export.domain.formats.model import (
    AcceptedItem,
    Chunks,
    ExportJob,
    ExportStats,
    dumps,
    image_size,
    object_labels,
    objects,
    span_text,
    text_of,
)

_SHAPE_TYPES = {"rectangle": "rectangle", "polygon": "polygon", "circle": "ellipse",
                "point": "keypoint"}
POINT_SIZE = 0.5  # keypoint width in percent, as Label Studio draws them by default


def check_label_studio(job: ExportJob) -> str | None:
    refused = [t for t in job.parsed if isinstance(t, TableTopic | PageTopic)
               or (isinstance(t, ShapeTopic) and (t.timed or t.field not in _image_fields(job)))]
    if refused:
        video = ", video frames"
        names = ", ".join(f"{t.name} ({t.kind}{video if getattr(t, 'timed', False) else ''})"
                          for t in refused)
        return (f"Label Studio JSON cannot hold these topics (no matching result type): "
                f"{names}; this job's topics are: {job.describe_topics()}")
    return None


def shape_control(topic: ShapeTopic, kind: str) -> str:
    """The control name of one shape kind: the topic name, or ``<topic>_<kind>`` when the
    topic allows several kinds (Label Studio names each control once)."""
    kinds = {_SHAPE_TYPES[s] for s in topic.shapes if s in _SHAPE_TYPES}
    return topic.name if len(kinds) <= 1 else f"{topic.name}_{kind}"


def _image_fields(job: ExportJob) -> set[str]:
    return {t.field for t in job.image_shape_topics()}


def utf16(text: str, offset: int) -> int:
    """A code-point offset as UTF-16 code units (what JavaScript strings count)."""
    if text.isascii():
        return offset
    return len(text[:offset].encode("utf-16-le")) // 2


def _default_target(job: ExportJob) -> str:
    for component in job.content:
        return str(component.get("field", "source"))
    return "source"


class _Results:
    def __init__(self, job: ExportJob, stats: ExportStats) -> None:
        self.job = job
        self.stats = stats
        self.target = _default_target(job)

    def of(self, item: AcceptedItem) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        for topic in self.job.parsed:
            value = item.answer.get(topic.name)
            if value is None:
                continue
            results += self._topic(topic, value, item)
        return results

    def _topic(self, topic: Topic, value: Any, item: AcceptedItem) -> list[dict[str, Any]]:
        if isinstance(topic, SingleChoice | MultipleChoice):
            choices = value if isinstance(value, list) else [value]
            return [self._result(topic.name, self.target, "choices",
                                 {"choices": [str(c) for c in choices]})] if choices else []
        if isinstance(topic, FreeText):
            return [self._result(topic.name, self.target, "textarea", {"text": [str(value)]})]
        if isinstance(topic, SpanTopic):
            return self._spans(topic, item)
        if isinstance(topic, RelationTopic):
            return [{"type": "relation", "from_id": f"{topic.spans_topic}_{r['from']}",
                     "to_id": f"{topic.spans_topic}_{r['to']}", "direction": "right",
                     "labels": [r["label"]]} for r in objects(item.answer, topic.name)]
        if isinstance(topic, ShapeTopic):
            return self._shapes(topic, item)
        if isinstance(topic, TimeSegmentTopic):
            return self._segments(topic, item)
        return []

    def _result(self, from_name: str, to_name: str, kind: str, value: dict[str, Any],
                region: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = {"from_name": from_name, "to_name": to_name, "type": kind,
                                  "value": value, "origin": "manual"}
        if region is not None:
            result = {"id": region, **result}
        return result

    def _spans(self, topic: SpanTopic, item: AcceptedItem) -> list[dict[str, Any]]:
        text = text_of(item, topic.field)
        results = []
        for i, span in enumerate(objects(item.answer, topic.name)):
            start, end = int(span["start"]), int(span["end"])
            region = f"{topic.name}_{span.get('id', i)}"
            self.stats.objects += 1
            results.append(self._result(topic.name, topic.field, "labels", {
                "start": utf16(text, start), "end": utf16(text, end),
                "text": span_text(span, text), "labels": object_labels(span)}, region))
        return results

    def _shapes(self, topic: ShapeTopic, item: AcceptedItem) -> list[dict[str, Any]]:
        found = objects(item.answer, topic.name)
        if not found:
            return []
        width, height = image_size(item, topic.field, "Label Studio JSON")
        results = []
        for i, shape in enumerate(found):
            kind = _SHAPE_TYPES.get(str(shape.get("type")))
            if kind is None:
                self.stats.skip(f"{shape.get('type')} shapes (no Label Studio type)")
                continue
            control = shape_control(topic, kind)
            geometry = _geometry(shape, width, height)
            value: dict[str, Any] = dict(geometry)
            if topic.labels:
                kind = f"{kind}labels"
                value[kind] = object_labels(shape)
            region = f"{topic.name}_{shape.get('id', i)}"
            size = {"original_width": width, "original_height": height, "image_rotation": 0}
            results.append({**self._result(control, topic.field, kind, value, region),
                            **size})
            if "text" in shape:
                results.append({**self._result(f"{topic.name}_text", topic.field, "textarea",
                                               {**geometry, "text": [shape["text"]]}, region),
                                **size})
            self.stats.objects += 1
        return results

    def _segments(self, topic: TimeSegmentTopic, item: AcceptedItem) -> list[dict[str, Any]]:
        results = []
        for i, segment in enumerate(objects(item.answer, topic.name)):
            region = f"{topic.name}_{segment.get('id', i)}"
            when = {"start": segment["start"], "end": segment["end"], "channel": 0}
            classes = segment.get("classes")
            if isinstance(classes, Mapping):
                for name, label in classes.items():
                    results.append(self._result(f"{topic.name}_{name}", topic.field, "labels",
                                                {**when, "labels": [label]}, region))
            else:
                results.append(self._result(topic.name, topic.field, "labels",
                                            {**when, "labels": object_labels(segment)}, region))
            if segment.get("text"):
                results.append(self._result(f"{topic.name}_text", topic.field, "textarea",
                                            {**when, "text": [segment["text"]]}, region))
            if segment.get("speaker"):
                results.append(self._result(f"{topic.name}_speaker", topic.field, "labels",
                                            {**when, "labels": [segment["speaker"]]}, region))
            self.stats.objects += 1
        return results


def _geometry(shape: Mapping[str, Any], width: float, height: float) -> dict[str, Any]:
    def px(x: Any) -> float:
        return float(x) * 100 / width

    def py(y: Any) -> float:
        return float(y) * 100 / height

    kind = shape["type"]
    if kind == "rectangle":
        return {"x": px(shape["x"]), "y": py(shape["y"]), "width": px(shape["width"]),
                "height": py(shape["height"]), "rotation": 0}
    if kind == "polygon":
        return {"points": [[px(p[0]), py(p[1])] for p in shape["points"]], "closed": True}
    if kind == "circle":
        return {"x": px(shape["cx"]), "y": py(shape["cy"]), "radiusX": px(shape["r"]),
                "radiusY": py(shape["r"]), "rotation": 0}
    return {"x": px(shape["x"]), "y": py(shape["y"]), "width": POINT_SIZE}


def write_label_studio(items: Iterator[AcceptedItem], job: ExportJob,
                       stats: ExportStats) -> Iterator[bytes]:
    results = _Results(job, stats)
    chunks = Chunks()
    chunks.add("[")
    first = True
    for item in items:
        annotation: dict[str, Any] = {"result": results.of(item), "was_cancelled": False,
                                      "ground_truth": False}
        if item.accepted_at is not None:
            annotation["created_at"] = item.accepted_at.isoformat()
        task = {"data": dict(item.data), "annotations": [annotation],
                "meta": {"labelops_item_id": item.item_id, "labeler": item.labeler,
                         "revision": item.revision}}
        stats.items += 1
        out = chunks.add(("\n" if first else ",\n") + dumps(task))
        first = False
        if out:
            yield out
    chunks.add("\n]\n")
    yield chunks.take()


# -- the labeling config that matches the results ----------------------------------------

_OBJECT_TAGS = {"image": "Image", "text": "Text", "audio": "Audio", "video": "Video"}


def label_studio_config(job: ExportJob) -> str:
    """A Label Studio labeling config (XML) whose control and object names match the exported
    results, so a project created with it opens the export as is."""
    lines = ["<View>"]
    fields = {str(c.get("field")): str(c.get("kind")) for c in job.content}
    for topic in job.parsed:
        if hasattr(topic, "field"):
            fields.setdefault(topic.field, "image" if isinstance(topic, ShapeTopic) else
                              "audio" if isinstance(topic, TimeSegmentTopic) else "text")
    fields = fields or {"source": "text"}
    for name, kind in fields.items():
        tag = _OBJECT_TAGS.get(kind, "Text")
        lines.append(f"  <{tag} name={quoteattr(name)} value={quoteattr('$' + name)}/>")
    target = _default_target(job)

    def labels(tag: str, name: str, to: str, values: list[str], extra: str = "") -> None:
        lines.append(f"  <{tag} name={quoteattr(name)} toName={quoteattr(to)}{extra}>")
        lines.extend(f"    <Label value={quoteattr(v)}/>" for v in values)
        lines.append(f"  </{tag}>")

    for topic in job.parsed:
        if isinstance(topic, SingleChoice | MultipleChoice):
            choice = "multiple" if isinstance(topic, MultipleChoice) else "single"
            lines.append(f"  <Choices name={quoteattr(topic.name)} toName={quoteattr(target)} "
                         f"choice=\"{choice}\">")
            lines.extend(f"    <Choice value={quoteattr(v)}/>" for v in topic.options)
            lines.append("  </Choices>")
        elif isinstance(topic, FreeText):
            lines.append(f"  <TextArea name={quoteattr(topic.name)} "
                         f"toName={quoteattr(target)}/>")
        elif isinstance(topic, SpanTopic):
            labels("Labels", topic.name, topic.field, topic.labels)
        elif isinstance(topic, RelationTopic):
            lines.append("  <Relations>")
            lines.extend(f"    <Relation value={quoteattr(r.name)}/>" for r in topic.relations)
            lines.append("  </Relations>")
        elif isinstance(topic, ShapeTopic):
            for shape in topic.shapes:
                if shape not in _SHAPE_TYPES:
                    continue
                kind = _SHAPE_TYPES[shape]
                tag = {"rectangle": "Rectangle", "polygon": "Polygon", "ellipse": "Ellipse",
                       "keypoint": "KeyPoint"}[kind]
                control = shape_control(topic, kind)
                if topic.labels:
                    labels(f"{tag}Labels", control, topic.field, topic.labels)
                else:
                    lines.append(f"  <{tag} name={quoteattr(control)} "
                                 f"toName={quoteattr(topic.field)}/>")
            if topic.with_text:
                lines.append(f"  <TextArea name={quoteattr(topic.name + '_text')} "
                             f"toName={quoteattr(topic.field)} perRegion=\"true\"/>")
        elif isinstance(topic, TimeSegmentTopic):
            if topic.classes:
                for cls in topic.classes:
                    labels("Labels", f"{topic.name}_{cls.name}", topic.field, cls.labels)
            else:
                labels("Labels", topic.name, topic.field, topic.labels)
            if topic.with_text:
                lines.append(f"  <TextArea name={quoteattr(topic.name + '_text')} "
                             f"toName={quoteattr(topic.field)} perRegion=\"true\"/>")
            if topic.with_speaker:
                labels("Labels", f"{topic.name}_speaker", topic.field, topic.speakers)
    lines.append("</View>")
    return "\n".join(lines) + "\n"
