"""The dataset's items as they change: items added by a later import join the
auto-synchronising jobs as new packages; deleted items leave their packages (an emptied
package closes); a label deleted with its items takes the items whose only label it was
out of the packages. Every change is idempotent under redelivery."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import grpc
import pytest

from labelops.assignment.v1 import assignment_pb2 as pb
from labelops_shared import auth
from labelops_shared.contracts import (
    ItemsAdded,
    ItemsDeleted,
    JobCompleted,
    JobDeleted,
    JobLabelDeleted,
    JobSpec,
    JobUpdated,
    LabelDef,
    PackageAccepted,
    PackageCreated,
    PackageItemsRemoved,
    PackageRuleSpec,
    PackageSubmitted,
)
from labelops_shared.events import new_event
from services.assignment.adapters.repository import JOBS
from services.assignment.tests.conftest import WORKSPACE, Harness
from services.assignment.tests.support import (
    CHECK,
    claim,
    label_all,
    package_events,
    packages_of,
    pass_check,
    publish,
    refused,
    save,
    stored,
)

FAILED, NOT_FOUND = grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND
REMOVED = PackageItemsRemoved.TYPE


def added(dataset_id: str, item_ids: list[str], *, version: int = 2, chunk: int = 0,
          chunks: int = 1, **group_values: list[Any]) -> ItemsAdded:
    return ItemsAdded(dataset_id=dataset_id, workspace=WORKSPACE, version=version,
                      chunk=chunk, chunks=chunks, item_ids=item_ids, group_values=group_values)


def deleted(dataset_id: str, item_ids: list[str], chunk: int = 0) -> ItemsDeleted:
    return ItemsDeleted(dataset_id=dataset_id, workspace=WORKSPACE, deletion_id="del1",
                        chunk=chunk, chunks=1, item_ids=item_ids)


async def _created(harness: Harness, job_id: str) -> list[dict[str, Any]]:
    return [e["data"] for e in await harness.events(PackageCreated.TYPE)
            if e["data"]["job_id"] == job_id]


# --- items added ------------------------------------------------------------------------------


async def test_new_items_join_only_the_auto_synchronising_jobs(harness: Harness) -> None:
    synced, dataset_id, first = await publish(harness, items=10, package_size=5,
                                              auto_sync=True)
    fixed, _, _ = await publish(harness, package_size=5, dataset=dataset_id)
    newer = harness.datasets.add(dataset_id, 2, 10)

    # The jobs service follows the new version first (its JobUpdated may come before the
    # version's items): the items still join the job.
    job_doc = await harness.db[JOBS].find_one({"_id": synced})
    spec = JobSpec(**{k: v for k, v in job_doc.items() if k in JobSpec.model_fields})
    assert await harness.deliver(JobUpdated(
        job_id=synced, job=spec.model_copy(update={"dataset_version": 2}), item_count=20,
        changed=["dataset_version", "item_count"])) == "handled"
    assert (await harness.db[JOBS].find_one({"_id": synced}))["dataset_version"] == 2
    event = new_event(added(dataset_id, newer[:7], chunk=0, chunks=2), source="/labelops/test")
    assert await harness.deliver_raw(event.to_bytes(), ItemsAdded.TOPIC) == "handled"
    assert await harness.deliver(added(dataset_id, newer[7:], chunk=1, chunks=2)) == "handled"

    cut = [(p["index"], p["item_ids"]) for p in await packages_of(harness, synced)]
    assert cut == [(0, first[:5]), (1, first[5:]), (2, newer[:5]), (3, newer[5:7]),
                   (4, newer[7:])]  # indexes go on; each chunk is cut on its own
    assert (await harness.db[JOBS].find_one({"_id": synced}))["package_count"] == 5
    assert [c["index"] for c in await _created(harness, synced)] == [0, 1, 2, 3, 4]
    assert len(await packages_of(harness, fixed)) == 2  # not auto-synchronised
    new = await stored(harness, f"{synced}-p000002")
    assert (new["state"], new["workspace"], new["holder"], new["version"]) == (
        "open", WORKSPACE, "", 0)

    # The same chunk again: as a redelivery, or announced again after a crash.
    assert await harness.deliver_raw(event.to_bytes(), ItemsAdded.TOPIC) == "duplicate"
    assert await harness.deliver(added(dataset_id, newer[:7], chunk=0, chunks=2)) == "handled"
    assert len(await packages_of(harness, synced)) == 5
    assert len(await _created(harness, synced)) == 5

    # Items of the version the job was published on are its own already.
    assert await harness.deliver(added(dataset_id, first, version=1)) == "handled"
    assert len(await packages_of(harness, synced)) == 5

    # The new packages are claimable at once, after the older ones.
    lee = harness.client("lee", auth.LABELER)
    assert [(await claim(lee, synced)).index for _ in range(5)] == [0, 1, 2, 3, 4]
    await refused(claim(lee, synced), NOT_FOUND)


async def test_new_items_are_grouped_by_the_jobs_rule(harness: Harness) -> None:
    job_id, dataset_id, _ = await publish(
        harness, items=2, auto_sync=True,
        rule=PackageRuleSpec(kind="group", size=2, group_field="kind"))
    before = len(await packages_of(harness, job_id))
    newer = harness.datasets.add(dataset_id, 2, 5)
    assert await harness.deliver(added(dataset_id, newer, kind=["a", "b", "a", None, "b"],
                                       other=[1, 2, 3, 4, 5])) == "handled"
    cut = [(p["group"], p["item_ids"]) for p in await packages_of(harness, job_id)][before:]
    assert cut == [("a", [newer[0], newer[2]]), ("b", [newer[1], newer[4]]),
                   ("", [newer[3]])]


async def test_new_targeted_packages_continue_the_jobs_rotation(harness: Harness) -> None:
    """Small imports, one package each: they take turns with the job's packages instead
    of all going to the first person named."""
    job_id, dataset_id, _ = await publish(
        harness, items=2, package_size=2, auto_sync=True,
        rule=PackageRuleSpec(kind="targeted", size=2, labelers=["ann", "bob"],
                             teams=["t1"]))
    for version in (2, 3, 4):
        newer = harness.datasets.add(dataset_id, version, 2)
        assert await harness.deliver(added(dataset_id, newer, version=version)) == "handled"
    assert [p["targets"] for p in await packages_of(harness, job_id)] == [
        {"people": ["ann"]}, {"people": ["bob"]}, {"teams": ["t1"]}, {"people": ["ann"]}]


async def test_a_deleted_job_takes_no_new_items(harness: Harness) -> None:
    job_id, dataset_id, _ = await publish(harness, items=5, auto_sync=True)
    assert await harness.deliver(JobDeleted(job_id=job_id, dataset_id=dataset_id)) == "handled"
    newer = harness.datasets.add(dataset_id, 2, 5)
    assert await harness.deliver(added(dataset_id, newer)) == "handled"
    assert len(await packages_of(harness, job_id)) == 1


# --- items deleted ----------------------------------------------------------------------------


async def test_deleted_items_leave_their_packages_and_an_emptied_one_closes(
    harness: Harness,
) -> None:
    job_id, dataset_id, items = await publish(harness, items=15, package_size=5)
    other_job, _, _ = await publish(harness, package_size=5, dataset=dataset_id)
    lee, eve = harness.client("lee", auth.LABELER), harness.client("eve", auth.LABELER)
    held = await claim(lee, job_id)
    await save(lee, held.id, items[1])

    gone = [items[0], *items[5:10], "not-in-any-package"]
    event = new_event(deleted(dataset_id, gone), source="/labelops/test")
    assert await harness.deliver_raw(event.to_bytes(), ItemsDeleted.TOPIC) == "handled"

    doc = await stored(harness, held.id)
    assert (doc["item_ids"], doc["item_count"], doc["state"], doc["holder"]) == (
        items[1:5], 4, "labeling", "lee")  # the holder keeps it
    emptied = await stored(harness, f"{job_id}-p000001")
    assert (emptied["item_ids"], emptied["item_count"], emptied["state"], emptied["stage"]) == (
        [], 0, "closed", "done")
    [first] = await package_events(harness, held.id, REMOVED)
    assert first["data"] == {"job_id": job_id, "package_id": held.id, "item_ids": [items[0]],
                             "reason": "deleted from the dataset", "closed": False}
    [second] = await package_events(harness, emptied["_id"], REMOVED)
    assert (second["data"]["item_ids"], second["data"]["closed"]) == (items[5:10], True)
    # every job on the dataset loses them
    assert [p["item_count"] for p in await packages_of(harness, other_job)] == [4, 0, 5]

    # Redelivered, or announced again: nothing more happens.
    count = len(await harness.events(REMOVED))
    assert await harness.deliver_raw(event.to_bytes(), ItemsDeleted.TOPIC) == "duplicate"
    assert await harness.deliver(deleted(dataset_id, gone)) == "handled"
    assert len(await harness.events(REMOVED)) == count
    assert (await stored(harness, held.id))["version"] == doc["version"]

    # The holder sees and submits the items left; the closed package is nobody's.
    detail = await lee.GetPackage(pb.GetPackageRequest(package_id=held.id))
    assert [i.item_id for i in detail.items] == items[1:5]
    assert json.loads(detail.items[0].answer_json)  # the draft stayed
    await label_all(lee, held.id)
    done = await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=held.id))
    assert (done.state, done.item_count) == (pb.PACKAGE_STATE_ACCEPTED, 4)
    [accepted] = await package_events(harness, held.id, PackageAccepted.TYPE)
    assert [i["item_id"] for i in accepted["data"]["items"]] == items[1:5]
    assert (await claim(eve, job_id)).id == f"{job_id}-p000002"
    await refused(claim(eve, job_id), NOT_FOUND)
    progress = await harness.client("ada", auth.ANNOTATION_ADMIN).GetJobProgress(
        pb.GetJobProgressRequest(job_id=job_id))
    assert dict(progress.packages_by_state) == {"accepted": 1, "closed": 1, "labeling": 1}
    assert (progress.item_count, progress.accepted_items) == (9, 4)


async def test_items_deleted_while_in_check_leave_the_sample_too(harness: Harness) -> None:
    job_id, dataset_id, items = await publish(harness, items=4, package_size=4,
                                              workflow="label_check", check_ratio=1.0)
    lee, cho = harness.client("lee", auth.LABELER), harness.client("cho", auth.CHECKER)
    package = await claim(lee, job_id)
    await label_all(lee, package.id)
    await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id))
    await claim(cho, job_id, CHECK)
    assert await harness.deliver(deleted(dataset_id, items[:2])) == "handled"
    detail = await cho.GetPackage(pb.GetPackageRequest(package_id=package.id))
    assert [(i.item_id, i.to_inspect) for i in detail.items] == [
        (items[2], True), (items[3], True)]
    done = await pass_check(cho, package.id, pb.RATING_B)
    assert done.state == pb.PACKAGE_STATE_ACCEPTED
    [accepted] = await package_events(harness, package.id, PackageAccepted.TYPE)
    assert [i["item_id"] for i in accepted["data"]["items"]] == items[2:]


async def test_a_job_whose_last_open_package_closes_completes(harness: Harness) -> None:
    job_id, dataset_id, items = await publish(harness, items=10, package_size=5)
    lee = harness.client("lee", auth.LABELER)
    package = await claim(lee, job_id)
    await label_all(lee, package.id)
    await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id))
    assert await harness.events(JobCompleted.TYPE) == []

    assert await harness.deliver(deleted(dataset_id, items[5:])) == "handled"
    [completed] = await harness.events(JobCompleted.TYPE)  # without anyone asking
    assert completed["data"] == {"job_id": job_id, "package_count": 2, "item_count": 5}
    progress = await harness.client("ada", auth.ANNOTATION_ADMIN).GetJobProgress(
        pb.GetJobProgressRequest(job_id=job_id))
    assert progress.completed
    assert len(await harness.events(JobCompleted.TYPE)) == 1


async def test_a_job_whose_last_package_is_accepted_after_another_closed_completes(
    harness: Harness,
) -> None:
    job_id, dataset_id, items = await publish(harness, items=10, package_size=5)
    assert await harness.deliver(deleted(dataset_id, items[:5])) == "handled"
    assert await harness.events(JobCompleted.TYPE) == []  # nothing accepted yet
    lee = harness.client("lee", auth.LABELER)
    package = await claim(lee, job_id)
    assert package.index == 1
    await label_all(lee, package.id)
    await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id))
    [completed] = await harness.events(JobCompleted.TYPE)
    assert completed["data"]["item_count"] == 5


async def test_accepted_packages_stay_accepted_while_deleted_items_leave_them(
        harness: Harness) -> None:
    """Accepted results are never un-accepted: deleting items from the dataset later takes
    them out of the accepted package (and so out of the export view) without closing it,
    even when none is left."""
    job_id, dataset_id, items = await publish(harness, items=10, package_size=5)
    lee = harness.client("lee", auth.LABELER)
    package = await claim(lee, job_id)
    await label_all(lee, package.id)
    await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id))
    assert await harness.deliver(deleted(dataset_id, items[:6])) == "handled"
    doc = await stored(harness, package.id)
    assert (doc["state"], doc["item_ids"]) == ("accepted", [])
    [removed] = await package_events(harness, package.id, REMOVED)
    assert (removed["data"]["item_ids"], removed["data"]["closed"]) == (items[:5], False)
    assert (await stored(harness, f"{job_id}-p000001"))["item_ids"] == items[6:]
    progress = await harness.client("ada", auth.ANNOTATION_ADMIN).GetJobProgress(
        pb.GetJobProgressRequest(job_id=job_id))
    assert progress.accepted_items == 0


# --- a label deleted with its items ---------------------------------------------------------


TOPICS = [{"name": "label", "kind": "single_choice", "options": ["pos", "neg"]},
          {"name": "tags", "kind": "multiple_choice", "options": ["x", "y"], "required": False}]


async def test_a_label_deleted_with_its_items_takes_them_out_of_the_packages(
    harness: Harness,
) -> None:
    job_id, _, items = await publish(harness, items=4, package_size=3, topics=TOPICS)
    lee, eve = harness.client("lee", auth.LABELER), harness.client("eve", auth.LABELER)
    first, second = await claim(lee, job_id), await claim(eve, job_id)
    only, mixed, other = items[:3]
    await save(lee, first.id, only, {"label": "pos"})
    await save(lee, first.id, mixed, {"label": "pos", "tags": ["y"]})
    await save(lee, first.id, other, {"label": "neg"})
    await save(eve, second.id, items[3], {"label": "pos"})

    topics = [{**TOPICS[0], "options": ["neg"]}, TOPICS[1]]
    spec = await harness.spec(job_id, topics=topics, labels=[LabelDef(name="neg")])
    event = new_event(JobLabelDeleted(job_id=job_id, kind="entity", name="pos",
                                      delete_items=True, job=spec), source="/labelops/test")
    assert await harness.deliver_raw(event.to_bytes(), JobLabelDeleted.TOPIC) == "handled"

    # The items whose only label it was left; the others stay, marked where incomplete.
    assert (await stored(harness, first.id))["item_ids"] == [mixed, other]
    closed = await stored(harness, second.id)
    assert (closed["state"], closed["item_ids"], closed["holder"]) == ("closed", [], "")
    removed = await harness.events(REMOVED)
    assert [(e["data"]["package_id"], e["data"]["item_ids"], e["data"]["closed"])
            for e in removed] == [(first.id, [only], False), (second.id, [items[3]], True)]
    assert removed[0]["data"]["reason"] == "its only label 'pos' was deleted"
    detail = await lee.GetPackage(pb.GetPackageRequest(package_id=first.id))
    shown = {i.item_id: i for i in detail.items}
    assert shown[mixed].needs_relabel and shown[mixed].relabel_reason == (
        "label 'pos' was deleted; the answer is incomplete")
    assert json.loads(shown[mixed].answer_json) == {"tags": ["y"]}
    assert not shown[other].needs_relabel
    await refused(lee.SubmitPackage(pb.SubmitPackageRequest(package_id=first.id)), FAILED,
                  "1 of 2 items have no answer")
    await refused(eve.SubmitPackage(pb.SubmitPackageRequest(package_id=second.id)),
                  grpc.StatusCode.PERMISSION_DENIED)

    # Redelivered: nothing more leaves.
    assert await harness.deliver_raw(event.to_bytes(), JobLabelDeleted.TOPIC) == "duplicate"
    assert await harness.deliver(JobLabelDeleted(job_id=job_id, kind="entity", name="pos",
                                                 delete_items=True, job=spec)) == "handled"
    assert len(await harness.events(REMOVED)) == 2

    await save(lee, first.id, mixed, {"label": "neg", "tags": ["y"]})
    done = await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=first.id))
    assert done.state == pb.PACKAGE_STATE_ACCEPTED
    [accepted] = await harness.events(PackageAccepted.TYPE)
    assert [i["item_id"] for i in accepted["data"]["items"]] == [mixed, other]
    assert len(await harness.events(JobCompleted.TYPE)) == 1  # accepted + closed
    # the removed items' answers are kept (the dataset still has the items)
    assert await harness.answers.count_documents({"job_id": job_id}) == 4


async def test_without_delete_items_every_item_stays(harness: Harness) -> None:
    job_id, _, items = await publish(harness, items=2, package_size=2, topics=TOPICS)
    lee = harness.client("lee", auth.LABELER)
    package = await claim(lee, job_id)
    await save(lee, package.id, items[0], {"label": "pos"})
    spec = await harness.spec(job_id, topics=[{**TOPICS[0], "options": ["neg"]}, TOPICS[1]])
    assert await harness.deliver(JobLabelDeleted(job_id=job_id, kind="entity", name="pos",
                                                 job=spec)) == "handled"
    assert (await stored(harness, package.id))["item_ids"] == items
    assert await harness.events(REMOVED) == []
    detail = await lee.GetPackage(pb.GetPackageRequest(package_id=package.id))
    assert detail.items[0].needs_relabel
    assert detail.items[0].relabel_reason == "label 'pos', the item's only label, was deleted"


async def test_answering_a_flagged_item_again_replaces_the_answer_and_clears_the_flag(
    harness: Harness,
) -> None:
    """A save replaces everything the item's earlier save at that stage held (answer,
    invalid and hard marks, a deleted label's relabel flag) and counts the revision up."""
    job_id, _, items = await publish(harness, items=2, package_size=2, topics=TOPICS)
    lee = harness.client("lee", auth.LABELER)
    package = await claim(lee, job_id)
    assert (await save(lee, package.id, items[0], invalid=True, hard=True)).revision == 1
    assert (await save(lee, package.id, items[0], {"label": "pos"})).revision == 2
    spec = await harness.spec(job_id, topics=[{**TOPICS[0], "options": ["neg"]}, TOPICS[1]])
    assert await harness.deliver(JobLabelDeleted(job_id=job_id, kind="entity", name="pos",
                                                 job=spec)) == "handled"
    assert (await lee.GetPackage(pb.GetPackageRequest(package_id=package.id))
            ).items[0].needs_relabel

    assert (await save(lee, package.id, items[0], {"label": "neg"})).revision == 3
    [first] = (await lee.GetPackage(pb.GetPackageRequest(package_id=package.id))).items[:1]
    assert json.loads(first.answer_json) == {"label": "neg"}
    assert (first.needs_relabel, first.relabel_reason, first.invalid, first.hard) == (
        False, "", False, False)
    await save(lee, package.id, items[1], {"label": "neg"})
    await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id))

