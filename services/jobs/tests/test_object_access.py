"""Object-level access to jobs and teams (OWASP API1), through the real server on the fake
database: a member of another workspace (holding every role) reaches no job or team by its
id, lists none, and cannot point a job of its own at another workspace's dataset or team;
a request cannot set the fields the service owns; every role a method does not allow is
refused. Each refused call changes no stored document."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from labelops.jobs.v1 import jobs_pb2 as pb
from labelops_shared import auth
from services.jobs.api import ROLES
from services.jobs.tests.conftest import Harness
from services.jobs.tests.fakes import FakeDatabase
from services.jobs.tests.test_api import request as job_request
from tests.access import (
    EVERY_MEMBER_ROLE,
    HIDDEN,
    OTHER_WORKSPACE,
    assert_every_method_placed,
    assert_roles_refused,
    refused_unchanged,
)

pytestmark = pytest.mark.unit


@pytest.fixture
def db() -> FakeDatabase:
    """The in-memory database only: refusals compare every document before and after."""
    return FakeDatabase()


@dataclass
class World:
    job: str
    team: str
    dataset: str


async def _world(harness: Harness) -> World:
    harness.datasets.add("d1")
    ada = harness.admin()
    team = await ada.CreateTeam(pb.CreateTeamRequest(name="secret-team"))
    await ada.AddTeamMember(pb.TeamMemberRequest(team_id=team.id, email="tm@x.io",
                                                 role="manager"))
    job = await ada.CreateJob(job_request(name="secret-job", members=pb.Members(
        labelers=["lea"], labeler_teams=[team.id])))
    return World(job=job.id, team=team.id, dataset="d1")


Attack = Callable[[World], Any]
MATRIX: dict[str, Attack] = {
    "PublishJob": lambda w: pb.PublishJobRequest(job_id=w.job),
    "UnpublishJob": lambda w: pb.UnpublishJobRequest(job_id=w.job),
    "CompleteJob": lambda w: pb.CompleteJobRequest(job_id=w.job),
    "DeleteJob": lambda w: pb.DeleteJobRequest(job_id=w.job, force=True),
    "CopyJob": lambda w: pb.CopyJobRequest(job_id=w.job, name="mine"),
    "UpdateJob": lambda w: pb.UpdateJobRequest(job_id=w.job, update_mask=["name"],
                                               name="mine"),
    "AddLabel": lambda w: pb.AddLabelRequest(job_id=w.job, label=pb.Label(name="x")),
    "UpdateLabel": lambda w: pb.UpdateLabelRequest(job_id=w.job, name="pos",
                                                   label=pb.Label(name="x")),
    "DeleteLabel": lambda w: pb.DeleteLabelRequest(job_id=w.job, name="pos"),
    "GetJob": lambda w: pb.GetJobRequest(job_id=w.job),
    "GetTemplateSchema": lambda w: pb.GetTemplateSchemaRequest(job_id=w.job),
    "DeleteTeam": lambda w: pb.DeleteTeamRequest(team_id=w.team),
    "GetTeam": lambda w: pb.GetTeamRequest(team_id=w.team),
    "AddTeamMember": lambda w: pb.TeamMemberRequest(team_id=w.team, email="m@x.io",
                                                    role="labeler"),
    "UpdateTeamMember": lambda w: pb.TeamMemberRequest(team_id=w.team, email="tm@x.io",
                                                       role="labeler"),
    "RemoveTeamMember": lambda w: pb.RemoveTeamMemberRequest(team_id=w.team,
                                                             email="tm@x.io"),
}
# Acting in the caller's own workspace only (tested below for what they show or take in).
WITHOUT_OBJECT = ("CreateJob", "ListJobs", "ListTemplates", "CreateTeam", "ListTeams")


def test_every_rpc_is_in_the_matrix() -> None:
    assert_every_method_placed(pb, "JobsService", MATRIX, WITHOUT_OBJECT)


async def test_another_workspace_reaches_nothing_by_id(harness: Harness) -> None:
    world = await _world(harness)
    outsider = harness.client("ada", *EVERY_MEMBER_ROLE, workspace=OTHER_WORKSPACE)
    for method, attack in MATRIX.items():
        await refused_unchanged(harness.db, getattr(outsider, method)(attack(world)), HIDDEN,
                                secrets=["secret-job", "secret-team", "tm@x.io"])
    # Listings show only the caller's workspace.
    assert not (await outsider.ListJobs(pb.ListJobsRequest())).jobs
    assert not (await outsider.ListJobs(pb.ListJobsRequest(dataset_id=world.dataset))).jobs
    assert not (await outsider.ListTeams(pb.ListTeamsRequest())).teams
    # A job of its own cannot take in another workspace's dataset or team.
    await refused_unchanged(harness.db, outsider.CreateJob(job_request()),
                            {grpc.StatusCode.INVALID_ARGUMENT}, secrets=["secret-job"])
    harness.datasets.add("d-other", workspace=OTHER_WORKSPACE)
    await refused_unchanged(harness.db, outsider.CreateJob(job_request(
        dataset_id="d-other", members=pb.Members(labeler_teams=[world.team]))),
        {grpc.StatusCode.INVALID_ARGUMENT}, secrets=["secret-team"])
    # The objects exist: the workspace's own administrator reaches each.
    ada = harness.admin()
    assert (await ada.GetJob(pb.GetJobRequest(job_id=world.job))).name == "secret-job"
    assert (await ada.GetTeam(pb.GetTeamRequest(team_id=world.team))).name == "secret-team"
    assert [j.id for j in (await ada.ListJobs(pb.ListJobsRequest())).jobs] == [world.job]


async def test_a_request_cannot_set_what_the_service_owns(harness: Harness) -> None:
    world = await _world(harness)
    ada = harness.admin()
    for field in ("workspace", "state", "version", "id", "dataset_id", "created_by"):
        await refused_unchanged(harness.db, ada.UpdateJob(pb.UpdateJobRequest(
            job_id=world.job, update_mask=[field], name="x")),
            {grpc.StatusCode.INVALID_ARGUMENT})
    created = await ada.CreateJob(job_request(name="own"))
    assert created.workspace == "ws1" and created.state == pb.JOB_STATE_DRAFT
    assert created.id != world.job
    # A team manager manages only their team's members, and not as an administrator.
    manager = harness.client("tm@x.io", auth.TEAM_MANAGER)
    other = await ada.CreateTeam(pb.CreateTeamRequest(name="other-team"))
    await refused_unchanged(harness.db, manager.AddTeamMember(pb.TeamMemberRequest(
        team_id=other.id, email="m@x.io", role="labeler")),
        {grpc.StatusCode.PERMISSION_DENIED})
    await refused_unchanged(harness.db, manager.DeleteTeam(pb.DeleteTeamRequest(
        team_id=world.team)), {grpc.StatusCode.PERMISSION_DENIED})


async def test_every_role_a_method_does_not_allow_is_refused(harness: Harness) -> None:
    await _world(harness)
    checked = await assert_roles_refused(harness.db, pb, "JobsService", ROLES,
                                         lambda role: harness.client("lea", role))
    assert checked >= len(ROLES)
