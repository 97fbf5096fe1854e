"""Job-level acceptance through the real gRPC server (AcceptanceService beside the
AssignmentService), on the fake database and on FerretDB: starting takes the waiting
packages in and samples, items are passed or rejected, the acceptance is continued and
finished with each scope and overwrite policy, one at a time per job, resumable."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

from labelops.assignment.v1 import acceptance_pb2 as apb
from labelops.assignment.v1 import assignment_pb2 as pb
from labelops_shared import auth
from labelops_shared.replay import replay
from services.assignment.acceptance import ROLES
from services.assignment.adapters.acceptances import ACCEPTANCES
from services.assignment.adapters.repository import PACKAGES, annotation_id
from services.assignment.domain.acceptance import Sampling, holder, sample
from services.assignment.tests.conftest import ANSWER, Harness
from services.assignment.tests.test_api import pass_check

LABEL, CHECK, ACCEPT = pb.STAGE_LABEL, pb.STAGE_CHECK, pb.STAGE_ACCEPT
ADA = ("ada", auth.ANNOTATION_ADMIN)
FIXED = {"label": "neg", "tags": ["z"]}


async def refused(call: Awaitable[Any], code: grpc.StatusCode, text: str = "") -> str:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == code, caught.value.details()
    details = caught.value.details() or ""
    assert text in details, details
    return details


class Team:
    """A labeler, a checker and an accepter of the harness's job, and the acceptance stub
    for the accepter and the administrator."""

    def __init__(self, harness: Harness, job_id: str) -> None:
        self.harness, self.job_id = harness, job_id
        self.lee = harness.client("lee", auth.LABELER)
        self.cho = harness.client("cho", auth.CHECKER)
        self.acc = harness.client("acc", auth.ACCEPTER, stub=harness.acceptance)
        self.ada = harness.client(*ADA, stub=harness.acceptance)
        self.admin = harness.client(*ADA)  # on the AssignmentService

    async def label(self, package_id: str, answers: dict[str, Any] | None = None) -> None:
        detail = await self.lee.GetPackage(pb.GetPackageRequest(package_id=package_id))
        for item in detail.items:
            answer = (answers or {}).get(item.item_id, ANSWER)
            await self.lee.SaveAnnotation(pb.SaveAnnotationRequest(
                package_id=package_id, item_id=item.item_id, answer_json=json.dumps(answer)))
        await self.lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package_id))

    async def check(self) -> str:
        package = await self.cho.ClaimPackage(pb.ClaimPackageRequest(job_id=self.job_id,
                                                                     stage=CHECK))
        await pass_check(self.cho, package.id, pb.RATING_B)
        return str(package.id)

    async def to_accept(self, count: int) -> list[str]:
        """Label and check ``count`` packages: they wait for acceptance."""
        done = []
        for _ in range(count):
            package = await self.lee.ClaimPackage(pb.ClaimPackageRequest(job_id=self.job_id,
                                                                         stage=LABEL))
            await self.label(package.id)
            done.append(await self.check())
        return done

    async def items(self, package_id: str) -> list[str]:
        doc = await self.harness.db[PACKAGES].find_one({"_id": package_id})
        return list(doc["item_ids"])

    async def start(self, **sample: Any) -> apb.Acceptance:
        return await self.acc.StartAcceptance(apb.StartAcceptanceRequest(job_id=self.job_id,
                                                                         **sample))

    async def decide(self, acceptance_id: str, *decisions: tuple[str, str, str]
                     ) -> apb.Acceptance:
        """Decisions as (item, "A".."D" to pass | "", reason to reject | "")."""
        request = apb.DecideItemsRequest(acceptance_id=acceptance_id)
        for item_id, rating, reason in decisions:
            request.decisions.add(
                item_id=item_id, verdict=apb.VERDICT_PASS if rating else apb.VERDICT_REJECT,
                rating=getattr(pb, f"RATING_{rating}") if rating else pb.RATING_UNSPECIFIED,
                reason=reason)
        return await self.acc.DecideItems(request)

    async def finish(self, acceptance_id: str, scope: str,
                     overwrite: str = "KEEP") -> apb.Acceptance:
        return await self.acc.FinishAcceptance(apb.FinishAcceptanceRequest(
            acceptance_id=acceptance_id, scope=getattr(apb, f"ACCEPTANCE_SCOPE_{scope}"),
            overwrite=getattr(apb, f"OVERWRITE_POLICY_{overwrite}")))

    async def states(self) -> dict[str, tuple[str, str]]:
        docs = await self.harness.db[PACKAGES].find({"job_id": self.job_id}).to_list(None)
        return {d["_id"]: (d["state"], d["holder"]) for d in docs}


async def _team(harness: Harness, *, items: int = 15, waiting: int = 3) -> tuple[Team, list[str]]:
    job_id = await harness.publish_job(items=items, package_size=5)
    team = Team(harness, job_id)
    return team, await team.to_accept(waiting)


def _events_of(events: list[dict[str, Any]], package_id: str) -> list[dict[str, Any]]:
    return [e for e in events if e["data"].get("package_id") == package_id]


def test_every_rpc_of_the_acceptance_service_has_roles() -> None:
    service = apb.DESCRIPTOR.services_by_name["AcceptanceService"]
    assert set(ROLES) == {m.name for m in service.methods}


async def test_starting_takes_the_waiting_packages_in_and_samples_by_percent(
        harness: Harness) -> None:
    team, waiting = await _team(harness, items=20, waiting=3)  # the fourth is still open
    started = await team.start(percent=20)
    sid = started.id
    assert started.state == apb.ACCEPTANCE_STATE_ONGOING and started.started_by == "acc"
    assert list(started.package_ids) == waiting and started.item_count == 15
    assert started.WhichOneof("sample") == "percent" and started.percent == 20
    report = started.report
    assert (report.sampled, report.pending, report.accepted, report.pass_rate) == (3, 3, 0, 0)

    # The packages belong to the session: no accepter can claim them meanwhile.
    states = await team.states()
    assert {states[p] for p in waiting} == {("accepting", holder(sid))}
    acc = harness.client("acc", auth.ACCEPTER)
    await refused(acc.ClaimPackage(pb.ClaimPackageRequest(job_id=team.job_id, stage=ACCEPT)),
                  grpc.StatusCode.NOT_FOUND, "no open package")
    claimed = [e for e in await harness.events("labelops.package.claimed.v1")
               if e["data"]["holder"] == holder(sid)]
    assert sorted(e["data"]["package_id"] for e in claimed) == waiting

    # The sample is the deterministic one, recorded: the same on every read.
    items = [i for p in waiting for i in await team.items(p)]
    expected = sample(sid, items, Sampling("percent", 20))
    page = await team.acc.GetAcceptance(apb.GetAcceptanceRequest(acceptance_id=sid))
    assert sorted(i.item_id for i in page.items) == sorted(expected)
    first = page.items[0]
    assert json.loads(first.answer_json) == ANSWER
    assert json.loads(first.data_json)["text"] == f"text of {first.item_id}"
    assert first.verdict == apb.VERDICT_UNSPECIFIED and first.package_id in waiting


async def test_sampling_by_quantity_is_capped_by_the_items(harness: Harness) -> None:
    team, _ = await _team(harness, items=10, waiting=2)
    started = await team.start(quantity=3)
    assert (started.quantity, started.report.sampled) == (3, 3)
    await team.finish(started.id, "ALL_PASS")

    team2, _ = await _team(harness, items=10, waiting=2)
    everything = await team2.start(quantity=500)
    assert everything.report.sampled == everything.item_count == 10


async def test_a_start_needs_a_sampling_policy_and_waiting_packages(harness: Harness) -> None:
    job_id = await harness.publish_job(items=5, package_size=5)
    team = Team(harness, job_id)
    bad = grpc.StatusCode.INVALID_ARGUMENT
    await refused(team.start(), bad, "sample: give a percent or a quantity")
    await refused(team.start(percent=0), bad, "percent:")
    await refused(team.start(percent=120), bad, "percent:")
    await refused(team.start(quantity=-2), bad, "quantity:")
    await refused(team.start(percent=50), grpc.StatusCode.FAILED_PRECONDITION,
                  "no package of job")
    await refused(team.ada.ListAcceptances(apb.ListAcceptancesRequest(job_id="nope")),
                  grpc.StatusCode.NOT_FOUND, "job_id")


async def test_items_are_passed_or_rejected_and_the_acceptance_continued(
        harness: Harness) -> None:
    team, _ = await _team(harness, items=10, waiting=2)
    sid = (await team.start(percent=100)).id
    items = [i.item_id for i in (await team.acc.GetAcceptance(
        apb.GetAcceptanceRequest(acceptance_id=sid))).items]
    assert len(items) == 10

    # Invalid decisions are refused together, each named; nothing of the batch is kept.
    request = apb.DecideItemsRequest(acceptance_id=sid)
    request.decisions.add(item_id=items[0], verdict=apb.VERDICT_PASS)
    request.decisions.add(item_id=items[1], verdict=apb.VERDICT_REJECT, reason=" ")
    request.decisions.add(item_id="elsewhere", verdict=apb.VERDICT_PASS, rating=pb.RATING_A)
    request.decisions.add(item_id=items[2])
    details = await refused(team.acc.DecideItems(request), grpc.StatusCode.INVALID_ARGUMENT)
    assert "needs a rating A-D" in details and "needs a reason" in details
    assert "'elsewhere' is not a sampled item" in details and "needs a verdict" in details
    await refused(team.acc.DecideItems(apb.DecideItemsRequest(acceptance_id=sid)),
                  grpc.StatusCode.INVALID_ARGUMENT, "decisions: 1 to")

    decided = await team.decide(sid, (items[0], "A", ""), (items[1], "", "box too loose"),
                                (items[2], "C", ""))
    report = decided.report
    assert (report.sampled, report.accepted, report.passed, report.rejected,
            report.pending) == (10, 3, 2, 1, 7)
    assert report.pass_rate == pytest.approx(66.67)
    # A later decision on the same item replaces the earlier one.
    decided = await team.decide(sid, (items[2], "", "wrong class"))
    assert (decided.report.passed, decided.report.rejected) == (1, 2)

    # Continue later (another accepter, or an administrator): the session persists.
    ann = harness.client("ann", auth.ACCEPTER, stub=harness.acceptance)
    resumed = await ann.GetAcceptance(apb.GetAcceptanceRequest(job_id=team.job_id))
    assert resumed.id == sid and resumed.state == apb.ACCEPTANCE_STATE_ONGOING
    by_item = {i.item_id: i for i in resumed.items}
    assert (by_item[items[0]].verdict, by_item[items[0]].rating,
            by_item[items[0]].decided_by) == (apb.VERDICT_PASS, pb.RATING_A, "acc")
    assert (by_item[items[1]].verdict, by_item[items[1]].reason) == (
        apb.VERDICT_REJECT, "box too loose")

    # Pages of the sample, and only what is still pending.
    first = await ann.GetAcceptance(apb.GetAcceptanceRequest(acceptance_id=sid, page_size=4))
    second = await ann.GetAcceptance(apb.GetAcceptanceRequest(
        acceptance_id=sid, page_size=4, page_token=first.next_page_token))
    third = await ann.GetAcceptance(apb.GetAcceptanceRequest(
        acceptance_id=sid, page_size=4, page_token=second.next_page_token))
    assert [len(p.items) for p in (first, second, third)] == [4, 4, 2]
    assert third.next_page_token == ""
    assert sorted(i.item_id for p in (first, second, third) for i in p.items) == sorted(items)
    pending = await ann.GetAcceptance(apb.GetAcceptanceRequest(acceptance_id=sid,
                                                               pending_only=True))
    assert sorted(i.item_id for i in pending.items) == sorted(items[3:])
    await refused(ann.GetAcceptance(apb.GetAcceptanceRequest(acceptance_id=sid,
                                                             page_token="x")),
                  grpc.StatusCode.INVALID_ARGUMENT, "page_token")

    [listed] = (await ann.ListAcceptances(apb.ListAcceptancesRequest(
        job_id=team.job_id))).acceptances
    assert listed.id == sid and (listed.report.accepted, listed.report.pending) == (3, 7)
    assert not listed.items


async def test_one_acceptance_at_a_time_per_job(harness: Harness) -> None:
    team, _ = await _team(harness, items=15, waiting=2)
    first = await team.start(quantity=2)
    details = await refused(team.start(percent=50), grpc.StatusCode.FAILED_PRECONDITION,
                            f"acceptance {first.id} of job {team.job_id} is ongoing")
    assert "continue or finish it before starting another" in details
    await team.finish(first.id, "ALL_PASS")

    await team.to_accept(1)  # a package that came later
    second = await team.start(percent=100)
    assert second.id != first.id and second.item_count == 5
    listed = (await team.ada.ListAcceptances(apb.ListAcceptancesRequest(
        job_id=team.job_id))).acceptances
    assert [a.id for a in listed] == [second.id, first.id]  # newest first
    assert [a.state for a in listed] == [apb.ACCEPTANCE_STATE_ONGOING,
                                         apb.ACCEPTANCE_STATE_FINISHED]


async def test_all_pass_accepts_every_package_with_its_final_answers(harness: Harness) -> None:
    team, waiting = await _team(harness, items=10, waiting=2)
    sid = (await team.start(percent=100)).id
    items = await team.items(waiting[0])
    await team.decide(sid, (items[0], "A", ""), (items[1], "", "should not matter"))
    finished = await team.finish(sid, "ALL_PASS")
    assert finished.state == apb.ACCEPTANCE_STATE_FINISHED and finished.finished_by == "acc"
    assert finished.scope == apb.ACCEPTANCE_SCOPE_ALL_PASS
    outcome = finished.outcome
    assert (outcome.packages_accepted, outcome.packages_returned, outcome.items_passed,
            outcome.items_rejected) == (2, 0, 10, 0)
    assert (finished.report.passed, finished.report.rejected, finished.report.pending) == (
        1, 1, 8)
    assert set((await team.states()).values()) == {("accepted", "")}
    accepted = await harness.events("labelops.package.accepted.v1")
    assert sorted(e["data"]["package_id"] for e in accepted) == waiting
    first = next(e for e in accepted if e["data"]["package_id"] == waiting[0])
    assert first["data"]["accepter"] == "acc"
    assert [i["answer"] for i in first["data"]["items"]] == [ANSWER] * 5
    assert first["data"]["items"][0]["data"]["text"] == f"text of {items[0]}"
    assert len(await harness.events("labelops.job.completed.v1")) == 1
    # Finishing again with the same choice answers the finished acceptance.
    assert (await team.finish(sid, "ALL_PASS")).outcome == outcome
    await refused(team.finish(sid, "ALL_REJECT"), grpc.StatusCode.FAILED_PRECONDITION,
                  "is finished")


async def test_all_reject_sends_every_package_back_with_reasons(harness: Harness) -> None:
    team, waiting = await _team(harness, items=10, waiting=2)
    sid = (await team.start(percent=100)).id
    items = await team.items(waiting[0])
    await team.decide(sid, (items[0], "A", ""), (items[1], "", "box too loose"))
    finished = await team.finish(sid, "ALL_REJECT")
    assert (finished.outcome.packages_returned, finished.outcome.items_rejected) == (2, 10)
    assert set((await team.states()).values()) == {("labeling", "lee")}
    rejected = await harness.events("labelops.package.rejected.v1")
    assert sorted(e["data"]["package_id"] for e in rejected) == waiting
    first = next(e for e in rejected if e["data"]["package_id"] == waiting[0])
    reasons = {r["item_id"]: r["reason"] for r in first["data"]["rejections"]}
    assert (first["data"]["stage"], first["data"]["by"]) == ("accept", "acc")
    assert reasons[items[1]] == "box too loose"
    assert reasons[items[0]] == f"rejected with every item of acceptance {sid}"
    assert len(reasons) == 5
    # The labeler sees why, as after any rejection, and reworks the package.
    detail = await team.lee.GetPackage(pb.GetPackageRequest(package_id=waiting[0]))
    assert {i.item_id: i.rejection_reason for i in detail.items} == reasons
    stored = await harness.db[PACKAGES].find_one({"_id": waiting[0]})
    assert stored["rework_count"] == 1
    assert not await harness.events("labelops.package.accepted.v1")


async def test_remaining_pass_returns_only_packages_with_rejected_items(
        harness: Harness) -> None:
    team, waiting = await _team(harness, items=15, waiting=3)
    sid = (await team.start(quantity=4)).id
    page = (await team.acc.GetAcceptance(apb.GetAcceptanceRequest(acceptance_id=sid))).items
    # one sampled item rejected, one passed, two sampled left undecided, eleven unsampled
    rejected_item, returned = page[0].item_id, page[0].package_id
    await team.decide(sid, (rejected_item, "", "off by one"), (page[1].item_id, "D", ""))
    finished = await team.finish(sid, "REMAINING_PASS")
    assert (finished.outcome.packages_accepted, finished.outcome.packages_returned) == (2, 1)
    assert (finished.outcome.items_passed, finished.outcome.items_rejected) == (14, 1)
    states = await team.states()
    assert states[returned] == ("labeling", "lee")
    assert {states[p] for p in waiting if p != returned} == {("accepted", "")}
    [rejected] = await harness.events("labelops.package.rejected.v1")
    assert rejected["data"]["rejections"] == [{"item_id": rejected_item,
                                               "reason": "off by one"}]


async def test_remaining_reject_keeps_passes_and_returns_the_rest(harness: Harness) -> None:
    team, waiting = await _team(harness, items=10, waiting=2)
    sid = (await team.start(percent=100)).id
    items = {p: await team.items(p) for p in waiting}
    # every item of the first package passes; the second has one pass, one reject
    await team.decide(sid, *[(i, "A", "") for i in items[waiting[0]]],
                      (items[waiting[1]][0], "C", ""), (items[waiting[1]][1], "", "blurry"))
    finished = await team.finish(sid, "REMAINING_REJECT")
    assert (finished.outcome.packages_accepted, finished.outcome.packages_returned) == (1, 1)
    assert (finished.outcome.items_passed, finished.outcome.items_rejected) == (6, 4)
    states = await team.states()
    assert states[waiting[0]] == ("accepted", "")
    assert states[waiting[1]] == ("labeling", "lee")
    [rejected] = await harness.events("labelops.package.rejected.v1")
    reasons = {r["item_id"]: r["reason"] for r in rejected["data"]["rejections"]}
    assert reasons == {items[waiting[1]][1]: "blurry",
                       **dict.fromkeys(items[waiting[1]][2:], f"not passed in acceptance {sid}")}
    # The passed item of the returned package keeps its accepted answer and rating.
    kept = await harness.answers.find_one(
        {"_id": annotation_id(waiting[1], items[waiting[1]][0], "accept")})
    assert (kept["rating"], kept["acceptance"], json.loads(kept["answer_json"])) == (
        "C", sid, ANSWER)


@pytest.mark.parametrize("overwrite", ["KEEP", "OVERWRITE"])
async def test_the_overwrite_policy_decides_over_an_earlier_acceptance(
        harness: Harness, overwrite: str) -> None:
    team, [package] = await _team(harness, items=5, waiting=1)
    items = await team.items(package)
    first = (await team.start(percent=100)).id
    await team.decide(first, (items[0], "A", ""), *[(i, "", "redo") for i in items[1:]])
    await team.finish(first, "REMAINING_REJECT")

    # Reworked: the labeler changes every answer, item 0's too, and it is checked again.
    await team.label(package, dict.fromkeys(items, FIXED))
    await team.check()
    second = (await team.start(percent=100)).id
    await team.decide(second, (items[0], "", "now wrong"), *[(i, "B", "") for i in items[1:]])
    finished = await team.finish(second, "REMAINING_PASS", overwrite)

    accepted_events = await harness.events("labelops.package.accepted.v1")
    if overwrite == "KEEP":
        [accepted] = accepted_events
        # item 0 keeps the result of the first acceptance: its answer then, and a pass
        assert (finished.outcome.packages_accepted, finished.outcome.items_kept) == (1, 1)
        answers = {i["item_id"]: i["answer"] for i in accepted["data"]["items"]}
        assert answers == {items[0]: ANSWER, **dict.fromkeys(items[1:], FIXED)}
        assert (await team.states())[package] == ("accepted", "")
        detail = await team.admin.GetPackage(pb.GetPackageRequest(package_id=package))
        assert json.loads(detail.items[0].answer_json) == ANSWER  # what was accepted
    else:
        assert not accepted_events
        assert (finished.outcome.packages_returned, finished.outcome.items_kept) == (1, 0)
        assert (await team.states())[package] == ("labeling", "lee")
        second_rejection = (await harness.events("labelops.package.rejected.v1"))[-1]
        assert second_rejection["data"]["rejections"] == [
            {"item_id": items[0], "reason": "now wrong"}]
        # the earlier result is gone; the other items now hold this acceptance's pass
        assert await harness.answers.find_one(
            {"_id": annotation_id(package, items[0], "accept")}) is None
        newer = await harness.answers.find_one(
            {"_id": annotation_id(package, items[1], "accept")})
        assert (newer["acceptance"], json.loads(newer["answer_json"])) == (second, FIXED)


async def test_a_package_in_an_acceptance_cannot_be_released_or_transferred(
        harness: Harness) -> None:
    team, waiting = await _team(harness, items=10, waiting=2)
    sid = (await team.start(percent=100)).id
    for call in (team.admin.ReleasePackage(pb.ReleasePackageRequest(
                     package_id=waiting[1], reason="needed elsewhere")),
                 team.admin.TransferPackage(pb.TransferPackageRequest(
                     package_id=waiting[1], to="acc", reason="needed elsewhere"))):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert f"is in acceptance {sid}" in (refused.value.details() or "")
    finished = await team.finish(sid, "ALL_PASS")
    assert (finished.outcome.packages_accepted, finished.outcome.packages_left_out) == (2, 0)
    assert len(await harness.events("labelops.package.accepted.v1")) == 2


async def test_a_package_claimed_before_the_start_is_not_taken(harness: Harness) -> None:
    team, waiting = await _team(harness, items=15, waiting=3)
    acc = harness.client("acc", auth.ACCEPTER)
    claimed = await acc.ClaimPackage(pb.ClaimPackageRequest(job_id=team.job_id, stage=ACCEPT))
    started = await team.start(percent=100)
    assert claimed.id not in started.package_ids and len(started.package_ids) == 2


async def test_finishing_resumes_after_a_crash_moving_each_package_once(
        harness: Harness) -> None:
    team, waiting = await _team(harness, items=20, waiting=4)
    sid = (await team.start(percent=100)).id
    items = await team.items(waiting[3])
    await team.decide(sid, (items[0], "", "blurry"))
    box = harness.packages.outbox
    commit = box.commit
    moves = []

    async def crashing(uow: Any, *, key: str | None = None, **options: Any) -> bool:
        if key and key.startswith("move:"):
            moves.append(key)
            if len(moves) == 2:  # the process dies after taking this move's ticket
                raise RuntimeError("killed")
        return await commit(uow, key=key, **options)

    box.commit = crashing  # type: ignore[method-assign]
    await refused(team.finish(sid, "REMAINING_PASS"), grpc.StatusCode.UNKNOWN)
    box.commit = commit  # type: ignore[method-assign]

    stuck = await team.acc.GetAcceptance(apb.GetAcceptanceRequest(acceptance_id=sid))
    assert stuck.state == apb.ACCEPTANCE_STATE_FINISHING
    assert stuck.scope == apb.ACCEPTANCE_SCOPE_REMAINING_PASS
    states = await team.states()
    assert sum(1 for p in waiting if states[p][1] == holder(sid)) == 1
    # While it finishes: no decisions, no other scope, no other acceptance.
    await refused(team.decide(sid, (items[1], "A", "")), grpc.StatusCode.FAILED_PRECONDITION,
                  "is finishing")
    await refused(team.finish(sid, "ALL_PASS"), grpc.StatusCode.FAILED_PRECONDITION,
                  "being finished with scope remaining_pass")
    await refused(team.start(percent=10), grpc.StatusCode.FAILED_PRECONDITION, "finishing")

    finished = await team.finish(sid, "REMAINING_PASS")
    assert finished.state == apb.ACCEPTANCE_STATE_FINISHED
    assert (finished.outcome.packages_accepted, finished.outcome.packages_returned,
            finished.outcome.packages_left_out) == (3, 1, 0)
    events = await harness.events()
    for package in waiting:
        moved = [e["type"] for e in _events_of(events, package)
                 if e["type"].endswith(("accepted.v1", "rejected.v1"))]
        assert len(moved) == 1, (package, moved)
    states = await team.states()
    assert states[waiting[3]] == ("labeling", "lee")
    docs = await harness.db[PACKAGES].find({"job_id": team.job_id}).to_list(None)
    # checked (v4), taken in (v5), finished (v6): the crashed move's ticket was taken
    # again by its owner, no version was skipped
    assert {d["version"] for d in docs} == {6}
    # Every move announced itself once: the events alone rebuild the package states.
    rebuilt = replay("label_check_accept", [e for e in events
                                            if e["data"].get("job_id") == team.job_id])
    assert not rebuilt.violations
    assert {p: (r.state, r.holder) for p, r in rebuilt.packages.items()} == states


async def test_who_may_accept(harness: Harness) -> None:
    job_id = await harness.publish_job(items=5, package_size=5)
    team = Team(harness, job_id)
    [package] = await team.to_accept(1)
    lee = harness.client("lee", auth.LABELER, stub=harness.acceptance)
    outsider = harness.client("ada", auth.ANNOTATION_ADMIN, workspace="other",
                              stub=harness.acceptance)
    denied, missing = grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.NOT_FOUND
    await refused(lee.StartAcceptance(apb.StartAcceptanceRequest(job_id=job_id, percent=50)),
                  denied, "StartAcceptance needs one of")
    await refused(outsider.StartAcceptance(apb.StartAcceptanceRequest(job_id=job_id,
                                                                      percent=50)), missing)
    started = await team.ada.StartAcceptance(apb.StartAcceptanceRequest(job_id=job_id,
                                                                        percent=50))
    for call in (outsider.GetAcceptance(apb.GetAcceptanceRequest(acceptance_id=started.id)),
                 outsider.GetAcceptance(apb.GetAcceptanceRequest(job_id=job_id)),
                 outsider.ListAcceptances(apb.ListAcceptancesRequest(job_id=job_id)),
                 outsider.DecideItems(apb.DecideItemsRequest(acceptance_id=started.id)),
                 outsider.FinishAcceptance(apb.FinishAcceptanceRequest(
                     acceptance_id=started.id, scope=apb.ACCEPTANCE_SCOPE_ALL_PASS,
                     overwrite=apb.OVERWRITE_POLICY_KEEP)),
                 outsider.ReviseAcceptedItem(apb.ReviseAcceptedItemRequest(
                     package_id=package, item_id="x", answer_json="{}", reason="r"))):
        await refused(call, missing)
    await refused(lee.GetAcceptance(apb.GetAcceptanceRequest(acceptance_id=started.id)),
                  denied)
    await refused(team.acc.ReviseAcceptedItem(apb.ReviseAcceptedItemRequest(
        package_id=package, item_id="x", answer_json="{}", reason="r")), denied,
        "ReviseAcceptedItem needs one of")
    await refused(team.acc.GetAcceptance(apb.GetAcceptanceRequest(acceptance_id="nope")),
                  missing, "acceptance_id")

    # A job naming its accepters admits only them (administrators always).
    stored = await harness.spec(job_id)
    await harness.db["jobs"].update_one({"_id": job_id}, {"$set": {"members": {
        **stored.members.model_dump(), "accepters": ["ann"]}}})
    await refused(team.acc.GetAcceptance(apb.GetAcceptanceRequest(acceptance_id=started.id)),
                  denied, "not one of the accepters")
    ann = harness.client("ann", auth.ACCEPTER, stub=harness.acceptance)
    assert (await ann.GetAcceptance(apb.GetAcceptanceRequest(
        acceptance_id=started.id))).id == started.id
    assert (await team.ada.FinishAcceptance(apb.FinishAcceptanceRequest(
        acceptance_id=started.id, scope=apb.ACCEPTANCE_SCOPE_ALL_PASS,
        overwrite=apb.OVERWRITE_POLICY_KEEP))).finished_by == "ada"


async def test_starts_and_claims_racing_leave_each_package_one_holder(
        harness: Harness) -> None:
    team, waiting = await _team(harness, items=20, waiting=4)
    accepters = [harness.client(f"acc{n}", auth.ACCEPTER) for n in range(3)]
    outcomes = await asyncio.gather(
        team.start(percent=100), team.ada.StartAcceptance(apb.StartAcceptanceRequest(
            job_id=team.job_id, quantity=3)),
        *(a.ClaimPackage(pb.ClaimPackageRequest(job_id=team.job_id, stage=ACCEPT))
          for a in accepters), return_exceptions=True)
    sessions = [o for o in outcomes if isinstance(o, apb.Acceptance)]
    claims = [o for o in outcomes if isinstance(o, pb.Package)]
    errors = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(sessions) == 1, outcomes  # one acceptance at a time
    assert all(e.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND)
               for e in errors), errors
    [session] = sessions
    states = await team.states()
    assert sorted(session.package_ids) == sorted(
        p for p in waiting if states[p] == ("accepting", holder(session.id)))
    assert sorted(c.id for c in claims) == sorted(
        p for p in waiting if states[p][1].startswith("acc") and ":" not in states[p][1])
    assert len(session.package_ids) + len(claims) == 4
    claimed = [e["data"]["package_id"] for e in await harness.events(
        "labelops.package.claimed.v1") if e["data"]["stage"] == "accept"]
    assert sorted(claimed) == sorted(waiting)  # one claim event per package


async def test_a_start_that_died_is_completed_by_the_next_reader(harness: Harness) -> None:
    team, waiting = await _team(harness, items=15, waiting=3)
    move = harness.packages.move
    calls = []

    async def dying(*args: Any, **kw: Any) -> Any:
        calls.append(kw.get("owner"))
        if len(calls) == 2:
            raise RuntimeError("killed")
        return await move(*args, **kw)

    harness.packages.move = dying  # type: ignore[method-assign]
    await refused(team.start(percent=100), grpc.StatusCode.UNKNOWN)
    harness.packages.move = move  # type: ignore[method-assign]
    [session] = await harness.db[ACCEPTANCES].find({"job_id": team.job_id}).to_list(None)
    assert session["state"] == "starting"
    await refused(team.start(percent=100), grpc.StatusCode.FAILED_PRECONDITION, "is starting")
    shown = await team.acc.GetAcceptance(apb.GetAcceptanceRequest(job_id=team.job_id))
    assert shown.state == apb.ACCEPTANCE_STATE_STARTING  # its starter may still be at work

    await harness.db[ACCEPTANCES].update_one({"_id": session["_id"]}, {"$set": {
        "started_at": datetime.now(UTC) - timedelta(minutes=5)}})
    resumed = await team.acc.GetAcceptance(apb.GetAcceptanceRequest(job_id=team.job_id))
    assert resumed.state == apb.ACCEPTANCE_STATE_ONGOING
    assert sorted(resumed.package_ids) == waiting and resumed.report.sampled == 15
    claimed = [e["data"]["package_id"] for e in await harness.events(
        "labelops.package.claimed.v1") if e["data"]["holder"] == holder(session["_id"])]
    assert sorted(claimed) == waiting  # each package taken in once
