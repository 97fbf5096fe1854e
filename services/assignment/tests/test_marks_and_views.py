"""Items marked invalid or hard while labeling, what the package view shows of them (and of
relabel and rejection reasons), and the task center's package filters."""

from __future__ import annotations

import json

import grpc

from labelops.assignment.v1 import assignment_pb2 as pb
from labelops_shared import auth
from labelops_shared.contracts import PackageAccepted, PackageSubmitted
from services.assignment.tests.conftest import ANSWER, Harness
from services.assignment.tests.support import (
    ACCEPT,
    CHECK,
    claim,
    label_all,
    package_events,
    pass_check,
    publish,
    refused,
    save,
)

INVALID, FAILED = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION
OTHER = {"label": "neg", "tags": ["y", "z"]}


async def test_invalid_items_count_as_answered_and_are_left_out_of_the_results(
    harness: Harness,
) -> None:
    job_id, _, items = await publish(harness, items=4, package_size=4)
    lee = harness.client("lee", auth.LABELER)
    package = await claim(lee, job_id)
    broken, hard, plain, later = items

    # an invalid item needs no answer, but one sent along must fit the template
    await refused(lee.SaveAnnotation(pb.SaveAnnotationRequest(
        package_id=package.id, item_id=broken, answer_json=json.dumps({"label": "zzz"}),
        invalid=True)), INVALID, "topic 'label'")
    await save(lee, package.id, broken, invalid=True)  # no answer needed
    await save(lee, package.id, hard, OTHER, hard=True)
    await save(lee, package.id, plain)
    await refused(lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id)), FAILED,
                  f"1 of 4 items have no answer (first: {later})")
    # a hard example still needs a valid answer
    await refused(lee.SaveAnnotation(pb.SaveAnnotationRequest(
        package_id=package.id, item_id=later, answer_json=json.dumps({"label": "zzz"}),
        hard=True)), INVALID, "topic 'label'")
    await save(lee, package.id, later)

    detail = await lee.GetPackage(pb.GetPackageRequest(package_id=package.id))
    assert [(i.item_id, i.invalid, i.hard) for i in detail.items] == [
        (broken, True, False), (hard, False, True), (plain, False, False),
        (later, False, False)]
    assert json.loads(detail.items[1].answer_json) == OTHER

    done = await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id))
    assert done.state == pb.PACKAGE_STATE_ACCEPTED
    [submitted] = await package_events(harness, package.id, PackageSubmitted.TYPE)
    assert submitted["data"]["items"] == [
        {"item_id": broken, "answer": {}, "hard": False, "invalid": True},
        {"item_id": hard, "answer": OTHER, "hard": True, "invalid": False},
        {"item_id": plain, "answer": ANSWER, "hard": False, "invalid": False},
        {"item_id": later, "answer": ANSWER, "hard": False, "invalid": False}]
    [accepted] = await package_events(harness, package.id, PackageAccepted.TYPE)
    assert [(i["item_id"], i["answer"], i["hard"]) for i in accepted["data"]["items"]] == [
        (hard, OTHER, True), (plain, ANSWER, False), (later, ANSWER, False)]


async def test_a_mark_is_undone_by_saving_the_item_again(harness: Harness) -> None:
    job_id, _, items = await publish(harness, items=2, package_size=2)
    lee = harness.client("lee", auth.LABELER)
    package = await claim(lee, job_id)
    await save(lee, package.id, items[0], invalid=True)
    await save(lee, package.id, items[1], hard=True)
    await save(lee, package.id, items[0])  # it can be labeled after all
    await save(lee, package.id, items[1])  # not that hard
    detail = await lee.GetPackage(pb.GetPackageRequest(package_id=package.id))
    assert [(i.invalid, i.hard) for i in detail.items] == [(False, False), (False, False)]
    await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id))
    [accepted] = await package_events(harness, package.id, PackageAccepted.TYPE)
    assert [(i["item_id"], i["hard"]) for i in accepted["data"]["items"]] == [
        (items[0], False), (items[1], False)]


async def test_marks_travel_through_check_and_acceptance(harness: Harness) -> None:
    job_id, _, items = await publish(harness, items=3, package_size=3,
                                     workflow="label_check_accept")
    lee, cho = harness.client("lee", auth.LABELER), harness.client("cho", auth.CHECKER)
    acc = harness.client("acc", auth.ACCEPTER)
    package = await claim(lee, job_id)
    await label_all(lee, package.id)
    await save(lee, package.id, items[0], hard=True)
    await save(lee, package.id, items[2], invalid=True)
    await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id))

    await claim(cho, job_id, CHECK)
    detail = await cho.GetPackage(pb.GetPackageRequest(package_id=package.id))
    assert [(i.hard, i.invalid, i.to_inspect) for i in detail.items] == [
        (True, False, True), (False, False, True), (False, True, True)]
    await pass_check(cho, package.id)
    await claim(acc, job_id, ACCEPT)
    await acc.AcceptPackage(pb.AcceptPackageRequest(package_id=package.id, accepted=True))
    [accepted] = await package_events(harness, package.id, PackageAccepted.TYPE)
    assert [(i["item_id"], i["hard"]) for i in accepted["data"]["items"]] == [
        (items[0], True), (items[1], False)]


