"""Claims have leases: work renews them, an expired one sends the package back to its
stage's pool with its drafts. Holders and administrators release packages, administrators
transfer them; each is an event with who and why. Races of a submit against a lease
expiry or a transfer end in one state with the winner's events only."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

from labelops.assignment.v1 import assignment_pb2 as pb
from labelops_shared import auth
from labelops_shared.contracts import (
    JobFinished,
    JobMembers,
    PackageReleased,
    PackageTransferred,
)
from services.assignment.adapters import repository
from services.assignment.adapters.repository import PACKAGES, TICKETS
from services.assignment.tests.conftest import Harness
from services.assignment.tests.support import (
    ACCEPT,
    ANSWER,
    CHECK,
    claim,
    expire_now,
    kinds,
    label_all,
    moment,
    package_events,
    pass_check,
    publish,
    refused,
    save,
    stored,
)

DENIED, FAILED = grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.FAILED_PRECONDITION
INVALID, NOT_FOUND = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
RELEASED, TRANSFERRED = PackageReleased.TYPE, PackageTransferred.TYPE


def _near(rfc3339: str | datetime, seconds: float, slack: float = 10.0) -> bool:
    """The moment lies about ``seconds`` from now."""
    at = moment(rfc3339) if isinstance(rfc3339, str) else rfc3339
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    expected = datetime.now(UTC) + timedelta(seconds=seconds)
    return abs((at - expected).total_seconds()) < slack


async def _lease_of(harness: Harness, package_id: str) -> datetime | None:
    lease = (await stored(harness, package_id))["lease_until"]
    return lease if lease is None or lease.tzinfo else lease.replace(tzinfo=UTC)


async def _shorten_lease(harness: Harness, package_id: str, seconds: float) -> None:
    """The lease as time would have worn it down. Written behind the service's back, so its
    recent read of the package (up to a second old) is dropped as time would have."""
    await harness.db[PACKAGES].update_one({"_id": package_id}, {"$set": {
        "lease_until": datetime.now(UTC) + timedelta(seconds=seconds)}})
    harness.repo.forget_package(package_id)


# --- leases -----------------------------------------------------------------------------------


async def test_a_claim_has_a_lease_that_saving_and_renewing_extend(harness: Harness) -> None:
    job_id, _, items = await publish(harness, items=5, package_size=5)
    lee = harness.client("lee", auth.LABELER)
    package = await claim(lee, job_id)
    assert _near(package.lease_until, 60) and _near(package.claimed_at, 0)  # lease_seconds=60
    lease = await _lease_of(harness, package.id)
    assert lease is not None and _near(lease, 60)

    await _shorten_lease(harness, package.id, 40)  # more than half left: not written again
    await save(lee, package.id, items[0])
    lease = await _lease_of(harness, package.id)
    assert lease is not None and _near(lease, 40, slack=3)

    await _shorten_lease(harness, package.id, 5)  # nearly over
    await save(lee, package.id, items[0])  # working keeps the claim
    lease = await _lease_of(harness, package.id)
    assert lease is not None and _near(lease, 60, slack=3)

    await _shorten_lease(harness, package.id, 5)
    renewed = await lee.RenewClaim(pb.RenewClaimRequest(package_id=package.id))
    assert _near(renewed.lease_until, 60, slack=3) and renewed.holder == "lee"
    lease = await _lease_of(harness, package.id)
    assert lease is not None and _near(lease, 60, slack=3)
    assert (await stored(harness, package.id))["version"] == 1  # renewing is not a move

    eve = harness.client("eve", auth.LABELER)
    await refused(eve.RenewClaim(pb.RenewClaimRequest(package_id=package.id)), DENIED,
                  "not held by you")


async def test_a_save_that_lost_a_race_with_a_move_does_not_extend_the_new_holders_lease(
    harness: Harness,
) -> None:
    job_id, _, items = await publish(harness, items=5, package_size=5, members=MEMBERS)
    lee = harness.client("lee", auth.LABELER)
    package = await claim(lee, job_id)
    held = await stored(harness, package.id)
    await _shorten_lease(harness, package.id, 5)
    ada = harness.client("ada", auth.ANNOTATION_ADMIN)
    await ada.TransferPackage(pb.TransferPackageRequest(package_id=package.id, to="eve",
                                                        reason="lee is away"))
    moved = await stored(harness, package.id)
    # lee's save read the package before the transfer and writes its lease after it
    await harness.repo.save_answer(
        {"_id": "late", "package_id": package.id, "item_id": items[0]},
        held["version"], datetime.now(UTC) + timedelta(hours=5))
    assert (await stored(harness, package.id))["lease_until"] == moved["lease_until"]


async def test_saves_reuse_a_package_read_for_a_second_but_see_this_replicas_moves_at_once(
    harness: Harness, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A holder's saves share a package read for ``RECENT_SECONDS``: a transfer another
    replica made refuses the old holder's saves within that long, one made here at once."""
    job_id, _, items = await publish(harness, items=10, package_size=5, members=MEMBERS)
    lee = harness.client("lee", auth.LABELER)
    first, second = await claim(lee, job_id), await claim(lee, job_id)
    monkeypatch.setattr(repository, "RECENT_SECONDS", 60.0)
    await save(lee, first.id, items[0])
    # Another replica transferred the package (written straight to the database here).
    await harness.db[PACKAGES].update_one({"_id": first.id}, {"$set": {"holder": "eve"}})
    await save(lee, first.id, items[1])  # the read of the first save still serves
    monkeypatch.setattr(repository, "RECENT_SECONDS", 0.0)
    await refused(save(lee, first.id, items[2]), DENIED, "not held by you")

    monkeypatch.setattr(repository, "RECENT_SECONDS", 60.0)
    await save(lee, second.id, items[5])
    ada = harness.client("ada", auth.ANNOTATION_ADMIN)
    await ada.TransferPackage(pb.TransferPackageRequest(package_id=second.id, to="eve",
                                                        reason="lee is away"))
    await refused(save(lee, second.id, items[6]), DENIED, "not held by you")


