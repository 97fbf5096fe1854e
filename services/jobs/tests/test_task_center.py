"""The task center: filters, cursor paging and progress kept from package events."""

from __future__ import annotations

from typing import Any

import grpc

from labelops.jobs.v1 import jobs_pb2 as pb
from labelops_shared import auth
from labelops_shared.contracts import (
    AcceptedItem,
    ItemRejection,
    PackageAccepted,
    PackageChecked,
    PackageClaimed,
    PackageCreated,
    PackageSubmitted,
)
from labelops_shared.events import new_event
from labelops_shared.kafka import ConsumedMessage
from services.jobs.tests.conftest import Harness
from services.jobs.tests.test_api import refused, request


async def test_filters_and_cursor_paging(harness: Harness) -> None:
    harness.datasets.add("d1")
    harness.datasets.add("d2")
    admin, other = harness.admin(), harness.client("oda", auth.WORKSPACE_ADMIN)
    made = []
    for i in range(7):
        creator = admin if i % 2 == 0 else other
        made.append(await creator.CreateJob(request(
            name=f"job-{i}", dataset_id="d1" if i < 4 else "d2",
            template="text_multi_classification" if i == 6 else "text_classification",
            members=pb.Members(labelers=["lea"] if i % 3 == 0 else ["leo"]))))
    await admin.PublishJob(pb.PublishJobRequest(job_id=made[1].id))
    await harness.admin("ws2").ListJobs(pb.ListJobsRequest())  # another workspace: none

    reader = harness.client("ana", auth.ANNOTATION_ADMIN)

    async def names(**filters: object) -> list[str]:
        listed = await reader.ListJobs(pb.ListJobsRequest(**filters))  # type: ignore[arg-type]
        return [j.name for j in listed.jobs]

    newest_first = [f"job-{i}" for i in reversed(range(7))]
    assert await names() == newest_first
    assert await names(state=pb.JOB_STATE_PUBLISHED) == ["job-1"]
    assert await names(state=pb.JOB_STATE_DRAFT) == [n for n in newest_first if n != "job-1"]
    assert await names(dataset_id="d2") == ["job-6", "job-5", "job-4"]
    assert await names(template="text_multi_classification") == ["job-6"]
    assert await names(creator="oda") == ["job-5", "job-3", "job-1"]
    assert await names(participant="lea") == ["job-6", "job-3", "job-0"]
    assert await names(participant="lea", creator="ada") == ["job-6", "job-0"]

    seen, token = [], ""
    while True:
        page = await reader.ListJobs(pb.ListJobsRequest(page_size=3, page_token=token))
        seen.append([j.name for j in page.jobs])
        token = page.next_page_token
        if not token:
            break
    assert seen == [newest_first[:3], newest_first[3:6], newest_first[6:]]
    await refused(reader.ListJobs(pb.ListJobsRequest(page_token="garbage")),
                  grpc.StatusCode.INVALID_ARGUMENT, "page_token")
    await refused(reader.ListJobs(pb.ListJobsRequest(page_size=500)),
                  grpc.StatusCode.INVALID_ARGUMENT, "page_size: 1-200")


async def test_workers_see_only_the_jobs_they_may_work_on(harness: Harness) -> None:
    """A labeler, checker or accepter lists and reads only the jobs naming them (directly,
    through a team or as a package target) or leaving their role open to everyone; the
    others are not found, as another workspace's are. Admins and team managers see all."""
    harness.datasets.add("d1")
    admin = harness.admin()
    team = await admin.CreateTeam(pb.CreateTeamRequest(name="night-shift"))
    await admin.AddTeamMember(pb.TeamMemberRequest(team_id=team.id, email="tom@x.io",
                                                   role="labeler"))
    named = await admin.CreateJob(request(name="named", members=pb.Members(
        labelers=["lea"], checkers=["cid"], accepters=["ace"])))
    by_team = await admin.CreateJob(request(name="by-team", members=pb.Members(
        labeler_teams=[team.id], checkers=["cid"], accepters=["ace"])))
    open_labeling = await admin.CreateJob(request(
        name="open-labeling", workflow=pb.WORKFLOW_LABEL, members=pb.Members()))
    others = await admin.CreateJob(request(name="others", members=pb.Members(
        labelers=["leo"], checkers=["cyd"], accepters=["abe"])))

    async def listed(client: Any) -> list[str]:
        return sorted(j.name for j in (await client.ListJobs(pb.ListJobsRequest())).jobs)

    lea, tom = harness.client("lea", auth.LABELER), harness.client("tom@x.io", auth.LABELER)
    cid = harness.client("cid", auth.CHECKER)
    assert await listed(lea) == ["named", "open-labeling"]
    assert await listed(tom) == ["by-team", "open-labeling"]
    assert await listed(cid) == ["by-team", "named"]
    everything = ["by-team", "named", "open-labeling", "others"]
    assert await listed(harness.client("ana", auth.ANNOTATION_ADMIN)) == everything
    assert await listed(harness.client("tim", auth.TEAM_MANAGER)) == everything

    assert (await lea.GetJob(pb.GetJobRequest(job_id=named.id))).name == "named"
    await lea.GetTemplateSchema(pb.GetTemplateSchemaRequest(job_id=open_labeling.id))
    for job in (by_team, others):
        await refused(lea.GetJob(pb.GetJobRequest(job_id=job.id)),
                      grpc.StatusCode.NOT_FOUND, "not found")
        await refused(lea.GetTemplateSchema(pb.GetTemplateSchemaRequest(job_id=job.id)),
                      grpc.StatusCode.NOT_FOUND, "not found")
    await refused(cid.GetJob(pb.GetJobRequest(job_id=others.id)),
                  grpc.StatusCode.NOT_FOUND, "not found")


