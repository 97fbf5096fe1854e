"""The package workflow through the real gRPC server: roles, holders, validation, the check
sample, rejections, acceptance and job completion."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

from labelops.assignment.v1 import assignment_pb2 as pb
from labelops_shared import auth
from services.assignment.adapters.repository import PACKAGES, TICKETS, ticket_id
from services.assignment.api import ROLES
from services.assignment.tests.conftest import ANSWER, Harness

LABEL, CHECK, ACCEPT = pb.STAGE_LABEL, pb.STAGE_CHECK, pb.STAGE_ACCEPT
ADA = ("ada", auth.ANNOTATION_ADMIN)


async def refused(call: Awaitable[Any], code: grpc.StatusCode, text: str = "") -> str:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == code, caught.value.details()
    details = caught.value.details() or ""
    assert text in details
    return details


async def label_all(client: Any, package_id: str, answer: Any = None) -> list[str]:
    detail = await client.GetPackage(pb.GetPackageRequest(package_id=package_id))
    for item in detail.items:
        await client.SaveAnnotation(pb.SaveAnnotationRequest(
            package_id=package_id, item_id=item.item_id,
            answer_json=json.dumps(answer or ANSWER)))
    return [i.item_id for i in detail.items]


async def pass_check(client: Any, package_id: str, rating: int = pb.RATING_A) -> Any:
    """The checker inspects the package and approves every sampled item, then passes it."""
    detail = await client.GetPackage(pb.GetPackageRequest(package_id=package_id))
    return await client.ReviewPackage(pb.ReviewPackageRequest(
        package_id=package_id, passed=True, rating=rating,
        approved=[i.item_id for i in detail.items if i.to_inspect]))


def test_every_rpc_of_the_service_has_roles() -> None:
    service = pb.DESCRIPTOR.services_by_name["AssignmentService"]
    assert set(ROLES) == {m.name for m in service.methods}


async def test_a_package_goes_through_label_check_and_accept(harness: Harness) -> None:
    job_id = await harness.publish_job(items=10, package_size=5)
    lee = harness.client("lee", auth.LABELER)
    cho = harness.client("cho", auth.CHECKER)
    acc = harness.client("acc", auth.ACCEPTER)

    package = await lee.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=LABEL))
    assert (package.state, package.holder, package.labeler) == (
        pb.PACKAGE_STATE_LABELING, "lee", "lee")
    detail = await lee.GetPackage(pb.GetPackageRequest(package_id=package.id))
    items = [i.item_id for i in detail.items]
    assert len(items) == 5 and json.loads(detail.items[0].data_json)["text"].startswith("text")
    assert not any(i.to_inspect or i.answer_json for i in detail.items)

    # Answers outside the template are refused, naming the topic and the reason.
    save = pb.SaveAnnotationRequest(package_id=package.id, item_id=items[0])
    save.answer_json = json.dumps({**ANSWER, "label": "zzz"})
    await refused(lee.SaveAnnotation(save), grpc.StatusCode.INVALID_ARGUMENT,
                  "topic 'label' at label: 'zzz' is not one of 'pos', 'neg'")
    save.answer_json = json.dumps({**ANSWER, "tags": []})
    await refused(lee.SaveAnnotation(save), grpc.StatusCode.INVALID_ARGUMENT,
                  "topic 'tags' at tags: expected 1 to 3 labels, got 0")
    save.answer_json = json.dumps({**ANSWER, "mood": "ok"})
    await refused(lee.SaveAnnotation(save), grpc.StatusCode.INVALID_ARGUMENT, "topic 'mood'")
    save.answer_json = "{not json"
    await refused(lee.SaveAnnotation(save), grpc.StatusCode.INVALID_ARGUMENT, "answer_json")

    save.answer_json = json.dumps(ANSWER)
    assert (await lee.SaveAnnotation(save)).revision == 1
    assert (await lee.SaveAnnotation(save)).revision == 2
    await refused(lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id)),
                  grpc.StatusCode.FAILED_PRECONDITION, "4 of 5 items have no answer")
    await label_all(lee, package.id)
    submitted = await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id))
    assert (submitted.state, submitted.holder) == (pb.PACKAGE_STATE_TO_CHECK, "")
    await refused(lee.GetPackage(pb.GetPackageRequest(package_id=package.id)),
                  grpc.StatusCode.PERMISSION_DENIED)  # no longer the holder

    checking = await cho.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=CHECK))
    assert (checking.id, checking.state, checking.holder) == (
        package.id, pb.PACKAGE_STATE_CHECKING, "cho")
    detail = await cho.GetPackage(pb.GetPackageRequest(package_id=package.id))
    inspect = [i.item_id for i in detail.items if i.to_inspect]
    assert len(inspect) == math.ceil(0.3 * 5)
    assert json.loads(detail.items[0].answer_json) == ANSWER
    fixed = {"label": "neg", "tags": ["y", "z"]}
    await cho.SaveAnnotation(pb.SaveAnnotationRequest(
        package_id=package.id, item_id=items[1], answer_json=json.dumps(fixed)))
    await refused(cho.ReviewPackage(pb.ReviewPackageRequest(package_id=package.id, passed=True)),
                  grpc.StatusCode.INVALID_ARGUMENT, "rating")
    checked = await pass_check(cho, package.id, pb.RATING_B)
    assert (checked.state, checked.rating) == (pb.PACKAGE_STATE_TO_ACCEPT, pb.RATING_B)

    await acc.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=ACCEPT))
    accepted = await acc.AcceptPackage(pb.AcceptPackageRequest(package_id=package.id,
                                                               accepted=True))
    assert accepted.state == pb.PACKAGE_STATE_ACCEPTED

    [event] = await harness.events("labelops.package.accepted.v1")
    final = {i["item_id"]: i for i in event["data"]["items"]}
    assert list(final) == items
    assert final[items[1]]["answer"] == fixed  # the checker's modification wins
    assert final[items[0]]["answer"] == ANSWER and final[items[0]]["labeler"] == "lee"
    assert final[items[0]]["data"] == {"text": f"text of {items[0]}", "a.b": 1}
    # the version of the acceptance: claim, submit, claim, review, claim, accept
    assert final[items[0]]["revision"] == 6
    types = [e["type"].split(".")[2] for e in await harness.events()
             if e["data"].get("package_id") == package.id]
    assert types == ["created", "claimed", "submitted", "claimed", "checked", "claimed",
                     "accepted"]
    assert (await harness.db[PACKAGES].find_one({"_id": package.id}))["stage"] == "done"


async def test_a_rejected_package_returns_to_its_labeler(harness: Harness) -> None:
    job_id = await harness.publish_job(items=5, package_size=5, workflow="label_check")
    lee = harness.client("lee", auth.LABELER)
    cho = harness.client("cho", auth.CHECKER)
    package = await lee.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=LABEL))
    items = await label_all(lee, package.id)
    await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id))
    await cho.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=CHECK))
    # the checker edits an item, then rejects
    await cho.SaveAnnotation(pb.SaveAnnotationRequest(
        package_id=package.id, item_id=items[0], answer_json=json.dumps(
            {"label": "neg", "tags": ["z"]})))

    review = pb.ReviewPackageRequest(package_id=package.id, passed=False)
    await refused(cho.ReviewPackage(review), grpc.StatusCode.INVALID_ARGUMENT, "rejections")
    review.rejections.add(item_id=items[2], reason="  ")
    await refused(cho.ReviewPackage(review), grpc.StatusCode.INVALID_ARGUMENT, "needs a reason")
    del review.rejections[:]
    review.rejections.add(item_id=items[2], reason="wrong tag")
    back = await cho.ReviewPackage(review)
    assert (back.state, back.holder, back.rework_count) == (pb.PACKAGE_STATE_LABELING, "lee", 1)
    # one event for the transition: the failed check carries the rejections
    assert await harness.events("labelops.package.rejected.v1") == []
    [checked] = await harness.events("labelops.package.checked.v1")
    assert checked["data"]["passed"] is False
    assert checked["data"]["rejections"] == [{"item_id": items[2], "reason": "wrong tag"}]
    stored = await harness.db[PACKAGES].find_one({"_id": package.id})
    assert stored["rejections"] == [{"item_id": items[2], "reason": "wrong tag"}]

    # The labeler reworks item 0 after the checker's edit: the labeler's answer is now latest.
    rework = {"label": "pos", "tags": ["y"]}
    await lee.SaveAnnotation(pb.SaveAnnotationRequest(
        package_id=package.id, item_id=items[0], answer_json=json.dumps(rework)))
    detail = await lee.GetPackage(pb.GetPackageRequest(package_id=package.id))
    assert json.loads(detail.items[0].answer_json) == rework
    await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id))
    await cho.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=CHECK))
    done = await pass_check(cho, package.id)
    assert done.state == pb.PACKAGE_STATE_ACCEPTED  # no acceptance step in this workflow
    [accepted] = await harness.events("labelops.package.accepted.v1")
    assert accepted["data"]["items"][0]["answer"] == rework
    assert len(await harness.events("labelops.job.completed.v1")) == 1



async def _checked(harness: Harness, job_id: str,
                   rating: int = pb.RATING_A) -> tuple[Any, Any, Any, list[str]]:
    """lee labels and submits the job's first package and cho passes it: it waits for the
    accepters. Returns lee's and acc's clients, the package and its items."""
    lee, cho, acc = (harness.client("lee", auth.LABELER), harness.client("cho", auth.CHECKER),
                     harness.client("acc", auth.ACCEPTER))
    package = await lee.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=LABEL))
    items = await label_all(lee, package.id)
    await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id))
    await cho.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=CHECK))
    await pass_check(cho, package.id, rating)
    return lee, acc, package, items

async def test_an_accepter_rejects_back_to_the_labeler(harness: Harness) -> None:
    job_id = await harness.publish_job(items=5, package_size=5)
    lee, acc, package, items = await _checked(harness, job_id, pb.RATING_C)
    await acc.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=ACCEPT))
    await refused(acc.AcceptPackage(pb.AcceptPackageRequest(package_id=package.id)),
                  grpc.StatusCode.INVALID_ARGUMENT, "rejections")
    request = pb.AcceptPackageRequest(package_id=package.id)
    request.rejections.add(item_id=items[4], reason="unclear")
    back = await acc.AcceptPackage(request)
    assert (back.state, back.holder, back.rework_count) == (pb.PACKAGE_STATE_LABELING, "lee", 1)
    [rejected] = await harness.events("labelops.package.rejected.v1")
    assert (rejected["data"]["stage"], rejected["data"]["by"]) == ("accept", "acc")


async def test_a_check_passes_only_once_every_sampled_item_has_a_verdict(
        harness: Harness) -> None:
    """Each sampled item is approved, modified (the checker's version kept beside the
    labeler's) or rejected; the verdicts are recorded on the package and in the event. A
    version saved in an earlier check round is no verdict for this one."""
    job_id = await harness.publish_job(items=5, package_size=5, workflow="label_check",
                                       check_ratio=0.6)
    lee, cho = harness.client("lee", auth.LABELER), harness.client("cho", auth.CHECKER)
    package = await lee.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=LABEL))
    items = await label_all(lee, package.id)
    await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id))
    await cho.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=CHECK))
    detail = await cho.GetPackage(pb.GetPackageRequest(package_id=package.id))
    sample = [i.item_id for i in detail.items if i.to_inspect]
    rest = [i for i in items if i not in sample]
    assert len(sample) == 3

    def review(approved: list[str], **kw: Any) -> Any:
        return cho.ReviewPackage(pb.ReviewPackageRequest(
            package_id=package.id, rating=pb.RATING_B, approved=approved, **kw))

    await refused(review([], passed=True), grpc.StatusCode.FAILED_PRECONDITION,
                  f"approved: 3 of the 3 sampled items have no verdict (first: {sample[0]})")
    await refused(review([*sample, "nope"], passed=True), grpc.StatusCode.INVALID_ARGUMENT,
                  "approved: 'nope' is not an item of this package")
    await refused(review(sample, passed=True, rejections=[pb.ItemRejection(
        item_id=rest[0], reason="wrong")]), grpc.StatusCode.INVALID_ARGUMENT,
        "rejections: a passed package rejects nothing")
    await refused(review([sample[0]], passed=False, rejections=[pb.ItemRejection(
        item_id=sample[0], reason="wrong")]), grpc.StatusCode.INVALID_ARGUMENT,
        f"approved: {sample[0]!r} is also rejected")

    fixed = {"label": "neg", "tags": ["z"]}
    await cho.SaveAnnotation(pb.SaveAnnotationRequest(
        package_id=package.id, item_id=sample[0], answer_json=json.dumps(fixed)))
    await refused(review([sample[1]], passed=True), grpc.StatusCode.FAILED_PRECONDITION,
                  f"1 of the 3 sampled items have no verdict (first: {sample[2]})")
    # The first round sends the package back for another item.
    back = await review([sample[1]], passed=False, rejections=[pb.ItemRejection(
        item_id=sample[2], reason="tags missing")])
    assert back.state == pb.PACKAGE_STATE_LABELING
    [first] = await harness.events("labelops.package.checked.v1")
    assert (first["data"]["approved"], first["data"]["modified"]) == ([sample[1]], [sample[0]])
    assert (await harness.db[PACKAGES].find_one({"_id": package.id}))["inspection"] == {
        "approved": [sample[1]], "modified": [sample[0]], "rejected": [sample[2]]}

    await lee.SaveAnnotation(pb.SaveAnnotationRequest(
        package_id=package.id, item_id=sample[2], answer_json=json.dumps(ANSWER)))
    await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id))
    await cho.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=CHECK))
    # The checker's version from the first round is still the item's answer, but this
    # round has not inspected it.
    await refused(review(sample[1:], passed=True), grpc.StatusCode.FAILED_PRECONDITION,
                  f"1 of the 3 sampled items have no verdict (first: {sample[0]})")
    shown = {i.item_id: i for i in (await cho.GetPackage(pb.GetPackageRequest(
        package_id=package.id))).items}
    assert json.loads(shown[sample[0]].answer_json) == fixed
    assert json.loads(shown[sample[0]].labeler_answer_json) == ANSWER  # kept beside
    assert shown[sample[1]].labeler_answer_json == ""  # nobody changed it
    done = await review(sample, passed=True)
    assert done.state == pb.PACKAGE_STATE_ACCEPTED
    second = (await harness.events("labelops.package.checked.v1"))[1]
    assert (second["data"]["approved"], second["data"]["modified"]) == (sample, [])
    [accepted] = await harness.events("labelops.package.accepted.v1")
    final = {i["item_id"]: i["answer"] for i in accepted["data"]["items"]}
    assert final[sample[0]] == fixed and final[rest[0]] == ANSWER


async def test_an_accepter_modifies_answers_before_accepting(harness: Harness) -> None:
    """Accept, modify or reject: the accepter's version is validated, kept beside the
    labeler's and carried by the accepted event; after acceptance nobody saves."""
    job_id = await harness.publish_job(items=3, package_size=3, check_ratio=1.0)
    lee, acc, package, items = await _checked(harness, job_id)
    save = pb.SaveAnnotationRequest(package_id=package.id, item_id=items[1],
                                    answer_json=json.dumps({"label": "neg", "tags": ["y"]}))
    await refused(acc.SaveAnnotation(save), grpc.StatusCode.PERMISSION_DENIED)  # not held
    await acc.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=ACCEPT))
    await refused(acc.SaveAnnotation(pb.SaveAnnotationRequest(
        package_id=package.id, item_id=items[1], answer_json=json.dumps({"label": "meh"}))),
        grpc.StatusCode.INVALID_ARGUMENT, "topic 'label'")
    await acc.SaveAnnotation(save)
    detail = await acc.GetPackage(pb.GetPackageRequest(package_id=package.id))
    assert json.loads(detail.items[1].answer_json) == {"label": "neg", "tags": ["y"]}
    assert json.loads(detail.items[1].labeler_answer_json) == ANSWER
    done = await acc.AcceptPackage(pb.AcceptPackageRequest(package_id=package.id,
                                                           accepted=True))
    assert done.state == pb.PACKAGE_STATE_ACCEPTED
    [accepted] = await harness.events("labelops.package.accepted.v1")
    final = {i["item_id"]: i["answer"] for i in accepted["data"]["items"]}
    assert final == {items[0]: ANSWER, items[1]: {"label": "neg", "tags": ["y"]},
                     items[2]: ANSWER}
    stages = {a["stage"] for a in await harness.repo.annotations(package.id)
              if a["item_id"] == items[1]}
    assert stages == {"label", "accept"}  # the labeler's answer is kept
    for client in (acc, lee):  # frozen
        with pytest.raises(grpc.aio.AioRpcError):
            await client.SaveAnnotation(save)