async def test_the_sweeper_releases_an_expired_claim_and_spares_a_renewed_one(
    harness: Harness, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No database tricks: a short lease really runs out, unless the holder works."""
    job_id, _, items = await publish(harness, items=10, package_size=5)
    monkeypatch.setattr(harness.packages.settings, "lease_seconds", 2.0)
    lee, eve = harness.client("lee", auth.LABELER), harness.client("eve", auth.LABELER)
    idle = await claim(lee, job_id)
    busy = await claim(eve, job_id)
    first_leases = [await _lease_of(harness, p.id) for p in (idle, busy)]
    await asyncio.sleep(1.0)
    assert await harness.packages.expire_leases() == 0
    await save(eve, busy.id, items[5])  # eve works: her lease starts again
    renewed = await _lease_of(harness, busy.id)

    async def until(moment: datetime) -> None:
        await asyncio.sleep(max((moment - datetime.now(UTC)).total_seconds(), 0) + 0.05)

    await until(max(lease for lease in first_leases if lease is not None))
    assert renewed is not None and renewed > datetime.now(UTC)  # only lee's lease is over
    assert await harness.packages.expire_leases() == 1
    assert await harness.packages.expire_leases() == 0  # once
    assert ((await stored(harness, idle.id))["state"], (await stored(harness, busy.id))[
        "state"]) == ("open", "labeling")
    await until(renewed)
    assert await harness.packages.expire_leases() == 1
    assert (await stored(harness, busy.id))["state"] == "open"
    released = await harness.events(RELEASED)
    assert [(e["data"]["package_id"], e["data"]["holder"]) for e in released] == [
        (idle.id, "lee"), (busy.id, "eve")]


async def test_the_background_sweeper_expires_claims_made_on_any_replica(
    harness: Harness, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The service's upkeep task: it rebuilds its board (learning of claims other replicas
    made) and releases what ran out, with nobody calling it."""
    job_id, _, _ = await publish(harness, items=10, package_size=5)
    settings = harness.packages.settings
    monkeypatch.setattr(settings, "lease_seconds", 0.5)
    monkeypatch.setattr(settings, "sweep_seconds", 0.05)
    monkeypatch.setattr(settings, "rescan_seconds", 0.2)
    here = await claim(harness.client("lee", auth.LABELER), job_id)
    elsewhere = await claim(harness.client("eve", auth.LABELER, stub=await harness.replica()),
                            job_id)
    known = harness.packages.board.get(elsewhere.id)
    assert known is None or not known.holder  # this replica's board has not seen eve's claim
    upkeep = asyncio.create_task(harness.packages.run())
    try:
        for _ in range(200):
            states = {(await stored(harness, p.id))["state"] for p in (here, elsewhere)}
            if states == {"open"}:
                break
            await asyncio.sleep(0.05)
    finally:
        upkeep.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await upkeep
    assert states == {"open"}
    released = await harness.events(RELEASED)
    assert sorted((e["data"]["package_id"], e["data"]["holder"], e["data"]["reason"])
                  for e in released) == [(here.id, "lee", "lease expired"),
                                         (elsewhere.id, "eve", "lease expired")]


async def test_an_expired_lease_returns_the_package_to_the_pool_with_its_drafts(
    harness: Harness,
) -> None:
    job_id, _, items = await publish(harness, items=10, package_size=5)
    lee, eve = harness.client("lee", auth.LABELER), harness.client("eve", auth.LABELER)
    package = await claim(lee, job_id)
    await label_all(lee, package.id)  # every item answered, but lee goes home
    await save(lee, package.id, items[0], {"label": "neg", "tags": ["z"]}, hard=True)
    await save(lee, package.id, items[1], invalid=True)
    await expire_now(harness, package.id)

    # Expired but not yet swept: the late holder's work is refused, naming why.
    for call in (save(lee, package.id, items[2]),
                 lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id)),
                 lee.RenewClaim(pb.RenewClaimRequest(package_id=package.id))):
        await refused(call, FAILED, f"your claim of {package.id} expired")

    assert await harness.packages.expire_leases() == 1
    assert await harness.packages.expire_leases() == 0
    doc = await stored(harness, package.id)
    assert (doc["state"], doc["stage"], doc["holder"], doc["lease_until"], doc["version"]) == (
        "open", "label", "", None, 2)
    [released] = await package_events(harness, package.id, RELEASED)
    assert released["data"] == {"job_id": job_id, "package_id": package.id, "stage": "label",
                                "holder": "lee", "by": "", "reason": "lease expired"}
    await refused(save(lee, package.id, items[2]), DENIED, "not held by you")
    await refused(lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id)), DENIED)

    # The next labeler gets it (first in order) and finds the drafts.
    again = await claim(eve, job_id)
    assert (again.id, again.holder, again.labeler) == (package.id, "eve", "eve")
    assert _near(again.lease_until, 60)
    detail = await eve.GetPackage(pb.GetPackageRequest(package_id=package.id))
    shown = {i.item_id: i for i in detail.items}
    assert json.loads(shown[items[0]].answer_json) == {"label": "neg", "tags": ["z"]}
    assert shown[items[0]].hard and shown[items[1]].invalid
    assert json.loads(shown[items[4]].answer_json) == ANSWER
    done = await eve.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id))
    assert done.state == pb.PACKAGE_STATE_ACCEPTED
    assert kinds(await package_events(harness, package.id)) == [
        "created", "claimed", "released", "claimed", "submitted", "accepted"]
    [submitted] = await package_events(harness, package.id, "labelops.package.submitted.v1")
    assert submitted["data"]["labeler"] == "eve"


