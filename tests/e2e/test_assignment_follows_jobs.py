"""The assignment service follows the jobs service's events, on the real servers: label
rename and deletion reach stored answers, unpublish stops claims but not work in hand,
republication resumes claims without cutting again, member changes decide who claims, and
a completed or deleted job takes no more claims or work."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from pymongo import MongoClient

from labelops.assignment.v1 import assignment_pb2 as apb
from labelops.export.v1 import export_pb2 as epb
from labelops.jobs.v1 import jobs_pb2 as jpb
from labelops_cli.client import Clients, connect
from labelops_cli.demo import DEMO_MANIFEST, import_manifest, wait_for, wait_for_packages
from labelops_cli.services import ServiceProcesses
from labelops_shared import auth

pytestmark = pytest.mark.e2e
WORKSPACE = f"follows-{uuid.uuid4().hex[:6]}"
LABEL = apb.STAGE_LABEL


def _client(env: dict[str, str], who: str, *roles: str) -> Clients:
    return connect(auth.issue_token(env["LABELOPS_JWT_SECRET"], subject=who,
                                    workspace=WORKSPACE, roles=roles))


def _code(call: Callable[[], Any]) -> grpc.StatusCode | None:
    try:
        call()
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return None


def _until_refused(what: str, call: Callable[[], Any], code: grpc.StatusCode,
                   meanwhile: tuple[grpc.StatusCode, ...] = ()) -> str:
    """Retry the call until it fails with this code (the event is on its way); returns the
    error's details. ``meanwhile``: other refusals expected until the event arrives."""
    def probe() -> str | None:
        try:
            call()
        except grpc.RpcError as exc:
            if exc.code() == code:
                return exc.details() or ""
            if exc.code() in meanwhile:
                return None
            raise
        return None

    return wait_for(what, probe, timeout=60)


def _answers(client: Clients, package_id: str) -> dict[str, Any]:
    detail = client.assignment.GetPackage(apb.GetPackageRequest(package_id=package_id))
    return {i.item_id: json.loads(i.answer_json) if i.answer_json else None
            for i in detail.items}


def _save(client: Clients, package_id: str, item_id: str, label: str) -> None:
    client.assignment.SaveAnnotation(apb.SaveAnnotationRequest(
        package_id=package_id, item_id=item_id, answer_json=json.dumps({"label": label})))


