"""Export formats: pure writers from accepted items to bytes, one per format.

Every writer takes an iterator of :class:`AcceptedItem` (the labeled view, in item id
order), the :class:`ExportJob` (topics and content of the template) and an
:class:`ExportStats` it fills, and yields ``bytes`` pieces of about 64 KB; memory does not
grow with the number of items (COCO and YOLO spool what must come last, see their modules).
Equal inputs give equal bytes (archives carry a fixed time). ``check_format`` says, before
anything is read, why a job's template cannot be expressed in a format; an item that cannot
be written (an image without a known size) raises :class:`ExportItemError` naming it.

=====================  ==================  ==============================================
format                 file                needs
=====================  ==================  ==============================================
manifest               .jsonl              any template: data + one field per topic
coco                   .json               a shape topic on an image (rect/polygon/circle)
yolo                   .zip                same; labels/*.txt, classes.txt, data.yaml
voc                    .zip                same; Annotations/*.xml
conll                  .conll              a span topic (NER), BIO tags
triplets               .jsonl              a relation topic: (head, relation, tail)
classification_csv     .csv                a single or multiple choice topic
audio_segments         .jsonl              a time_segment topic: one line per segment
audio_segments_csv     .csv                a time_segment topic: start,end,labels,text
transcripts            .jsonl              free text on audio, or segments with text
label_studio           .json               no table, page or video frame topics
=====================  ==================  ==============================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from labelops_shared.annotations import TemplateError
from services.export.domain.formats import (
    boxes,
    coco,
    conll,
    jsonl,
    label_studio,
    tabular,
)
from services.export.domain.formats.model import (
    AcceptedItem,
    ExportItemError,
    ExportJob,
    ExportStats,
    Writer,
)
from services.export.domain.formats.selection import (
    ExportFilter,
    Selection,
    answer_labels,
    fold_accepted,
)


@dataclass(frozen=True)
class Format:
    name: str
    title: str
    extension: str
    content_type: str
    check: Callable[[ExportJob], str | None]
    write: Writer


_JSONL, _CSV = "application/x-ndjson", "text/csv; charset=utf-8"
FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("manifest", "manifest (JSON lines)", "jsonl", _JSONL, jsonl.check_manifest,
           jsonl.write_manifest),
    Format("coco", "COCO", "json", "application/json", coco.check_coco, coco.write_coco),
    Format("yolo", "YOLO", "zip", "application/zip", boxes.check_yolo, boxes.write_yolo),
    Format("voc", "Pascal VOC", "zip", "application/zip", boxes.check_voc, boxes.write_voc),
    Format("conll", "CoNLL-2003 BIO", "conll", "text/plain; charset=utf-8", conll.check_conll,
           conll.write_conll),
    Format("triplets", "relation triplets (JSON lines)", "jsonl", _JSONL,
           jsonl.check_triplets, jsonl.write_triplets),
    Format("classification_csv", "classification CSV", "csv", _CSV,
           tabular.check_classification, tabular.write_classification),
    Format("audio_segments", "audio segments (JSON lines)", "jsonl", _JSONL,
           jsonl.check_segments, jsonl.write_segments),
    Format("audio_segments_csv", "audio segments CSV", "csv", _CSV, jsonl.check_segments,
           tabular.write_segments_csv),
    Format("transcripts", "transcripts (JSON lines)", "jsonl", _JSONL,
           jsonl.check_transcripts, jsonl.write_transcripts),
    Format("label_studio", "Label Studio JSON", "json", "application/json",
           label_studio.check_label_studio, label_studio.write_label_studio),
)}


def check_format(fmt: str, topics: Sequence[Mapping[str, Any]],
                 content: Sequence[Mapping[str, Any]] = ()) -> str | None:
    """Why a job's template cannot be expressed in ``fmt``, or None when it can."""
    found = FORMATS.get(fmt)
    if found is None:
        return f"format: {fmt!r} is unknown; one of {', '.join(FORMATS)}"
    try:
        job = ExportJob(topics, content)
    except TemplateError as exc:
        return f"this job's topics cannot be read: {exc}"
    return found.check(job)


def write_export(fmt: str, items: Iterable[AcceptedItem], job: ExportJob,
                 stats: ExportStats | None = None) -> Iterator[bytes]:
    """The bytes of an export; ``items`` already selected (see :class:`Selection`)."""
    problem = check_format(fmt, job.topics, job.content)
    if problem:
        raise ValueError(problem)
    return FORMATS[fmt].write(iter(items), job, stats if stats is not None else ExportStats())


__all__ = ["FORMATS", "AcceptedItem", "ExportFilter", "ExportItemError", "ExportJob",
           "ExportStats", "Format", "Selection", "answer_labels", "check_format",
           "fold_accepted", "write_export"]