async def test_a_label_only_job_completes_once(harness: Harness) -> None:
    job_id = await harness.publish_job(items=6, package_size=3, workflow="label")
    lee = harness.client("lee", auth.LABELER)
    ada = harness.client(*ADA)
    for _ in range(2):
        package = await lee.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=LABEL))
        await label_all(lee, package.id)
        done = await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id))
        assert done.state == pb.PACKAGE_STATE_ACCEPTED
        progress = await ada.GetJobProgress(pb.GetJobProgressRequest(job_id=job_id))
    assert (progress.package_count, progress.item_count, progress.accepted_items) == (2, 6, 6)
    assert progress.completed and progress.packages_by_state == {"accepted": 2}
    await ada.GetJobProgress(pb.GetJobProgressRequest(job_id=job_id))
    [completed] = await harness.events("labelops.job.completed.v1")
    assert completed["data"] == {"job_id": job_id, "package_count": 2, "item_count": 6}
    assert len(await harness.events("labelops.package.accepted.v1")) == 2
    service = harness.client("service:export", auth.SERVICE, workspace="*")
    assert (await service.GetJobProgress(pb.GetJobProgressRequest(job_id=job_id))).completed


async def test_workers_see_and_touch_only_what_is_theirs(harness: Harness) -> None:
    job_id = await harness.publish_job(items=15, package_size=5)
    lee, eve = harness.client("lee", auth.LABELER), harness.client("eve", auth.LABELER)
    ada = harness.client(*ADA)
    outsider = harness.client("ada", auth.ANNOTATION_ADMIN, workspace="other")
    mine = await lee.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=LABEL))
    item = (await lee.GetPackage(pb.GetPackageRequest(package_id=mine.id))).items[0].item_id

    denied = grpc.StatusCode.PERMISSION_DENIED
    await refused(eve.GetPackage(pb.GetPackageRequest(package_id=mine.id)), denied)
    await refused(eve.SaveAnnotation(pb.SaveAnnotationRequest(
        package_id=mine.id, item_id=item, answer_json=json.dumps(ANSWER))), denied)
    await refused(eve.SubmitPackage(pb.SubmitPackageRequest(package_id=mine.id)), denied)
    await refused(eve.GetPackage(pb.GetPackageRequest(package_id="nope")), denied)
    await refused(outsider.ListPackages(pb.ListPackagesRequest(job_id=job_id)),
                  grpc.StatusCode.NOT_FOUND)
    await refused(outsider.GetPackage(pb.GetPackageRequest(package_id=mine.id)), denied)
    await refused(lee.GetJobProgress(pb.GetJobProgressRequest(job_id=job_id)), denied)
    await refused(lee.ReviewPackage(pb.ReviewPackageRequest(package_id=mine.id)), denied)

    seen_by_eve = (await eve.ListPackages(pb.ListPackagesRequest(job_id=job_id))).packages
    assert mine.id not in {p.id for p in seen_by_eve} and len(seen_by_eve) == 2
    seen_by_lee = (await lee.ListPackages(pb.ListPackagesRequest(job_id=job_id))).packages
    assert len(seen_by_lee) == 3
    assert len((await ada.ListPackages(pb.ListPackagesRequest(job_id=job_id))).packages) == 3
    only_open = await ada.ListPackages(pb.ListPackagesRequest(
        job_id=job_id, state=pb.PACKAGE_STATE_OPEN))
    assert len(only_open.packages) == 2
    detail = await ada.GetPackage(pb.GetPackageRequest(package_id=mine.id))  # admins may look
    assert len(detail.items) == 5