async def test_an_expired_check_returns_to_the_checkers_pool(harness: Harness) -> None:
    job_id, _, _ = await publish(harness, items=5, package_size=5, workflow="label_check")
    lee = harness.client("lee", auth.LABELER)
    cho, cy = harness.client("cho", auth.CHECKER), harness.client("cy", auth.CHECKER)
    package = await claim(lee, job_id)
    await label_all(lee, package.id)
    await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id))
    await claim(cho, job_id, CHECK)
    await expire_now(harness, package.id)
    assert await harness.packages.expire_leases() == 1

    doc = await stored(harness, package.id)
    assert (doc["state"], doc["holder"], doc["labeler"]) == ("to_check", "", "lee")
    [released] = await package_events(harness, package.id, RELEASED)
    assert (released["data"]["stage"], released["data"]["holder"]) == ("check", "cho")
    again = await claim(cy, job_id, CHECK)
    assert (again.id, again.state, again.holder) == (package.id, pb.PACKAGE_STATE_CHECKING,
                                                     "cy")


async def test_a_lease_renewed_on_another_replica_is_not_expired(harness: Harness) -> None:
    """The sweeping replica's board still shows the old lease: the stored lease decides."""
    job_id, _, _ = await publish(harness, items=5, package_size=5)
    package = await claim(harness.client("lee", auth.LABELER), job_id)
    await expire_now(harness, package.id)  # this replica's board: the lease ran out
    await _shorten_lease(harness, package.id, 30)  # ... but lee worked on another replica
    assert await harness.packages.expire_leases() == 0
    doc = await stored(harness, package.id)
    assert (doc["state"], doc["holder"]) == ("labeling", "lee")
    assert await package_events(harness, package.id, RELEASED) == []


