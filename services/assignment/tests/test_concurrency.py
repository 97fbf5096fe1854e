"""Claims race on the real database: of many labelers asking at once, each package gets
exactly one holder (settled by the unique ticket insert, not by a conditional update).
Each labeler claims through its own servicer, as separate replicas would, so every claim
board hands out the same packages and the tickets really are contested."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from labelops.assignment.v1 import assignment_pb2 as pb
from labelops_shared import auth
from services.assignment.adapters.repository import PACKAGES, TICKETS
from services.assignment.tests.conftest import Harness
from services.assignment.tests.test_api import label_all

pytestmark = pytest.mark.integration


def _count_ticket_attempts(harness: Harness) -> list[str]:
    """The packages whose tickets were tried, one entry per try (alone or in a group)."""
    attempts: list[str] = []
    take_ticket, take_tickets = harness.repo.take_ticket, harness.repo.take_tickets

    async def counted(pkg_id: str, version: int, **kw: str) -> bool:
        attempts.append(pkg_id)
        return bool(await take_ticket(pkg_id, version, **kw))

    async def counted_group(wanted: list[tuple[str, int, str, str, str]]) -> set[str]:
        attempts.extend(w[0] for w in wanted)
        return await take_tickets(wanted)

    harness.repo.take_ticket = counted  # type: ignore[method-assign]
    harness.repo.take_tickets = counted_group  # type: ignore[method-assign]
    return attempts


@pytest.mark.parametrize("db", ["ferretdb"], indirect=True)
@pytest.mark.parametrize("round_", range(3))
async def test_twenty_labelers_racing_for_five_packages_get_five_claims(
    harness: Harness, round_: int
) -> None:
    job_id = await harness.publish_job(items=25, package_size=5)
    attempts = _count_ticket_attempts(harness)
    labelers = [f"labeler-{n}" for n in range(20)]
    replicas = [await harness.replica() for _ in range(4)]

    async def claim(name: str) -> tuple[str, str | None, str]:
        client = harness.client(name, auth.LABELER, stub=replicas[hash(name) % 4])
        try:
            package = await client.ClaimPackage(
                pb.ClaimPackageRequest(job_id=job_id, stage=pb.STAGE_LABEL))
            return name, package.id, ""
        except grpc.aio.AioRpcError as exc:
            assert exc.code() is grpc.StatusCode.NOT_FOUND, exc
            return name, None, exc.details() or ""

    results = await asyncio.gather(*(claim(n) for n in labelers))

    won = {pkg: name for name, pkg, _ in results if pkg}
    assert len(won) == 5 and sum(1 for _, pkg, _ in results if pkg) == 5
    assert all("no open package" in why for _, pkg, why in results if not pkg)
    packages = await harness.db[PACKAGES].find({"job_id": job_id}).to_list(None)
    assert {p["_id"]: p["holder"] for p in packages} == won  # one holder each, the winner
    assert {p["state"] for p in packages} == {"labeling"}
    assert {p["version"] for p in packages} == {1}
    assert await harness.db[TICKETS].count_documents({}) == 5
    assert len(attempts) > 5  # the packages really were contested
    claimed = await harness.events("labelops.package.claimed.v1")
    assert sorted(e["data"]["package_id"] for e in claimed) == sorted(won)


@pytest.mark.parametrize("db", ["ferretdb"], indirect=True)
async def test_claims_arriving_together_are_written_in_groups(harness: Harness) -> None:
    """A shift starts: 40 labelers claim at once from one replica. Each gets a package of
    its own and its event, and the tickets are written in a few groups, not 40 writes."""
    job_id = await harness.publish_job(items=250, package_size=5)
    groups: list[int] = []
    take_tickets = harness.repo.take_tickets

    async def counted(wanted: list[tuple[str, int, str, str, str]]) -> set[str]:
        groups.append(len(wanted))
        return await take_tickets(wanted)

    harness.repo.take_tickets = counted  # type: ignore[method-assign]
    labelers = [f"labeler-{n}" for n in range(40)]
    claimed = await asyncio.gather(*(
        harness.client(name, auth.LABELER).ClaimPackage(
            pb.ClaimPackageRequest(job_id=job_id, stage=pb.STAGE_LABEL))
        for name in labelers))

    assert sorted(p.holder for p in claimed) == sorted(labelers)
    assert len({p.id for p in claimed}) == 40
    stored = {p["_id"]: p for p in await harness.db[PACKAGES].find(
        {"job_id": job_id, "state": "labeling"}).to_list(None)}
    assert {p.id: p.holder for p in claimed} == {k: v["holder"] for k, v in stored.items()}
    assert {v["version"] for v in stored.values()} == {1}
    assert sum(groups) == 40 and len(groups) < 20, groups
    events = await harness.events("labelops.package.claimed.v1")
    assert sorted(e["data"]["package_id"] for e in events) == sorted(stored)


async def test_a_claim_cut_off_after_its_ticket_and_record_is_completed_by_the_restart(
        harness: Harness) -> None:
    """A labeling claim writes its outbox record beside its ticket. The process dies after
    both, before the package moved: the restart's recovery completes that claim (the
    labeler holds the package, one event); nobody else can take the package meanwhile."""
    job_id = await harness.publish_job(items=5, package_size=5)
    box = harness.packages.outbox
    labeler = harness.client("ann", auth.LABELER)

    async def killed(records: list[object]) -> None:
        raise RuntimeError("killed between the inserts and the apply")

    box.apply_staged = killed  # type: ignore[method-assign,assignment]
    with pytest.raises(grpc.aio.AioRpcError) as cut:
        await labeler.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=pb.STAGE_LABEL))
    assert cut.value.code() is grpc.StatusCode.UNKNOWN
    del box.apply_staged
    [package] = await harness.db[PACKAGES].find({"job_id": job_id}).to_list(None)
    assert (package["state"], package.get("holder", "")) == ("open", "")

    with pytest.raises(grpc.aio.AioRpcError) as taken:  # its ticket is held
        await harness.client("bob", auth.LABELER).ClaimPackage(
            pb.ClaimPackageRequest(job_id=job_id, stage=pb.STAGE_LABEL))
    assert taken.value.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE)

    assert await box.recover() == 1  # what the service does as it starts
    [package] = await harness.db[PACKAGES].find({"job_id": job_id}).to_list(None)
    assert (package["state"], package["holder"], package["version"]) == ("labeling", "ann", 1)
    claimed = await harness.events("labelops.package.claimed.v1")
    assert [(e["data"]["package_id"], e["data"]["holder"]) for e in claimed] == [
        (package["_id"], "ann")]


@pytest.mark.parametrize("db", ["ferretdb"], indirect=True)
@pytest.mark.parametrize("round_", range(2))
async def test_checkers_racing_for_submitted_packages_get_one_check_each(
    harness: Harness, round_: int
) -> None:
    """Twelve checkers on four replicas claim five submitted packages at once: each package
    gets one checker (never its labeler), one check sample and one claim event."""
    job_id = await harness.publish_job(items=25, package_size=5, workflow="label_check",
                                       check_ratio=0.4)
    lee = harness.client("lee", auth.LABELER)
    for _ in range(5):
        package = await lee.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id,
                                                                stage=pb.STAGE_LABEL))
        await label_all(lee, package.id)
        await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id))
    replicas = [await harness.replica() for _ in range(4)]
    attempts = _count_ticket_attempts(harness)
    checkers = [f"checker-{n}" for n in range(12)] + ["lee"]

    async def claim(n: int, name: str) -> tuple[str, str | None]:
        client = harness.client(name, auth.LABELER, auth.CHECKER, stub=replicas[n % 4])
        try:
            package = await client.ClaimPackage(
                pb.ClaimPackageRequest(job_id=job_id, stage=pb.STAGE_CHECK))
            return name, package.id
        except grpc.aio.AioRpcError as exc:
            assert exc.code() is grpc.StatusCode.NOT_FOUND, exc
            return name, None

    results = await asyncio.gather(*(claim(n, name) for n, name in enumerate(checkers)))

    won = {pkg: name for name, pkg in results if pkg}
    assert len(won) == 5 and sum(1 for _, pkg in results if pkg) == 5
    assert "lee" not in won.values()  # a labeler never checks their own package
    packages = await harness.db[PACKAGES].find({"job_id": job_id}).to_list(None)
    assert {p["_id"]: p["holder"] for p in packages} == won
    assert {(p["state"], p["version"], len(p["to_inspect"])) for p in packages} == {
        ("checking", 3, 2)}
    assert len(attempts) > 5  # the packages really were contested
    claims = [e["data"] for e in await harness.events("labelops.package.claimed.v1")
              if e["data"]["stage"] == "check"]
    assert sorted((c["package_id"], c["holder"]) for c in claims) == sorted(won.items())
