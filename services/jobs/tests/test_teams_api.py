"""Teams through the real gRPC server: limits, members, roles, and teams in jobs."""

from __future__ import annotations

import asyncio

import grpc

from labelops.jobs.v1 import jobs_pb2 as pb
from labelops_shared import auth
from labelops_shared.contracts import PackageClaimed, PackageCreated, PackageSubmitted
from services.jobs.domain.teams import Limits
from services.jobs.tests.conftest import Harness
from services.jobs.tests.test_api import refused, request


async def team_with(harness: Harness, name: str = "alpha",
                    **members: str) -> pb.Team:
    admin = harness.admin()
    team = await admin.CreateTeam(pb.CreateTeamRequest(name=name))
    for email, role in members.items():
        team = await admin.AddTeamMember(pb.TeamMemberRequest(
            team_id=team.id, email=email.replace("_", "@") + ".io", role=role))
    return team


async def test_create_list_and_delete_teams_within_the_limit(harness: Harness) -> None:
    harness.servicer.limits = Limits(teams=3, members=2)
    admin = harness.admin()
    teams = [await admin.CreateTeam(pb.CreateTeamRequest(name=f"team-{i}")) for i in range(3)]
    await refused(admin.CreateTeam(pb.CreateTeamRequest(name="team-9")),
                  grpc.StatusCode.FAILED_PRECONDITION, "at most 3 teams")
    listed = await harness.client("lea", auth.LABELER).ListTeams(pb.ListTeamsRequest())
    assert [t.name for t in listed.teams] == ["team-0", "team-1", "team-2"]
    await admin.DeleteTeam(pb.DeleteTeamRequest(team_id=teams[0].id))
    await refused(admin.CreateTeam(pb.CreateTeamRequest(name="TEAM-1")),
                  grpc.StatusCode.FAILED_PRECONDITION, "a team named 'TEAM-1' exists")
    assert (await admin.CreateTeam(pb.CreateTeamRequest(name="team-3"))).name == "team-3"
    # Other workspaces have their own limit and cannot see these teams.
    other = harness.admin("ws2")
    assert (await other.CreateTeam(pb.CreateTeamRequest(name="team-1"))).workspace == "ws2"
    await refused(other.GetTeam(pb.GetTeamRequest(team_id=teams[1].id)),
                  grpc.StatusCode.NOT_FOUND, "not found")
    changes = await harness.events("labelops.team.changed.v1")
    assert [e["data"]["deleted"] for e in changes] == [False, False, False, True, False, False]
    assert changes[0]["partitionkey"] == teams[0].id


async def test_concurrent_creations_respect_the_limit(harness: Harness) -> None:
    harness.servicer.limits = Limits(teams=4, members=2)
    admin = harness.admin()
    results = await asyncio.gather(
        *(admin.CreateTeam(pb.CreateTeamRequest(name=f"t{i}")) for i in range(8)),
        return_exceptions=True)
    created = [r for r in results if isinstance(r, pb.Team)]
    assert len(created) == 4, results
    assert all(isinstance(r, grpc.aio.AioRpcError) for r in results if r not in created)
    listed = await admin.ListTeams(pb.ListTeamsRequest())
    assert sorted(t.name for t in listed.teams) == sorted(t.name for t in created)


async def test_members_emails_roles_and_the_one_manager(harness: Harness) -> None:
    harness.servicer.limits = Limits(teams=3, members=3)
    admin = harness.admin()
    team = await team_with(harness, ann_x="labeler", boss_x="manager")
    assert [(m.email, m.role) for m in team.members] == [("ann@x.io", "labeler"),
                                                         ("boss@x.io", "manager")]
    member = pb.TeamMemberRequest(team_id=team.id, email="ANN@x.io", role="reviewer")
    await refused(admin.AddTeamMember(member), grpc.StatusCode.FAILED_PRECONDITION,
                  "already a member")
    await refused(admin.AddTeamMember(pb.TeamMemberRequest(team_id=team.id, email="eve@x.io",
                                                           role="manager")),
                  grpc.StatusCode.FAILED_PRECONDITION, "already has a manager")
    await refused(admin.AddTeamMember(pb.TeamMemberRequest(team_id=team.id, email="eve",
                                                           role="labeler")),
                  grpc.StatusCode.INVALID_ARGUMENT, "email: not an email")
    await admin.AddTeamMember(pb.TeamMemberRequest(team_id=team.id, email="rev@x.io",
                                                   role="reviewer"))
    await refused(admin.AddTeamMember(pb.TeamMemberRequest(team_id=team.id, email="dan@x.io",
                                                           role="labeler")),
                  grpc.StatusCode.FAILED_PRECONDITION, "at most 3 members")
    changed = await admin.UpdateTeamMember(member)
    assert {m.email: m.role for m in changed.members}["ann@x.io"] == "reviewer"