async def test_claim_rules(harness: Harness) -> None:
    job_id = await harness.publish_job(items=5, package_size=5, labelers=["lee"])
    eve = harness.client("eve", auth.LABELER)
    both = harness.client("lee", auth.LABELER, auth.CHECKER)
    cho = harness.client("cho", auth.CHECKER)

    await refused(eve.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=LABEL)),
                  grpc.StatusCode.PERMISSION_DENIED, "labelers")
    await refused(cho.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=LABEL)),
                  grpc.StatusCode.PERMISSION_DENIED, "labeler role")
    await refused(both.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id)),
                  grpc.StatusCode.INVALID_ARGUMENT, "stage")
    await refused(both.ClaimPackage(pb.ClaimPackageRequest(job_id="nope", stage=LABEL)),
                  grpc.StatusCode.NOT_FOUND, "job_id")
    package = await both.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=LABEL))
    await refused(both.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=LABEL)),
                  grpc.StatusCode.NOT_FOUND, "no open package")
    # An illegal move is a failed precondition, named by the state machine.
    await refused(both.ReviewPackage(pb.ReviewPackageRequest(package_id=package.id)),
                  grpc.StatusCode.FAILED_PRECONDITION, "package is labeling")
    await label_all(both, package.id)
    await both.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id))
    # A checker never checks their own package.
    await refused(both.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=CHECK)),
                  grpc.StatusCode.NOT_FOUND, "no open package")
    assert (await cho.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=CHECK))).id == (
        package.id)
    await refused(cho.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id)),
                  grpc.StatusCode.PERMISSION_DENIED)  # submitting is a labeler's move