# --- release ----------------------------------------------------------------------------------


async def test_the_holder_releases_a_package_with_a_reason(harness: Harness) -> None:
    job_id, _, items = await publish(harness, items=10, package_size=5)
    lee, eve = harness.client("lee", auth.LABELER), harness.client("eve", auth.LABELER)
    package = await claim(lee, job_id)
    await save(lee, package.id, items[0])

    release = pb.ReleasePackageRequest(package_id=package.id, reason="  ")
    await refused(lee.ReleasePackage(release), INVALID, "reason")
    release.reason = "going on holiday"
    await refused(eve.ReleasePackage(release), DENIED, "not held by you")
    back = await lee.ReleasePackage(release)
    assert (back.state, back.holder, back.lease_until) == (pb.PACKAGE_STATE_OPEN, "", "")
    [event] = await package_events(harness, package.id, RELEASED)
    assert event["data"] == {"job_id": job_id, "package_id": package.id, "stage": "label",
                             "holder": "lee", "by": "lee", "reason": "going on holiday"}
    await refused(save(lee, package.id, items[1]), DENIED)
    await refused(lee.ReleasePackage(release), DENIED)  # not theirs any more

    again = await claim(eve, job_id)
    assert again.id == package.id
    detail = await eve.GetPackage(pb.GetPackageRequest(package_id=package.id))
    assert json.loads(detail.items[0].answer_json) == ANSWER  # the draft stayed


async def test_an_administrator_releases_any_claimed_package(harness: Harness) -> None:
    job_id, _, _ = await publish(harness, items=10, package_size=5, workflow="label_check")
    lee, cho = harness.client("lee", auth.LABELER), harness.client("cho", auth.CHECKER)
    ada = harness.client("ada", auth.ANNOTATION_ADMIN)
    stranger = harness.client("ada", auth.WORKSPACE_ADMIN, workspace="ws2")
    first = await claim(lee, job_id)
    await label_all(lee, first.id)
    await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=first.id))
    await claim(cho, job_id, CHECK)
    waiting = f"{job_id}-p000001"

    await refused(stranger.ReleasePackage(pb.ReleasePackageRequest(
        package_id=first.id, reason="x")), DENIED)
    await refused(ada.ReleasePackage(pb.ReleasePackageRequest(
        package_id=waiting, reason="tidy up")), FAILED, "only a claimed package")
    back = await ada.ReleasePackage(pb.ReleasePackageRequest(
        package_id=first.id, reason="cho is off sick"))
    assert (back.state, back.holder, back.labeler) == (pb.PACKAGE_STATE_TO_CHECK, "", "lee")
    [event] = await package_events(harness, first.id, RELEASED)
    assert (event["data"]["stage"], event["data"]["holder"], event["data"]["by"],
            event["data"]["reason"]) == ("check", "cho", "ada", "cho is off sick")
    await refused(cho.ReviewPackage(pb.ReviewPackageRequest(
        package_id=first.id, passed=True, rating=pb.RATING_A)), DENIED)
    assert (await claim(cho, job_id, CHECK)).id == first.id  # back in the checkers' pool


