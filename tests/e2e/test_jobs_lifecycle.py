"""The jobs service with the other services, on the real servers: lifecycle events on
Kafka, progress and claims learnt from the assignment service's package events, label
renames announced, teams resolved into the people the assignment service lets work."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import grpc
import pytest

from labelops.assignment.v1 import assignment_pb2 as apb
from labelops.jobs.v1 import jobs_pb2 as jpb
from labelops_cli.client import Clients, connect
from labelops_cli.demo import DEMO_MANIFEST, import_manifest, wait_for, wait_for_packages
from labelops_cli.services import ServiceProcesses
from labelops_shared import auth, topics
from tests.e2e.event_tap import Event, EventTap

pytestmark = pytest.mark.e2e
WORKSPACE = f"jobs-e2e-{uuid.uuid4().hex[:6]}"  # teams are limited per workspace


def _client(env: dict[str, str], who: str, *roles: str) -> Clients:
    return connect(auth.issue_token(env["LABELOPS_JWT_SECRET"], subject=who,
                                    workspace=WORKSPACE, roles=roles))


class JobEvents(EventTap):
    """The jobs topic from the moment the tap is opened."""

    def __init__(self, bootstrap: str) -> None:
        super().__init__(bootstrap, topics.JOBS_EVENTS)

    def of_job(self, job_id: str, done: Callable[[list[Event]], bool],
               seconds: float = 60) -> list[Event]:
        return self.collect(lambda e: e.get("data", {}).get("job_id") == job_id, done, seconds)


def _progress(client: Clients, job_id: str, ok: Callable[[jpb.Progress], bool]) -> jpb.Progress:
    def probe() -> jpb.Progress | None:
        progress = client.jobs.GetJob(jpb.GetJobRequest(job_id=job_id)).progress
        return progress if ok(progress) else None

    return wait_for("the job's progress", probe, timeout=60)


def _label_package(client: Clients, package_id: str, label: str) -> None:
    detail = client.assignment.GetPackage(apb.GetPackageRequest(package_id=package_id))
    for item in detail.items:
        client.assignment.SaveAnnotation(apb.SaveAnnotationRequest(
            package_id=package_id, item_id=item.item_id,
            answer_json=json.dumps({"label": label})))
    client.assignment.SubmitPackage(apb.SubmitPackageRequest(package_id=package_id))


def test_lifecycle_progress_and_label_events_across_services(
    platform: ServiceProcesses, stack_env: dict[str, str]
) -> None:
    admin = _client(stack_env, "ada", auth.ANNOTATION_ADMIN)
    owner = _client(stack_env, "wanda", auth.WORKSPACE_ADMIN)
    lee = _client(stack_env, "lee", auth.LABELER)
    dataset, _ = import_manifest(admin, stack_env, DEMO_MANIFEST, name_prefix="jobs-e2e")
    tap = JobEvents(stack_env["LABELOPS_KAFKA_BOOTSTRAP"])

    job = admin.jobs.CreateJob(jpb.CreateJobRequest(
        name=f"jobs-{uuid.uuid4().hex[:6]}", dataset_id=dataset.id,
        template="text_classification",
        labels=[jpb.Label(name="a", shortcut="1"), jpb.Label(name="b", shortcut="2")],
        workflow=jpb.WORKFLOW_LABEL_CHECK, package_size=5, check_percent=40,
        members=jpb.Members(labelers=["lee"])))
    admin.jobs.PublishJob(jpb.PublishJobRequest(job_id=job.id))
    wait_for_packages(admin, job.id, 5)

    # Claims and progress, learnt from the assignment service's events.
    package = lee.assignment.ClaimPackage(apb.ClaimPackageRequest(job_id=job.id,
                                                                  stage=apb.STAGE_LABEL))
    _progress(admin, job.id, lambda p: p.packages == 5 and p.claimed == 1)
    with pytest.raises(grpc.RpcError) as refused:
        admin.jobs.DeleteJob(jpb.DeleteJobRequest(job_id=job.id))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    _label_package(lee, package.id, "a")
    progress = _progress(admin, job.id, lambda p: p.labeled == 5 and p.claimed == 0)
    assert progress.total == 25

    # Lifecycle and label management.
    admin.jobs.UnpublishJob(jpb.UnpublishJobRequest(job_id=job.id))
    admin.jobs.PublishJob(jpb.PublishJobRequest(job_id=job.id))
    renamed = admin.jobs.UpdateLabel(jpb.UpdateLabelRequest(
        job_id=job.id, name="a", label=jpb.Label(name="alpha", shortcut="1")))
    assert json.loads(renamed.topics_json)[0]["options"] == ["alpha", "b"]
    copy = admin.jobs.CopyJob(jpb.CopyJobRequest(job_id=job.id))
    assert copy.name.startswith(f"{job.name}-copy-") and copy.state == jpb.JOB_STATE_DRAFT
    assert copy.check_percent == 40 and copy.progress.labeled == 0
    admin.jobs.CompleteJob(jpb.CompleteJobRequest(job_id=job.id))
    owner.jobs.DeleteJob(jpb.DeleteJobRequest(job_id=job.id))

    wanted = ["labelops.job.created.v1", "labelops.job.published.v1",
              "labelops.job.unpublished.v1", "labelops.job.published.v1",
              "labelops.job.label_renamed.v1", "labelops.job.finished.v1",
              "labelops.job.deleted.v1"]
    events = tap.of_job(job.id, lambda found: len(found) >= len(wanted))
    assert [e["type"] for e in events] == wanted
    assert events[3]["data"]["republished"] is True
    rename = events[4]["data"]
    assert (rename["old_name"], rename["new_name"]) == ("a", "alpha")
    assert rename["job"]["topics"][0]["options"] == ["alpha", "b"]
    for client in (admin, owner, lee):
        client.close()


def test_team_members_work_on_the_job_and_outsiders_do_not(
    platform: ServiceProcesses, stack_env: dict[str, str]
) -> None:
    admin = _client(stack_env, "ada", auth.ANNOTATION_ADMIN)
    team = admin.jobs.CreateTeam(jpb.CreateTeamRequest(name=f"team-{uuid.uuid4().hex[:6]}"))
    email = f"tia-{uuid.uuid4().hex[:6]}@example.com"
    admin.jobs.AddTeamMember(jpb.TeamMemberRequest(team_id=team.id, email=email,
                                                   role="labeler"))
    dataset, _ = import_manifest(admin, stack_env, DEMO_MANIFEST, name_prefix="jobs-team")
    job = admin.jobs.CreateJob(jpb.CreateJobRequest(
        name=f"team-job-{uuid.uuid4().hex[:6]}", dataset_id=dataset.id,
        template="text_classification", labels=[jpb.Label(name="a"), jpb.Label(name="b")],
        workflow=jpb.WORKFLOW_LABEL, package_size=25,
        members=jpb.Members(labeler_teams=[team.id])))
    admin.jobs.PublishJob(jpb.PublishJobRequest(job_id=job.id))
    wait_for_packages(admin, job.id, 1)

    outsider = _client(stack_env, "lee", auth.LABELER)
    with pytest.raises(grpc.RpcError) as denied:
        outsider.assignment.ClaimPackage(apb.ClaimPackageRequest(job_id=job.id,
                                                                 stage=apb.STAGE_LABEL))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    member = _client(stack_env, email, auth.LABELER)
    package = member.assignment.ClaimPackage(apb.ClaimPackageRequest(job_id=job.id,
                                                                     stage=apb.STAGE_LABEL))
    _progress(admin, job.id, lambda p: p.claimed == 1)
    with pytest.raises(grpc.RpcError) as held:
        admin.jobs.RemoveTeamMember(jpb.RemoveTeamMemberRequest(team_id=team.id, email=email))
    assert held.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    _label_package(member, package.id, "b")
    _progress(admin, job.id, lambda p: p.claimed == 0 and p.accepted == 25)
    left = admin.jobs.RemoveTeamMember(jpb.RemoveTeamMemberRequest(team_id=team.id,
                                                                   email=email))
    assert [m.email for m in left.members] == []
    # The job completes when the assignment service's job-completed event arrives, which
    # can come after the progress counters.
    wait_for("the job completed", lambda: True if admin.jobs.GetJob(jpb.GetJobRequest(
        job_id=job.id)).state == jpb.JOB_STATE_COMPLETED else None, timeout=60)
    admin.jobs.DeleteTeam(jpb.DeleteTeamRequest(team_id=team.id))  # its job is completed
    for client in (admin, outsider, member):
        client.close()