async def test_an_orphaned_ticket_never_blocks_its_package(harness: Harness) -> None:
    """A writer took p0's next ticket and died before committing. While the ticket is
    fresh, claims pass p0 by; once it is stale, the next claim skips it (p0 jumps a
    version) so the package is never stuck."""
    job_id = await harness.publish_job(items=15, package_size=5)
    p0, p1 = f"{job_id}-p000000", f"{job_id}-p000001"

    async def orphan(at: datetime) -> None:
        await harness.db[TICKETS].insert_one({
            "_id": ticket_id(p0, 1), "package_id": p0, "version": 1, "action": "claim label",
            "actor": "ghost", "owner": "dead", "at": at})

    await orphan(datetime.now(UTC))
    eve = harness.client("eve", auth.LABELER)
    assert (await eve.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=LABEL))).id == p1

    await harness.db[TICKETS].delete_one({"_id": ticket_id(p0, 1)})
    await orphan(datetime.now(UTC) - timedelta(minutes=5))
    await harness.packages.rebuild()
    ann = harness.client("ann", auth.LABELER)
    taken = await ann.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=LABEL))
    assert (taken.id, taken.holder, taken.version) == (p0, "ann", 2)
    stored = await harness.db[PACKAGES].find_one({"_id": p0})
    assert (stored["state"], stored["holder"], stored["version"]) == ("labeling", "ann", 2)