# --- transfer ---------------------------------------------------------------------------------


MEMBERS = JobMembers(labelers=["lee", "eve"], checkers=["cho", "cy"])


async def test_an_administrator_transfers_a_claimed_package(harness: Harness) -> None:
    job_id, _, items = await publish(harness, items=10, package_size=5, members=MEMBERS)
    lee, eve = harness.client("lee", auth.LABELER), harness.client("eve", auth.LABELER)
    ada = harness.client("ada", auth.ANNOTATION_ADMIN)
    package = await claim(lee, job_id)
    await save(lee, package.id, items[0], {"label": "neg", "tags": ["y"]})
    move = pb.TransferPackageRequest(package_id=package.id, to="eve", reason="lee is slow")

    await refused(lee.TransferPackage(move), DENIED)  # administrators only
    await refused(ada.TransferPackage(pb.TransferPackageRequest(package_id=package.id)),
                  INVALID, "to: name the worker who takes the package; reason: say why")
    await refused(ada.TransferPackage(pb.TransferPackageRequest(
        package_id=package.id, to="zed", reason="r")), FAILED, "zed is not one of the labelers")
    await refused(ada.TransferPackage(pb.TransferPackageRequest(
        package_id=package.id, to="lee", reason="r")), FAILED, "lee holds the package already")
    await refused(harness.client("ada", auth.ANNOTATION_ADMIN, workspace="ws2").TransferPackage(
        move), NOT_FOUND)

    moved = await ada.TransferPackage(move)
    assert (moved.state, moved.holder, moved.labeler, moved.version) == (
        pb.PACKAGE_STATE_LABELING, "eve", "eve", 2)
    assert _near(moved.lease_until, 60)
    [event] = await package_events(harness, package.id, TRANSFERRED)
    assert event["data"] == {"job_id": job_id, "package_id": package.id, "stage": "label",
                             "from_holder": "lee", "to_holder": "eve", "by": "ada",
                             "reason": "lee is slow"}
    await refused(save(lee, package.id, items[1]), DENIED)
    detail = await eve.GetPackage(pb.GetPackageRequest(package_id=package.id))
    assert json.loads(detail.items[0].answer_json) == {"label": "neg", "tags": ["y"]}
    await label_all(eve, package.id)
    done = await eve.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id))
    assert done.state == pb.PACKAGE_STATE_ACCEPTED


async def test_a_waiting_package_transferred_is_claimed_for_the_target(
    harness: Harness,
) -> None:
    job_id, _, _ = await publish(harness, items=10, package_size=5, members=MEMBERS)
    ada = harness.client("ada", auth.WORKSPACE_ADMIN)
    lee, eve = harness.client("lee", auth.LABELER), harness.client("eve", auth.LABELER)
    first = f"{job_id}-p000000"
    given = await ada.TransferPackage(pb.TransferPackageRequest(
        package_id=first, to="eve", reason="eve knows this topic"))
    assert (given.state, given.holder, given.labeler) == (pb.PACKAGE_STATE_LABELING, "eve",
                                                          "eve")
    [event] = await package_events(harness, first, TRANSFERRED)
    assert (event["data"]["from_holder"], event["data"]["to_holder"], event["data"]["by"]) == (
        "", "eve", "ada")
    # It is eve's now: nobody else's claim gets it.
    assert (await claim(lee, job_id)).id == f"{job_id}-p000001"
    await refused(claim(lee, job_id), NOT_FOUND, "no open package")
    await label_all(eve, first)
    assert (await eve.SubmitPackage(pb.SubmitPackageRequest(package_id=first))).state == (
        pb.PACKAGE_STATE_ACCEPTED)


