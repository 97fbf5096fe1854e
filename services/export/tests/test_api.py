"""Exports through the service: formats chosen per request, refused with INVALID_ARGUMENT
naming why, filters and incremental exports, on the in-process server (conftest)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import grpc
import pytest
from pycocotools.coco import COCO

from labelops.export.v1 import export_pb2 as pb
from labelops_shared.annotations import build_template
from labelops_shared.contracts import PackageItemsRemoved
from services.export.tests.conftest import Harness

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
DETECTION = build_template("object_detection", [{"name": "cat"}, {"name": "dog"}]).to_dict()


def _image(n: int, label: str = "cat", who: str = "ann", revision: int = 1,
           sized: bool = True) -> tuple[str, dict[str, Any], dict[str, Any], str, int]:
    data: dict[str, Any] = {"source": f"s3://b/{n}.jpg"}
    if sized:
        data |= {"width": 200, "height": 100}
    return (f"ds1:1:{n:04d}", data, {"objects": [
        {"type": "rectangle", "label": label, "x": n, "y": 10, "width": 20, "height": 30}]},
        who, revision)


async def test_a_coco_export_is_written_and_read_by_pycocotools(harness: Harness,
                                                                tmp_path: Path) -> None:
    await harness.create_job("j1", DETECTION, ["cat", "dog"])
    await harness.accept("j1", "p1", [_image(n, "cat" if n % 2 else "dog") for n in range(30)])
    started = await harness.start("j1", "coco")
    assert started.format == "coco" and started.version == 1
    done = await harness.finished(started.id)
    assert done.state == pb.EXPORT_STATE_COMPLETED, done.error
    assert done.object_key.endswith("export-v1-coco.json")
    assert done.content_type == "application/json"
    assert (done.items_written, done.items_total, done.objects_written) == (30, 30, 30)
    path = tmp_path / "coco.json"
    path.write_bytes(harness.file(done))
    coco = COCO(str(path))
    assert len(coco.getImgIds()) == 30 and len(coco.getAnnIds()) == 30
    assert len(coco.getAnnIds(catIds=[1])) == 15
    assert done.size_bytes == path.stat().st_size


async def test_a_format_the_template_cannot_express_is_refused_naming_why(
        harness: Harness) -> None:
    await harness.create_job("j1", DETECTION, ["cat", "dog"])
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await harness.start("j1", "conll")
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details() == ("CoNLL BIO needs a span topic (labelled entities over "
                                       "a text field); this job's topics are: objects (shape)")
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await harness.start("j1", "parquet")
    assert unknown.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'parquet' is unknown" in str(unknown.value.details())
    with pytest.raises(grpc.aio.AioRpcError) as bad_time:
        await harness.start("j1", "coco", filter=pb.ExportFilter(accepted_from="yesterday"))
    assert bad_time.value.details() == ("filter.accepted_from: 'yesterday' is not an RFC 3339 "
                                        "time")


async def test_an_item_without_an_image_size_fails_the_export_naming_it(
        harness: Harness) -> None:
    await harness.create_job("j1", DETECTION, ["cat", "dog"])
    await harness.accept("j1", "p1", [_image(1), _image(2, sized=False), _image(3)])
    done = await harness.finished((await harness.start("j1", "yolo")).id)
    assert done.state == pb.EXPORT_STATE_FAILED
    assert "item 'ds1:1:0002' (s3://b/2.jpg) has no positive width and height" in done.error
    assert done.object_key == ""


async def test_hard_examples_marked_by_labelers_can_be_exported_alone(
        harness: Harness) -> None:
    await harness.create_job("j1", DETECTION, ["cat", "dog"])
    await harness.accept("j1", "p1", [_image(n) for n in range(5)],
                         hard=frozenset({"ds1:1:0001", "ds1:1:0003"}))
    done = await harness.finished((await harness.start(
        "j1", "manifest", filter=pb.ExportFilter(hard_only=True))).id)
    assert [json.loads(x)["id"] for x in harness.file(done).splitlines()] == [
        "ds1:1:0001", "ds1:1:0003"]


async def test_items_removed_from_the_job_leave_the_view(harness: Harness) -> None:
    await harness.create_job("j1", DETECTION, ["cat", "dog"])
    await harness.accept("j1", "p1", [_image(n) for n in range(4)])
    removed = PackageItemsRemoved(job_id="j1", package_id="p1", item_ids=["ds1:1:0002"],
                                  reason="deleted from the dataset")
    assert await harness.deliver(removed) == "handled"
    assert await harness.deliver(removed) == "handled"  # a second removal changes nothing
    done = await harness.finished((await harness.start("j1", "manifest")).id)
    assert [json.loads(x)["id"] for x in harness.file(done).splitlines()] == [
        "ds1:1:0000", "ds1:1:0001", "ds1:1:0003"]


async def test_filters_select_labels_and_labelers(harness: Harness) -> None:
    await harness.create_job("j1", DETECTION, ["cat", "dog"])
    await harness.accept("j1", "p1", [_image(n, "cat" if n < 4 else "dog",
                                             who="bob" if n % 2 else "eve") for n in range(10)])
    by_label = await harness.finished((await harness.start(
        "j1", "manifest", filter=pb.ExportFilter(labels=["cat"]))).id)
    ids = [json.loads(x)["id"] for x in harness.file(by_label).splitlines()]
    assert ids == [f"ds1:1:{n:04d}" for n in range(4)]
    assert list(by_label.filter.labels) == ["cat"]
    by_labeler = await harness.finished((await harness.start(
        "j1", "manifest", filter=pb.ExportFilter(labelers=["bob"], labels=["dog"]))).id)
    ids = [json.loads(x)["id"] for x in harness.file(by_labeler).splitlines()]
    assert ids == [f"ds1:1:{n:04d}" for n in (5, 7, 9)]
    assert by_labeler.items_written == by_labeler.items_total == 3


async def test_incremental_exports_take_what_the_view_took_in_since_the_last_export(
        harness: Harness) -> None:
    await harness.create_job("j1", DETECTION, ["cat", "dog"])
    await harness.accept("j1", "p1", [_image(n) for n in range(3)])
    first = await harness.finished((await harness.start("j1", "voc", incremental=True)).id)
    assert first.items_written == 3 and first.since == ""
    await harness.accept("j1", "p2", [_image(n) for n in range(3, 5)])
    await harness.accept("j1", "p1", [_image(0, "dog", revision=2)])  # a revision counts
    await harness.accept("j1", "p1", [_image(1, revision=1)])  # a redelivery does not
    second = await harness.finished((await harness.start("j1", "voc", incremental=True)).id)
    assert second.since == first.created_at
    with zipfile.ZipFile(io.BytesIO(harness.file(second))) as archive:
        names = sorted(n for n in archive.namelist() if n.startswith("Annotations/"))
        assert "<name>dog</name>" in archive.read(names[0]).decode()
    assert names == [f"Annotations/ds1%3A1%3A{n:04d}.xml" for n in (0, 3, 4)]
    assert second.items_written == 3
    exports = await harness.stub.ListExports(pb.ListExportsRequest(job_id="j1"),
                                             metadata=harness.metadata)
    assert [e.version for e in exports.exports] == [2, 1]


async def test_objects_a_format_cannot_hold_are_reported(harness: Harness) -> None:
    await harness.create_job("j1", DETECTION, ["cat", "dog"])
    item = _image(1)
    item[2]["objects"].append({"type": "line", "label": "cat", "points": [[0, 0], [5, 5]]})
    await harness.accept("j1", "p1", [item])
    done = await harness.finished((await harness.start("j1", "coco")).id)
    assert [(s.reason, s.count) for s in done.skipped] == [("line shapes (no area)", 1)]


@pytest.mark.timeout(60)
async def test_a_failure_early_in_a_long_export_ends_it_without_waiting(
        harness: Harness) -> None:
    await harness.create_job("j1", DETECTION, ["cat", "dog"])
    items = [_image(n, sized=n != 1) for n in range(8000)]  # more than the queue holds
    await harness.accept("j1", "p1", items)
    done = await harness.finished((await harness.start("j1", "coco")).id)
    assert done.state == pb.EXPORT_STATE_FAILED
    assert "'ds1:1:0001'" in done.error
