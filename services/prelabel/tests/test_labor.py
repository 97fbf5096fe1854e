"""Labor saved: accepted answers compared with the stored pre-labels (domain, pure), and
per job through the handlers and GetLaborSaved: accepted unchanged, changed, rejected
while still pre-labeled; a later acceptance replaces an item's outcome."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest

from labelops.prelabel.v1 import prelabel_pb2 as pb
from labelops_shared import auth
from labelops_shared.contracts import (
    AcceptedItem,
    ItemRejection,
    JobLabelRenamed,
    PackageAccepted,
    PackageChecked,
    PackageCreated,
    PackageRejected,
    PackageSubmitted,
    SubmittedItem,
)
from services.prelabel import metrics
from services.prelabel.adapters.repository import ITEMS, PREDICTIONS, read_answers
from services.prelabel.domain.labor import Outcome, canonical, kept, outcome, ratio
from services.prelabel.tests.conftest import Harness, spec


def test_answers_compare_by_meaning() -> None:
    assert canonical(["b", "a"]) == canonical(["a", "b"])
    assert canonical({"x": 1, "score": 0.3}) == canonical({"x": 1.0})
    assert canonical([{"x": 1}, {"x": 2}]) != canonical([{"x": 2}, {"x": 1}])
    assert kept({"label": "pos"}, {"label": "pos", "note": "fine"})
    assert not kept({"label": "pos"}, {"label": "neg"}) and not kept({"label": "pos"}, None)
    assert outcome({"tags": ["a", "b"]}, {"tags": ["b", "a"]}) is Outcome.UNCHANGED
    assert outcome({"label": "pos"}, {}) is Outcome.CHANGED
    assert ratio(3, 4) == 0.75 and ratio(0, 0) == 0.0


def reviewed(outcome_name: str) -> float:
    return metrics.REVIEWED_ITEMS.labels(outcome=outcome_name)._value.get()


async def labor(harness: Harness, job_id: str) -> pb.LaborSaved:
    found: pb.LaborSaved = await harness.admin().GetLaborSaved(
        pb.GetLaborSavedRequest(job_id=job_id))
    return found


def accepted(job_id: str, answers: dict[str, str], revision: int = 1) -> PackageAccepted:
    return PackageAccepted(job_id=job_id, package_id="p1", accepter="ava", items=[
        AcceptedItem(item_id=i, data={}, answer={"label": a}, labeler="lee",
                     revision=revision) for i, a in answers.items()])


async def test_accepted_pre_labels_are_counted_unchanged_or_changed(harness: Harness) -> None:
    ids = harness.items.add("d1", ["pos", "neg", "pos", "neg", "pos"])
    job = spec()
    await harness.publish(job)
    await harness.deliver(PackageCreated(job_id=job.job_id, package_id="p1", index=0,
                                         item_ids=[*ids, "unlabeled-extra"]))
    before = reviewed("unchanged"), reviewed("changed")

    await harness.deliver(accepted(job.job_id, {ids[0]: "pos", ids[1]: "neg", ids[2]: "neg",
                                                "unlabeled-extra": "pos"}))
    found = await labor(harness, job.job_id)
    assert (found.prelabeled, found.accepted, found.accepted_unchanged,
            found.accepted_changed, found.rejected) == (5, 3, 2, 1, 0)
    assert found.unchanged_ratio == pytest.approx(2 / 3)
    assert (reviewed("unchanged") - before[0], reviewed("changed") - before[1]) == (2, 1)

    # Accepted again after rework: the item's outcome is replaced, not added.
    await harness.deliver(accepted(job.job_id, {ids[2]: "pos"}, revision=2))
    await harness.deliver(accepted(job.job_id, {ids[2]: "neg"}, revision=1))  # late, older
    found = await labor(harness, job.job_id)
    assert (found.accepted, found.accepted_unchanged, found.accepted_changed) == (3, 3, 0)
    doc = await harness.db[ITEMS].find_one({"_id": f"{job.job_id}:{ids[2]}"})
    assert doc["accepted_revision"] == 2 and doc["outcome"] == "unchanged"


async def test_pre_labels_rejected_in_review_are_counted_once(harness: Harness) -> None:
    ids = harness.items.add("d1", ["pos", "neg", "pos"])
    job = spec()
    await harness.publish(job)
    await harness.deliver(PackageSubmitted(
        job_id=job.job_id, package_id="p1", labeler="system", item_count=3,
        skipped_labeling=True,
        items=[SubmittedItem(item_id=ids[0], answer={"label": "pos"}),
               SubmittedItem(item_id=ids[1], answer={"label": "pos"}),  # corrected
               SubmittedItem(item_id=ids[2], answer={"label": "pos"})]))
    rejections = [ItemRejection(item_id=i, reason="wrong") for i in ids[:2]]
    await harness.deliver(PackageChecked(job_id=job.job_id, package_id="p1", checker="chen",
                                         passed=False, rejections=rejections))
    await harness.deliver(PackageRejected(job_id=job.job_id, package_id="p1", stage="accept",
                                          by="ava", rejections=rejections))
    await harness.deliver(PackageChecked(job_id=job.job_id, package_id="p1", checker="chen",
                                         passed=True))
    found = await labor(harness, job.job_id)
    assert (found.prelabeled, found.rejected, found.accepted) == (3, 1, 0)


async def test_a_label_rename_reaches_the_stored_pre_labels_and_answers(
    harness: Harness,
) -> None:
    ids = harness.items.add("d1", ["pos", "neg"])
    job = spec()
    await harness.publish(job)
    await harness.deliver(accepted(job.job_id, {ids[1]: "neg"}))
    renamed = job.model_copy(update={"topics": [{"name": "label", "kind": "single_choice",
                                                 "options": ["positive", "neg"]}]})
    await harness.deliver(JobLabelRenamed(job_id=job.job_id, kind="entity", old_name="pos",
                                          new_name="positive", job=renamed))
    doc = await harness.db[PREDICTIONS].find_one({"_id": f"{job.job_id}:{ids[0]}"})
    assert read_answers(doc["answers"]) == {"label": "positive"}
    await harness.deliver(accepted(job.job_id, {ids[0]: "positive"}))
    assert (await labor(harness, job.job_id)).accepted_unchanged == 2


async def test_labor_saved_is_for_admins_of_the_workspace(harness: Harness) -> None:
    job = spec(prelabel_field="")
    await harness.publish(job)
    request = pb.GetLaborSavedRequest(job_id=job.job_id)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await harness.client("lee", auth.LABELER).GetLaborSaved(request)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await harness.client("eve", auth.ANNOTATION_ADMIN, workspace="ws2").GetLaborSaved(
            request)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    service = harness.client("jobs", auth.SERVICE, workspace="*")
    assert (await service.GetLaborSaved(request)).prelabeled == 0


async def test_accepted_items_not_stored_yet_are_inserted_whole(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Items accepted before any PackageCreated reached this service: one bulk insert of
    whole documents (no insert-then-set per item); an item twice keeps its later answer;
    stored items are still only updated."""
    ids = harness.items.add("d1", ["pos", "neg", "pos"])
    job = spec()
    await harness.publish(job)
    await harness.deliver(PackageCreated(job_id=job.job_id, package_id="p1", index=0,
                                         item_ids=ids[:1]))
    box = harness.consumer.outbox
    real_commit = box.commit
    kinds: list[list[str]] = []

    async def recording(uow: Any, **kwargs: Any) -> bool:
        kinds.append([op["k"] for op in uow.ops if op["c"] == ITEMS])
        return await real_commit(uow, **kwargs)

    monkeypatch.setattr(box, "commit", recording)
    event = PackageAccepted(job_id=job.job_id, package_id="p2", accepter="ava", items=[
        AcceptedItem(item_id=i, data={}, answer={"label": a}, labeler="lee", revision=1)
        for i, a in ((ids[0], "pos"), (ids[1], "pos"), ("new", "pos"), (ids[1], "neg"))])
    assert await harness.deliver(event) == "handled"
    assert kinds == [["set", "insert", "insert"]]
    docs = {d["item_id"]: d async for d in harness.db[ITEMS].find({"job_id": job.job_id})}
    assert set(docs) == {ids[0], ids[1], "new"}
    assert (docs[ids[1]]["accepted_json"], docs[ids[1]]["accepted_revision"],
            docs[ids[1]]["package_id"], docs[ids[1]]["outcome"]) == (
        '{"label": "neg"}', 1, "p2", "unchanged")
    assert docs["new"]["accepted_json"] == '{"label": "pos"}' and "outcome" not in docs["new"]
    assert docs[ids[0]]["package_id"] == "p1" and docs[ids[0]]["outcome"] == "unchanged"