async def test_a_check_is_never_transferred_to_the_packages_labeler(harness: Harness) -> None:
    members = JobMembers(labelers=["lee"], checkers=["lee", "cho", "cy"])
    job_id, _, _ = await publish(harness, items=5, package_size=5, workflow="label_check",
                                 members=members, check_ratio=0.4)
    lee, cho = harness.client("lee", auth.LABELER), harness.client("cho", auth.CHECKER)
    ada = harness.client("ada", auth.ANNOTATION_ADMIN)
    package = await claim(lee, job_id)
    await label_all(lee, package.id)
    await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id))

    await refused(ada.TransferPackage(pb.TransferPackageRequest(
        package_id=package.id, to="lee", reason="r")), FAILED,
        "lee labeled this package and cannot check it")
    await refused(ada.TransferPackage(pb.TransferPackageRequest(
        package_id=package.id, to="eve", reason="r")), FAILED, "eve is not one of the checkers")
    given = await ada.TransferPackage(pb.TransferPackageRequest(
        package_id=package.id, to="cho", reason="cho checks this one"))
    assert (given.state, given.holder, given.labeler) == (pb.PACKAGE_STATE_CHECKING, "cho",
                                                          "lee")
    detail = await cho.GetPackage(pb.GetPackageRequest(package_id=package.id))
    assert sum(i.to_inspect for i in detail.items) == 2  # sampled as a claim samples
    moved = await ada.TransferPackage(pb.TransferPackageRequest(
        package_id=package.id, to="cy", reason="cho is away"))
    assert (moved.state, moved.holder) == (pb.PACKAGE_STATE_CHECKING, "cy")
    events = await package_events(harness, package.id, TRANSFERRED)
    assert [(e["data"]["stage"], e["data"]["from_holder"], e["data"]["to_holder"])
            for e in events] == [("check", "", "cho"), ("check", "cho", "cy")]
    await refused(cho.ReviewPackage(pb.ReviewPackageRequest(
        package_id=package.id, passed=True, rating=pb.RATING_A)), DENIED)
    cy = harness.client("cy", auth.CHECKER)
    done = await pass_check(cy, package.id)
    assert done.state == pb.PACKAGE_STATE_ACCEPTED


async def test_finished_work_is_not_transferred(harness: Harness) -> None:
    job_id, dataset_id, _ = await publish(harness, items=10, package_size=5, members=MEMBERS)
    lee, ada = harness.client("lee", auth.LABELER), harness.client("ada", auth.ANNOTATION_ADMIN)
    done = await claim(lee, job_id)
    await label_all(lee, done.id)
    await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=done.id))
    await refused(ada.TransferPackage(pb.TransferPackageRequest(
        package_id=done.id, to="eve", reason="r")), FAILED,
        "only a waiting or claimed package can be transferred")
    await refused(ada.TransferPackage(pb.TransferPackageRequest(
        package_id="nope", to="eve", reason="r")), NOT_FOUND)
    assert await harness.deliver(JobFinished(job_id=job_id, dataset_id=dataset_id,
                                             by="ada")) == "handled"
    await refused(ada.TransferPackage(pb.TransferPackageRequest(
        package_id=f"{job_id}-p000001", to="eve", reason="r")), FAILED,
        f"job {job_id} is finished")


# --- races on the real database -------------------------------------------------------------


async def _outcome(call: Any) -> str:
    try:
        await call
        return "ok"
    except grpc.aio.AioRpcError as exc:
        assert exc.code() in (grpc.StatusCode.ABORTED, DENIED, FAILED), exc
        return exc.code().name


async def _race_submit_and_expiry(harness: Harness, monkeypatch: pytest.MonkeyPatch,
                                  submitter: Any, offset: float) -> str:
    """One round: the submit starts ``offset`` seconds after the lease ends, the sweeper
    right at its end."""
    job_id, _, items = await publish(harness, items=3, package_size=3, workflow="label_check")
    lee = harness.client("lee", auth.LABELER)
    package = await claim(lee, job_id)
    await label_all(lee, package.id)
    monkeypatch.setattr(harness.packages.settings, "lease_seconds", 0.5)
    await lee.RenewClaim(pb.RenewClaimRequest(package_id=package.id))  # ends in 0.5 s
    monkeypatch.setattr(harness.packages.settings, "lease_seconds", 60.0)
    lease = await _lease_of(harness, package.id)
    assert lease is not None
    ends_in = (lease - datetime.now(UTC)).total_seconds()

    async def submit() -> str:
        await asyncio.sleep(max(ends_in + offset, 0))
        return await _outcome(submitter.SubmitPackage(pb.SubmitPackageRequest(
            package_id=package.id)))

    async def sweep() -> int:
        await asyncio.sleep(max(ends_in, 0))
        released = 0
        for _ in range(5):
            released += await harness.packages.expire_leases()
            await asyncio.sleep(0.01)
        return released

    submitted, released = await asyncio.gather(submit(), sweep())
    doc = await stored(harness, package.id)
    events = kinds(await package_events(harness, package.id))
    assert doc["version"] == 2 and await harness.db[TICKETS].count_documents(
        {"package_id": package.id}) == 2  # the claim and exactly one more change
    if submitted == "ok":
        assert released == 0
        assert (doc["state"], doc["holder"]) == ("to_check", "")
        assert events == ["created", "claimed", "submitted"]
    else:
        assert released == 1
        assert (doc["state"], doc["holder"], doc["lease_until"]) == ("open", "", None)
        assert events == ["created", "claimed", "released"]
    return submitted