@pytest.mark.integration
@pytest.mark.parametrize("db", ["ferretdb"], indirect=True)
@pytest.mark.parametrize("lead", [-0.01, 0.0, 0.01])
async def test_a_submit_racing_an_item_deletion_ends_consistent(
    harness: Harness, lead: float,
) -> None:
    """The holder submits (on another replica) while one of the package's items is deleted:
    either the submit came first and the item then left the submitted package, or the
    deletion came first and the submit was refused (read again, it goes through without
    the item). The events always tell the same story as the package."""
    job_id, dataset_id, items = await publish(harness, items=3, package_size=3,
                                              workflow="label_check")
    lee = harness.client("lee", auth.LABELER, stub=await harness.replica())
    package = await claim(lee, job_id)
    await label_all(lee, package.id)

    async def submit() -> bool:
        await asyncio.sleep(max(-lead, 0))
        try:
            await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id))
            return True
        except grpc.aio.AioRpcError as exc:
            assert exc.code() is grpc.StatusCode.ABORTED, exc
            return False

    async def delete() -> str:
        await asyncio.sleep(max(lead, 0))
        return await harness.deliver(deleted(dataset_id, [items[0]]))

    submitted, handled = await asyncio.gather(submit(), delete())
    assert handled == "handled"
    if not submitted:  # the client's retry
        await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id))
    doc = await stored(harness, package.id)
    assert (doc["state"], doc["item_ids"], doc["version"]) == ("to_check", items[1:], 3)
    events = await package_events(harness, package.id)
    [sent] = [e for e in events if e["type"] == PackageSubmitted.TYPE]
    order = [e["type"].split(".")[2] for e in events]
    submit_first = order == ["created", "claimed", "submitted", "items_removed"]
    assert submit_first or order == ["created", "claimed", "items_removed", "submitted"]
    assert submitted or not submit_first  # a refused submit happened after, retried
    # what was submitted is what the package held then
    assert [i["item_id"] for i in sent["data"]["items"]] == (
        items if submit_first else items[1:])
