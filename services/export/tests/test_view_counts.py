"""The view keeps each job's item count as items come and go (in the same commit as the
change), so the labeled view's size and an export's total need no scan of the collection:
new items count, redeliveries and newer revisions do not, removals of items the view holds
do, a retried event counts once; a job without a count (from before counts were kept, or
whose accepted events came before its creation event) is counted once by scanning."""

from __future__ import annotations

from typing import Any

import pytest

from labelops.export.v1 import export_pb2 as pb
from labelops_shared.annotations import build_template
from labelops_shared.contracts import (
    AcceptedItem,
    ItemRevised,
    PackageAccepted,
    PackageItemsRemoved,
)
from labelops_shared.events import new_event
from services.export.adapters.repository import COUNTS, LABELED
from services.export.tests.conftest import Harness

TEXT = build_template("text_classification", [{"name": "pos"}, {"name": "neg"}]).to_dict()


def _items(first: int, count: int,
           revision: int = 1) -> list[tuple[str, dict[str, Any], dict[str, Any], str, int]]:
    return [(f"ds1:1:{n:04d}", {"text": f"t{n}"}, {"label": "pos"}, "lee", revision)
            for n in range(first, first + count)]


async def _count(harness: Harness) -> int:
    return int((await harness.db[COUNTS].find_one({"_id": "j1"}))["items"])


async def _view_size(harness: Harness) -> int:
    found = await harness.stub.GetLabeledView(pb.GetLabeledViewRequest(job_id="j1"),
                                              metadata=harness.metadata)
    return int(found.item_count)


async def test_the_count_follows_items_in_and_out(harness: Harness) -> None:
    await harness.create_job("j1", TEXT, ["pos", "neg"])
    await harness.accept("j1", "p1", _items(0, 5))
    assert await _count(harness) == 5
    accepted = PackageAccepted(job_id="j1", package_id="p2", accepter="acc", items=[
        AcceptedItem(item_id=f"ds1:1:{n:04d}", data={}, answer={"label": "neg"},
                     labeler="lee", revision=2) for n in (3, 4, 5, 6)])
    await harness.deliver(accepted)  # two newer revisions, two new items
    await harness.deliver(accepted)  # the same again, as another event: nothing new
    assert await _count(harness) == 7
    await harness.deliver(ItemRevised(job_id="j1", package_id="p1", item_id="ds1:1:0009",
                                      answer={"label": "pos"}, revision=3, by="ada",
                                      reason="r", data={}, labeler="lee"))
    assert await _count(harness) == 8
    await harness.deliver(PackageItemsRemoved(job_id="j1", package_id="p1", reason="gone",
                                              item_ids=["ds1:1:0000", "ds1:1:0001", "nope"]))
    assert await _count(harness) == 6
    assert await _view_size(harness) == 6 == len(harness.db[LABELED].docs)


async def test_an_event_retried_after_a_crash_before_its_commit_counts_once(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    await harness.create_job("j1", TEXT, ["pos", "neg"])
    await harness.accept("j1", "p1", _items(0, 2))
    box = harness.writer.outbox
    real_commit = box.commit
    failures = [RuntimeError("the process died before its commit")]

    async def commit_failing_once(uow: Any, *, key: str | None = None,
                                  **options: Any) -> bool:
        if failures:
            raise failures.pop()
        return await real_commit(uow, key=key, **options)

    monkeypatch.setattr(box, "commit", commit_failing_once)
    raw = new_event(PackageAccepted(job_id="j1", package_id="p2", accepter="acc", items=[
        AcceptedItem(item_id=f"ds1:1:{n:04d}", data={}, answer={"label": "pos"},
                     labeler="lee", revision=1) for n in range(1, 5)]),
        source="/test").to_bytes()
    assert await harness.consumer.handle(raw, topic=PackageAccepted.TOPIC) == "handled"
    assert not failures
    assert await _count(harness) == 5 == len(harness.db[LABELED].docs)


async def test_an_export_of_every_item_takes_its_total_from_the_count(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    await harness.create_job("j1", TEXT, ["pos", "neg"])
    await harness.accept("j1", "p1", _items(0, 1500))

    async def no_scan(query: dict[str, Any]) -> int:
        raise AssertionError(f"counted by scanning: {query}")

    monkeypatch.setattr(harness.writer.repo, "labeled_matching", no_scan)
    done = await harness.finished((await harness.start("j1", "manifest")).id)
    assert done.state == pb.EXPORT_STATE_COMPLETED, done.error
    assert (done.items_written, done.items_total) == (1500, 1500)


async def test_a_job_without_a_count_is_counted_by_scanning_once(harness: Harness) -> None:
    await harness.accept("j1", "p1", _items(0, 4))  # before the job's creation event
    await harness.create_job("j1", TEXT, ["pos", "neg"])
    assert await _count(harness) == 4
    del harness.db[COUNTS].docs["j1"]  # as if kept from before counts were
    assert await _view_size(harness) == 4  # scanned
    await harness.deliver(PackageItemsRemoved(job_id="j1", package_id="p1", reason="gone",
                                              item_ids=["ds1:1:0000"]))
    assert await _count(harness) == 3
    await harness.accept("j1", "p2", _items(4, 2))
    assert await _count(harness) == 5 == await _view_size(harness)
    done = await harness.finished((await harness.start("j1", "manifest")).id)
    assert (done.items_written, done.items_total) == (5, 5)