@pytest.mark.integration
@pytest.mark.parametrize("db", ["ferretdb"], indirect=True)
async def test_submit_against_lease_expiry_ends_in_one_state(
    harness: Harness, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The holder submits just as the lease runs out; the sweeper runs on another replica
    than the submit. Either the submit won (to check, no release) or the expiry did (back in
    the pool, the submit refused): never both, never neither."""
    other = harness.client("lee", auth.LABELER, stub=await harness.replica())
    outcomes = [await _race_submit_and_expiry(harness, monkeypatch, other, offset)
                for offset in (-0.45, -0.02, -0.01, -0.006, -0.004, -0.002, 0.0, 0.005, 0.1)]
    assert "ok" in outcomes and set(outcomes) - {"ok"}  # both sides won some rounds


async def test_a_submit_that_checked_its_lease_just_before_expiry_loses_to_the_sweeper(
    harness: Harness, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The interleaving the timing test hits only by luck, forced: the submit found its
    lease alive, then its database write was slow, and the sweeper released the package
    meanwhile. The submit is refused; the release stands alone."""
    job_id, _, _ = await publish(harness, items=3, package_size=3, workflow="label_check")
    lee = harness.client("lee", auth.LABELER)
    package = await claim(lee, job_id)
    await label_all(lee, package.id)
    await _shorten_lease(harness, package.id, 0.3)
    await harness.packages.rebuild()
    swept = asyncio.Event()
    take_ticket = harness.repo.take_ticket

    async def slow_submit(*args: Any, **kwargs: Any) -> Any:
        if kwargs["action"] == "submit":  # the lease was checked; the sweeper's goes first
            await asyncio.wait_for(swept.wait(), timeout=10)
        return await take_ticket(*args, **kwargs)

    async def sweep() -> int:
        await asyncio.sleep(0.5)
        released = await harness.packages.expire_leases()
        swept.set()
        return released

    monkeypatch.setattr(harness.repo, "take_ticket", slow_submit)
    submitted, released = await asyncio.gather(
        _outcome(lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id))), sweep())
    assert (submitted, released) == ("ABORTED", 1)
    doc = await stored(harness, package.id)
    assert (doc["state"], doc["holder"], doc["version"]) == ("open", "", 2)
    assert kinds(await package_events(harness, package.id)) == [
        "created", "claimed", "released"]