async def test_a_team_manager_manages_labelers_and_reviewers_of_their_team(
    harness: Harness,
) -> None:
    team = await team_with(harness, boss_x="manager")
    other = await team_with(harness, "beta")
    manager = harness.client("boss@x.io", auth.TEAM_MANAGER)
    await manager.AddTeamMember(pb.TeamMemberRequest(team_id=team.id, email="lea@x.io",
                                                     role="labeler"))
    await refused(manager.AddTeamMember(pb.TeamMemberRequest(team_id=other.id,
                                                             email="lea@x.io",
                                                             role="labeler")),
                  grpc.StatusCode.PERMISSION_DENIED, "team's manager")
    await refused(manager.UpdateTeamMember(pb.TeamMemberRequest(team_id=team.id,
                                                                email="lea@x.io",
                                                                role="manager")),
                  grpc.StatusCode.PERMISSION_DENIED, "only an administrator names")
    await refused(manager.CreateTeam(pb.CreateTeamRequest(name="mine")),
                  grpc.StatusCode.PERMISSION_DENIED, "CreateTeam")
    labeler = harness.client("lea@x.io", auth.LABELER)
    await refused(labeler.AddTeamMember(pb.TeamMemberRequest(team_id=team.id, email="z@x.io",
                                                             role="labeler")),
                  grpc.StatusCode.PERMISSION_DENIED, "AddTeamMember")


async def test_teams_work_in_jobs_and_members_holding_work_stay(harness: Harness) -> None:
    team = await team_with(harness, ann_x="labeler", rev_x="reviewer", boss_x="manager")
    harness.datasets.add("d1")
    admin = harness.admin()
    job = await admin.CreateJob(request(members=pb.Members(
        labelers=["lea"], labeler_teams=[team.id], checker_teams=[team.id])))
    assert list(job.effective_members.labelers) == ["lea", "ann@x.io", "boss@x.io"]
    assert list(job.effective_members.checkers) == ["boss@x.io", "rev@x.io"]
    await refused(admin.CreateJob(request(members=pb.Members(labeler_teams=["nope"]))),
                  grpc.StatusCode.INVALID_ARGUMENT, "members.labeler_teams[0]: no team")
    # Joining before publication counts: teams are resolved again when publishing.
    await admin.AddTeamMember(pb.TeamMemberRequest(team_id=team.id, email="new@x.io",
                                                   role="labeler"))
    await admin.PublishJob(pb.PublishJobRequest(job_id=job.id))
    [event] = await harness.events("labelops.job.published.v1")
    members = event["data"]["job"]["members"]
    assert members["labelers"] == ["lea", "ann@x.io", "boss@x.io", "new@x.io"]
    assert members["labeler_teams"] == [team.id]
    mine = await harness.client("new@x.io", auth.LABELER).ListJobs(
        pb.ListJobsRequest(participant="new@x.io"))
    assert [j.id for j in mine.jobs] == [job.id]
    # Joining a published job's team: the job follows (JobUpdated with its members).
    await admin.AddTeamMember(pb.TeamMemberRequest(team_id=team.id, email="late@x.io",
                                                   role="reviewer"))
    # (once for new@x.io, who joined while the job was a draft, once now)
    first, updated = await harness.events("labelops.job.updated.v1")
    assert first["data"]["changed"] == updated["data"]["changed"] == ["members"]
    assert "late@x.io" in updated["data"]["job"]["members"]["checkers"]
    late = await harness.client("late@x.io", auth.CHECKER).ListJobs(
        pb.ListJobsRequest(participant="late@x.io"))
    assert [j.id for j in late.jobs] == [job.id]

    await harness.deliver(PackageCreated(job_id=job.id, package_id="p0", index=0,
                                         item_ids=["a", "b"]))
    await harness.deliver(PackageClaimed(job_id=job.id, package_id="p0", stage="label",
                                         holder="ann@x.io"))
    removal = pb.RemoveTeamMemberRequest(team_id=team.id, email="ann@x.io")
    await refused(admin.RemoveTeamMember(removal), grpc.StatusCode.FAILED_PRECONDITION,
                  "ann@x.io holds 1 claimed package")
    await refused(admin.DeleteTeam(pb.DeleteTeamRequest(team_id=team.id)),
                  grpc.StatusCode.FAILED_PRECONDITION, "works on 1 job")
    await harness.deliver(PackageSubmitted(job_id=job.id, package_id="p0", labeler="ann@x.io",
                                           item_count=2))
    after = await admin.RemoveTeamMember(removal)
    assert "ann@x.io" not in [m.email for m in after.members]