def test_assignment_follows_the_jobs_lifecycle_and_label_changes(
    platform: ServiceProcesses, stack_env: dict[str, str]
) -> None:
    admin = _client(stack_env, "ada", auth.ANNOTATION_ADMIN)
    owner = _client(stack_env, "wanda", auth.WORKSPACE_ADMIN)
    lee = _client(stack_env, "lee", auth.LABELER)
    eve = _client(stack_env, "eve", auth.LABELER)
    dataset, _ = import_manifest(admin, stack_env, DEMO_MANIFEST, name_prefix="follows")
    job = admin.jobs.CreateJob(jpb.CreateJobRequest(
        name=f"follows-{uuid.uuid4().hex[:6]}", dataset_id=dataset.id,
        template="text_classification",
        labels=[jpb.Label(name="a"), jpb.Label(name="b"), jpb.Label(name="c")],
        workflow=jpb.WORKFLOW_LABEL, package_size=5,
        members=jpb.Members(labelers=["lee", "eve"])))
    admin.jobs.PublishJob(jpb.PublishJobRequest(job_id=job.id))
    wait_for_packages(admin, job.id, 5)

    # lee labels a package: three items "a", two "b".
    mine = lee.assignment.ClaimPackage(apb.ClaimPackageRequest(job_id=job.id, stage=LABEL))
    items = list(_answers(lee, mine.id))
    for n, item_id in enumerate(items):
        _save(lee, mine.id, item_id, "a" if n < 3 else "b")

    # Rename a -> alpha: the stored answers follow; the old name is refused afterwards.
    admin.jobs.UpdateLabel(jpb.UpdateLabelRequest(job_id=job.id, name="a",
                                                  label=jpb.Label(name="alpha")))
    def labels() -> list[Any]:
        return [x.get("label") for x in _answers(lee, mine.id).values()]

    wait_for("answers renamed", lambda: True if labels()[:3] == ["alpha"] * 3 else None,
             timeout=60)
    assert labels() == ["alpha"] * 3 + ["b"] * 2
    assert _code(lambda: _save(lee, mine.id, items[0], "a")) == (
        grpc.StatusCode.INVALID_ARGUMENT)

    # Delete b: the two items whose only label it was must be labelled again.
    admin.jobs.DeleteLabel(jpb.DeleteLabelRequest(job_id=job.id, name="b"))
    wait_for("label b removed", lambda: True if labels()[3:] == [None, None] else None,
             timeout=60)
    details = _until_refused(
        "submit refused", lambda: lee.assignment.SubmitPackage(
            apb.SubmitPackageRequest(package_id=mine.id)),
        grpc.StatusCode.FAILED_PRECONDITION)
    assert "2 of 5 items have no answer" in details and "label 'b'" in details
    for item_id in items[3:]:
        _save(lee, mine.id, item_id, "c")
    done = lee.assignment.SubmitPackage(apb.SubmitPackageRequest(package_id=mine.id))
    assert done.state == apb.PACKAGE_STATE_ACCEPTED

    # The export service's accepted view follows a rename too: exports name the new label.
    wait_for("the accepted view", lambda: True if admin.export.GetLabeledView(
        epb.GetLabeledViewRequest(job_id=job.id)).item_count == 5 else None, timeout=60)
    admin.jobs.UpdateLabel(jpb.UpdateLabelRequest(job_id=job.id, name="c",
                                                  label=jpb.Label(name="gamma")))

    def exported_labels() -> list[str] | None:
        started = admin.export.StartExport(epb.StartExportRequest(job_id=job.id,
                                                                  format="manifest"))
        record = wait_for("the export", lambda: (lambda r: r if r.state in (
            epb.EXPORT_STATE_COMPLETED, epb.EXPORT_STATE_FAILED) else None)(
            admin.export.GetExport(epb.GetExportRequest(export_id=started.id))), timeout=60)
        assert record.state == epb.EXPORT_STATE_COMPLETED, record.error
        with urllib.request.urlopen(record.download_url, timeout=30) as response:  # noqa: S310
            lines = [json.loads(x) for x in response.read().decode().splitlines() if x]
        found = sorted(str(line.get("label")) for line in lines)
        # The rename reaches the view's documents one by one; wait until none has "c".
        return found if "c" not in found else None

    assert wait_for("the export renamed", exported_labels, timeout=90) == \
        ["alpha"] * 3 + ["gamma"] * 2

    # Unpublish: no new claims, but eve's package in hand is still hers to finish.
    held = eve.assignment.ClaimPackage(apb.ClaimPackageRequest(job_id=job.id, stage=LABEL))
    admin.jobs.UnpublishJob(jpb.UnpublishJobRequest(job_id=job.id))
    # Probing with claims would take the open packages before the event lands: watch the
    # assignment service's own record of the job instead, then claim once.
    jobs = MongoClient(stack_env["LABELOPS_MONGO_URL"])["labelops_assignment"]["jobs"]
    wait_for("the unpublication to reach assignment", lambda: True if (
        jobs.find_one({"_id": job.id}) or {}).get("status") == "unpublished" else None,
        timeout=60)
    with pytest.raises(grpc.RpcError) as refused:
        lee.assignment.ClaimPackage(apb.ClaimPackageRequest(job_id=job.id, stage=LABEL))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    details = refused.value.details() or ""
    assert details == f"job {job.id} is unpublished"
    for item_id in _answers(eve, held.id):
        _save(eve, held.id, item_id, "alpha")
    eve.assignment.SubmitPackage(apb.SubmitPackageRequest(package_id=held.id))

    # Published again: claims resume; the packages are not cut again.
    admin.jobs.PublishJob(jpb.PublishJobRequest(job_id=job.id))
    again = wait_for("claims resumed", lambda: _try_claim(eve, job.id), timeout=60)
    assert again.id not in (mine.id, held.id)
    progress = admin.assignment.GetJobProgress(apb.GetJobProgressRequest(job_id=job.id))
    assert progress.package_count == 5

    # Members follow: lee is no longer a labeler of the job.
    admin.jobs.UpdateJob(jpb.UpdateJobRequest(job_id=job.id, update_mask=["members"],
                                              members=jpb.Members(labelers=["eve"])))
    _until_refused("lee removed", lambda: lee.assignment.ClaimPackage(
        apb.ClaimPackageRequest(job_id=job.id, stage=LABEL)), grpc.StatusCode.PERMISSION_DENIED)

    # Completed: no claims, no more work on what is held; accepted results stay.
    admin.jobs.CompleteJob(jpb.CompleteJobRequest(job_id=job.id))
    # Until the event arrives each probe claims a package; once none is left, NOT_FOUND.
    details = _until_refused("claims closed", lambda: eve.assignment.ClaimPackage(
        apb.ClaimPackageRequest(job_id=job.id, stage=LABEL)), grpc.StatusCode.FAILED_PRECONDITION,
        meanwhile=(grpc.StatusCode.NOT_FOUND,))
    assert details == f"job {job.id} is finished"
    first = next(iter(_answers(eve, again.id)))
    assert _code(lambda: _save(eve, again.id, first, "alpha")) == (
        grpc.StatusCode.FAILED_PRECONDITION)
    packages = admin.assignment.ListPackages(apb.ListPackagesRequest(job_id=job.id)).packages
    assert sum(p.state == apb.PACKAGE_STATE_ACCEPTED for p in packages) == 2

    # Deleted (forced: eve still holds a package): still no claims, results kept.
    owner.jobs.DeleteJob(jpb.DeleteJobRequest(job_id=job.id, force=True))
    _until_refused("job deleted", lambda: _deleted_claim(eve, job.id),
                   grpc.StatusCode.FAILED_PRECONDITION)
    for client in (admin, owner, lee, eve):
        client.close()


def _try_claim(client: Clients, job_id: str) -> apb.Package | None:
    try:
        return client.assignment.ClaimPackage(apb.ClaimPackageRequest(job_id=job_id,
                                                                      stage=LABEL))
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.FAILED_PRECONDITION:
            return None  # the republication has not arrived yet
        raise


def _deleted_claim(client: Clients, job_id: str) -> None:
    try:
        client.assignment.ClaimPackage(apb.ClaimPackageRequest(job_id=job_id, stage=LABEL))
    except grpc.RpcError as exc:
        if "is deleted" not in (exc.details() or ""):
            return  # still "is finished": the deletion has not arrived yet
        raise
