"""check_format's reasons, filters, incremental selection, and identical exports from
duplicated and reordered accepted events."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta

import pytest

from labelops_shared.annotations import PRESETS
from services.export.domain.formats import (
    FORMATS,
    ExportFilter,
    ExportJob,
    Selection,
    answer_labels,
    check_format,
    fold_accepted,
    write_export,
)
from services.export.tests.samples import (
    DETECTION,
    NER,
    T0,
    detection_items,
    item,
    job,
    ner_items,
)


def test_reasons_name_the_format_and_the_jobs_topics() -> None:
    sentiment = job("text_classification", ["pos", "neg"])
    assert check_format("coco", sentiment.topics) == (
        "COCO needs a shape topic on an image; this job's topics are: label (single_choice)")
    assert "CoNLL BIO needs a span topic" in str(check_format("conll", sentiment.topics))
    assert "relation topic" in str(check_format("triplets", sentiment.topics))
    assert "time_segment" in str(check_format("audio_segments", sentiment.topics))
    assert check_format("classification_csv", sentiment.topics) is None
    assert check_format("manifest", sentiment.topics) is None
    assert "unknown" in str(check_format("parquet", sentiment.topics))


def test_every_preset_is_expressible_where_it_should_be() -> None:
    expected = {
        "object_detection": {"coco", "yolo", "voc", "label_studio"},
        "image_segmentation": {"coco", "yolo", "voc", "label_studio"},
        "named_entities": {"conll", "label_studio"},
        "entity_relations": {"conll", "triplets", "label_studio"},
        "text_classification": {"classification_csv", "label_studio"},
        "audio_segmentation": {"audio_segments", "audio_segments_csv", "label_studio"},
        "audio_transcription": {"transcripts", "label_studio"},
    }
    for preset, formats in expected.items():
        labels = [{"name": "a"}, {"name": "b"}]
        if PRESETS[preset].relations:
            labels.append({"name": "r", "kind": "relation", "source": ["a"], "target": ["b"]})
        template = PRESETS[preset](labels).to_dict()
        for fmt in FORMATS:
            problem = check_format(fmt, template["topics"], template["content"])
            assert (problem is None) == (fmt in formats | {"manifest"}), (preset, fmt, problem)


def test_video_frames_tables_and_lines_only_are_refused_where_they_do_not_fit() -> None:
    video = PRESETS["video_frame_labeling"]([{"name": "car"}]).to_dict()
    assert "COCO needs a shape topic on an image" in str(
        check_format("coco", video["topics"], video["content"]))
    assert "video frames" in str(check_format("label_studio", video["topics"], video["content"]))
    tables = PRESETS["table_recognition"]([]).to_dict()
    assert "tables (table)" in str(check_format("label_studio", tables["topics"]))
    lines = [{"name": "lanes", "kind": "shape", "field": "source", "shapes": ["line"],
              "labels": ["lane"]}]
    assert "only lanes: line" in str(check_format("yolo", lines))


def test_filters_by_label_labeler_hard_example_and_time() -> None:
    detection = job("object_detection", DETECTION)
    items = [replace(x, hard=(n == 2)) for n, x in enumerate(detection_items())]
    assert answer_labels(detection, items[0].answer) == {"cat", "dog", "bird"}

    def kept(where: ExportFilter) -> list[str]:
        return [x.item_id for x in Selection(items, detection, where)]

    assert kept(ExportFilter()) == ["ds:1:1", "ds:1:2", "ds:1:3"]
    assert kept(ExportFilter(labels=frozenset({"bird"}))) == ["ds:1:1", "ds:1:2"]
    assert kept(ExportFilter(labelers=frozenset({"bob"}))) == ["ds:1:2"]
    assert kept(ExportFilter(hard_only=True)) == ["ds:1:3"]
    timed = [replace(x, accepted_at=T0 + timedelta(hours=n)) for n, x in enumerate(items)]
    selection = Selection(timed, detection, ExportFilter(
        accepted_from=T0 + timedelta(hours=1), accepted_to=T0 + timedelta(hours=2)))
    assert [x.item_id for x in selection] == ["ds:1:2"]
    assert selection.read == 3 and selection.kept == 1


def test_incremental_exports_take_what_was_accepted_after_the_watermark() -> None:
    ner = job("named_entities", NER)
    items = [replace(x, accepted_at=T0 + timedelta(minutes=n)) for n, x in
             enumerate(ner_items())]
    first = Selection(items[:2], ner)
    assert len(list(first)) == 2 and first.watermark == T0 + timedelta(minutes=1)
    second = Selection(items, ner, ExportFilter(accepted_after=first.watermark))
    assert [x.item_id for x in second] == ["t3"]
    assert second.watermark == T0 + timedelta(minutes=2)
    nothing_new = Selection(items, ner, ExportFilter(accepted_after=second.watermark))
    assert list(nothing_new) == [] and nothing_new.watermark == second.watermark


def test_filter_problems_are_named() -> None:
    assert ExportFilter(accepted_from=T0, accepted_to=T0).problems() == [
        "accepted_to: must be after accepted_from"]
    assert ExportFilter(accepted_after=T0.replace(tzinfo=None)).problems() == [
        "accepted_after: needs a time zone (UTC offset)"]


def _all_samples() -> list[tuple[str, ExportJob, list]]:  # type: ignore[type-arg]
    detection, ner = job("object_detection", DETECTION), job("named_entities", NER)
    return [(fmt, detection, detection_items()) for fmt in
            ("manifest", "coco", "yolo", "voc", "label_studio")] + [
        (fmt, ner, ner_items()) for fmt in ("conll", "label_studio", "manifest")]


@pytest.mark.parametrize(("fmt", "exported", "items"), _all_samples())
def test_duplicated_and_reordered_events_give_an_identical_export(
        fmt: str, exported: ExportJob, items: list) -> None:  # type: ignore[type-arg]
    # Older revisions and redeliveries of every item, in a shuffled order.
    stale = [replace(x, revision=0, answer={}) for x in items]
    baseline = b"".join(write_export(fmt, fold_accepted(items), exported))
    rng = random.Random(7)
    for _ in range(5):
        events = items * 3 + stale
        rng.shuffle(events)
        assert b"".join(write_export(fmt, fold_accepted(events), exported)) == baseline


def test_newer_revisions_replace_older_ones_in_the_fold() -> None:
    a1 = item("a", {"source": "x"}, {"label": "pos"}, revision=1)
    a2 = item("a", {"source": "x"}, {"label": "neg"}, revision=2)
    assert fold_accepted([a2, a1, a2]) == [a2]
