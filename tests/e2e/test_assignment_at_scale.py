"""Claims at scale and under crashes, on the real services: 64 labelers racing over 10,000
packages each get distinct packages and every package is claimed exactly once; a SIGKILL
of the assignment service in the middle of claiming loses and duplicates nothing; the
events alone rebuild the stored package states."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import grpc
import pytest

from labelops.assignment.v1 import acceptance_pb2 as cpb
from labelops.assignment.v1 import acceptance_pb2_grpc, assignment_pb2_grpc
from labelops.assignment.v1 import assignment_pb2 as apb
from labelops.jobs.v1 import jobs_pb2 as jpb
from labelops_cli.client import Clients, connect
from labelops_cli.demo import import_manifest, wait_for_packages
from labelops_cli.services import SERVICES, ServiceProcesses, wait_healthy
from labelops_shared import auth, topics
from labelops_shared.grpc_server import bearer
from labelops_shared.replay import replay
from services.assignment.moves import STALE_TICKET
from tests.e2e.event_tap import EventTap

pytestmark = [pytest.mark.e2e, pytest.mark.load]

WORKSPACE = "scale"
STATE_NAMES = {v: k.removeprefix("PACKAGE_STATE_").lower()
               for k, v in apb.PackageState.items()}


def _token(env: dict[str, str], who: str, *roles: str) -> str:
    return auth.issue_token(env["LABELOPS_JWT_SECRET"], subject=who, workspace=WORKSPACE,
                            roles=roles, ttl_seconds=3600)


def _admin(env: dict[str, str]) -> Clients:
    return connect(_token(env, "ada", auth.ANNOTATION_ADMIN))


def _job(env: dict[str, str], tmp_path: Path, items: int, workflow: int) -> str:
    manifest = tmp_path / "items.manifest"
    with manifest.open("w") as out:
        for n in range(items):
            out.write(json.dumps({"data": {"source": f"review number {n}"}}) + "\n")
    admin = _admin(env)
    dataset, _ = import_manifest(admin, env, manifest, name_prefix="scale")
    job = admin.jobs.CreateJob(jpb.CreateJobRequest(
        name=f"scale-{uuid.uuid4().hex[:6]}", dataset_id=dataset.id,
        template="text_classification", labels=[jpb.Label(name=n) for n in ("good", "bad")],
        workflow=workflow, package_size=1))
    admin.jobs.PublishJob(jpb.PublishJobRequest(job_id=job.id))
    wait_for_packages(admin, job.id, items)
    admin.close()
    return job.id


async def _claim_until_empty(env: dict[str, str], job_id: str, labelers: int,
                             stop_after: int | None = None) -> dict[str, list[str]]:
    """Each labeler claims until nothing is left (or ``stop_after`` claims in all); the
    packages each one was given. UNAVAILABLE (the service restarting) is retried."""
    addr = SERVICES["assignment"].addr
    won: dict[str, list[str]] = {}
    total = 0

    async def labeler(name: str) -> None:
        nonlocal total
        async with grpc.aio.insecure_channel(addr) as channel:
            stub = assignment_pb2_grpc.AssignmentServiceStub(channel)
            metadata = bearer(_token(env, name, auth.LABELER))
            mine = won.setdefault(name, [])
            while stop_after is None or total < stop_after:
                try:
                    package = await stub.ClaimPackage(apb.ClaimPackageRequest(
                        job_id=job_id, stage=apb.STAGE_LABEL), metadata=metadata, timeout=30)
                except grpc.aio.AioRpcError as exc:
                    if exc.code() == grpc.StatusCode.NOT_FOUND:
                        return
                    if exc.code() in (grpc.StatusCode.UNAVAILABLE,
                                      grpc.StatusCode.DEADLINE_EXCEEDED):
                        await asyncio.sleep(0.5)
                        continue
                    raise
                mine.append(package.id)
                total += 1

    await asyncio.gather(*(labeler(f"labeler-{n:02d}") for n in range(labelers)))
    return won


def _stored(env: dict[str, str], job_id: str) -> dict[str, Any]:
    admin = _admin(env)
    try:
        packages = admin.assignment.ListPackages(apb.ListPackagesRequest(job_id=job_id),
                                                 timeout=60).packages
    finally:
        admin.close()
    return {p.id: (STATE_NAMES[p.state], p.holder) for p in packages}


async def _kill_midway(platform: ServiceProcesses, env: dict[str, str], job_id: str,
                       moved_to: set[str], at_least: int) -> int:
    """SIGKILL the assignment service once at least ``at_least`` of the job's packages
    have moved to one of ``moved_to`` (so the kill lands while the work flows, whatever the
    machine's speed), restart it and wait until it serves. Returns how many had moved just
    before the kill: the caller asserts the work was not over by then."""
    deadline = time.monotonic() + 120
    while True:
        states = await asyncio.to_thread(_stored, env, job_id)
        moved = sum(state in moved_to for state, _ in states.values())
        if moved >= at_least or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    await asyncio.to_thread(platform.kill, "assignment")
    await asyncio.to_thread(platform.start, "assignment", env)
    await asyncio.to_thread(wait_healthy, platform, ["assignment"])
    return moved


def _events(env: dict[str, str], tap: EventTap, job_id: str,
            done: Any) -> list[dict[str, Any]]:
    """The job's events, each once: delivery is at least once (an outbox that crashed
    between publishing and marking an event sent publishes it again, with the same id),
    and consumers skip an id they have handled; a second transition would have its own."""
    found = tap.collect(lambda e: e.get("data", {}).get("job_id") == job_id,
                        lambda events: done(_unique(events)), seconds=300)
    return _unique(found)


def _unique(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """In publishing order, a repeated id once."""
    return list({e["id"]: e for e in events}.values())


def test_64_labelers_over_10000_packages_each_claimed_exactly_once(
    platform: ServiceProcesses, stack_env: dict[str, str], tmp_path: Path
) -> None:
    tap = EventTap(stack_env["LABELOPS_KAFKA_BOOTSTRAP"], topics.ASSIGNMENT_EVENTS)
    job_id = _job(stack_env, tmp_path, 10_000, jpb.WORKFLOW_LABEL)

    won = asyncio.run(_claim_until_empty(stack_env, job_id, labelers=64))

    given = [p for packages in won.values() for p in packages]
    assert len(given) == 10_000 and len(set(given)) == 10_000  # each once, none twice
    assert sum(1 for packages in won.values() if packages) > 32  # the work was shared
    stored = _stored(stack_env, job_id)
    holder_of = {p: who for who, packages in won.items() for p in packages}
    assert {p: h for p, (_, h) in stored.items()} == holder_of
    assert {s for s, _ in stored.values()} == {"labeling"}

    events = _events(stack_env, tap, job_id, lambda found: sum(
        e["type"] == "labelops.package.claimed.v1" for e in found) >= 10_000)
    claims = Counter(e["data"]["package_id"] for e in events
                     if e["type"] == "labelops.package.claimed.v1")
    assert len(claims) == 10_000 and set(claims.values()) == {1}
    rebuilt = replay("label", events)
    assert rebuilt.violations == []
    assert {p: (r.state, r.holder) for p, r in rebuilt.packages.items()} == stored


def test_a_sigkill_of_the_assignment_service_while_claiming_loses_and_duplicates_nothing(
    platform: ServiceProcesses, stack_env: dict[str, str], tmp_path: Path
) -> None:
    tap = EventTap(stack_env["LABELOPS_KAFKA_BOOTSTRAP"], topics.ASSIGNMENT_EVENTS)
    job_id = _job(stack_env, tmp_path, 600, jpb.WORKFLOW_LABEL_CHECK)

    async def claim_through_a_crash() -> tuple[dict[str, list[str]], int]:
        claiming = asyncio.create_task(_claim_until_empty(stack_env, job_id, labelers=16))
        moved = await _kill_midway(platform, stack_env, job_id, {"labeling"}, 60)
        return await claiming, moved

    won, claimed_before_kill = asyncio.run(claim_through_a_crash())
    assert 60 <= claimed_before_kill < 600  # the kill landed while claims flowed
    if any(state == "open" for state, _ in _stored(stack_env, job_id).values()):
        # The crash fell between a claim's ticket and its commit: that package is passed
        # by until its orphaned ticket is stale, then claimable again.
        time.sleep(STALE_TICKET.total_seconds() + 1)
        late = asyncio.run(_claim_until_empty(stack_env, job_id, labelers=1))
        won.setdefault("labeler-00", []).extend(late["labeler-00"])

    given = [p for packages in won.values() for p in packages]
    assert len(given) == len(set(given))  # no package was handed to two labelers
    stored = _stored(stack_env, job_id)
    assert {s for s, _ in stored.values()} == {"labeling"}  # every package claimed
    holder_of = {p: who for who, packages in won.items() for p in packages}
    for package_id, labeler in holder_of.items():
        assert stored[package_id][1] == labeler
    # A claim whose answer the crash swallowed is still one claim, held by a labeler
    # who asked; nobody else was given it.
    unanswered = set(stored) - set(holder_of)
    assert len(unanswered) <= 16
    assert all(stored[p][1].startswith("labeler-") for p in unanswered)

    events = _events(stack_env, tap, job_id, lambda found: sum(
        e["type"] == "labelops.package.claimed.v1" for e in found) >= 600)
    claims = Counter(e["data"]["package_id"] for e in events
                     if e["type"] == "labelops.package.claimed.v1")
    assert len(claims) == 600 and set(claims.values()) == {1}  # no event lost or doubled
    rebuilt = replay("label_check", events)
    assert rebuilt.violations == []
    assert {p: (r.state, r.holder) for p, r in rebuilt.packages.items()} == stored


async def _work_through_a_crash(env: dict[str, str], platform: ServiceProcesses,
                                job_id: str, held: dict[str, list[str]],
                                crash: bool = True) -> list[int]:
    """Each labeler labels and submits what it holds, then checkers check everything;
    the assignment service is SIGKILLed once while submitting and once while checking.
    A call whose answer the crash swallowed is retried; the retry finds the work done.
    Returns how many packages had been submitted, then checked, when each kill came."""
    addr = SERVICES["assignment"].addr
    answer = json.dumps({"label": "good"})

    async def call(method: Any, request: Any, metadata: Any) -> Any:
        for _ in range(120):
            try:
                return await method(request, metadata=metadata, timeout=30)
            except grpc.aio.AioRpcError as exc:
                if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED,
                                  grpc.StatusCode.DEADLINE_EXCEEDED):
                    await asyncio.sleep(0.5)  # ABORTED: an orphaned ticket, until stale
                    continue
                return exc
        raise AssertionError("the service did not come back")

    async def labeler(name: str, packages: list[str]) -> None:
        async with grpc.aio.insecure_channel(addr) as channel:
            stub = assignment_pb2_grpc.AssignmentServiceStub(channel)
            metadata = bearer(_token(env, name, auth.LABELER))
            for package_id in packages:
                detail = await call(stub.GetPackage,
                                    apb.GetPackageRequest(package_id=package_id), metadata)
                for item in detail.items:
                    await call(stub.SaveAnnotation, apb.SaveAnnotationRequest(
                        package_id=package_id, item_id=item.item_id, answer_json=answer),
                        metadata)
                await call(stub.SubmitPackage, apb.SubmitPackageRequest(
                    package_id=package_id), metadata)

    async def checker(name: str) -> None:
        async with grpc.aio.insecure_channel(addr) as channel:
            stub = assignment_pb2_grpc.AssignmentServiceStub(channel)
            metadata = bearer(_token(env, name, auth.CHECKER))
            while True:
                package = await call(stub.ClaimPackage, apb.ClaimPackageRequest(
                    job_id=job_id, stage=apb.STAGE_CHECK), metadata)
                if isinstance(package, grpc.aio.AioRpcError):
                    assert package.code() == grpc.StatusCode.NOT_FOUND, package
                    # A claim whose answer the crash swallowed is held all the same:
                    # the checker finds it under "my packages", as a person would.
                    mine = await call(stub.ListPackages, apb.ListPackagesRequest(
                        job_id=job_id, mine=True, state=apb.PACKAGE_STATE_CHECKING), metadata)
                    if not mine.packages:
                        return
                    package = mine.packages[0]
                detail = await call(stub.GetPackage, apb.GetPackageRequest(
                    package_id=package.id), metadata)
                if isinstance(detail, grpc.aio.AioRpcError):
                    continue  # no longer this checker's (its lease ran out meanwhile)
                await call(stub.ReviewPackage, apb.ReviewPackageRequest(
                    package_id=package.id, passed=True, rating=apb.RATING_A,
                    approved=[i.item_id for i in detail.items if i.to_inspect]), metadata)

    async def crash_once(moved_to: set[str]) -> int:
        if not crash:
            return -1
        return await _kill_midway(platform, env, job_id, moved_to, 30)

    submitted, *_ = await asyncio.gather(
        crash_once({"to_check", "checking", "to_accept", "accepted"}),
        *(labeler(n, p) for n, p in held.items()))
    checked, *_ = await asyncio.gather(
        crash_once({"to_accept", "accepted"}), *(checker(f"checker-{n}") for n in range(8)))
    return [submitted, checked]


def test_a_sigkill_while_submitting_and_checking_loses_and_duplicates_nothing(
    platform: ServiceProcesses, stack_env: dict[str, str], tmp_path: Path
) -> None:
    tap = EventTap(stack_env["LABELOPS_KAFKA_BOOTSTRAP"], topics.ASSIGNMENT_EVENTS)
    job_id = _job(stack_env, tmp_path, 300, jpb.WORKFLOW_LABEL_CHECK)
    held = asyncio.run(_claim_until_empty(stack_env, job_id, labelers=16))

    at_kills = asyncio.run(_work_through_a_crash(stack_env, platform, job_id, held))
    assert all(30 <= moved < 300 for moved in at_kills), at_kills  # both kills mid-way
    if any(state != "accepted" for state, _ in _stored(stack_env, job_id).values()):
        # a move whose ticket the crash orphaned: passed by until stale, then done
        time.sleep(STALE_TICKET.total_seconds() + 1)
        asyncio.run(_work_through_a_crash(stack_env, platform, job_id, {}, crash=False))

    stored = _stored(stack_env, job_id)
    assert set(stored.values()) == {("accepted", "")}
    events = _events(stack_env, tap, job_id, lambda found: len({
        e["data"]["package_id"] for e in found
        if e["type"] == "labelops.package.accepted.v1"}) >= 300)
    for kind in ("claimed", "submitted", "checked", "accepted"):
        counts = Counter(e["data"]["package_id"] for e in events
                         if e["type"] == f"labelops.package.{kind}.v1")
        expected = 2 if kind == "claimed" else 1  # a label claim and a check claim
        assert len(counts) == 300 and set(counts.values()) == {expected}, kind
    accepted = [i for e in events if e["type"] == "labelops.package.accepted.v1"
                for i in e["data"]["items"]]
    assert len(accepted) == 300 and {i["answer"]["label"] for i in accepted} == {"good"}
    rebuilt = replay("label_check", events)
    assert rebuilt.violations == []
    assert {p: (r.state, r.holder) for p, r in rebuilt.packages.items()} == stored


async def _finish_through_a_crash(env: dict[str, str], platform: ServiceProcesses,
                                  job_id: str) -> cpb.Acceptance:
    """An accepter samples 10% of the job's checked packages, then finishes with "all
    pass"; the assignment service is SIGKILLed while the finish moves the packages. The
    accepter finishes again (what a person does when the call fails) until it is done."""
    addr = SERVICES["assignment"].addr
    metadata = bearer(_token(env, "acc", auth.ACCEPTER))
    async with grpc.aio.insecure_channel(addr) as channel:
        stub = acceptance_pb2_grpc.AcceptanceServiceStub(channel)
        session = await stub.StartAcceptance(cpb.StartAcceptanceRequest(
            job_id=job_id, percent=10), metadata=metadata, timeout=60)
        while session.state == cpb.ACCEPTANCE_STATE_STARTING:
            await asyncio.sleep(0.2)
            session = await stub.GetAcceptance(cpb.GetAcceptanceRequest(
                acceptance_id=session.id), metadata=metadata, timeout=30)
        assert session.state == cpb.ACCEPTANCE_STATE_ONGOING
        finish = cpb.FinishAcceptanceRequest(acceptance_id=session.id,
                                              scope=cpb.ACCEPTANCE_SCOPE_ALL_PASS,
                                              overwrite=cpb.OVERWRITE_POLICY_KEEP)

        async def crash_while_finishing() -> int:
            return await _kill_midway(platform, env, job_id, {"accepted"}, 30)

        async def finish_until_done() -> cpb.Acceptance:
            for _ in range(240):
                try:
                    done = await stub.FinishAcceptance(finish, metadata=metadata, timeout=60)
                except grpc.aio.AioRpcError as exc:
                    if exc.code() not in (grpc.StatusCode.UNAVAILABLE,
                                          grpc.StatusCode.ABORTED,
                                          grpc.StatusCode.DEADLINE_EXCEEDED,
                                          grpc.StatusCode.UNKNOWN):
                        raise
                    await asyncio.sleep(0.5)
                    continue
                if done.state == cpb.ACCEPTANCE_STATE_FINISHED:
                    return done
                await asyncio.sleep(0.5)
            raise AssertionError("the acceptance never finished")

        moved, done = await asyncio.gather(crash_while_finishing(), finish_until_done())
        assert 30 <= moved < 300, moved  # the kill landed while the finish moved packages
        return done


def test_a_sigkill_while_an_acceptance_finishes_moves_each_package_once(
    platform: ServiceProcesses, stack_env: dict[str, str], tmp_path: Path
) -> None:
    tap = EventTap(stack_env["LABELOPS_KAFKA_BOOTSTRAP"], topics.ASSIGNMENT_EVENTS)
    job_id = _job(stack_env, tmp_path, 300, jpb.WORKFLOW_LABEL_CHECK_ACCEPT)
    held = asyncio.run(_claim_until_empty(stack_env, job_id, labelers=16))
    asyncio.run(_work_through_a_crash(stack_env, platform, job_id, held, crash=False))
    assert {s for s, _ in _stored(stack_env, job_id).values()} == {"to_accept"}

    done = asyncio.run(_finish_through_a_crash(stack_env, platform, job_id))

    assert done.outcome.packages_accepted == 300 and done.outcome.packages_returned == 0
    stored = _stored(stack_env, job_id)
    assert set(stored.values()) == {("accepted", "")}
    events = _events(stack_env, tap, job_id, lambda found: len({
        e["data"]["package_id"] for e in found
        if e["type"] == "labelops.package.accepted.v1"}) >= 300)
    accepted = Counter(e["data"]["package_id"] for e in events
                       if e["type"] == "labelops.package.accepted.v1")
    assert len(accepted) == 300 and set(accepted.values()) == {1}  # none lost, none twice
    assert not [e for e in events if e["type"] == "labelops.package.rejected.v1"]
    rebuilt = replay("label_check_accept", events)
    assert rebuilt.violations == []
    assert {p: (r.state, r.holder) for p, r in rebuilt.packages.items()} == stored