@pytest.mark.integration
@pytest.mark.parametrize("db", ["ferretdb"], indirect=True)
@pytest.mark.parametrize("lead", [-0.02, -0.005, 0.0, 0.005, 0.02])
async def test_submit_against_transfer_ends_in_one_state(harness: Harness, lead: float) -> None:
    """The holder submits on one replica while an administrator transfers the package on
    another: exactly one of them happens, with its event only."""
    job_id, _, _ = await publish(harness, items=3, package_size=3, workflow="label_check",
                                 members=MEMBERS)
    lee = harness.client("lee", auth.LABELER)
    package = await claim(lee, job_id)
    await label_all(lee, package.id)
    replica = await harness.replica()
    submitter = harness.client("lee", auth.LABELER, stub=replica if lead < 0 else None)
    ada = harness.client("ada", auth.ANNOTATION_ADMIN, stub=None if lead < 0 else replica)

    async def submit() -> str:  # ``lead`` seconds before the transfer (after it if < 0)
        await asyncio.sleep(max(-lead, 0))
        return await _outcome(submitter.SubmitPackage(pb.SubmitPackageRequest(
            package_id=package.id)))

    async def transfer() -> str:
        await asyncio.sleep(max(lead, 0))
        return await _outcome(ada.TransferPackage(pb.TransferPackageRequest(
            package_id=package.id, to="eve", reason="rebalancing")))

    submitted, transferred = await asyncio.gather(submit(), transfer())
    doc = await stored(harness, package.id)
    events = kinds(await package_events(harness, package.id))
    assert doc["version"] == 2
    assert (submitted == "ok") != (transferred == "ok"), (submitted, transferred)
    if submitted == "ok":
        # the transfer lost the race, or came after and found a package eve may not check
        assert transferred in ("ABORTED", "FAILED_PRECONDITION")
        assert (doc["state"], doc["holder"], doc["labeler"]) == ("to_check", "", "lee")
        assert events == ["created", "claimed", "submitted"]
    else:
        assert submitted in ("ABORTED", "PERMISSION_DENIED")
        assert (doc["state"], doc["holder"], doc["labeler"]) == ("labeling", "eve", "eve")
        assert events == ["created", "claimed", "transferred"]


@pytest.mark.integration
@pytest.mark.parametrize("db", ["ferretdb"], indirect=True)
@pytest.mark.parametrize("lead", [-0.02, -0.005, 0.0, 0.005, 0.02])
async def test_accept_against_an_administrators_transfer_ends_in_one_state(
        harness: Harness, lead: float) -> None:
    """The accepter accepts on one replica while an administrator hands the package to
    another accepter on another: either it is accepted (frozen, with its final answers) or
    it changed hands; never both, with the winner's event only."""
    members = JobMembers(labelers=["lee"], checkers=["cho"], accepters=["acc", "amy"])
    job_id, _, _ = await publish(harness, items=3, package_size=3,
                                 workflow="label_check_accept", members=members)
    lee, cho = harness.client("lee", auth.LABELER), harness.client("cho", auth.CHECKER)
    package = await claim(lee, job_id)
    await label_all(lee, package.id)
    await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id))
    await claim(cho, job_id, CHECK)
    await pass_check(cho, package.id)
    await claim(harness.client("acc", auth.ACCEPTER), job_id, ACCEPT)
    replica = await harness.replica()
    acc = harness.client("acc", auth.ACCEPTER, stub=replica if lead < 0 else None)
    ada = harness.client("ada", auth.ANNOTATION_ADMIN, stub=None if lead < 0 else replica)

    async def accept() -> str:  # ``lead`` seconds before the transfer (after it if < 0)
        await asyncio.sleep(max(-lead, 0))
        return await _outcome(acc.AcceptPackage(pb.AcceptPackageRequest(
            package_id=package.id, accepted=True)))

    async def transfer() -> str:
        await asyncio.sleep(max(lead, 0))
        return await _outcome(ada.TransferPackage(pb.TransferPackageRequest(
            package_id=package.id, to="amy", reason="acc is on leave")))

    accepted, transferred = await asyncio.gather(accept(), transfer())
    doc = await stored(harness, package.id)
    events = kinds(await package_events(harness, package.id))
    assert doc["version"] == 6  # three claims, submit, check, and one of the two
    assert (accepted == "ok") != (transferred == "ok"), (accepted, transferred)
    before = ["created", "claimed", "submitted", "claimed", "checked", "claimed"]
    if accepted == "ok":
        assert transferred in ("ABORTED", "FAILED_PRECONDITION")
        assert (doc["state"], doc["holder"], doc["accepter"]) == ("accepted", "", "acc")
        assert events == [*before, "accepted"]
        [final] = await package_events(harness, package.id, "labelops.package.accepted.v1")
        assert len(final["data"]["items"]) == 3
    else:
        assert accepted in ("ABORTED", "PERMISSION_DENIED")
        assert (doc["state"], doc["holder"]) == ("accepting", "amy")
        assert events == [*before, "transferred"]
