"""Every transition publishes one event, and the events alone rebuild the packages: a job
whose packages went every way the workflow allows (released by the holder and by an
administrator, transferred, expired, rejected at the check and at the acceptance, emptied
by a deletion, accepted) is folded from its events and compared with the stored packages,
field by field."""

from __future__ import annotations

from collections import Counter

from labelops.assignment.v1 import assignment_pb2 as pb
from labelops_shared import auth
from labelops_shared.contracts import ItemsDeleted
from labelops_shared.events import new_event
from labelops_shared.replay import replay
from services.assignment.tests.conftest import WORKSPACE, Harness
from services.assignment.tests.support import (
    ACCEPT,
    CHECK,
    claim,
    expire_now,
    kinds,
    label_all,
    packages_of,
    pass_check,
    publish,
)


async def test_replaying_a_jobs_events_rebuilds_every_package_exactly(
        harness: Harness) -> None:
    job_id, dataset_id, _ = await publish(harness, items=16, package_size=2,
                                              workflow="label_check_accept")
    lee, eve = harness.client("lee", auth.LABELER), harness.client("eve", auth.LABELER)
    cho, acc = harness.client("cho", auth.CHECKER), harness.client("acc", auth.ACCEPTER)
    ada = harness.client("ada", auth.ANNOTATION_ADMIN)

    async def submitted() -> str:
        package = await claim(lee, job_id)
        await label_all(lee, package.id)
        await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id))
        return str(package.id)

    released = await claim(lee, job_id)  # 1: the holder gives it back
    await lee.ReleasePackage(pb.ReleasePackageRequest(package_id=released.id,
                                                      reason="not my language"))
    transferred = await claim(lee, job_id)  # 2: an administrator hands it to eve
    await ada.TransferPackage(pb.TransferPackageRequest(package_id=transferred.id, to="eve",
                                                        reason="rebalancing"))
    expired = await claim(eve, job_id)  # 3: the lease runs out
    await expire_now(harness, expired.id)
    assert await harness.packages.expire_leases() == 1
    rejected_at_check = await submitted()  # 4: back to lee from the check
    await claim(cho, job_id, CHECK)
    first_item = (await cho.GetPackage(pb.GetPackageRequest(
        package_id=rejected_at_check))).items[0].item_id
    await cho.ReviewPackage(pb.ReviewPackageRequest(
        package_id=rejected_at_check, passed=False,
        rejections=[pb.ItemRejection(item_id=first_item, reason="wrong")]))
    rejected_at_accept = await submitted()  # 5: back to lee from the acceptance
    await claim(cho, job_id, CHECK)
    await pass_check(cho, rejected_at_accept)
    await claim(acc, job_id, ACCEPT)
    back = pb.AcceptPackageRequest(package_id=rejected_at_accept)
    back.rejections.add(item_id=(await acc.GetPackage(pb.GetPackageRequest(
        package_id=rejected_at_accept))).items[1].item_id, reason="unclear")
    await acc.AcceptPackage(back)
    accepted = await submitted()  # 6: all the way
    await claim(cho, job_id, CHECK)
    await pass_check(cho, accepted)
    await claim(acc, job_id, ACCEPT)
    await acc.AcceptPackage(pb.AcceptPackageRequest(package_id=accepted, accepted=True))
    check_released = await submitted()  # 7: an administrator takes the check back
    await claim(cho, job_id, CHECK)
    await ada.ReleasePackage(pb.ReleasePackageRequest(package_id=check_released,
                                                      reason="cho is off sick"))
    # 8: both items of an open package and one of a held package are deleted
    packages = await packages_of(harness, job_id)
    untouched = [p for p in packages if p["state"] == "open" and p["_id"] != released.id][0]
    gone = [*untouched["item_ids"], (await harness.db["packages"].find_one(
        {"_id": transferred.id}))["item_ids"][0]]
    deletion = ItemsDeleted(dataset_id=dataset_id, workspace=WORKSPACE, deletion_id="d1",
                            chunk=0, chunks=1, item_ids=gone)
    assert await harness.deliver_raw(new_event(deletion, source="/labelops/test").to_bytes(),
                                     ItemsDeleted.TOPIC) == "handled"

    stored = {p["_id"]: (p["state"], p["holder"], p["labeler"], p["item_count"])
              for p in await packages_of(harness, job_id)}
    events = [e for e in await harness.events() if e["data"].get("job_id") == job_id]
    rebuilt = replay("label_check_accept", events)
    assert rebuilt.violations == []
    assert {p: (r.state, r.holder, r.labeler, r.items)
            for p, r in rebuilt.packages.items()} == stored
    # the ways the packages went, each announced once
    assert {stored[p][0] for p in stored} >= {"open", "labeling", "to_check", "accepted",
                                              "closed"}
    moves = Counter(kinds(events))
    assert (moves["released"], moves["transferred"], moves["rejected"], moves["accepted"]) == (
        3, 1, 1, 1)  # the holder's, the expiry's and the administrator's releases
    assert moves["items_removed"] == 2 and moves["checked"] == 3