async def test_a_claim_never_waits_for_a_rebuild_of_the_board(harness: Harness) -> None:
    """The board is read from the database once, at the start; after that a claim that
    finds nothing answers at once (a rebuild scans every package in the workflow, which
    on a large database takes seconds), and what another replica changed arrives with the
    next periodic rebuild."""
    job_id = await harness.publish_job(items=10, package_size=5)
    scans = 0
    workflow_packages = harness.repo.workflow_packages

    def counted() -> Any:
        nonlocal scans
        scans += 1
        return workflow_packages()

    harness.repo.workflow_packages = counted  # type: ignore[method-assign]
    other = await harness.replica()  # a fresh replica: its board is read on the first claim
    claims = [harness.client(name, auth.LABELER, stub=other).ClaimPackage(
        pb.ClaimPackageRequest(job_id=job_id, stage=LABEL)) for name in ("ann", "bob")]
    taken = await asyncio.gather(*claims)
    assert {p.id for p in taken} == {f"{job_id}-p000000", f"{job_id}-p000001"}
    assert scans == 1  # both claims waited for the same first reading

    # A package this replica has not seen (written by another replica) stays unseen by
    # claims until the next rebuild, and the empty claim costs no scan.
    await harness.db[PACKAGES].update_one({"_id": f"{job_id}-p000000"}, {"$set": {
        "state": "open", "stage": "label", "holder": "", "lease_until": None, "version": 9}})
    cid = harness.client("cid", auth.LABELER, stub=other)
    await refused(cid.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=LABEL)),
                  grpc.StatusCode.NOT_FOUND, "no open package")
    assert scans == 1
    await harness.replica_boards[-1].rebuild()
    again = await cid.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=LABEL))
    assert (again.id, again.holder, again.version) == (f"{job_id}-p000000", "cid", 10)


