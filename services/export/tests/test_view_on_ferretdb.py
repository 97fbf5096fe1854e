"""The accepted view on the real database: answers whose structure the database would refuse
as a document (polygon points are nested arrays; keys with ``$`` or ``.``) are stored and
come back exactly, and a label rename rewrites them; the reconciliation's counts per package
and the sweep of abandoned exports run on it too."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from labelops_shared import mongo, outbox
from labelops_shared.contracts import (
    AcceptedItem,
    JobLabelRenamed,
    JobMembers,
    JobSpec,
    LabelDef,
    PackageAccepted,
)
from labelops_shared.events import new_event
from labelops_shared.kafka import EventConsumer
from services.export import handlers
from services.export.adapters.repository import EXPORTS, INDEXES, LABELED, WRITERS, Repository
from services.export.writer import ExportWriter, accepted_item

pytestmark = pytest.mark.integration

TOPICS = [{"name": "objects", "kind": "shape", "content": "image",
           "shapes": ["polygon"], "labels": [{"name": "cat"}, {"name": "dog"}]}]
ANSWER = {"objects": [{"type": "polygon", "label": "cat",
                       "points": [[1.5, 2.0], [30.0, 2.0], [30.0, 40.25]]}]}
DATA = {"source": "s3://b/cat.png", "width": 64, "height": 48, "meta": {"$set": {"a.b": 1}}}


@pytest.fixture
async def consumer() -> AsyncIterator[EventConsumer]:
    url = os.environ.get("LABELOPS_MONGO_URL")
    if not url:  # start (or reuse) the local stack rather than skip
        from labelops_cli.stack.servers import up_infra

        url = up_infra()["LABELOPS_MONGO_URL"]
    client = mongo.connect(url, app_name="export-tests")
    db = client[f"labelops_export_test_{uuid.uuid4().hex[:10]}"]
    await mongo.ensure_indexes(db, {**INDEXES, **outbox.INDEXES})
    found = EventConsumer("export", outbox.Outbox(db, owner="test"), max_attempts=2)
    handlers.register(found)
    yield found
    await client.drop_database(db.name)
    await client.close()


async def _deliver(consumer: EventConsumer, data: Any) -> str:
    outcome: str = await consumer.handle(new_event(data, source="/test").to_bytes(),
                                         topic=data.TOPIC)
    return outcome


def _spec(job_id: str, labels: list[str]) -> JobSpec:
    topics = [{**TOPICS[0], "labels": [{"name": n} for n in labels]}]
    return JobSpec(job_id=job_id, workspace="ws", name="boxes", dataset_id="ds",
                   dataset_version=1, template="custom", topics=topics,
                   labels=[LabelDef(name=n) for n in labels], workflow="label",
                   package_size=10, check_ratio=1.0, members=JobMembers())


async def test_polygons_and_odd_keys_are_stored_and_renamed(consumer: EventConsumer) -> None:
    job = uuid.uuid4().hex
    accepted = PackageAccepted(job_id=job, package_id="p1", accepter="ava", items=[
        AcceptedItem(item_id="i1", data=DATA, answer=ANSWER, labeler="lee", revision=1)])
    assert await _deliver(consumer, accepted) == "handled"
    view = consumer.outbox.db[LABELED]
    stored = accepted_item(await view.find_one({"_id": f"{job}:i1"}))
    assert (stored.data, stored.answer) == (DATA, ANSWER)

    renamed = JobLabelRenamed(job_id=job, kind="entity", old_name="cat", new_name="feline",
                              job=_spec(job, ["feline", "dog"]))
    assert await _deliver(consumer, renamed) == "handled"
    after = accepted_item(await view.find_one({"_id": f"{job}:i1"}))
    assert after.answer["objects"][0]["label"] == "feline"
    assert after.answer["objects"][0]["points"] == ANSWER["objects"][0]["points"]


async def test_reconcile_counts_and_the_sweep_on_the_real_database(
        consumer: EventConsumer) -> None:
    job = uuid.uuid4().hex
    for package, first in (("p1", 0), ("p2", 3)):
        accepted = PackageAccepted(job_id=job, package_id=package, accepter="ava", items=[
            AcceptedItem(item_id=f"i{n}", data={"source": "t"}, answer={}, labeler="lee",
                         revision=1) for n in range(first, first + 3 + first)])
        assert await _deliver(consumer, accepted) == "handled"
    repo = Repository(consumer.outbox.db)
    assert await repo.labeled_by_package(job) == {"p1": 3, "p2": 6}

    now = datetime.now(UTC)
    exports = consumer.outbox.db[EXPORTS]
    for export_id, owner, version in (("silent", "pod-gone", 1), ("alive", "pod-busy", 2)):
        await exports.insert_one({
            "_id": export_id, "job_id": job, "workspace": "ws", "format": "manifest",
            "version": version, "state": "running", "bucket": "b", "object_key": "k",
            "created_at": now - timedelta(minutes=10), "owner": owner})
    writers = consumer.outbox.db[WRITERS]
    await writers.insert_one({"_id": "pod-gone", "alive_at": now - timedelta(minutes=2)})
    await writers.insert_one({"_id": "pod-busy", "alive_at": now})
    writer = ExportWriter(repo, consumer.outbox, None, "/test",  # type: ignore[arg-type]
                          owner="pod-new")
    await writer.alive()
    assert await writer.sweep() == ["silent"]
    states = {d["_id"]: d["state"] async for d in exports.find({})}
    assert states == {"silent": "failed", "alive": "running"}
    assert (await writers.find_one({"_id": "pod-new"}))["alive_at"] is not None


async def test_a_run_of_accepted_events_on_the_real_database(consumer: EventConsumer) -> None:
    """Several events in one poll: one insert of the new items (the known one refused as a
    duplicate, then replaced as newer), one commit, each item once with its newest
    revision, the job's count moved by the items new to the view."""
    from labelops_shared.kafka import ConsumedMessage
    from services.export.adapters.repository import COUNTS

    job = uuid.uuid4().hex

    def accepted(package: str, items: list[tuple[int, int]]) -> bytes:
        return new_event(PackageAccepted(job_id=job, package_id=package, accepter="ava", items=[
            AcceptedItem(item_id=f"i{n}", data=DATA, answer={"revision": rev}, labeler="lee",
                         revision=rev) for n, rev in items]), source="/test").to_bytes()

    assert await _deliver(consumer, PackageAccepted(job_id=job, package_id="p0", accepter="a",
                                                    items=[AcceptedItem(
                                                        item_id="i0", data=DATA, answer={},
                                                        labeler="lee", revision=1)]))
    bodies = [accepted("p1", [(0, 2), (1, 1), (2, 1)]), accepted("p2", [(1, 3), (3, 1)]),
              accepted("p3", [(0, 1), (2, 1)])]
    messages = [ConsumedMessage(b, PackageAccepted.TOPIC, 0, n) for n, b in enumerate(bodies)]
    assert await consumer.handle_many(messages) == ["handled"] * 3
    view = consumer.outbox.db[LABELED]
    stored = {d["item_id"]: (d["revision"], d["package_id"])
              async for d in view.find({"job_id": job})}
    assert stored == {"i0": (2, "p1"), "i1": (3, "p2"), "i2": (1, "p1"), "i3": (1, "p2")}
    assert accepted_item(await view.find_one({"_id": f"{job}:i0"})).data == DATA
    assert (await consumer.outbox.db[COUNTS].find_one({"_id": job}))["items"] == 4
    assert await consumer.handle_many(messages) == ["duplicate"] * 3