async def test_the_package_view_shows_why_items_came_back(harness: Harness) -> None:
    job_id, _, items = await publish(harness, items=3, package_size=3, workflow="label_check",
                                     check_ratio=0.3)
    lee, cho = harness.client("lee", auth.LABELER), harness.client("cho", auth.CHECKER)
    package = await claim(lee, job_id)
    await label_all(lee, package.id)
    await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id))
    await claim(cho, job_id, CHECK)
    detail = await cho.GetPackage(pb.GetPackageRequest(package_id=package.id))
    assert sum(i.to_inspect for i in detail.items) == 1  # ceil(30% of 3)
    review = pb.ReviewPackageRequest(package_id=package.id, passed=False)
    review.rejections.add(item_id=items[1], reason="tags missing")
    await cho.ReviewPackage(review)

    detail = await lee.GetPackage(pb.GetPackageRequest(package_id=package.id))
    assert (detail.package.state, detail.package.holder, detail.package.rework_count) == (
        pb.PACKAGE_STATE_LABELING, "lee", 1)
    assert [i.rejection_reason for i in detail.items] == ["", "tags missing", ""]
    assert all(json.loads(i.answer_json) == ANSWER for i in detail.items)  # kept to rework
    admin_view = await harness.client("ada", auth.ANNOTATION_ADMIN).GetPackage(
        pb.GetPackageRequest(package_id=package.id))
    assert admin_view.items[1].rejection_reason == "tags missing"


# --- ListPackages filters ---------------------------------------------------------------------


def _indexes(reply: pb.ListPackagesResponse) -> list[int]:
    return [p.index for p in reply.packages]


async def test_packages_are_listed_by_mine_labeler_holder_and_state(harness: Harness) -> None:
    job_id, _, _ = await publish(harness, items=10, package_size=2, workflow="label_check")
    lee, eve = harness.client("lee", auth.LABELER), harness.client("eve", auth.LABELER)
    cho = harness.client("cho", auth.CHECKER)
    ada = harness.client("ada", auth.ANNOTATION_ADMIN)
    first = await claim(lee, job_id)  # p0: lee labels, submits, cho checks
    await label_all(lee, first.id)
    await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=first.id))
    await claim(lee, job_id)  # p1: lee labeling
    await claim(eve, job_id)  # p2: eve labeling
    await claim(cho, job_id, CHECK)  # p0: checking by cho

    def ask(**filters: object) -> pb.ListPackagesRequest:
        return pb.ListPackagesRequest(job_id=job_id, **filters)  # type: ignore[arg-type]

    # "My packages" for each role: held, or labeled by me.
    assert _indexes(await lee.ListPackages(ask(mine=True))) == [0, 1]
    assert _indexes(await eve.ListPackages(ask(mine=True))) == [2]
    assert _indexes(await cho.ListPackages(ask(mine=True))) == [0]
    assert _indexes(await lee.ListPackages(ask(mine=True, state=pb.PACKAGE_STATE_LABELING))) == [
        1]
    assert _indexes(await ada.ListPackages(ask(mine=True))) == []

    # Administrators filter the whole job by labeler and holder.
    assert _indexes(await ada.ListPackages(ask(labeler="lee"))) == [0, 1]
    assert _indexes(await ada.ListPackages(ask(holder="cho"))) == [0]
    assert _indexes(await ada.ListPackages(ask(holder="lee"))) == [1]
    assert _indexes(await ada.ListPackages(ask(labeler="lee", holder="cho"))) == [0]
    assert _indexes(await ada.ListPackages(ask(labeler="nobody"))) == []
    assert _indexes(await ada.ListPackages(ask(state=pb.PACKAGE_STATE_OPEN))) == [3, 4]
    listed = {p.index: p for p in (await ada.ListPackages(ask())).packages}
    assert (listed[0].state, listed[0].holder, listed[0].labeler) == (
        pb.PACKAGE_STATE_CHECKING, "cho", "lee")
    assert listed[1].lease_until and listed[1].claimed_at and not listed[3].lease_until

    # Workers never see others' packages through the filters.
    assert _indexes(await lee.ListPackages(ask())) == [0, 1, 3, 4]
    assert _indexes(await lee.ListPackages(ask(labeler="eve"))) == []
    assert _indexes(await lee.ListPackages(ask(holder="eve"))) == []
    assert _indexes(await cho.ListPackages(ask())) == [0]