async def test_a_run_of_created_and_submitted_packages_is_written_in_bulk_parts(
    harness: Harness, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A job's PackageCreated and PackageSubmitted events, polled together, are folded into
    bulk writes of ITEMS_PER_PART items per outbox record: the result is the events applied
    one by one (an item submitted twice keeps its last answer), and the run again is a
    duplicate that changes nothing."""
    from labelops_shared.events import new_event
    from labelops_shared.kafka import ConsumedMessage
    from services.prelabel import handlers

    monkeypatch.setattr(handlers, "ITEMS_PER_PART", 4)
    job = spec()
    created = [PackageCreated(job_id=job.job_id, package_id=f"p{n}", index=n,
                              item_ids=[f"i{n}{k}" for k in range(3)]) for n in range(3)]

    def submitted(package: int, label: str, invalid: str = "") -> PackageSubmitted:
        return PackageSubmitted(
            job_id=job.job_id, package_id=f"p{package}", labeler="lee", item_count=3,
            items=[SubmittedItem(item_id=f"i{package}{k}", answer={"label": label},
                                 invalid=f"i{package}{k}" == invalid) for k in range(3)])

    events = [created[0], created[1], submitted(0, "pos", invalid="i01"), created[2],
              submitted(0, "neg"), submitted(2, "pos")]
    batch = [ConsumedMessage(new_event(e, source="/labelops/assignment").to_bytes(),
                             e.TOPIC, 0, n) for n, e in enumerate(events)]
    assert await harness.consumer.handle_many(batch) == ["handled"] * len(events)

    items = {d["item_id"]: d async for d in harness.db[ITEMS].find({"job_id": job.job_id})}
    assert sorted(items) == [f"i{n}{k}" for n in range(3) for k in range(3)]
    assert {i: d["package_id"] for i, d in items.items()} == {
        f"i{n}{k}": f"p{n}" for n in range(3) for k in range(3)}
    # Package 0 was submitted twice: the second answers (none invalid) are the ones kept.
    assert [json.loads(items[f"i0{k}"]["submitted_json"]) for k in range(3)] == [
        {"label": "neg"}] * 3
    assert not any(items[f"i0{k}"]["invalid"] for k in range(3))
    assert [json.loads(items[f"i2{k}"]["submitted_json"]) for k in range(3)] == [
        {"label": "pos"}] * 3
    assert all("submitted_json" not in items[f"i1{k}"] for k in range(3))
    # 9 inserts and 6 answers, 4 a record: three parts, then the last one for the run.
    parts = [d["_id"] async for d in harness.db["inbox"].find({})
             if ":items-" in d["_id"]]
    assert len(parts) == 3

    assert await harness.consumer.handle_many(batch) == ["duplicate"] * len(events)
    assert await harness.db[ITEMS].count_documents({"job_id": job.job_id}) == 9
    assert await harness.db["outbox"].count_documents({}) == 0
