"""Exactly one holder per package under concurrent claims, and a worker sees only what
their role and assignment allow — on the real services."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from labelops.assignment.v1 import assignment_pb2 as apb
from labelops.jobs.v1 import jobs_pb2 as jpb
from labelops_cli.client import Clients, connect
from labelops_cli.demo import DEMO_MANIFEST, import_manifest, wait_for_packages
from labelops_cli.services import ServiceProcesses
from labelops_shared import auth

pytestmark = pytest.mark.e2e


def _client(env: dict[str, str], who: str, *roles: str, workspace: str = "claims") -> Clients:
    return connect(auth.issue_token(env["LABELOPS_JWT_SECRET"], subject=who,
                                    workspace=workspace, roles=roles))


def _published_job(env: dict[str, str], package_size: int) -> str:
    admin = _client(env, "ada", auth.ANNOTATION_ADMIN)
    dataset, _ = import_manifest(admin, env, DEMO_MANIFEST, name_prefix="claims")
    job = admin.jobs.CreateJob(jpb.CreateJobRequest(
        name=f"claims-{uuid.uuid4().hex[:6]}", dataset_id=dataset.id,
        template="text_classification", labels=[jpb.Label(name=n) for n in ("a", "b")],
        workflow=jpb.WORKFLOW_LABEL_CHECK, package_size=package_size))
    admin.jobs.PublishJob(jpb.PublishJobRequest(job_id=job.id))
    expected = -(-25 // package_size)
    wait_for_packages(admin, job.id, expected)
    admin.close()
    return job.id


def test_twenty_labelers_racing_for_five_packages_get_five_claims(
    platform: ServiceProcesses, stack_env: dict[str, str]
) -> None:
    job_id = _published_job(stack_env, package_size=5)
    labelers = [_client(stack_env, f"labeler-{n}", auth.LABELER) for n in range(20)]

    def claim(client: Clients) -> str | None:
        try:
            return client.assignment.ClaimPackage(apb.ClaimPackageRequest(
                job_id=job_id, stage=apb.STAGE_LABEL), timeout=60).id
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.NOT_FOUND, exc
            return None

    with ThreadPoolExecutor(max_workers=20) as pool:
        won = [p for p in pool.map(claim, labelers) if p]

    assert len(won) == 5 and len(set(won)) == 5
    admin = _client(stack_env, "ada", auth.ANNOTATION_ADMIN)
    packages = admin.assignment.ListPackages(apb.ListPackagesRequest(job_id=job_id)).packages
    assert {p.state for p in packages} == {apb.PACKAGE_STATE_LABELING}
    assert len({p.holder for p in packages}) == 5  # five different holders, one each
    for client in [*labelers, admin]:
        client.close()


def test_workers_cannot_touch_what_is_not_theirs(
    platform: ServiceProcesses, stack_env: dict[str, str]
) -> None:
    job_id = _published_job(stack_env, package_size=25)
    lee = _client(stack_env, "lee", auth.LABELER)
    eve = _client(stack_env, "eve", auth.LABELER)
    outsider = _client(stack_env, "ada", auth.ANNOTATION_ADMIN, workspace="other")
    package = lee.assignment.ClaimPackage(apb.ClaimPackageRequest(
        job_id=job_id, stage=apb.STAGE_LABEL))
    detail = lee.assignment.GetPackage(apb.GetPackageRequest(package_id=package.id))
    item = detail.items[0].item_id

    def refused(call, code):  # type: ignore[no-untyped-def]
        with pytest.raises(grpc.RpcError) as caught:
            call()
        assert caught.value.code() == code

    denied = grpc.StatusCode.PERMISSION_DENIED
    refused(lambda: eve.assignment.GetPackage(apb.GetPackageRequest(package_id=package.id)),
            denied)
    refused(lambda: eve.assignment.SaveAnnotation(apb.SaveAnnotationRequest(
        package_id=package.id, item_id=item, answer_json='{"label": "a"}')), denied)
    refused(lambda: eve.assignment.SubmitPackage(apb.SubmitPackageRequest(
        package_id=package.id)), denied)
    refused(lambda: lee.jobs.PublishJob(jpb.PublishJobRequest(job_id=job_id)), denied)
    refused(lambda: outsider.assignment.ListPackages(apb.ListPackagesRequest(job_id=job_id)),
            grpc.StatusCode.NOT_FOUND)
    refused(lambda: connect("not-a-token").assignment.ListPackages(
        apb.ListPackagesRequest(job_id=job_id)), grpc.StatusCode.UNAUTHENTICATED)
    # An answer outside the template is refused, naming the topic.
    with pytest.raises(grpc.RpcError) as bad:
        lee.assignment.SaveAnnotation(apb.SaveAnnotationRequest(
            package_id=package.id, item_id=item, answer_json=json.dumps({"label": "zzz"})))
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "topic 'label'" in bad.value.details()
    # A checker never checks their own package: lee cannot be both.
    both = _client(stack_env, "lee", auth.LABELER, auth.CHECKER)
    for it in detail.items:
        lee.assignment.SaveAnnotation(apb.SaveAnnotationRequest(
            package_id=package.id, item_id=it.item_id, answer_json='{"label": "a"}'))
    lee.assignment.SubmitPackage(apb.SubmitPackageRequest(package_id=package.id))
    refused(lambda: both.assignment.ClaimPackage(apb.ClaimPackageRequest(
        job_id=job_id, stage=apb.STAGE_CHECK)), grpc.StatusCode.NOT_FOUND)
    for client in (lee, eve, outsider, both):
        client.close()