async def test_a_retried_claim_with_its_request_id_gets_the_same_package(
        harness: Harness) -> None:
    """A claim whose answer was lost (a timeout, a crash of the service after the write) is
    asked again with the same request id: the caller gets the package it already holds, not
    a second one. The id is the caller's own: another person's same id claims anew."""
    job_id = await harness.publish_job(items=30, package_size=10, labelers=["lee", "lin"])
    lee, lin = harness.client("lee", auth.LABELER), harness.client("lin", auth.LABELER)

    def claim(request_id: str) -> pb.ClaimPackageRequest:
        return pb.ClaimPackageRequest(job_id=job_id, stage=LABEL, request_id=request_id)

    first = await lee.ClaimPackage(claim("r-1"))
    again = await lee.ClaimPackage(claim("r-1"))
    assert again.id == first.id and again.holder == "lee"
    other = await lee.ClaimPackage(claim("r-2"))  # a new request claims the next package
    assert other.id != first.id
    theirs = await lin.ClaimPackage(claim("r-1"))
    assert theirs.id not in (first.id, other.id) and theirs.holder == "lin"

    # Once the package moved on, the old id claims anew (it no longer names a held claim).
    await label_all(lee, first.id)
    await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=first.id))
    await refused(lee.ClaimPackage(claim("r-1")), grpc.StatusCode.NOT_FOUND, "no open package")
    await refused(lee.ClaimPackage(claim("not ok!")), grpc.StatusCode.INVALID_ARGUMENT,
                  "request_id")
    await refused(lee.ClaimPackage(claim("x" * 65)), grpc.StatusCode.INVALID_ARGUMENT,
                  "request_id")