async def test_progress_follows_package_events_once_each(harness: Harness) -> None:
    harness.datasets.add("d1", versions=((1, True, 6),))
    admin = harness.admin()
    job = await admin.CreateJob(request(package_size=3))
    await admin.PublishJob(pb.PublishJobRequest(job_id=job.id))
    j = job.id
    events = [
        PackageCreated(job_id=j, package_id="p0", index=0, item_ids=["a", "b", "c"]),
        PackageCreated(job_id=j, package_id="p1", index=1, item_ids=["d", "e", "f"]),
        PackageClaimed(job_id=j, package_id="p0", stage="label", holder="lea"),
        PackageClaimed(job_id=j, package_id="p1", stage="label", holder="leo"),
        PackageSubmitted(job_id=j, package_id="p0", labeler="lea", item_count=3),
        PackageClaimed(job_id=j, package_id="p0", stage="check", holder="cid"),
        PackageChecked(job_id=j, package_id="p0", checker="cid", passed=False,
                       rejections=[ItemRejection(item_id="a", reason="wrong")]),
    ]
    for event in events:
        assert await harness.deliver(event) == "handled"
    progress = (await admin.GetJob(pb.GetJobRequest(job_id=j))).progress
    assert (progress.total, progress.packages, progress.labeled, progress.rejected,
            progress.claimed) == (6, 2, 3, 1, 2)  # p0 back with lea, p1 with leo

    more = [
        PackageSubmitted(job_id=j, package_id="p0", labeler="lea", item_count=3),
        PackageClaimed(job_id=j, package_id="p0", stage="check", holder="cid"),
        PackageChecked(job_id=j, package_id="p0", checker="cid", passed=True, rating="A"),
        PackageClaimed(job_id=j, package_id="p0", stage="accept", holder="ace"),
        PackageAccepted(job_id=j, package_id="p0", accepter="ace", items=[
            AcceptedItem(item_id=i, data={}, answer={"label": "pos"}, labeler="lea",
                         revision=1) for i in "abc"]),
    ]
    for event in more:
        assert await harness.deliver(event) == "handled"
    # Redelivered (same id): a duplicate. Re-sent (new id): the same state, counted once.
    raw = new_event(more[-1], source="/labelops/test").to_bytes()
    assert await harness.consumer.handle(raw, topic=more[-1].TOPIC) == "handled"
    assert await harness.consumer.handle(raw, topic=more[-1].TOPIC) == "duplicate"
    assert await harness.deliver(events[0]) == "handled"
    progress = (await admin.GetJob(pb.GetJobRequest(job_id=j))).progress
    assert (progress.labeled, progress.checked, progress.accepted, progress.rejected,
            progress.claimed, progress.packages) == (3, 3, 3, 0, 1, 2)
    listed = await admin.ListJobs(pb.ListJobsRequest())
    assert listed.jobs[0].progress == progress


async def test_progress_from_one_poll_of_many_events_equals_one_at_a_time(
        harness: Harness) -> None:
    """The package events of a poll are folded into one commit: the counters come out as
    they do event by event, a repeat inside the poll counts once, and a deleted job's
    events change nothing."""
    harness.datasets.add("d1", versions=((1, True, 6),))
    admin = harness.admin()
    job = await admin.CreateJob(request(package_size=3))
    await admin.PublishJob(pb.PublishJobRequest(job_id=job.id))
    j = job.id
    claimed = new_event(PackageClaimed(job_id=j, package_id="p1", stage="label", holder="leo"),
                        source="/labelops/test")
    poll = [new_event(data, source="/labelops/test") for data in (
        PackageCreated(job_id=j, package_id="p0", index=0, item_ids=["a", "b", "c"]),
        PackageCreated(job_id=j, package_id="p1", index=1, item_ids=["d", "e", "f"]),
        PackageCreated(job_id="gone", package_id="g0", index=0, item_ids=["x"]),
        PackageClaimed(job_id=j, package_id="p0", stage="label", holder="lea"),
        PackageSubmitted(job_id=j, package_id="p0", labeler="lea", item_count=3),
        PackageClaimed(job_id=j, package_id="p0", stage="check", holder="cid"),
        PackageChecked(job_id=j, package_id="p0", checker="cid", passed=True, rating="A"),
        PackageClaimed(job_id=j, package_id="p0", stage="accept", holder="ace"),
        PackageAccepted(job_id=j, package_id="p0", accepter="ace", items=[
            AcceptedItem(item_id=i, data={}, answer={"label": "pos"}, labeler="lea",
                         revision=1) for i in "abc"]),
    )]
    poll[4:4] = [claimed, claimed]
    outcomes = await harness.consumer.handle_many([
        ConsumedMessage(e.to_bytes(), e.data.TOPIC, 0, n) for n, e in enumerate(poll)])
    assert outcomes.count("duplicate") == 1 and outcomes.count("handled") == len(poll) - 1

    progress = (await admin.GetJob(pb.GetJobRequest(job_id=j))).progress
    assert (progress.packages, progress.labeled, progress.checked, progress.accepted,
            progress.claimed) == (2, 3, 3, 3, 1)  # p1 still with leo
    assert await harness.db["package_views"].find_one({"_id": "g0"}) is None
