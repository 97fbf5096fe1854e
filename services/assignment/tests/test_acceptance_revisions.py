"""Accepted results are frozen: members can no longer change them; an administrator's
revision is validated like any answer, is a new revision above every earlier one of the
item, and is announced with its own event (carrying the item's data)."""

from __future__ import annotations

import asyncio
import json

import grpc

from labelops.assignment.v1 import acceptance_pb2 as apb
from labelops.assignment.v1 import assignment_pb2 as pb
from labelops_shared import auth
from services.assignment.adapters.repository import PACKAGES
from services.assignment.tests.conftest import ANSWER, Harness
from services.assignment.tests.test_acceptance import Team, refused

REVISED = {"label": "neg", "tags": ["y"]}


async def _accepted(harness: Harness) -> tuple[Team, str, list[str]]:
    """A package accepted through an acceptance (ALL_PASS)."""
    job_id = await harness.publish_job(items=10, package_size=5)
    team = Team(harness, job_id)
    [package] = await team.to_accept(1)
    started = await team.start(quantity=1)
    await team.finish(started.id, "ALL_PASS")
    return team, package, await team.items(package)


def _revise(package: str, item: str, answer: object = REVISED, reason: str = "wrong tag",
            raw: str | None = None) -> apb.ReviseAcceptedItemRequest:
    return apb.ReviseAcceptedItemRequest(package_id=package, item_id=item, reason=reason,
                                         answer_json=json.dumps(answer) if raw is None else raw)


async def test_members_cannot_change_an_accepted_package(harness: Harness) -> None:
    team, package, items = await _accepted(harness)
    save = pb.SaveAnnotationRequest(package_id=package, item_id=items[0],
                                    answer_json=json.dumps(REVISED))
    denied = grpc.StatusCode.PERMISSION_DENIED
    await refused(team.lee.SaveAnnotation(save), denied, "not held by you")  # its labeler
    await refused(team.cho.SaveAnnotation(save), denied, "not held by you")  # its checker
    await refused(team.admin.SaveAnnotation(save), denied, "SaveAnnotation needs one of")
    await refused(team.lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package)), denied)
    acc = harness.client("acc", auth.ACCEPTER)
    await refused(acc.AcceptPackage(pb.AcceptPackageRequest(package_id=package)), denied)
    # Nobody can claim it back into the workflow either.
    for stage in (pb.STAGE_LABEL, pb.STAGE_CHECK, pb.STAGE_ACCEPT):
        worker = harness.client("w", auth.LABELER, auth.CHECKER, auth.ACCEPTER)
        claimed = None
        try:
            claimed = await worker.ClaimPackage(pb.ClaimPackageRequest(job_id=team.job_id,
                                                                       stage=stage))
        except grpc.aio.AioRpcError:
            pass
        assert claimed is None or claimed.id != package
    detail = await team.admin.GetPackage(pb.GetPackageRequest(package_id=package))
    assert {json.dumps(json.loads(i.answer_json), sort_keys=True) for i in detail.items} == {
        json.dumps(ANSWER, sort_keys=True)}


async def test_an_administrators_revision_is_a_new_announced_revision(
        harness: Harness) -> None:
    team, package, items = await _accepted(harness)
    [accepted] = await harness.events("labelops.package.accepted.v1")
    accepted_revision = accepted["data"]["items"][0]["revision"]

    revised = await team.ada.ReviseAcceptedItem(_revise(package, items[1]))
    assert revised.revision > accepted_revision
    assert (revised.by, revised.reason, json.loads(revised.answer_json)) == (
        "ada", "wrong tag", REVISED)
    [event] = await harness.events("labelops.package.item_revised.v1")
    assert event["subject"] == f"packages/{package}"
    assert event["data"] == {
        "job_id": team.job_id, "package_id": package, "item_id": items[1],
        "answer": REVISED, "revision": revised.revision, "by": "ada", "reason": "wrong tag",
        "data": {"text": f"text of {items[1]}", "a.b": 1}, "labeler": "lee", "hard": False}
    again = await team.ada.ReviseAcceptedItem(_revise(package, items[1], ANSWER,
                                                      reason="back, after all"))
    assert again.revision > revised.revision

    # The package stays accepted, its version grew with each revision, and what an
    # administrator reads is the latest revision.
    stored = await harness.db[PACKAGES].find_one({"_id": package})
    assert (stored["state"], stored["version"], stored["revisions"]) == (
        "accepted", again.revision, 2)
    detail = await team.admin.GetPackage(pb.GetPackageRequest(package_id=package))
    assert json.loads(detail.items[1].answer_json) == ANSWER
    await team.ada.ReviseAcceptedItem(_revise(package, items[2]))
    detail = await team.admin.GetPackage(pb.GetPackageRequest(package_id=package))
    assert json.loads(detail.items[2].answer_json) == REVISED


async def test_a_revision_is_validated_and_only_of_accepted_items(harness: Harness) -> None:
    team, package, items = await _accepted(harness)
    bad = grpc.StatusCode.INVALID_ARGUMENT
    await refused(team.ada.ReviseAcceptedItem(_revise(package, items[0], {"label": "zzz",
                                                                          "tags": ["x"]})),
                  bad, "answer_json: topic 'label' at label: 'zzz' is not one of")
    await refused(team.ada.ReviseAcceptedItem(_revise(package, items[0], raw="{nope")),
                  bad, "answer_json:")
    await refused(team.ada.ReviseAcceptedItem(_revise(package, items[0], raw="[1]")),
                  bad, "an object of answers by topic")
    await refused(team.ada.ReviseAcceptedItem(_revise(package, items[0], reason=" ")),
                  bad, "reason:")
    await refused(team.ada.ReviseAcceptedItem(_revise(package, "elsewhere")), bad, "item_id:")
    await refused(team.ada.ReviseAcceptedItem(_revise("nope", items[0])),
                  grpc.StatusCode.NOT_FOUND, "package_id")
    # A package still in the workflow is its workers' to change.
    open_package = f"{team.job_id}-p000001"
    await refused(team.ada.ReviseAcceptedItem(_revise(open_package, "x")),
                  grpc.StatusCode.FAILED_PRECONDITION, "package is open")
    assert not await harness.events("labelops.package.item_revised.v1")


async def test_two_revisions_at_once_one_wins_the_other_is_told(harness: Harness) -> None:
    team, package, items = await _accepted(harness)
    results = await asyncio.gather(
        team.ada.ReviseAcceptedItem(_revise(package, items[0])),
        team.ada.ReviseAcceptedItem(_revise(package, items[1], ANSWER)),
        return_exceptions=True)
    won = [r for r in results if isinstance(r, apb.ItemRevision)]
    lost = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(won) + len(lost) == 2 and won
    assert all(r.code() == grpc.StatusCode.ABORTED for r in lost)
    events = await harness.events("labelops.package.item_revised.v1")
    assert sorted(e["data"]["revision"] for e in events) == sorted(r.revision for r in won)
    assert len({r.revision for r in won}) == len(won)  # never two with one revision
